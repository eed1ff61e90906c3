// method = "ebm": an MLP energy trained by CD/PCD or a sampling-free objective on 2-D toy data or
// a CSV table, evaluated by grid quadrature (2-D), test NLL against the true entropy, and MMD.
#include "joule/methods/ebm.h"

#include <algorithm>
#include <limits>
#include <sstream>

#include "joule/core/runtime.h"
#include "joule/eval/sample_stats.h"
#include "joule/io/plot.h"
#include "joule/models/activation.h"
#include "joule/models/mlp_energy.h"
#include "joule/models/nice.h"
#include "joule/objectives/contrastive_divergence.h"
#include "joule/objectives/improved_cd.h"
#include "joule/objectives/maximum_likelihood.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void EbmConfig::Model::visit(config::Fields& f) {
  f("kind", kind,
    Doc("energy network: mlp, or nice (a NICE flow, E = −log p with an exact likelihood: VERA's tractable-model check)")
        .choices({"mlp", "nice"}));
  f("width", width, Doc("hidden units per layer (nice: of each coupling function)").min(1));
  f("depth", depth, Doc("hidden layers (nice: of each coupling function)").min(1).max(64));
  f("couplings", couplings, Doc("nice: additive coupling layers").min(1).max(64));
  f("base", base, Doc("nice: base distribution").choices({"gaussian", "logistic"}));
  f("activation", activation, Doc("hidden activation (silu = swish)").choices(activation_names()));
  f("negative_slope", negative_slope, Doc("leaky_relu slope for x < 0").min(0.0).max(1.0));
  f("spectral_norm", spectral_norm, "spectral normalisation of every weight matrix");
  f("temperature", temperature, Doc("T in p(x) ∝ exp(−E(x)/T)").min(1e-12));
}

void EbmConfig::Objective::visit(config::Fields& f) {
  f("kind", kind,
    Doc("pcd: chains from the replay buffer; cd: CD-k from the data; icd: improved CD (pcd + the KL and entropy terms "
        "of [icd]); lsd, sm, ssm, dsm: no sampling; mle: exact maximum likelihood (model.kind = nice)")
        .choices({"pcd", "cd", "icd", "lsd", "sm", "ssm", "dsm", "mle"}));
  f("l2_energy", l2_energy, Doc("energy penalty α(E⁺² + E⁻²) (IGEBM uses 1)").min(0.0));
  f("init_noise", init_noise, Doc("CD-k: noise std added to the data before sampling").min(0.0));
  f("gap_watch", gap_watch,
    Doc("pcd at temperature 1: warn (train.on_degrade = stop: stop) when the median CD gap stays beyond this many "
        "data-energy spreads for 400 steps; 0 = off (ULA's own bias moves the gap far from 0 on thin data while the "
        "fit is good: docs/reliability.md)")
        .min(0.0));
  f("tv_watch", tv_watch,
    Doc("pcd on 2-D data: warn (train.on_degrade = stop: stop) when the total variation between the persistent "
        "chains and the model's exact density (chain_tv, at every train.eval_every) stays above this at two "
        "evaluations in a row: the model may fit while its own sampler cannot draw from it; 0 = off")
        .min(0.0)
        .max(0.99));
}

void EbmConfig::Icd::visit(config::Fields& f) {
  f("kl_weight", kl_weight,
    Doc("weight of the KL term E_θ̄(x_kl) back-propagated through the last sampler steps (arXiv:2012.01316 §3.1); 0 = off")
        .min(0.0));
  f("kl_steps", kl_steps, Doc("sampler steps the KL term differentiates through; -1 = all of them").min(-1));
  f("entropy_weight", entropy_weight,
    Doc("weight of the nearest-neighbour entropy term −mean log d(x_kl, buffer) (§3.2); 0 = off").min(0.0));
  f("entropy_reference", entropy_reference, Doc("buffer states the nearest neighbours are searched in").min(1));
  f("entropy_min_buffer", entropy_min_buffer, Doc("the entropy term starts once the buffer holds this many states").min(0));
}

