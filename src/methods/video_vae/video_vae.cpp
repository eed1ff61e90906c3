// method = "video_vae": the per-frame VAE with a factored (slow identity, fast pose) sequence prior,
// arXiv:1612.04440, on generated or user videos, with factorisation and transfer read-outs.
#include "joule/methods/video_vae.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "joule/core/runtime.h"
#include "joule/data/dataset.h"
#include "joule/data/idx.h"
#include "joule/data/image_transforms.h"
#include "joule/eval/linear_probe.h"
#include "joule/eval/sample_quality.h"
#include "joule/io/png.h"
#include "joule/objectives/elbo.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

namespace {

// Streams of the data seed: training, test and held-out videos are independent draws.
constexpr uint64_t kTrainStream = 1, kTestStream = 2, kHeldOutStream = 3, kSplitStream = 4;

// The time-mean of each sequence's latents, [N, K].
at::Tensor per_sequence(const at::Tensor& mu) { return mu.mean(1); }

// Per-frame rows [N·T, K] of [N, T, K].
at::Tensor per_frame(const at::Tensor& x) { return x.reshape({x.size(0) * x.size(1), x.size(2)}); }

bool labelled(const data::VideoSet& s) {
  return s.identity.defined() && s.identity.numel() > 0 && s.identity.min().item<int64_t>() >= 0;
}

}  // namespace

void VideoVaeConfig::Data::visit(config::Fields& f) {
  f("source", source,
    Doc("sprites (moving characters), objects (rotating 3-D objects), moving_fashion (Fashion-MNIST items "
        "bouncing in a frame) or files (data.path: a folder of PNG frames per sequence, or a .npy tensor)")
        .choices({"sprites", "objects", "moving_fashion", "files"}));
  f("path", path, "files: the sequences (folder or .npy); moving_fashion: the IDX folder (\"\" = Debian's Fashion-MNIST)");
  f("sequences", sequences, Doc("generated training sequences").min(1));
  f("test_sequences", test_sequences, Doc("generated test sequences of the training identities").min(1));
  f("frames", frames, Doc("frames per generated sequence").min(1).max(1024));
  f("size", size, Doc("generated frame height and width (a multiple of 4)").min(16).max(1024));
  f("identities", identities, Doc("identities (moving_fashion: classes) seen in training").min(2));
  f("held_out", held_out, Doc("further identities never trained on, for the few-shot transfer test (0 = none)").min(0));
  f("held_out_sequences", held_out_sequences, Doc("generated sequences of the held-out identities").min(1));
  f("test_fraction", test_fraction, Doc("files: the share of sequences kept for testing").min(0.0).max(0.9));
  f("seed", seed, Doc("the generators' seed: the same videos for every run.seed").min(0));
}

void VideoVaeConfig::Vae::visit(config::Fields& f) {
  f("prior", prior,
    Doc("factored: identity channels under the slow prior, pose channels under vae.pose_prior; plain: every "
        "channel independent N(0, 1) per frame (the baseline)")
        .choices({"factored", "plain"}));
  f("identity_dim", identity_dim, Doc("identity latent channels per frame").min(0).max(4096));
  f("pose_dim", pose_dim, Doc("pose latent channels per frame").min(0).max(4096));
  f("slow_eps", slow_eps, Doc("epsilon of the slow prior 11^T + eps*diag(0, 1, ..., 1) (the paper's 0.1^2)").min(1e-12));
  f("pose_prior", pose_prior, Doc("the pose channels' prior: independent or markov (AR(1))").choices({"independent", "markov"}));
  f("pose_rho", pose_rho, Doc("markov: frame-to-frame correlation, in (-1, 1)").min(-0.999999).max(0.999999));
  f("filters", filters, Doc("channels of the first convolution (the second has twice as many)").min(1).max(4096));
  f("hidden", hidden, Doc("units of the fully connected layers").min(1).max(1 << 16));
  f("activation", activation, Doc("hidden activation").choices(activation_names()));
  f("likelihood", likelihood, Doc("pixels: bernoulli or gaussian (vae.pixel_std)").choices({"bernoulli", "gaussian"}));
  f("pixel_std", pixel_std, Doc("gaussian: the pixels' standard deviation").min(1e-6));
  f("kl_weight", kl_weight, Doc("beta on the KL term (1 = the ELBO)").min(0.0));
}

