// method = "icd": image energies by improved contrastive divergence (arXiv:2012.01316).
#include "joule/methods/icd.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "joule/core/runtime.h"
#include "joule/eval/ood.h"
#include "joule/eval/protocols/classifier.h"
#include "joule/io/plot.h"
#include "joule/io/png.h"
#include "joule/methods/run.h"
#include "joule/methods/sample_quality.h"
#include "joule/models/compose.h"
#include "joule/models/conv_energy.h"
#include "joule/objectives/parameter_ema.h"
#include "joule/samplers/langevin.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void AugmentConfig::visit(config::Fields& f) {
  f("flip_prob", flip_prob, Doc("probability of a horizontal flip").min(0.0).max(1.0));
  f("crop_prob", crop_prob, Doc("probability of a random resized crop").min(0.0).max(1.0));
  f("crop_scale_min", crop_scale_min, Doc("smallest crop, as a fraction of the image area").min(1e-3).max(1.0));
  f("crop_scale_max", crop_scale_max, Doc("largest crop, as a fraction of the image area").min(1e-3).max(1.0));
  f("jitter_prob", jitter_prob, Doc("probability of a colour jitter").min(0.0).max(1.0));
  f("brightness", brightness, Doc("jitter: brightness factor drawn from [1 − b, 1 + b]").min(0.0));
  f("contrast", contrast, Doc("jitter: contrast factor drawn from [1 − c, 1 + c]").min(0.0));
  f("saturation", saturation, Doc("jitter: saturation factor drawn from [1 − s, 1 + s] (colour images)").min(0.0));
  f("hue", hue, Doc("jitter: hue shift drawn from [−h, h] (colour images)").min(0.0).max(0.5));
  f("grayscale_prob", grayscale_prob, Doc("probability of converting to grey (colour images)").min(0.0).max(1.0));
  f("blur_prob", blur_prob, Doc("probability of a Gaussian blur (σ in [0.1, 2])").min(0.0).max(1.0));
  f("blur_kernel", blur_kernel, Doc("Gaussian blur kernel size (odd)").min(1).max(31));
}

data::AugmentOptions AugmentConfig::options(double low, double high) const {
  if (crop_scale_min > crop_scale_max) throw ConfigError("augment.crop_scale_min must be <= augment.crop_scale_max");
  if (blur_kernel % 2 == 0) throw ConfigError("augment.blur_kernel must be odd, got " + std::to_string(blur_kernel));
  return data::AugmentOptions()
      .flip_prob(flip_prob)
      .crop_prob(crop_prob)
      .crop_scale_min(crop_scale_min)
      .crop_scale_max(crop_scale_max)
      .jitter_prob(jitter_prob)
      .brightness(brightness)
      .contrast(contrast)
      .saturation(saturation)
      .hue(hue)
      .grayscale_prob(grayscale_prob)
      .blur_prob(blur_prob)
      .blur_kernel(blur_kernel)
      .low(low)
      .high(high);
}

bool AugmentConfig::active() const { return options(0.0, 1.0).active(); }

void IcdConfig::Model::visit(config::Fields& f) {
  f("channels", channels, Doc("width c of the convolutional energy; block b has c·2^b channels").min(1));
  f("blocks", blocks, Doc("residual blocks, each followed by a 2x downsampling").min(0).max(6));
  f("activation", activation, Doc("activation (silu = swish, as the reference)").choices(activation_names()));
  f("norm", norm, Doc("normalisation in the blocks (per sample; never batch norm)").choices({"none", "group"}));
  f("norm_groups", norm_groups, Doc("groups of each GroupNorm").min(1));
  f("scales", scales,
    Doc("energies of the image at full, half, quarter, ... resolution, summed (the reference: 3)").min(1).max(4));
  f("share_scales", share_scales, "one network for every scale instead of one per scale");
  f("ema", ema, Doc("decay of the parameter average that samples and evaluations use (the reference: 0.99); 0 = off").min(0.0).max(0.9999));
  f("temperature", temperature, Doc("T in p(x) ∝ exp(−E(x)/T)").min(1e-12));
}

void IcdConfig::Objective::visit(config::Fields& f) {
  f("l2_energy", l2_energy, Doc("energy penalty α(E⁺² + E⁻²) (the reference: 1)").min(0.0));
}