void EbmConfig::Eval::visit(config::Fields& f) {
  f("grid_resolution", grid_resolution, Doc("2-D grid points per axis for log Z by quadrature").min(16).max(4096));
  f("extent", extent, Doc("half-width of the square grid; 0 = the dataset's default").min(0.0));
  f("temperature", temperature,
    Doc("temperature for density read-outs; 0 = model T x sampler T (what training matched)").min(0.0));
  f("n_samples", n_samples, Doc("model samples for MMD and pictures").min(10));
  f("chain_steps", chain_steps, Doc("sampler steps for fresh chains used in evaluation").min(0));
  f("steps_curve", steps_curve,
    Doc("2-D: step counts at which fresh chains are scored, by their mean NLL under the grid-normalised model and "
        "their MMD^2 to test data (steps_curve.png; the adaptive computation of arXiv:2012.01316 §5); [] = none"));
}

void EbmConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("data", data);
  f.section("model", model);
  f.section("sampler", sampler);
  f.section("buffer", buffer);
  f.section("objective", objective);
  f.section("icd", icd);
  f.section("lsd", lsd);
  f.section("sm", sm);
  f.section("train", train);
  f.section("optim", optim);
  f.section("eval", eval);
  f.section("sample", sample);
}

EbmMethod::EbmMethod(EbmConfig config) : config_(std::move(config)) {}

Parts EbmMethod::build_parts(torch::Device device) {
  auto& cfg = config_;
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  data_ = load_points(cfg.data, seed);
  auto gen_init = make_generator(derive_seed(seed, 3));
  const auto& train_x = data_.train;
  dim_ = train_x.size(1);
  check_batch_size(cfg.train.batch_size, train_x.size(0), "training points");

  Parts parts;
  parts.data = std::make_shared<data::TensorDataset>(train_x.to(device));
  if (cfg.model.kind == "nice") {
    if (cfg.model.spectral_norm) throw ConfigError("model.spectral_norm applies to model.kind = \"mlp\" only");
    auto flow = Nice(NiceOptions(dim_).hidden(cfg.model.width).depth(cfg.model.depth).couplings(cfg.model.couplings).base(cfg.model.base));
    flow->reset_parameters(gen_init);
    flow->set_temperature(cfg.model.temperature);
    flow->to(device);
    density_ = flow.get();
    parts.modules.add("model", flow.ptr());
  } else {
    auto mlp = MlpEnergy(MlpEnergyOptions(dim_)
                             .width(cfg.model.width)
                             .depth(cfg.model.depth)
                             .activation(parse_activation(cfg.model.activation))
                             .negative_slope(cfg.model.negative_slope)
                             .spectral_norm(cfg.model.spectral_norm));
    mlp->reset_parameters(gen_init);
    mlp->set_temperature(cfg.model.temperature);
    mlp->to(device);
    parts.modules.add("model", mlp.ptr());
  }

  sampler_ = cfg.sampler.build();
  ContrastiveDivergenceOptions cd;
  cd.l2_energy(cfg.objective.l2_energy).init_noise(cfg.objective.init_noise).robust_metrics(cfg.objective.gap_watch > 0);
  const std::string& kind = cfg.objective.kind;
  if (is_score_objective(kind)) {
    // No negatives in training; the sampler serves the evaluation and pictures.
    add_score_objective(parts, kind, cfg.lsd, cfg.sm, cfg.optim.critic, cfg.objective.l2_energy, dim_, device, derive_seed(seed, 7));
  } else if (kind == "mle") {
    if (!density_) throw ConfigError("objective.kind = \"mle\" needs a model with an exact likelihood: model.kind = \"nice\"");
    parts.objective = std::make_shared<MaximumLikelihood>();
  } else if (kind == "pcd" || kind == "icd") {
    buffer_ = cfg.buffer.build({dim_}, device);
    check_batch_size(cfg.train.batch_size, buffer_->capacity(), "persistent chains (buffer.capacity)");
    buffer_->set_data(train_x.to(device));
    if (kind == "icd") {
      if (!sampler_->differentiable()) {
        throw ConfigError("objective.kind = \"icd\" differentiates through the last sampler steps: it needs "
                          "sampler.kind = \"langevin\", not \"" + sampler_->name() + "\"");
      }
      auto icd = ImprovedCdOptions()
                     .l2_energy(cfg.objective.l2_energy)
                     .robust_metrics(cfg.objective.gap_watch > 0)
                     .kl_weight(cfg.icd.kl_weight)
                     .kl_steps(cfg.icd.kl_steps == 0 ? 1 : cfg.icd.kl_steps)
                     .entropy_weight(cfg.icd.entropy_weight)
                     .entropy_reference(cfg.icd.entropy_reference)
                     .entropy_min_buffer(cfg.icd.entropy_min_buffer);
      if (cfg.icd.kl_steps == 0) throw ConfigError("icd.kl_steps must be >= 1 or -1 (all steps), got 0");
      parts.objective = std::make_shared<ImprovedContrastiveDivergence>(icd, sampler_, buffer_);
    } else {
      parts.objective = std::make_shared<ContrastiveDivergence>(cd, sampler_, buffer_);
    }
  } else {
    parts.objective = std::make_shared<ContrastiveDivergence>(cd, sampler_);
  }
  extent_ = data_.extent;
  if (cfg.eval.extent > 0) extent_ = cfg.eval.extent;
  return parts;
}