void VideoVaeConfig::Eval::visit(config::Fields& f) {
  f("sequences", sequences, Doc("training sequences the linear probes are fitted on (0 = all)").min(0));
  f("shots", shots, "few-shot: labelled sequences per held-out identity, e.g. [1, 5, 10]");
  f("repeats", repeats, Doc("few-shot: random draws of the labelled sequences").min(1).max(100000));
  f("iwae_samples", iwae_samples, Doc("k of a test importance-weighted bound (0 = skip)").min(0).max(100000));
  QualityConfig::visit(f);
}

VideoVaeConfig::VideoVaeConfig() {
  train.steps = 3000;
  train.batch_size = 16;
  train.eval_every = 500;
  train.checkpoint_every = 500;
  train.log_every = 50;
  train.optimizer.lr = 1e-3;
  train.optimizer.beta1 = 0.9;
  train.optimizer.beta2 = 0.999;
  train.optimizer.lr_schedule = "cosine";
  train.optimizer.grad_clip_norm = 100.0;
  sample.n = 6;
}

void VideoVaeConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("data", data);
  f.section("vae", vae);
  f.section("train", train);
  f.section("eval", eval);
  f.section("sample", sample);
}

VideoVaeMethod::VideoVaeMethod(VideoVaeConfig config) : config_(std::move(config)) {}

