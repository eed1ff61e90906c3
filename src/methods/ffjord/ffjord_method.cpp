// method = "ffjord": continuous normalising flows by exact maximum likelihood.
#include "joule/methods/ffjord.h"

#include "joule/core/runtime.h"
#include "joule/eval/grid.h"
#include "joule/eval/sample_stats.h"
#include "joule/io/plot.h"
#include "joule/objectives/maximum_likelihood.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void FfjordConfig::Cnf::visit(config::Fields& f) {
  f("architecture", architecture,
    Doc("mlp: CNF blocks on vectors (points, tables); multiscale: FFJORD's multiscale image flow (logit transform, "
        "convolutional CNFs, squeezes and factored-out channels; data.dataset = fashion-mnist or mnist)")
        .choices({"mlp", "multiscale"}));
  f("hidden", hidden, Doc("units of each hidden layer of a block's vector field (FFJORD's --dims); multiscale: channels "
                          "of each 3×3 convolution"));
  f("width_per_dim", width_per_dim,
    Doc("0: the widths of cnf.hidden; k > 0: every hidden layer k·D units for D-dimensional data, as many layers as "
        "cnf.hidden has (FFJORD's tabular --hdim_factor)")
        .min(0));
  f("layer", layer,
    Doc("how layers see time: concatsquash (W z + b)·σ(a t + c) + d t, concat W[t; z] + b, ignore (autonomous)")
        .choices({"concatsquash", "concat", "ignore"}));
  f("activation", activation, Doc("nonlinearity after every layer but the last").choices(activation_names()));
  f("blocks", blocks, Doc("CNF blocks stacked").min(1).max(64));
  f("end_time", end_time, Doc("initial end time T of each block").min(1e-6).max(1e4));
  f("train_end_time", train_end_time, "learn T (as T = s²)");
  f("zero_last", zero_last, "zero the last layer's weights: the flow starts at the identity (RNODE)");
  f("logit_alpha", logit_alpha,
    Doc("multiscale: pixels x ∈ [0, 1] enter as logit(α + (1−2α)x) (FFJORD's --alpha); 0: x − ½").min(0.0).max(0.49));
  f("max_scales", max_scales, Doc("multiscale: at most this many scales (0: halve while both sides are ≥ 4)").min(0));
}

void FfjordConfig::Objective::visit(config::Fields& f) {
  f("divergence", divergence,
    Doc("tr ∂f/∂z while training: exact (D tangents per evaluation) or hutchinson (one probe per solve); "
        "evaluation always takes the exact trace")
        .choices({"exact", "hutchinson"}));
  f("probe", probe, Doc("Hutchinson probe distribution").choices({"rademacher", "gaussian"}));
  f("kinetic", kinetic, Doc("λ_K: weight of RNODE's kinetic energy ∫½‖f‖²/D dt (0 = off)").min(0.0));
  f("jacobian", jacobian, Doc("λ_J: weight of RNODE's Jacobian penalty ∫‖∂f/∂z‖²_F/D dt (0 = off)").min(0.0));
}

void FfjordConfig::Solver::visit(config::Fields& f) {
  f("method", method, Doc("ODE solver (torchdiffeq's names)").choices({"dopri5", "bosh3", "rk4", "midpoint", "euler"}));
  f("rtol", rtol, Doc("relative tolerance of the training solves (adaptive methods)").min(1e-14).max(1.0));
  f("atol", atol, Doc("absolute tolerance of the training solves (adaptive methods)").min(1e-14).max(1.0));
  f("step_size", step_size, Doc("fixed-grid methods: the step in t (the last one ends at T)").min(0.0).max(1e4));
  f("eval_rtol", eval_rtol, Doc("relative tolerance of evaluation and sampling solves").min(1e-14).max(1.0));
  f("eval_atol", eval_atol, Doc("absolute tolerance of evaluation and sampling solves").min(1e-14).max(1.0));
  f("gradient", gradient,
    Doc("backprop: through the solver's operations (fast on CPU); adjoint: a backward solve (memory independent of the steps)")
        .choices({"backprop", "adjoint"}));
  f("seminorm", seminorm, "adjoint: step control of the backward solve ignores the parameters' adjoints");
  f("per_sample", per_sample,
    "evaluation and sampling solves give every point its own step size (fewer evaluations than one step for the batch)");
  f("max_num_steps", max_num_steps, Doc("steps a solve may take before it stops with an error (stiff dynamics)").min(1));
}