double EbmMethod::readout_temperature() {
  // A model trained with negatives at sampler temperature T_s learns E ≈ −T_s log p_data, so
  // its density is read at T_model × T_s unless set explicitly.
  return config_.eval.temperature > 0 ? config_.eval.temperature : trainer().model().temperature() * sampler_->temperature();
}

at::Tensor EbmMethod::init_states(int64_t n, at::Generator& gen) {
  if (buffer_) return buffer_->init_samples(n, gen);
  // CD-k has no buffer: start from a box around the data.
  return torch::empty({n, dim_}, torch::TensorOptions().device(device())).uniform_(-extent_, extent_, gen);
}

void EbmMethod::add_callbacks(const Monitor& monitor) {
  // At equilibrium persistent chains at the model's temperature have the data's mean energy; a
  // colder or hotter sampler (or CD-k's short chains from the data) has no such reference.
  if ((config_.objective.kind == "pcd" || config_.objective.kind == "icd") && sampler_) {
    // The gap has a reference only at temperature 1; chain_tv compares the chains with the model
    // at the temperature they sample (the read-out's), so it holds at any.
    const bool unit_temperature = std::abs(sampler_->temperature() - 1.0) < 1e-6;
    add_sampler_health(monitor, unit_temperature ? config_.objective.gap_watch : 0.0,
                       dim_ == 2 && config_.train.eval_every > 0 ? config_.objective.tv_watch : 0.0);
  }
  if (dim_ != 2) return;
  add_periodic_evaluation(
      monitor, config_.train.eval_every,
      [this]() -> std::vector<std::pair<std::string, double>> {
        auto opts = eval::Density2dOptions().box(box()).resolution(config_.eval.grid_resolution).temperature(readout_temperature());
        auto r = eval::density2d_nll(trainer().model(), data_.test, opts);
        std::vector<std::pair<std::string, double>> values{{"nll_test", r.nll}, {"log_z", r.log_z}};
        if (auto tv = chain_tv(r.density)) values.emplace_back("chain_tv", *tv);
        return values;
      },
      "nll_test", "nll");
}

c10::optional<double> EbmMethod::chain_tv(const eval::GridDensity& density) const {
  if (!buffer_ || buffer_->size() == 0) return c10::nullopt;
  // The finest coarse partition up to 16 x 16 that tiles the grid: finer cells would leave the
  // buffer's chains (10^3-10^4) too few per cell and raise the binning-noise floor.
  int64_t cells = 16;
  while (cells >= 4 && density.resolution % cells != 0) --cells;
  if (cells < 4) return c10::nullopt;
  return eval::total_variation_to_grid(density, buffer_->states(), cells);
}