Parts VideoVaeMethod::build_parts(torch::Device device) {
  const auto& cfg = config_;
  const auto& d = cfg.data;
  for (int64_t s : cfg.eval.shots) {
    if (s < 1) throw ConfigError("eval.shots must be >= 1 labelled sequences each, got " + std::to_string(s));
  }
  if (!cfg.eval.feature_run.empty() && d.source != "moving_fashion") {
    throw ConfigError("eval.feature_run scores videos of Fashion-MNIST items: it needs data.source = \"moving_fashion\" "
                      "(the feature classifier reads Fashion-MNIST; the " + d.source + " videos have no such classifier)");
  }
  const uint64_t data_seed = static_cast<uint64_t>(d.seed);
  auto gen_for = [&](uint64_t stream) { return make_generator(derive_seed(data_seed, stream)); };
  const int64_t id_end = d.identities, ho_end = d.identities + d.held_out;
  if (d.source == "files") {
    if (d.path.empty()) throw ConfigError("data.source = \"files\" needs data.path = <folder of sequences or .npy file>");
    auto all = data::load_video_sequences(d.path);
    const int64_t n = all.frames.size(0);
    const int64_t n_test = static_cast<int64_t>(std::floor(d.test_fraction * static_cast<double>(n)));
    if (n - n_test < 1) throw ConfigError("data.path has " + std::to_string(n) + " sequences: too few to train on");
    auto g = gen_for(kSplitStream);
    const auto perm = at::randperm(n, g);
    auto take = [&](const at::Tensor& idx) { return data::select_videos(all, idx); };
    train_ = take(perm.slice(0, n_test));
    test_ = n_test > 0 ? take(perm.slice(0, 0, n_test)) : take(perm.slice(0, 0, std::min<int64_t>(n, 64)));
    held_out_ = data::VideoSet{};
    if (n_test == 0) notes_.push_back("video_vae: data.test_fraction = 0: the test numbers are on training sequences");
  } else if (d.source == "sprites" || d.source == "objects") {
    const int64_t pool = d.source == "sprites" ? data::sprite_identity_count() : data::rotating_object_identity_count();
    if (ho_end > pool) {
      throw ConfigError("data.identities + data.held_out = " + std::to_string(ho_end) + " but the " + d.source +
                        " generator has " + std::to_string(pool) + " identities");
    }
    auto make = [&](int64_t n, int64_t begin, int64_t end, uint64_t stream) {
      auto g = gen_for(stream);
      if (d.source == "sprites") {
        return data::make_moving_sprites(data::MovingSpritesOptions(n)
                                             .frames(d.frames)
                                             .size(d.size)
                                             .identity_begin(begin)
                                             .identity_end(end),
                                         g);
      }
      return data::make_rotating_objects(data::RotatingObjectsOptions(n)
                                             .frames(d.frames)
                                             .size(d.size)
                                             .identity_begin(begin)
                                             .identity_end(end),
                                         g);
    };
    train_ = make(d.sequences, 0, id_end, kTrainStream);
    test_ = make(d.test_sequences, 0, id_end, kTestStream);
    held_out_ = d.held_out > 0 ? make(d.held_out_sequences, id_end, ho_end, kHeldOutStream) : data::VideoSet{};
  } else {  // moving_fashion
    if (ho_end > 10) {
      throw ConfigError("data.identities + data.held_out = " + std::to_string(ho_end) +
                        " but Fashion-MNIST has 10 classes (moving_fashion's identities)");
    }
    const std::string dir = d.path.empty() ? data::kFashionMnistDir : d.path;
    const auto train_items = data::load_mnist_split(dir, "train");
    const auto test_items = data::load_mnist_split(dir, "t10k");
    auto make = [&](const data::ImageSplit& items, int64_t n, int64_t begin, int64_t end, uint64_t stream) {
      auto g = gen_for(stream);
      return data::make_moving_fashion(
          items.images, items.labels,
          data::MovingFashionOptions(n).frames(d.frames).size(d.size).class_begin(begin).class_end(end), g);
    };
    // Test videos show test items: a new garment of a known class.
    train_ = make(train_items, d.sequences, 0, id_end, kTrainStream);
    test_ = make(test_items, d.test_sequences, 0, id_end, kTestStream);
    held_out_ = d.held_out > 0 ? make(test_items, d.held_out_sequences, id_end, ho_end, kHeldOutStream) : data::VideoSet{};
  }
  const auto& fr = train_.frames;
  if (fr.size(3) % 4 != 0 || fr.size(4) % 4 != 0) {
    throw ConfigError("video_vae: frames are " + std::to_string(fr.size(3)) + "x" + std::to_string(fr.size(4)) +
                      "; the networks need a multiple of 4 (pad or crop the frames)");
  }
  check_batch_size(cfg.train.batch_size, fr.size(0), "training sequences");

  const auto& v = cfg.vae;
  const bool factored = v.prior == "factored";
  SequencePrior id_prior{factored ? SequencePriorKind::kSlow : SequencePriorKind::kIndependent, v.slow_eps, v.pose_rho};
  SequencePrior pose_prior{factored ? parse_sequence_prior(v.pose_prior) : SequencePriorKind::kIndependent, v.slow_eps,
                           v.pose_rho};
  model_ = VideoVae(VideoVaeOptions(fr.size(2), fr.size(3), fr.size(4), fr.size(1))
                        .identity_dim(v.identity_dim)
                        .pose_dim(v.pose_dim)
                        .identity_prior(id_prior)
                        .pose_prior(pose_prior)
                        .filters(v.filters)
                        .hidden(v.hidden)
                        .activation(parse_activation(v.activation))
                        .likelihood(v.likelihood)
                        .pixel_std(v.pixel_std));
  model_->reset_parameters(make_generator(derive_seed(static_cast<uint64_t>(cfg.run.seed), 1)));
  model_->to(device);

  Parts parts;
  parts.modules.add("model", model_.ptr());
  parts.data = std::make_shared<data::TensorDataset>(fr.to(device));
  parts.objective = std::make_shared<Elbo>(ElboOptions().kl_weight(v.kl_weight));
  notes_.push_back("video_vae: " + v.prior + " prior (" + std::to_string(v.identity_dim) + " identity channels " +
                   (factored ? "slow, eps = " + std::to_string(v.slow_eps) : std::string("independent")) + "; " +
                   std::to_string(v.pose_dim) + " pose channels " + to_string(pose_prior.kind) + ")");
  notes_.push_back("data: " + d.source + ", " + std::to_string(train_.frames.size(0)) + " training, " +
                   std::to_string(test_.frames.size(0)) + " test" +
                   (held_out_.frames.defined() ? ", " + std::to_string(held_out_.frames.size(0)) + " held-out" : "") +
                   " sequences of " + std::to_string(fr.size(1)) + " frames " + std::to_string(fr.size(2)) + "x" +
                   std::to_string(fr.size(3)) + "x" + std::to_string(fr.size(4)));
  return parts;
}