void FfjordConfig::Eval::visit(config::Fields& f) {
  f("grid_resolution", grid_resolution, Doc("2-D: grid cells per side of the density picture").min(8).max(1024));
  f("n_samples", n_samples, Doc("samples by the reverse solve for pictures and MMD").min(10));
  QualityConfig::visit(f);
}

FfjordConfig::FfjordConfig() {
  // FFJORD's toy settings (train_toy.py): batch 100, Adam lr 1e-3, weight decay 1e-5, 10 000 steps.
  train.steps = 10000;
  train.batch_size = 100;
  train.eval_every = 1000;
  train.log_every = 20;
  train.checkpoint_every = 500;
  train.optimizer.lr = 1e-3;
  train.optimizer.beta1 = 0.9;
  train.optimizer.beta2 = 0.999;
  train.optimizer.weight_decay = 1e-5;
  train.optimizer.lr_schedule = "constant";
  sample.n = 2000;
}

void FfjordConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("data", data);
  f.section("cnf", cnf);
  f.section("objective", objective);
  f.section("solver", solver);
  f.section("train", train);
  f.section("eval", eval);
  f.section("sample", sample);
}

std::vector<int64_t> FfjordConfig::Cnf::widths(int64_t dim) const {
  if (width_per_dim <= 0) return hidden;
  return std::vector<int64_t>(hidden.size(), width_per_dim * dim);
}

ContinuousFlowOptions FfjordConfig::flow_options(int64_t dim) const {
  auto base = ode::SolverOptions().method(ode::parse_method(solver.method)).max_num_steps(solver.max_num_steps);
  if (!ode::is_adaptive(base.method())) {
    if (solver.step_size <= 0) {
      throw ConfigError("solver.step_size: the fixed-grid method '" + solver.method +
                        "' needs a step, e.g. solver.step_size = 0.05");
    }
    base.step_size(solver.step_size);
  }
  return ContinuousFlowOptions(dim)
      .net(OdeNetOptions(dim)
               .hidden(cnf.widths(dim))
               .layer(parse_ode_layer(cnf.layer))
               .activation(parse_activation(cnf.activation))
               .zero_last(cnf.zero_last))
      .blocks(cnf.blocks)
      .end_time(cnf.end_time)
      .train_end_time(cnf.train_end_time)
      .divergence(parse_divergence(objective.divergence))
      .probe(parse_probe_kind(objective.probe))
      .kinetic(objective.kinetic)
      .jacobian(objective.jacobian)
      .solver(ode::SolverOptions(base).rtol(solver.rtol).atol(solver.atol))
      .eval_solver(ode::SolverOptions(base).rtol(solver.eval_rtol).atol(solver.eval_atol))
      .adjoint(solver.gradient == "adjoint")
      .seminorm(solver.seminorm)
      .per_sample(solver.per_sample);
}

MultiscaleFlowOptions FfjordConfig::multiscale_options(int64_t channels, int64_t height, int64_t width) const {
  const auto mlp = flow_options(channels * height * width);  // the solver settings and objective, shared
  return MultiscaleFlowOptions(channels, height, width)
      .hidden(cnf.hidden)
      .activation(parse_activation(cnf.activation))
      .blocks(cnf.blocks)
      .max_scales(cnf.max_scales)
      .logit_alpha(cnf.logit_alpha)
      .end_time(cnf.end_time)
      .train_end_time(cnf.train_end_time)
      .zero_last(cnf.zero_last)
      .divergence(mlp.divergence())
      .probe(mlp.probe())
      .kinetic(mlp.kinetic())
      .jacobian(mlp.jacobian())
      .solver(mlp.solver())
      .eval_solver(mlp.eval_solver())
      .adjoint(mlp.adjoint());
}

FfjordMethod::FfjordMethod(FfjordConfig config) : config_(std::move(config)) {}

ContinuousFlowImpl& FfjordMethod::flow() {
  TORCH_CHECK(!flow_.is_empty(), "FfjordMethod::flow(): ",
              images() ? "cnf.architecture = \"multiscale\" builds image_flow()" : "call build() first");
  return *flow_;
}

