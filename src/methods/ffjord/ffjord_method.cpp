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
  f("hidden", hidden, Doc("units of each hidden layer of a block's vector field (FFJORD's --dims)"));
  f("layer", layer,
    Doc("how layers see time: concatsquash (W z + b)·σ(a t + c) + d t, concat W[t; z] + b, ignore (autonomous)")
        .choices({"concatsquash", "concat", "ignore"}));
  f("activation", activation, Doc("nonlinearity after every layer but the last").choices(activation_names()));
  f("blocks", blocks, Doc("CNF blocks stacked").min(1).max(64));
  f("end_time", end_time, Doc("initial end time T of each block").min(1e-6).max(1e4));
  f("train_end_time", train_end_time, "learn T (as T = s²)");
  f("zero_last", zero_last, "zero the last layer's weights: the flow starts at the identity (RNODE)");
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
               .hidden(cnf.hidden)
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

FfjordMethod::FfjordMethod(FfjordConfig config) : config_(std::move(config)) {}

Parts FfjordMethod::build_parts(torch::Device device) {
  auto& cfg = config_;
  for (auto h : cfg.cnf.hidden) {
    if (h < 1) throw ConfigError("cnf.hidden: every width must be at least 1, got " + std::to_string(h));
  }
  if (cfg.solver.seminorm && cfg.solver.gradient != "adjoint") {
    throw ConfigError("solver.seminorm applies to the adjoint only: set solver.gradient = \"adjoint\" or drop it");
  }
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  points_ = load_points(cfg.data, seed);
  check_batch_size(cfg.train.batch_size, points_.train.size(0), "training points (data.n_train)");
  const int64_t dim = points_.train.size(1);

  Parts parts;
  parts.data = std::make_shared<data::TensorDataset>(points_.train.to(device));
  flow_ = ContinuousFlow(cfg.flow_options(dim));
  flow_->reset_parameters(make_generator(derive_seed(seed, 3)));
  flow_->to(device);
  parts.modules.add("model", flow_.ptr());
  parts.objective = std::make_shared<MaximumLikelihood>();
  return parts;
}

std::pair<double, int64_t> FfjordMethod::test_nll() {
  torch::NoGradGuard no_grad;
  const double nll = -flow_->log_prob(points_.test.to(device())).mean().item<double>();
  return {nll, flow_->last_nfe()};
}

void FfjordMethod::add_callbacks(const Monitor& monitor) {
  add_periodic_evaluation(
      monitor, config_.train.eval_every,
      [this]() -> std::vector<std::pair<std::string, double>> {
        auto [nll, nfe] = test_nll();
        return {{"nll_test", nll}, {"nfe_test", static_cast<double>(nfe)}};
      },
      "nll_test", "nll");
}

eval::Report FfjordMethod::evaluate() {
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  auto [nll, nfe] = test_nll();
  r.add("nll_test", nll, "nats, exact: log N(z(T)) + ∫tr ∂f/∂z dt by the exact trace on " +
                             std::to_string(points_.test.size(0)) + " test points");
  if (points_.entropy) {
    r.add("entropy", *points_.entropy,
          points_.entropy_exact ? "true differential entropy of the data (exact)" : "data entropy (k-NN estimate)");
    r.add("nll_gap", nll - *points_.entropy, "nll_test - entropy (0 is perfect)");
  }
  r.add("nfe_test", static_cast<double>(nfe), "function evaluations of the test solve (all blocks)");
  r.add("evals_per_point", static_cast<double>(flow_->last_row_evaluations()) / static_cast<double>(points_.test.size(0)),
        config_.solver.per_sample ? "evaluations per test point (each point its own steps)"
                                  : "evaluations per test point (= nfe_test: one step size for the batch)");
  const auto times = flow_->end_times();
  double t_sum = 0;
  for (double t : times) t_sum += t;
  r.add("end_time", t_sum, "T summed over blocks");
  const int64_t dim = points_.test.size(1);
  auto gen = make_generator(derive_seed(static_cast<uint64_t>(config_.run.seed), 4), device());
  auto samples = flow_->sample(config_.eval.n_samples, gen).cpu();
  r.add("nfe_sample", static_cast<double>(flow_->last_nfe()), "function evaluations of the reverse solve");
  auto ref = points_.test.slice(0, 0, std::min<int64_t>(points_.test.size(0), samples.size(0)));
  const double h = eval::median_bandwidth(ref, samples);
  r.add("mmd2_model", eval::mmd2_gaussian(samples, ref, h), "MMD^2, samples by the reverse solve vs test data");
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
    CurvePanel nll{"test NLL (nats)", "nats", {{"nll_test", "test NLL (exact)"}, {"nll", "training batch"}}, {}};
    if (points_.entropy) nll.reference = std::make_pair(std::string("data entropy"), *points_.entropy);
    const std::string curves = prefix + "curves.png";
    if (write_curves(run_dir() + "/metrics.jsonl", curves,
                     {nll,
                      {"function evaluations", "NFE", {{"nfe", "training solve"}, {"nfe_test", "test solve"}}, {}},
                      {"end time", "T", {{"end_time", "T"}}, {}},
                      {"RNODE penalties", "", {{"kinetic", "λ_K·kinetic"}, {"jacobian", "λ_J·Jacobian"}}, {}}})) {
      files.push_back(curves);
    }
  }
  return files;
}

torch::Tensor FfjordMethod::sample() {
  return flow_->sample(config_.sample.n, make_generator(static_cast<uint64_t>(config_.sample.seed), device()));
}

}  // namespace joule::methods