at::Tensor VideoVaeMethod::encode_means(const at::Tensor& x) {
  TORCH_CHECK(model_, "video_vae: build() first");
  at::NoGradGuard no_grad;
  const auto device = module_device(*model_);
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += 64) {
    out.push_back(model_->encode(x.slice(0, i, std::min(x.size(0), i + 64)).to(device)).first.cpu());
  }
  return at::cat(out, 0);
}

double VideoVaeMethod::bound(const at::Tensor& x, int64_t k, uint64_t seed) {
  TORCH_CHECK(model_, "video_vae: build() first");
  at::NoGradGuard no_grad;
  auto gen = make_generator(seed, module_device(*model_));
  const auto device = module_device(*model_);
  const int64_t chunk = std::max<int64_t>(1, 64 / std::max<int64_t>(1, k / 8));
  double sum = 0;
  for (int64_t i = 0; i < x.size(0); i += chunk) {
    const auto xb = x.slice(0, i, std::min(x.size(0), i + chunk)).to(device);
    sum += (k == 1 ? model_->elbo_terms(xb, gen).elbo() : model_->iwae_bound(xb, k, gen)).sum().item<double>();
  }
  return sum / static_cast<double>(x.size(0));
}

void VideoVaeMethod::add_callbacks(const Monitor& monitor) {
  auto test = test_.frames.slice(0, 0, std::min<int64_t>(test_.frames.size(0), 200));
  const uint64_t seed = derive_seed(static_cast<uint64_t>(config_.run.seed), 7);
  add_periodic_evaluation(
      monitor, config_.train.eval_every,
      [this, test, seed]() -> std::vector<std::pair<std::string, double>> {
        const double e = bound(test, 1, seed);
        return {{"nelbo_test", -e}, {"elbo_test", e}};
      },
      "nelbo_test", "-elbo test");
}