MultiscaleFlowImpl& FfjordMethod::image_flow() {
  TORCH_CHECK(images(), "FfjordMethod::image_flow(): only with cnf.architecture = \"multiscale\", after build()");
  return *image_flow_;
}

DensityModel& FfjordMethod::density() {
  if (images()) return *image_flow_;
  return flow();
}

Parts FfjordMethod::build_parts(torch::Device device) {
  auto& cfg = config_;
  for (auto h : cfg.cnf.hidden) {
    if (h < 1) throw ConfigError("cnf.hidden: every width must be at least 1, got " + std::to_string(h));
  }
  if (cfg.solver.seminorm && cfg.solver.gradient != "adjoint") {
    throw ConfigError("solver.seminorm applies to the adjoint only: set solver.gradient = \"adjoint\" or drop it");
  }
  if (!cfg.eval.feature_run.empty() && cfg.cnf.architecture != "multiscale") {
    throw ConfigError("eval.feature_run scores image samples: it needs cnf.architecture = \"multiscale\" on images");
  }
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  points_ = load_points(cfg.data, seed);
  notes_ = points_.notes;
  check_batch_size(cfg.train.batch_size, points_.train.size(0), "training points (data.n_train)");
  const int64_t dim = points_.train.size(1);

  Parts parts;
  if (cfg.cnf.architecture == "multiscale") {
    if (cfg.data.dataset != "fashion-mnist" && cfg.data.dataset != "mnist") {
      throw ConfigError("cnf.architecture = \"multiscale\" models images: set data.dataset = \"fashion-mnist\" or "
                        "\"mnist\" (got \"" + cfg.data.dataset + "\")");
    }
    if (cfg.cnf.width_per_dim > 0) throw ConfigError("cnf.width_per_dim applies to cnf.architecture = \"mlp\" only");
    // The loader's dequantised pixels (k + u)/256 come in [−1, 1]; the image flow models [0, 1].
    for (auto* part : {&points_.train, &points_.valid, &points_.test}) *part = part->add(1.0).div(2.0);
    image_shape_ = {1, 28, 28};
    image_flow_ = MultiscaleFlow(cfg.multiscale_options(1, 28, 28));
    image_flow_->reset_parameters(make_generator(derive_seed(seed, 3)));
    image_flow_->to(device);
    parts.modules.add("model", image_flow_.ptr());
  } else {
    flow_ = ContinuousFlow(cfg.flow_options(dim));
    flow_->reset_parameters(make_generator(derive_seed(seed, 3)));
    flow_->to(device);
    parts.modules.add("model", flow_.ptr());
  }
  parts.data = std::make_shared<data::TensorDataset>(points_.train.to(device));
  parts.objective = std::make_shared<MaximumLikelihood>();
  return parts;
}

namespace {

// Mean NLL of `test` under the maximum-likelihood Gaussian of `train` (float64, Cholesky).
double gaussian_nll(const at::Tensor& train, const at::Tensor& test) {
  auto x = train.to(at::kDouble);
  const int64_t d = x.size(1);
  auto mean = x.mean(0, true);
  auto centred = x - mean;
  auto cov = centred.t().mm(centred) / double(x.size(0)) + 1e-9 * at::eye(d, at::kDouble);
  auto chol = at::linalg_cholesky(cov);
  auto z = at::linalg_solve_triangular(chol, (test.to(at::kDouble) - mean).t(), /*upper=*/false);
  const double log_det = 2.0 * chol.diagonal().log().sum().item<double>();
  const double quad = z.pow(2).sum(0).mean().item<double>();
  return 0.5 * (quad + log_det + double(d) * std::log(2.0 * M_PI));
}

}  // namespace