void IcdConfig::Eval::visit(config::Fields& f) {
  f("ood_n", ood_n, Doc("test images and images per OOD set scored for the AUROCs of −E").min(10));
  f("ood_sets", ood_sets, Doc("OOD sets: uniform, gaussian, vflip, hflip, invert, constant, mnist"));
  f("ood_mnist_dir", ood_mnist_dir, "folder with MNIST's t10k IDX files (the mnist OOD set)");
  f("feature_run", feature_run,
    "a classifier run (e.g. joule train ce_fashion_cnn) whose features score samples: Fréchet and kernel distances to "
    "test images (comparable only between runs scored with the same classifier; not Inception FID)");
  f("quality_n", quality_n, Doc("samples and test images for the distances").min(10));
  f("chain_steps", chain_steps, Doc("sampler steps of the evaluated chains").min(0));
  f("chain_init", chain_init, Doc("where evaluated chains start").choices({"noise", "buffer"}));
  f("steps_curve", steps_curve,
    Doc("sampler step counts at which the quality of chains from eval.chain_init is measured (steps_curve.png/json); "
        "[] = none"));
  f("grid_n", grid_n, Doc("images in each picture grid").min(1).max(1024));
}

void IcdConfig::Sample::visit(config::Fields& f) {
  SampleConfig::visit(f);
  f("augment_every", augment_every,
    Doc("augment the chains every this many steps while sampling (the reference's compositional sampling: 20); 0 = never")
        .min(0));
}

IcdConfig::IcdConfig() {
  data.dataset = "fashion-mnist";
  // The reference's optimiser (Adam, lr 2e-4, β = (0, 0.9), gradient norm clipped at 0.5), batch 64
  // for a CPU-sized run.
  train.steps = 2000;
  train.batch_size = 64;
  train.eval_every = 0;
  train.checkpoint_every = 500;
  train.energy_bound = 100.0;
  train.max_restarts = 2;
  train.optimizer.lr = 2e-4;
  train.optimizer.beta1 = 0.0;
  train.optimizer.beta2 = 0.9;
  train.optimizer.lr_schedule = "constant";
  train.optimizer.grad_clip_norm = 0.5;
  // Large gradient steps, as the reference's (100 on ∇E over [0, 1] images, i.e. 400 over [−1, 1]),
  // clamped to the data range; JEM's a = 1 barely moves fresh chains of this energy
  // (docs/methods/improved_cd.md).
  sampler.kind = "langevin";
  sampler.steps = 20;
  sampler.step_size = 100.0;
  sampler.noise = 0.005;
  sampler.clamp_min = -1.0;
  sampler.clamp_max = 1.0;
  // The reference's buffer: FIFO of 10 000 chains in 8 bits, 0.1% fresh U starts.
  buffer.capacity = 10000;
  buffer.policy = "fifo";
  buffer.storage_bits = 8;
  buffer.quantize_low = -1.0;
  buffer.quantize_high = 1.0;
  buffer.reinit_prob = 0.001;
  buffer.init_low = -1.0;
  buffer.init_high = 1.0;
}

void IcdConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("data", data);
  f.section("model", model);
  f.section("sampler", sampler);
  f.section("buffer", buffer);
  f.section("objective", objective);
  f.section("icd", icd);
  f.section("augment", augment);
  f.section("train", train);
  f.section("eval", eval);
  f.section("sample", sample);
}

IcdMethod::IcdMethod(IcdConfig config) : config_(std::move(config)) {}

std::shared_ptr<EnergyModel> IcdMethod::build_energy(at::Generator& gen) const {
  const auto& m = config_.model;
  const auto& shape = data_.event_shape;
  auto conv = [&](int64_t blocks) {
    auto opts = ConvEnergyOptions(shape[0])
                    .channels(m.channels)
                    .blocks(blocks)
                    .activation(parse_activation(m.activation))
                    .norm(parse_norm(m.norm))
                    .norm_groups(m.norm_groups)
                    .event_shape(shape);
    auto e = ConvEnergy(opts);
    e->reset_parameters(gen);
    return std::static_pointer_cast<EnergyModel>(e.ptr());
  };
  if (m.scales == 1) return conv(m.blocks);
  std::vector<std::shared_ptr<EnergyModel>> nets;
  int64_t side = std::min(shape[1], shape[2]);
  for (int64_t s = 0; s < m.scales; ++s) {
    if (side < 4) {
      throw ConfigError("model.scales = " + std::to_string(m.scales) + " downsamples " + std::to_string(shape[1]) + "x" +
                        std::to_string(shape[2]) + " images below 4 pixels; use fewer scales");
    }
    // Smaller images get fewer downsampling blocks (the reference's mid and small networks).
    if (m.share_scales) {
      nets.push_back(s == 0 ? conv(m.blocks) : nets.front());
    } else {
      nets.push_back(conv(std::max<int64_t>(1, m.blocks - s)));
    }
    side = (side - 1) / 2 + 1;
  }
  return std::make_shared<MultiScaleEnergy>(nets, shape);
}