eval::Report VideoVaeMethod::evaluate() {
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  const auto& cfg = config_;
  const uint64_t seed = derive_seed(static_cast<uint64_t>(cfg.run.seed), 8);
  const int64_t n_fit = cfg.eval.sequences > 0 ? std::min(cfg.eval.sequences, train_.frames.size(0)) : train_.frames.size(0);
  const auto fit_frames = train_.frames.slice(0, 0, n_fit);
  const int64_t frames = train_.frames.size(1);
  r.add("elbo_train", bound(fit_frames, 1, seed), "ELBO per training video, nats (" + std::to_string(frames) + " frames)");
  r.add("elbo_test", bound(test_.frames, 1, seed), "ELBO per test video, nats");
  if (cfg.eval.iwae_samples > 1) {
    r.add("loglik_test", bound(test_.frames, cfg.eval.iwae_samples, seed),
          "test log-likelihood bound per video, k = " + std::to_string(cfg.eval.iwae_samples) + " importance samples");
  }
  {
    at::NoGradGuard no_grad;
    auto g = make_generator(seed, module_device(*model_));
    const auto xb = test_.frames.slice(0, 0, std::min<int64_t>(test_.frames.size(0), 200)).to(module_device(*model_));
    const auto [mu, logvar] = model_->encode(xb);
    const auto& m = *model_;
    if (m.options.identity_dim() > 0) {
      r.add("kl_identity", m.options.identity_prior().kl(m.identity_part(mu), m.identity_part(logvar)).mean().item<double>(),
            "KL of the identity channels per test video, nats");
    }
    if (m.options.pose_dim() > 0) {
      r.add("kl_pose", m.options.pose_prior().kl(m.pose_part(mu), m.pose_part(logvar)).mean().item<double>(),
            "KL of the pose channels per test video, nats");
    }
  }
  const auto& m = *model_;
  const bool has_id = m.options.identity_dim() > 0, has_pose = m.options.pose_dim() > 0;
  const auto mu_fit = encode_means(fit_frames), mu_test = encode_means(test_.frames);
  // How much each identity channel moves within a sequence relative to its spread across sequences
  // (0 = constant over time, as the slow prior asks).
  if (has_id) {
    const auto id = m.identity_part(mu_test);
    const double within = id.var(1, /*unbiased=*/false).mean().item<double>();
    const double total = per_frame(id).var(0, /*unbiased=*/false).mean().item<double>();
    r.add("identity_temporal_variance", total > 0 ? within / total : 0.0,
          "within-sequence variance of the identity latents over their total variance (test videos)");
  }
  if (labelled(train_) && labelled(test_)) {
    const double chance = 1.0 / static_cast<double>(std::max<int64_t>(1, std::get<0>(at::_unique(train_.identity)).numel()));
    r.add("identity_chance", chance, "chance accuracy of the identity read-outs");
    if (has_id) {
      r.add("identity_acc_identity_latents",
            eval::probe_accuracy(per_sequence(m.identity_part(mu_fit)), train_.identity.slice(0, 0, n_fit),
                                 per_sequence(m.identity_part(mu_test)), test_.identity),
            "test identity accuracy of a logistic probe on the identity latents (time-mean per video)");
    }
    if (has_pose) {
      r.add("identity_acc_pose_latents",
            eval::probe_accuracy(per_sequence(m.pose_part(mu_fit)), train_.identity.slice(0, 0, n_fit),
                                 per_sequence(m.pose_part(mu_test)), test_.identity),
            "test identity accuracy of a logistic probe on the pose latents (time-mean per video)");
    }
    r.add("identity_acc_all_latents",
          eval::probe_accuracy(per_sequence(mu_fit), train_.identity.slice(0, 0, n_fit), per_sequence(mu_test),
                               test_.identity),
          "test identity accuracy of a logistic probe on all latents");
  }
  if (train_.pose.defined() && train_.pose.dim() == 3 && train_.pose.size(2) > 0) {
    const auto pose_fit = per_frame(train_.pose.slice(0, 0, n_fit)), pose_test = per_frame(test_.pose);
    if (has_pose) {
      r.add("pose_r2_pose_latents", eval::ridge_r2(per_frame(m.pose_part(mu_fit)), pose_fit, per_frame(m.pose_part(mu_test)), pose_test),
            "test R^2 of a ridge regression of the pose factors on the pose latents (per frame)");
    }
    if (has_id) {
      r.add("pose_r2_identity_latents",
            eval::ridge_r2(per_frame(m.identity_part(mu_fit)), pose_fit, per_frame(m.identity_part(mu_test)), pose_test),
            "test R^2 of a ridge regression of the pose factors on the identity latents (per frame)");
    }
    r.add("pose_r2_all_latents", eval::ridge_r2(per_frame(mu_fit), pose_fit, per_frame(mu_test), pose_test),
          "test R^2 of the pose factors on all latents");
    // Per factor: a factor that is constant within a video (e.g. the objects' elevation) belongs
    // in the slow channels, one that changes every frame in the pose channels.
    const auto& names = train_.pose_names;
    for (const auto& [group, which] : {std::make_pair(std::string("pose"), has_pose), std::make_pair(std::string("identity"), has_id)}) {
      if (!which || static_cast<int64_t>(names.size()) != pose_fit.size(1)) continue;
      const auto part = [&](const at::Tensor& mu) { return group == "pose" ? m.pose_part(mu) : m.identity_part(mu); };
      const auto per = eval::ridge_r2_per_output(per_frame(part(mu_fit)), pose_fit, per_frame(part(mu_test)), pose_test);
      for (size_t i = 0; i < names.size(); ++i) {
        r.add("pose_r2_" + names[i] + "_" + group + "_latents", per[static_cast<int64_t>(i)].item<double>(),
              "test R^2 of the pose factor " + names[i] + " on the " + group + " latents");
      }
    }
  }
  if (!cfg.eval.feature_run.empty()) add_sample_quality(r);
  if (held_out_.frames.defined() && labelled(held_out_)) {
    const auto mu_ho = encode_means(held_out_.frames);
    auto g = make_generator(derive_seed(seed, 3));
    for (int64_t shots : cfg.eval.shots) {
      const std::string s = std::to_string(shots);
      if (has_id) {
        const auto res = eval::few_shot_accuracy(per_sequence(m.identity_part(mu_ho)), held_out_.identity, shots,
                                                 cfg.eval.repeats, g, eval::FewShotClassifier::kLogistic);
        r.add("fewshot" + s + "_identity_latents", res.accuracy,
              s + "-shot accuracy on held-out identities from the identity latents (logistic probe, mean of " +
                  std::to_string(cfg.eval.repeats) + " draws)");
      }
      const auto res = eval::few_shot_accuracy(per_sequence(mu_ho), held_out_.identity, shots, cfg.eval.repeats, g);
      r.add("fewshot" + s + "_all_latents", res.accuracy, s + "-shot accuracy on held-out identities from all latents");
    }
  }
  return r;
}