std::pair<double, int64_t> FfjordMethod::nll_of(const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  // The exact trace carries D tangent rows beside every value row through every layer: chunks of
  // rows keep that under ~16 M floats per layer (the toys' test sets go in one solve).
  int64_t widest = x.size(1);
  for (auto h : config_.cnf.widths(x.size(1))) widest = std::max<int64_t>(widest, h);
  // Images: Hutchinson (one tangent), a hidden layer holds hidden·H·W floats per row.
  const int64_t per_row = images() ? 2 * widest * x.size(1) : (x.size(1) + 1) * widest;
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 24) / per_row);
  double sum = 0;
  int64_t nfe = 0, solves = 0;
  eval_row_evaluations_ = 0;
  for (int64_t start = 0; start < x.size(0); start += chunk) {
    auto part = x.slice(0, start, std::min(start + chunk, x.size(0))).to(device());
    sum += density().log_prob(part).sum().item<double>();
    const int64_t n = images() ? image_flow_->last_nfe() : flow_->last_nfe();
    nfe += n;
    eval_row_evaluations_ += images() ? n * part.size(0) : flow_->last_row_evaluations();
    ++solves;
  }
  return {-sum / double(x.size(0)), solves ? nfe / solves : 0};
}

std::pair<double, int64_t> FfjordMethod::test_nll() { return nll_of(points_.test); }

void FfjordMethod::add_callbacks(const Monitor& monitor) {
  add_periodic_evaluation(
      monitor, config_.train.eval_every,
      [this]() -> std::vector<std::pair<std::string, double>> {
        // Validation, not test: the best periodic state (checkpoint-best.pt) is chosen on it.
        auto [nll, nfe] = nll_of(points_.valid);
        return {{"nll_valid", nll}, {"nfe_valid", static_cast<double>(nfe)}};
      },
      "nll_valid", "nll");
}

eval::Report FfjordMethod::evaluate() {
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  auto [nll, nfe] = test_nll();
  r.add("nll_test", nll,
        images() ? "nats per image (pixels in [0, 1]): log N(z) + log-dets, each CNF's by Hutchinson's unbiased "
                   "estimate, on " + std::to_string(points_.test.size(0)) + " test images"
                 : "nats, exact: log N(z(T)) + ∫tr ∂f/∂z dt by the exact trace on " +
                       std::to_string(points_.test.size(0)) + " test points");
  if (images()) {
    const double d = static_cast<double>(points_.test.size(1));
    r.add("bits_per_dim", (nll / d + std::log(256.0)) / std::log(2.0),
          "test bits/dim of the 8-bit images: −(log p(x)/D − log 256)/log 2 (FFJORD's measure)");
  }
  if (points_.entropy) {
    r.add("entropy", *points_.entropy,
          points_.entropy_exact ? "true differential entropy of the data (exact)" : "data entropy (k-NN estimate)");
    r.add("nll_gap", nll - *points_.entropy, "nll_test - entropy (0 is perfect)");
  }
  r.add("nfe_test", static_cast<double>(nfe), "function evaluations of the test solve (all blocks; mean over row chunks)");
  r.add("evals_per_point", static_cast<double>(eval_row_evaluations_) / static_cast<double>(points_.test.size(0)),
        config_.solver.per_sample ? "evaluations per test point (each point its own steps)"
                                  : "evaluations per test point (= nfe_test: one step size for the batch)");
  r.add("nll_valid", nll_of(points_.valid).first, "nats, exact, on the " + std::to_string(points_.valid.size(0)) +
                                                       " validation points (the periodic evaluations' metric)");
  if (!images()) {
    r.add("nll_gaussian", gaussian_nll(points_.train, points_.test),
          "nats: a full-covariance Gaussian fitted to the training points, on the test points (a baseline to beat)");
  }
  const auto times = images() ? image_flow_->end_times() : flow_->end_times();
  double t_sum = 0;
  for (double t : times) t_sum += t;
  r.add("end_time", t_sum, "T summed over blocks");
  const int64_t dim = points_.test.size(1);
  auto gen = make_generator(derive_seed(static_cast<uint64_t>(config_.run.seed), 4), device());
  auto samples = density().sample(config_.eval.n_samples, gen).cpu();
  r.add("nfe_sample", static_cast<double>(images() ? image_flow_->last_nfe() : flow_->last_nfe()),
        "function evaluations of the reverse solve");
  auto ref = points_.test.slice(0, 0, std::min<int64_t>(points_.test.size(0), samples.size(0)));
  const double h = eval::median_bandwidth(ref, samples);
  r.add("mmd2_model", eval::mmd2_gaussian(samples, ref, h), "MMD^2, samples by the reverse solve vs test data");
  if (!config_.eval.feature_run.empty()) {
    // The feature classifier sees images in [−1, 1]; the flow's pixels are in [0, 1].
    const auto image = [this](const at::Tensor& x) {
      return x.clamp(0.0, 1.0).reshape({x.size(0), image_shape_[0], image_shape_[1], image_shape_[2]}) * 2.0 - 1.0;
    };
    const int64_t n = std::min({config_.eval.quality_n, samples.size(0), points_.test.size(0), points_.train.size(0)});
    LabelledDataConfig data;  // eval.feature_run = "auto" trains its classifier on the same files
    data.dataset = config_.data.dataset;
    data.path = config_.data.path;
    SampleQuality quality(resolve_feature_run(config_.eval.feature_run, data, {}, &std::cerr), image(points_.test.slice(0, 0, n)),
                          image(points_.train.slice(0, 0, n)), device(), derive_seed(static_cast<uint64_t>(config_.run.seed), 12), n);
    quality.add_floor_lines(r);
    SampleQuality::add_lines(r, "quality.samples.", quality.score(image(samples.slice(0, 0, n))), "samples by the reverse solve");
  }
  if (dim == 2) {
    torch::NoGradGuard no_grad;
    auto box = eval::Box::square(points_.extent);
    auto density = eval::grid_density(*flow_, box, config_.eval.grid_resolution);
    r.add("grid_mass", std::exp(density.log_z),
          "∫ p over the picture's box by quadrature (the flow is normalised: near 1 when the box holds the data)");
  }
  return r;
}

