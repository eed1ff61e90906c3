#pragma once
// method = "relax_toy": the toy problem of RELAX (Grathwohl et al., arXiv:1711.00123 §5.1, after
// Tucker et al.'s REBAR): minimise E_{b ~ Bernoulli(θ)}[(b − t)²] over the logits α = logit θ,
// with the gradient estimated by REINFORCE, REBAR, RELAX or straight-through
// (joule::estimators). The surrogate's parameters φ are a second parameter group with their own
// optimizer on the variance loss, updated from the same draw as θ. Everything is exact here:
// E = θ(1 − t)² + (1 − θ)t², so the run reports the true loss, θ and the estimator's log-variance.

#include <memory>
#include <string>
#include <vector>

#include "joule/estimators/discrete.h"
#include "joule/methods/discrete_estimator.h"
#include "joule/methods/method.h"

namespace joule::methods {

/// The typed options of the RELAX toy.
struct RelaxToyConfig : MethodConfig {
  /// [toy]: the problem.
  struct Toy {
    double target = 0.45;  ///< t in f(b) = (b − t)² (the paper: 0.499; Tucker et al.: 0.45)
    int64_t dim = 1;       ///< independent Bernoullis (f averages over them)
    /// Declares the fields.
    void visit(config::Fields& f);
  } toy;  ///< [toy]
  /// [estimator]: the gradient estimator and its control variate (toy.py's settings: RELAX with a
  /// Dense(10, tanh) → Dense(1) network, independent z̃), and the reported variance's averaging.
  struct Estimator : DiscreteEstimatorConfig {
    double variance_decay = 0.99;  ///< the running log-variance's averaging decay
    /// Declares the fields.
    void visit(config::Fields& f);
  } estimator;  ///< [estimator]
  /// [optim.surrogate]: the control variate's own optimizer.
  struct Optim {
    OptimizerConfig surrogate;  ///< φ's group (toy.py: Adam, lr 0.01)
    /// Declares [optim.surrogate].
    void visit(config::Fields& f) { f.section("surrogate", surrogate); }
  } optim;  ///< [optim]
  SampleConfig sample;  ///< [sample]: sample.n draws of b
  RelaxToyConfig();
  /// Declares every section.
  void visit(config::Fields& f) override;
};

/// The RELAX toy as a library object: `build()`, `train()`, then `theta()` or `evaluate()`.
class RelaxToyMethod : public Method {
 public:
  /// A method with `config` (the toy.py settings by default).
  explicit RelaxToyMethod(RelaxToyConfig config = {});
  std::string name() const override { return "relax_toy"; }
  RelaxToyConfig& config() override { return config_; }

  /// θ, the final loss (exact), the optimum, the log-variance.
  eval::Report evaluate() override;
  /// curves.png (θ, exact loss, log-variance against the step) from the run's metrics.
  std::vector<std::string> pictures(const std::string& prefix) override;
  /// sample.n draws of b from the trained Bernoullis, [n, dim].
  torch::Tensor sample() override;

  /// θ = σ(α) per variable.
  at::Tensor theta() const;
  /// The exact expected loss E[(b − t)²] at the current θ (mean over variables).
  double exact_loss() const;
  /// The smallest expected loss, min(t², (1 − t)²).
  double optimal_loss() const;

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  RelaxToyConfig config_;
  std::shared_ptr<torch::nn::Module> logits_module_;
  estimators::ControlVariate surrogate_{nullptr};
  std::shared_ptr<Objective> objective_;
};

}  // namespace joule::methods