void VideoVaeMethod::add_sample_quality(eval::Report& r) {
  const auto& cfg = config_;
  const int64_t t = train_.frames.size(1);
  const int64_t n = std::min({cfg.eval.quality_n, train_.frames.size(0), test_.frames.size(0)});
  // The feature classifier reads centred 28×28 Fashion-MNIST items; a frame shows a smaller item
  // (MovingFashionOptions::item_size) somewhere in a larger frame. Every frame, real or sampled,
  // is cropped at its item and scaled to 28×28 the same way, so the train-vs-test floor is the
  // floor of exactly this view.
  const int64_t item = data::MovingFashionOptions(1).item_size();
  const auto items = [item](const at::Tensor& frames) {  // [M, C, H, W]
    return data::crop_at_centroid(frames.cpu(), item, 28) * 2.0 - 1.0;  // the classifier's [−1, 1]
  };
  // One frame of each video (video i shows frame i mod T): the frames of one video are nearly the
  // same picture, and copies would shrink the k-NN balls of precision and recall to nothing.
  const auto one_frame_each = [t](const at::Tensor& videos) {
    const auto pick = at::arange(videos.size(0), at::kLong).remainder(t).to(videos.device());
    return videos.flatten(0, 1).index_select(0, at::arange(videos.size(0), at::kLong).to(videos.device()) * t + pick);
  };
  const auto test = test_.frames.slice(0, 0, n), train = train_.frames.slice(0, 0, n);
  const auto drawn = [&] {
    at::NoGradGuard no_grad;
    return model_->sample(n, make_generator(derive_seed(static_cast<uint64_t>(cfg.run.seed), 12), module_device(*model_))).cpu();
  }();
  LabelledDataConfig data;  // eval.feature_run = "auto" trains its classifier on the same item files
  data.path = cfg.data.path;
  // The floor with the training videos' classes as intended classes: how well the classifier
  // reads the cropped items at all.
  SampleQuality quality(resolve_feature_run(cfg.eval.feature_run, data, {}, &std::cerr), items(one_frame_each(test)),
                        items(one_frame_each(train)), device(), derive_seed(static_cast<uint64_t>(cfg.run.seed), 13), n,
                        /*k=*/3, train_.identity.slice(0, 0, n));
  SampleQuality::add_lines(r, "quality.train_vs_test.", quality.floor(),
                           "a frame of each training video, cropped at the item (the floor)");
  SampleQuality::add_lines(r, "quality.samples.", quality.score(items(one_frame_each(drawn))),
                           "a frame of each video drawn from the prior, cropped at the item");
  // Every frame: does a video keep showing one item?
  const auto consistency = [&](const at::Tensor& videos) {
    return eval::sequence_label_consistency(quality.logits(items(videos.flatten(0, 1))).argmax(1).view({n, t}));
  };
  r.add("quality.train_vs_test.identity_consistency", consistency(train),
        "share of a training video's frames the feature classifier gives the video's most frequent label");
  r.add("quality.samples.identity_consistency", consistency(drawn),
        "share of a sampled video's frames the feature classifier gives the video's most frequent label (1 = one "
        "item throughout)");
}