Parts IcdMethod::build_parts(torch::Device device) {
  auto& cfg = config_;
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  auto gen_data = make_generator(derive_seed(seed, 1));
  auto gen_init = make_generator(derive_seed(seed, 3));
  data_ = load_labelled(cfg.data, gen_data);
  notes_ = data_.notes;
  if (!data_.images()) {
    throw ConfigError("method = \"icd\" trains image energies; for 2-D or tabular data use method = \"ebm\" with "
                      "objective.kind = \"icd\"");
  }
  check_batch_size(cfg.train.batch_size, data_.train.size(), "training images");
  if (cfg.icd.kl_steps == 0) throw ConfigError("icd.kl_steps must be >= 1 or -1 (all steps), got 0");
  if (cfg.model.norm == "group" && cfg.model.channels % cfg.model.norm_groups != 0) {
    throw ConfigError("model.norm_groups (" + std::to_string(cfg.model.norm_groups) + ") must divide model.channels (" +
                      std::to_string(cfg.model.channels) + ")");
  }

  Parts parts;
  auto model = build_energy(gen_init);
  model->set_temperature(cfg.model.temperature);
  model->to(device);
  parts.modules.add("model", model);

  sampler_ = cfg.sampler.build();
  if (!sampler_->differentiable() && (cfg.icd.kl_weight > 0 || cfg.icd.entropy_weight > 0)) {
    throw ConfigError("improved CD's KL and entropy terms differentiate through the last sampler steps: they need "
                      "sampler.kind = \"langevin\", not \"" + sampler_->name() + "\" (or icd.kl_weight = icd.entropy_weight = 0)");
  }
  buffer_ = cfg.buffer.build(data_.event_shape, device);
  check_batch_size(cfg.train.batch_size, buffer_->capacity(), "persistent chains (buffer.capacity)");
  if (cfg.buffer.init == "data") buffer_->set_data(data_.train.x.to(device));
  chains_ = std::make_shared<PersistentChains>(sampler_, buffer_);
  augment_ = cfg.augment.options(-1.0, 1.0);
  if (augment_.active()) {
    auto opts = augment_;
    chains_->set_transition([opts](const torch::Tensor& x, at::Generator& g) { return data::augment(x, opts, g); });
  }
  auto icd = ImprovedCdOptions()
                 .l2_energy(cfg.objective.l2_energy)
                 .kl_weight(cfg.icd.kl_weight)
                 .kl_steps(cfg.icd.kl_steps)
                 .entropy_weight(cfg.icd.entropy_weight)
                 .entropy_reference(cfg.icd.entropy_reference)
                 .entropy_min_buffer(cfg.icd.entropy_min_buffer);
  std::shared_ptr<Objective> objective = std::make_shared<ImprovedContrastiveDivergence>(icd, chains_);
  if (cfg.model.ema > 0) {
    auto gen_ema = make_generator(derive_seed(seed, 3));
    ema_ = build_energy(gen_ema);
    ema_->set_temperature(cfg.model.temperature);
    ema_->to(device);
    ParameterEma::copy(*model, *ema_);
    for (auto& p : ema_->parameters()) p.requires_grad_(false);
    parts.modules.add("model_ema", ema_);
    objective = std::make_shared<ParameterEma>(objective, cfg.model.ema);
  }
  parts.objective = objective;
  parts.data = std::make_shared<data::TensorDataset>(data_.train.x.to(device));
  return parts;
}

EnergyModel& IcdMethod::sampling_energy() {
  if (ema_) return *ema_;
  return trainer().model();
}

at::Tensor IcdMethod::noise_states(int64_t n, at::Generator& gen) const { return buffer_->init_samples(n, gen); }