std::vector<std::string> FfjordMethod::pictures(const std::string& prefix) {
  std::vector<std::string> files;
  if (images()) {
    torch::NoGradGuard no_grad;
    auto gen = make_generator(derive_seed(static_cast<uint64_t>(config_.run.seed), 4), device());
    const int64_t n = std::min<int64_t>(64, config_.eval.n_samples);
    auto samples = image_flow_->sample(n, gen).cpu().clamp(0, 1).reshape({n, image_shape_[0], image_shape_[1], image_shape_[2]});
    files.push_back(prefix + "samples.png");
    io::save_image_grid(samples, files.back(), 8, 2, std::make_pair(0.0, 1.0));
    files.push_back(prefix + "data.png");
    io::save_image_grid(points_.test.slice(0, 0, n).reshape({-1, image_shape_[0], image_shape_[1], image_shape_[2]}),
                        files.back(), 8, 2, std::make_pair(0.0, 1.0));
  }
  if (points_.test.size(1) == 2) {
    torch::NoGradGuard no_grad;
    const double e = points_.extent;
    const io::PlotBox pb{-e, e, -e, e};
    const auto box = eval::Box::square(e);
    auto density = eval::grid_density(*flow_, box, config_.eval.grid_resolution);
    auto gen = make_generator(derive_seed(static_cast<uint64_t>(config_.run.seed), 4), device());
    auto samples = flow_->sample(config_.eval.n_samples, gen).cpu();
    const int64_t n = std::min<int64_t>(samples.size(0), points_.test.size(0));
    files.push_back(prefix + "density.png");
    io::write_png(files.back(), io::hstack({io::scatter_plot(points_.test.slice(0, 0, n), pb, "data (test)"),
                                            io::heatmap(eval::histogram_density(points_.test, box, 128), pb, "data histogram"),
                                            io::heatmap(density.log_density.exp(), pb, "model density"),
                                            io::scatter_plot(samples, pb, "model samples (reverse solve)")}));
  }
  if (!run_dir().empty()) {
    CurvePanel nll{"NLL (nats)", "nats", {{"nll_valid", "validation NLL"}, {"nll", "training batch"}}, {}};
    if (points_.entropy) nll.reference = std::make_pair(std::string("data entropy"), *points_.entropy);
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {nll,
                      {"function evaluations", "NFE", {{"nfe", "training solve"}, {"nfe_valid", "validation solve"}}, {}},
                      {"end time", "T", {{"end_time", "T"}}, {}},
                      {"RNODE penalties", "", {{"kinetic", "λ_K·kinetic"}, {"jacobian", "λ_J·Jacobian"}}, {}}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor FfjordMethod::sample() {
  return density().sample(config_.sample.n, make_generator(static_cast<uint64_t>(config_.sample.seed), device()));
}

}  // namespace joule::methods
