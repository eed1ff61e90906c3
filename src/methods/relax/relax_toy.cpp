// method = "relax_toy": E[(b − t)²] over Bernoulli(θ) minimised with REINFORCE, REBAR, RELAX or
// straight-through gradients (arXiv:1711.00123 §5.1; the authors' toy.py settings by default).
#include "joule/methods/relax_toy.h"

#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <cmath>

#include "joule/core/runtime.h"
#include "joule/data/dataset.h"
#include "joule/objectives/deferred_gradients.h"

namespace joule::methods {

using config::Doc;
namespace est = joule::estimators;

namespace {

// The toy's objective. The "model" group gets the estimator's ĝ as closed-form gradients of α;
// the "surrogate" group, updated next in the same step, gets the variance loss of that same draw,
// so θ and φ move simultaneously as in the paper's Algorithm 1.
class RelaxToyObjective : public Objective {
 public:
  RelaxToyObjective(est::DiscreteGradientEstimator estimator, double target, double variance_decay)
      : estimator_(std::move(estimator)), target_(target), meter_(variance_decay) {}

  std::string name() const override { return "relax_toy"; }

  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override {
    ObjectiveOutput out;
    if (update.group == "surrogate") {
      return deferred_.release("relax_toy", "variance_loss");
    }
    auto alpha = modules.at("model").named_parameters()["logits"];
    const int64_t n = batch.x.size(0);
    const auto logits = alpha.detach().unsqueeze(0).expand({n, alpha.size(0)});
    const double t = target_;
    auto f = [t](const at::Tensor& b) { return (b - t).pow(2).mean(1); };
    auto estimate = estimator_.estimate(logits, f, gen);
    const auto grad = estimate.grad_logits.detach().mean(0);  // ĝ of the batch-mean loss
    meter_.update(grad);
    if (estimate.variance_loss.defined()) deferred_.hold(estimate.variance_loss, estimator_.control_variate()->parameters());
    out.gradients = {grad.clone()};
    out.loss = estimate.f.mean();
    {
      at::NoGradGuard no_grad;
      const auto theta = at::sigmoid(alpha.detach());
      const double exact = (theta * (1 - t) * (1 - t) + (1 - theta) * t * t).mean().item<double>();
      out.metrics.push_back({"loss_exact", exact});
      out.metrics.push_back({"theta", theta.mean().item<double>()});
      out.metrics.push_back({"grad", grad.mean().item<double>()});
      if (meter_.count() >= 2) out.metrics.push_back({"log_var", meter_.mean_log_variance()});
      auto cv = estimator_.control_variate();
      if (!cv.is_empty()) {
        if (cv->eta.defined()) out.metrics.push_back({"eta", cv->eta.item<double>()});
        if (cv->depends_on_z()) out.metrics.push_back({"temperature", cv->temperature().item<double>()});
      }
    }
    return out;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    const auto state = meter_.state();
    archive.write("relax_toy.meter_m1", state[0]);
    archive.write("relax_toy.meter_m2", state[1]);
    archive.write("relax_toy.meter_count", state[2]);
    archive.write("relax_toy.baseline", at::tensor({estimator_.baseline()}, at::kDouble));
    archive.write("relax_toy.baseline_batches", at::full({}, estimator_.baseline_batches(), at::kLong));
  }

  void load(torch::serialize::InputArchive& archive) override {
    at::Tensor m1, m2, count, baseline, batches;
    archive.read("relax_toy.meter_m1", m1);
    archive.read("relax_toy.meter_m2", m2);
    archive.read("relax_toy.meter_count", count);
    archive.read("relax_toy.baseline", baseline);
    archive.read("relax_toy.baseline_batches", batches);
    meter_.set_state({m1, m2, count});
    estimator_.set_baseline(baseline[0].item<double>(), batches.item<int64_t>());
  }

  const est::RunningGradientVariance& meter() const { return meter_; }

 private:
  est::DiscreteGradientEstimator estimator_;
  double target_;
  est::RunningGradientVariance meter_;
  DeferredGradients deferred_;  // φ's gradient from this step's draw, for the surrogate group
};

}  // namespace

void RelaxToyConfig::Toy::visit(config::Fields& f) {
  f("target", target, Doc("t in f(b) = (b - t)^2 (the paper: 0.499; Tucker et al.: 0.45)").min(0.0).max(1.0));
  f("dim", dim, Doc("independent Bernoulli variables (f averages over them)").min(1).max(1 << 20));
}

void RelaxToyConfig::Estimator::visit(config::Fields& f) {
  DiscreteEstimatorConfig::visit(f);
  f("variance_decay", variance_decay,
    Doc("decay of the running averages behind the reported log-variance").min(0.0).max(0.99999));
}

RelaxToyConfig::RelaxToyConfig() {
  // toy.py: batch 1, 5000 iterations, Adam (TensorFlow's defaults β = 0.9, 0.999), lr 0.01 for
  // both θ and φ, constant.
  train.steps = 5000;
  train.batch_size = 1;
  train.eval_every = 500;
  train.checkpoint_every = 1000;
  use_constant_adam(train.optimizer, 0.01, 0.999);
  use_constant_adam(optim.surrogate, 0.01, 0.999);
  sample.n = 1000;
}

void RelaxToyConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("toy", toy);
  f.section("estimator", estimator);
  f.section("train", train);
  f.section("optim", optim);
  f.section("sample", sample);
}