std::vector<std::string> VideoVaeMethod::pictures(const std::string& prefix) {
  TORCH_CHECK(model_, "video_vae: build() first");
  at::NoGradGuard no_grad;
  std::vector<std::string> files;
  const auto device = module_device(*model_);
  auto& m = *model_;
  const int64_t t = test_.frames.size(1);
  const auto range = std::make_pair(0.0, 1.0);
  auto frames_of = [](const at::Tensor& v) { return v.reshape({-1, v.size(2), v.size(3), v.size(4)}).cpu(); };
  // Reconstructions: each test video over its reconstruction from the posterior means.
  {
    const auto x = test_.frames.slice(0, 0, std::min<int64_t>(4, test_.frames.size(0))).to(device);
    const auto recon = m.decode_mean(m.encode(x).first);
    files.push_back(prefix + "reconstructions.png");
    io::save_image_grid(frames_of(at::stack({x, recon}, 1).flatten(0, 1)), files.back(), t, 2, range);
  }
  // Swaps: row i keeps video i's identity channels, column j takes the pose channels of the top
  // row's video at frame j. The first column shows the identity videos, the top row the pose video.
  {
    // Identity sources: test videos of distinct identities where labels say so.
    std::vector<int64_t> rows;
    const int64_t want = std::min<int64_t>(6, test_.frames.size(0) - 1);
    std::vector<int64_t> seen;
    for (int64_t i = 1; i < test_.frames.size(0) && static_cast<int64_t>(rows.size()) < want; ++i) {
      const int64_t id = labelled(test_) ? test_.identity[i].item<int64_t>() : i;
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      rows.push_back(i);
    }
    if (!rows.empty()) {
      const auto pose_video = test_.frames.slice(0, 0, 1).to(device);
      const auto ids = test_.frames.index_select(0, at::tensor(rows, at::kLong)).to(device);
      const auto mu_pose = m.encode(pose_video).first;        // [1, T, K]
      const auto mu_id = m.encode(ids).first;                 // [R, T, K]
      // Each row's identity: the time-mean of its identity channels, repeated over the T frames.
      const auto id_mean = mu_id.mean(1, /*keepdim=*/true).expand_as(mu_id);
      const auto z = m.swap(id_mean, mu_pose.expand_as(mu_id));
      const auto swapped = m.decode_mean(z);                  // [R, T, C, H, W]
      const auto blank = at::ones_like(pose_video.select(1, 0));  // [1, C, H, W]
      std::vector<at::Tensor> cells{blank, pose_video[0]};
      for (size_t i = 0; i < rows.size(); ++i) {
        cells.push_back(ids[i].slice(0, 0, 1));
        cells.push_back(swapped[i]);
      }
      files.push_back(prefix + "swap.png");
      io::save_image_grid(at::cat(cells, 0).cpu(), files.back(), t + 1, 2, range);
    }
  }
  // Traversals: one test frame's latents with one channel at a time set to −2.5 … 2.5 (rows:
  // identity channels first, then pose channels).
  {
    const auto x = test_.frames.slice(0, 0, 1).slice(1, 0, 1).to(device);  // [1, 1, C, H, W]
    const auto mu = m.encode(x).first.reshape({1, m.latent_dim()});
    std::vector<int64_t> channels;
    for (int64_t c = 0; c < std::min<int64_t>(m.options.identity_dim(), 8); ++c) channels.push_back(c);
    for (int64_t c = 0; c < std::min<int64_t>(m.options.pose_dim(), 8); ++c) channels.push_back(m.options.identity_dim() + c);
    const int64_t steps = 9, k = static_cast<int64_t>(channels.size());
    const auto values = at::linspace(-2.5, 2.5, steps, mu.options());
    auto z = mu.repeat({k * steps, 1});
    for (int64_t r = 0; r < k; ++r) z.slice(0, r * steps, (r + 1) * steps).select(1, channels[r]).copy_(values);
    const auto images = m.decode_mean(z.unsqueeze(1));  // [k·steps, 1, C, H, W]
    files.push_back(prefix + "traversal.png");
    io::save_image_grid(frames_of(images), files.back(), steps, 2, range);
  }
  files.push_back(prefix + "samples.png");
  io::save_image_grid(frames_of(sample()), files.back(), m.options.frames(), 2, range);
  if (!run_dir().empty()) {
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {{"ELBO (nats per video)", "nats", {{"elbo", "training batches"}, {"elbo_test", "test"}}, {}},
                      {"KL (nats per video)", "nats", {{"kl", "training batches"}}, {}}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor VideoVaeMethod::sample() {
  TORCH_CHECK(model_, "video_vae: build() first");
  at::NoGradGuard no_grad;
  return model_->sample(config_.sample.n, make_generator(static_cast<uint64_t>(config_.sample.seed), module_device(*model_)));
}

}  // namespace joule::methods