at::Tensor IcdMethod::chain_starts(int64_t n, at::Generator& gen, const std::string& init) {
  if (init == "buffer" && buffer_->size() > 0) {
    auto idx = torch::randint(buffer_->size(), {n}, gen, torch::TensorOptions().dtype(torch::kLong).device(device()));
    return buffer_->states().index_select(0, idx);
  }
  return noise_states(n, gen);
}

torch::Tensor IcdMethod::run_chains(const torch::Tensor& x0, int64_t steps, int64_t augment_every, at::Generator& gen) {
  PersistentChains::Transition augment;
  if (augment_.active()) {
    augment = [opts = augment_](const torch::Tensor& x, at::Generator& g) { return data::augment(x, opts, g); };
  }
  return sample_with_transitions(*sampler_, sampling_energy(), x0, steps, augment_every, augment, gen);
}

void IcdMethod::add_callbacks(const Monitor& monitor) {
  (void)monitor;  // training is watched by the divergence guard; evaluation runs at the end
}

namespace {

at::Tensor batched_energy(EnergyModel& e, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(e);
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += 256) out.push_back(e.energy(x.slice(0, i, std::min(i + 256, x.size(0)))).cpu());
  return at::cat(out, 0);
}

}  // namespace

eval::Report IcdMethod::evaluate() {
  const auto& cfg = config_;
  auto& energy = sampling_energy();
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);

  // OOD: −E as the in-distribution score (higher = more likely), the library's OOD sets.
  auto opts = eval::ClassifierEvalOptions()
                  .ood_n(std::min<int64_t>(cfg.eval.ood_n, data_.test.size()))
                  .ood_sets(cfg.eval.ood_sets)
                  .ood_mnist_dir(cfg.eval.ood_mnist_dir)
                  .data_noise(0.0)
                  .images(true);
  auto inputs = eval::make_classifier_eval_inputs(data_.test.x, data_.test.y, opts, make_generator(derive_seed(seed, 5)));
  auto score_in = -batched_energy(energy, inputs.in_dist.to(device()));
  r.add("e_test", -score_in.mean().item<double>(), "mean energy of test images");
  for (const auto& [set, x] : inputs.ood) {
    auto score_out = -batched_energy(energy, x.to(device()));
    r.add("auroc." + set, eval::auroc(score_in, score_out), "AUROC of −E: test images against " + set);
  }

  // Samples: chains from noise (or the buffer) on the sampling energy.
  auto gen = make_generator(derive_seed(seed, 8), device());
  const int64_t n = std::min<int64_t>(cfg.eval.quality_n, data_.test.size());
  auto x0 = chain_starts(n, gen, cfg.eval.chain_init);
  auto samples = run_chains(x0, cfg.eval.chain_steps, 0, gen);
  r.add("e_samples", batched_energy(energy, samples).mean().item<double>(), "mean energy of the evaluated chains");
  r.add("chain_steps", static_cast<double>(cfg.eval.chain_steps), "sampler steps of the evaluated chains");

  // Sample quality in a classifier run's features (methods::SampleQuality, shared with JEM).
  std::unique_ptr<SampleQuality> quality;
  if (!cfg.eval.feature_run.empty()) {
    quality = std::make_unique<SampleQuality>(resolve_feature_run(cfg.eval.feature_run, cfg.data, {}, &std::cerr),
                                              data_.test.x, data_.train.x, device(), derive_seed(seed, 9), n);
    const auto s = quality->score(samples);
    r.add("fd", s.fd, "Fréchet distance of samples to test images (feature_run's features)");
    r.add("kd", s.kd, "kernel (KID-style) distance of samples to test images (feature_run's features)");
    r.add("precision", s.precision, "improved precision of the samples (fidelity; k-NN manifold of test images)");
    r.add("recall", s.recall, "improved recall of the samples (diversity: test images inside the samples' manifold)");
    r.add("fd_train_test", quality->floor().fd, "the same Fréchet distance between training and test images (its floor)");
    r.add("precision_train_test", quality->floor().precision, "improved precision of training images against test images");
    r.add("recall_train_test", quality->floor().recall, "improved recall of training images against test images");
    r.add("class_entropy", s.class_entropy,
          "entropy (nats) of the feature classifier's labels of the samples (log 10 = 2.303: every class equally)");
  }

  // Quality against the number of sampler steps (adaptive computation, arXiv:2012.01316 §5.4):
  // one set of chains continued from step count to step count, measured at each.
  curve_.clear();
  if (!cfg.eval.steps_curve.empty()) {
    auto steps = cfg.eval.steps_curve;
    std::sort(steps.begin(), steps.end());
    auto cgen = make_generator(derive_seed(seed, 10), device());
    auto x = chain_starts(n, cgen, cfg.eval.chain_init);
    int64_t done = 0;
    for (int64_t k : steps) {
      if (k < 0) throw ConfigError("eval.steps_curve holds a negative step count");
      if (k > done) x = run_chains(x, k - done, 0, cgen);
      done = k;
      CurvePoint pt;
      pt.steps = k;
      pt.energy = batched_energy(energy, x).mean().item<double>();
      if (quality) {
        const auto s = quality->score(x);
        pt.fd = s.fd;
        pt.kd = s.kd;
      }
      curve_.push_back(pt);
      const std::string key = "steps_curve." + std::to_string(k);
      r.add(key + ".energy", pt.energy, "mean energy of the chains after this many steps");
      if (quality) {
        r.add(key + ".fd", pt.fd, "Fréchet distance to test images after this many steps");
        r.add(key + ".kd", pt.kd, "kernel distance to test images after this many steps");
      }
    }
  }
  return r;
}