const EbmMethod::EvalState& EbmMethod::eval_state() {
  auto& t = trainer();
  if (state_.step == t.step_count()) return state_;
  auto& model = t.model();
  EvalState st;
  st.step = t.step_count();
  const uint64_t seed = t.options().seed();
  auto gen = make_generator(derive_seed(seed, 4), device());
  const int64_t n = std::min<int64_t>(config_.eval.n_samples, data_.test.size(0));
  // Chains run at the model's own temperature; the sampler applies its own.
  st.chains = sampler_->with_steps(config_.eval.chain_steps)->sample(model, init_states(n, gen), gen).cpu();
  if (dim_ == 2) {
    auto opts = eval::Density2dOptions()
                    .box(box())
                    .resolution(config_.eval.grid_resolution)
                    .temperature(readout_temperature())
                    .n_exact(n);
    st.grid = eval::density2d_protocol(model, data_.test, data_.valid, opts, make_generator(derive_seed(seed, 5)));
    if (!config_.eval.steps_curve.empty()) {
      // One set of fresh chains continued from step count to step count.
      auto steps = config_.eval.steps_curve;
      std::sort(steps.begin(), steps.end());
      auto cgen = make_generator(derive_seed(seed, 6), device());
      auto x = init_states(n, cgen);
      auto ref = data_.test.slice(0, 0, n);
      const double h = eval::median_bandwidth(ref, ref);
      const double readout_t = readout_temperature();
      int64_t done = 0;
      for (int64_t k : steps) {
        if (k < 0) throw config::ConfigError("eval.steps_curve holds a negative step count");
        if (k > done) x = sampler_->with_steps(k - done)->sample(model, x, cgen);
        done = k;
        const auto cpu = x.cpu();
        const bool finite = torch::isfinite(cpu).all().item<bool>();
        double nll = std::numeric_limits<double>::quiet_NaN();
        if (finite) {
          TemperatureGuard readout(model, readout_t);  // the grid's log Z is at the read-out temperature
          nll = eval::negative_log_likelihood(model, x, st.grid->density.log_z);
        }
        st.curve.push_back({static_cast<double>(k), nll,
                            finite ? eval::mmd2_gaussian(cpu, ref, h) : std::numeric_limits<double>::quiet_NaN()});
      }
    }
  }
  state_ = st;
  return state_;
}

eval::Report EbmMethod::evaluate() {
  const EvalState& st = eval_state();
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  auto ref = data_.test.slice(0, 0, st.chains.size(0));
  // Chains that left every finite value (a sampler too coarse for a sharp model) are reported as
  // such; the exact read-outs below do not depend on them.
  const auto finite_rows = torch::isfinite(st.chains).all(1);
  const int64_t n_finite = finite_rows.sum().item<int64_t>();
  const auto chains = st.chains.index({finite_rows});
  const double h = n_finite >= 2 ? eval::median_bandwidth(ref, chains) : eval::median_bandwidth(ref, ref);
  if (st.grid) {
    const auto& g = *st.grid;
    r.add("readout_temperature", g.temperature, "T of the density read-out: model T x sampler T (what training matched)");
    r.add("nll_test", g.nll, "nats, exact by grid quadrature");
    r.add("log_z", g.density.log_z,
          "grid " + std::to_string(config_.eval.grid_resolution) + "^2 on [-" + io::format_number(extent_, 6) + ", " +
              io::format_number(extent_, 6) + "]^2");
    if (data_.entropy) {
      r.add("entropy", *data_.entropy, data_.entropy_exact ? "true differential entropy of the data (exact)" : "data entropy (k-NN estimate)");
      r.add("nll_gap", g.nll - *data_.entropy, "nll_test - entropy (0 is perfect)");
    }
    r.add("temperature_fit", g.fit.temperature,
          "T maximising the likelihood of a validation split (1 = trained at the right temperature)");
    r.add("nll_test_at_fit", g.nll_at_fit, "test NLL at temperature_fit");
    r.add("mmd2_model", eval::mmd2_gaussian(g.exact, ref, h), "MMD^2, exact model samples vs test data");
    if (auto tv = chain_tv(g.density)) {
      r.add("chain_tv", *tv,
            "total variation, persistent training chains vs the exact model on coarse cells (0 = the chains sample "
            "the model; binning noise alone gives ~0.4 sqrt(cells / chains))");
    }
  }
  if (density_) {
    torch::NoGradGuard no_grad;
    auto test = data_.test.to(device());
    r.add("test_loglik", density_->log_prob(test).mean().item<double>(), "exact mean log p(x_test) of the flow, nats");
  }
  r.add("mmd2_chains", n_finite >= 2 ? eval::mmd2_gaussian(chains, ref, h) : std::numeric_limits<double>::quiet_NaN(),
        "MMD^2, " + std::to_string(config_.eval.chain_steps) + "-step " + sampler_->name() + " chains vs test data" +
            (n_finite < st.chains.size(0) ? " (finite chains only)" : ""));
  if (n_finite < st.chains.size(0)) {
    r.add("chains_nonfinite", 1.0 - static_cast<double>(n_finite) / static_cast<double>(st.chains.size(0)),
          "fraction of sampler chains that reached NaN/inf (step size too large for this model)");
  }
  r.add("mmd_bandwidth", h, "Gaussian kernel bandwidth (median heuristic)");
  r.add("sampler_temperature", sampler_->temperature(), "b^2/(2a); 1 = samples the model itself");
  for (const auto& [k, nll, mmd] : st.curve) {
    const std::string key = "steps_curve." + std::to_string(static_cast<int64_t>(k));
    r.add(key + ".nll_model", nll, "mean -log p_model of fresh chains after this many steps (grid-normalised model)");
    r.add(key + ".mmd2", mmd, "MMD^2 of those chains to test data (bandwidth from the test data)");
  }
  return r;
}