RelaxToyMethod::RelaxToyMethod(RelaxToyConfig config) : config_(std::move(config)) {}

Parts RelaxToyMethod::build_parts(torch::Device device) {
  const auto& cfg = config_;
  const auto& e = cfg.estimator;
  e.validate();
  const int64_t dim = cfg.toy.dim;
  logits_module_ = std::make_shared<torch::nn::Module>("BernoulliLogits");
  logits_module_->register_parameter("logits", at::zeros({dim}, at::kFloat));  // θ = ½ (toy.py: log α = 0)
  logits_module_->to(device);

  Parts parts;
  parts.modules.add("model", logits_module_);
  // No data: each step draws batch_size samples of b. The source only sets the batch size.
  parts.data = std::make_shared<data::TensorDataset>(at::zeros({cfg.train.batch_size, 1}));

  surrogate_ = nullptr;
  const bool needs_cv = e.needs_control_variate();
  if (needs_cv) {
    surrogate_ = add_control_variate(parts, "surrogate", e.control_variate_options(dim),
                                     derive_seed(static_cast<uint64_t>(cfg.run.seed), 3), device, "surrogate",
                                     cfg.optim.surrogate);
  }
  est::DiscreteGradientEstimator estimator(e.estimator_options(), surrogate_);
  objective_ = std::make_shared<RelaxToyObjective>(std::move(estimator), cfg.toy.target, e.variance_decay);
  parts.objective = objective_;
  notes_.push_back("relax_toy: " + e.kind + (needs_cv ? " with a " + est::to_string(surrogate_->options.kind()) + " control variate" : "") +
                   ", t = " + std::to_string(cfg.toy.target));
  return parts;
}

at::Tensor RelaxToyMethod::theta() const {
  TORCH_CHECK(logits_module_, "relax_toy: build() first");
  return at::sigmoid(logits_module_->named_parameters()["logits"].detach().cpu());
}

double RelaxToyMethod::exact_loss() const {
  const double t = config_.toy.target;
  const auto th = theta().to(at::kDouble);
  return (th * (1 - t) * (1 - t) + (1 - th) * t * t).mean().item<double>();
}

double RelaxToyMethod::optimal_loss() const {
  const double t = config_.toy.target;
  return std::min(t * t, (1 - t) * (1 - t));
}

eval::Report RelaxToyMethod::evaluate() {
  eval::Report r;
  r.method = name();
  r.step = trainer().step_count();
  r.add("theta", theta().mean().item<double>(), "P(b = 1) after training (the optimum is 0 for t < 0.5)");
  r.add("loss_exact", exact_loss(), "E[(b - t)^2] at the trained theta, exact");
  r.add("loss_optimum", optimal_loss(), "the smallest expected loss, min(t^2, (1 - t)^2)");
  r.add("loss_gap", exact_loss() - optimal_loss(), "loss_exact - loss_optimum (0 is solved)");
  auto* objective = dynamic_cast<RelaxToyObjective*>(objective_.get());
  if (objective && objective->meter().count() >= 2) {
    r.add("log_var", objective->meter().mean_log_variance(),
          "log variance of the gradient estimate for the logits (running, decay estimator.variance_decay)");
  }
  return r;
}

std::vector<std::string> RelaxToyMethod::pictures(const std::string& prefix) {
  std::vector<std::string> files;
  if (run_dir().empty()) return files;
  const std::string curves = prefix + "curves.png";
  if (write_curves(run_dir() + "/metrics.jsonl", curves,
                   {{"theta = P(b = 1)", "theta", {{"theta", "theta"}}, {}},
                    {"exact loss", "E[(b - t)^2]", {{"loss_exact", config_.estimator.kind}},
                     std::make_pair(std::string("optimum"), optimal_loss())},
                    {"gradient log-variance", "log var", {{"log_var", config_.estimator.kind}}, {}}})) {
    files.push_back(curves);
  }
  return files;
}

torch::Tensor RelaxToyMethod::sample() {
  auto gen = make_generator(static_cast<uint64_t>(config_.sample.seed));
  const auto th = theta().unsqueeze(0).expand({config_.sample.n, config_.toy.dim});
  return at::bernoulli(th, gen);
}

}  // namespace joule::methods