std::vector<std::string> IcdMethod::pictures(const std::string& prefix) {
  const auto& cfg = config_;
  std::vector<std::string> files;
  const auto range = std::make_pair(-1.0, 1.0);
  auto gen = make_generator(derive_seed(static_cast<uint64_t>(cfg.run.seed), 7), device());
  const int64_t n = cfg.eval.grid_n;
  files.push_back(prefix + "data.png");
  io::save_image_grid(data_.test.x.slice(0, 0, std::min(n, data_.test.size())).cpu(), files.back(), 10, 2, range);
  if (buffer_->size() > 0) {
    auto idx = torch::randperm(buffer_->size(), gen, torch::TensorOptions().dtype(torch::kLong).device(device()))
                   .slice(0, 0, std::min(n, buffer_->size()));
    files.push_back(prefix + "samples-buffer.png");
    io::save_image_grid(buffer_->states().index_select(0, idx).cpu(), files.back(), 10, 2, range);
  }
  if (cfg.eval.chain_steps > 0) {
    auto fresh = run_chains(noise_states(n, gen), cfg.eval.chain_steps, 0, gen);
    files.push_back(prefix + "samples-fresh.png");
    io::save_image_grid(fresh.cpu(), files.back(), 10, 2, range);
  }
  if (!curve_.empty()) {
    std::vector<io::Image> panels;
    io::Series e{"mean energy", {}, {}}, fd{"Fréchet distance", {}, {}}, kd{"kernel distance", {}, {}};
    for (const auto& p : curve_) {
      e.x.push_back(static_cast<double>(p.steps));
      e.y.push_back(p.energy);
      if (std::isfinite(p.fd)) {
        fd.x.push_back(static_cast<double>(p.steps));
        fd.y.push_back(p.fd);
      }
      if (std::isfinite(p.kd)) {
        kd.x.push_back(static_cast<double>(p.steps));
        kd.y.push_back(p.kd);
      }
    }
    panels.push_back(io::line_plot({e}, "energy against sampler steps", "steps", "E"));
    if (!fd.x.empty()) panels.push_back(io::line_plot({fd}, "quality against steps", "steps", "FD"));
    if (!kd.x.empty()) panels.push_back(io::line_plot({kd}, "quality against steps", "steps", "KD"));
    files.push_back(prefix + "steps_curve.png");
    io::write_png(files.back(), io::hstack(panels));
  }
  if (!run_dir().empty()) {
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {{"training loss", "loss", {{"loss", "loss"}}, {}},
                      {"mean energy", "E", {{"e_pos", "E(data)"}, {"e_neg", "E(samples)"}}, {}},
                      {"entropy term", "mean log d", {{"nn_log_dist", "nearest-neighbour log distance"}}, {}}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor IcdMethod::sample() {
  const auto& cfg = config_;
  auto gen = make_generator(static_cast<uint64_t>(cfg.sample.seed), device());
  auto x0 = chain_starts(cfg.sample.n, gen, cfg.sample.init == "buffer" ? "buffer" : "noise");
  return run_chains(x0, cfg.sample.steps, cfg.sample.augment_every, gen);
}

}  // namespace joule::methods