std::vector<std::string> EbmMethod::pictures(const std::string& prefix) {
  std::vector<std::string> files;
  if (dim_ == 2) {
    const EvalState& st = eval_state();
    const io::PlotBox pb{-extent_, extent_, -extent_, extent_};
    std::vector<io::Image> panels{
        io::scatter_plot(data_.test.slice(0, 0, st.chains.size(0)), pb, "data (" + config_.data.dataset + ")"),
        io::scatter_plot(st.grid->exact, pb, "model (exact, from grid)"),
        io::scatter_plot(st.chains, pb,
                         sampler_->name() + " chains, " + std::to_string(config_.eval.chain_steps) + " steps")};
    if (buffer_ && buffer_->size() > 0) {
      panels.push_back(io::scatter_plot(buffer_->states().slice(0, 0, st.chains.size(0)).cpu(), pb, "replay buffer"));
    }
    files.push_back(prefix + "samples.png");
    io::write_png(files.back(), io::hstack(panels));
    auto hist = eval::histogram_density(data_.test, box(), std::min<int64_t>(config_.eval.grid_resolution, 128));
    files.push_back(prefix + "density.png");
    io::write_png(files.back(), io::hstack({io::heatmap(hist, pb, "data histogram"),
                                            io::heatmap(st.grid->density.log_density.exp(), pb, "model density"),
                                            io::heatmap(st.grid->density.log_density, pb, "model log-density")}));
  }
  if (!run_dir().empty()) {
    CurvePanel nll{"test NLL (nats)", "nats", {{"nll_test", "test NLL"}}, {}};
    if (data_.entropy) nll.reference = std::make_pair(std::string("data entropy"), *data_.entropy);
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves, {{"training loss", "loss", {{"loss", "loss"}}, {}}, nll})) {
      files.push_back(curves);
    }
  }
  if (dim_ == 2 && !eval_state().curve.empty()) {
    io::Series nll{"chains", {}, {}}, mmd{"chains", {}, {}};
    for (const auto& [k, n, m] : eval_state().curve) {
      nll.x.push_back(k);
      nll.y.push_back(n);
      mmd.x.push_back(k);
      mmd.y.push_back(m);
    }
    std::vector<io::RefLine> lines;
    if (data_.entropy) lines.push_back({"data entropy", *data_.entropy});
    files.push_back(prefix + "steps_curve.png");
    io::write_png(files.back(), io::hstack({io::line_plot({nll}, "NLL of chains under the model", "sampler steps", "nats", 600,
                                                          400, false, lines),
                                            io::line_plot({mmd}, "MMD^2 of chains to test data", "sampler steps", "MMD^2")}));
  }
  return files;
}

torch::Tensor EbmMethod::sample() {
  auto gen = make_generator(static_cast<uint64_t>(config_.sample.seed), device());
  const int64_t n = config_.sample.n;
  at::Tensor x0;
  if (config_.sample.init == "buffer" && buffer_ && buffer_->size() > 0) {
    auto idx = torch::randint(buffer_->capacity(), {n}, gen, torch::TensorOptions().dtype(torch::kLong).device(device()));
    x0 = buffer_->states().index_select(0, idx);
  } else {
    x0 = init_states(n, gen);
  }
  return sampler_->with_steps(config_.sample.steps)->sample(trainer().model(), x0, gen);
}

}  // namespace joule::methods
