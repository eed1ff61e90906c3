#pragma once
// The [estimator] section shared by the methods that train through discrete choices (relax_toy,
// discrete_vae): which gradient estimator (joule::estimators), which control variate and its
// network, validated once and built once. Each method sets its own defaults (the toy: toy.py's
// Q network; the VAE: the paper's REBAR-plus-network surrogate) before the user's values.

#include <cstdint>
#include <string>

#include "joule/config/options.h"
#include "joule/estimators/discrete.h"
#include "joule/methods/common.h"
#include "joule/methods/method.h"

namespace joule::methods {

/// [estimator]: a gradient estimator for discrete choices and its learned control variate.
struct DiscreteEstimatorConfig {
  std::string kind = "relax";          ///< reinforce | rebar | relax | gumbel_st
  std::string surrogate = "neural";    ///< relax's c_φ: neural | rebar_neural | baseline (rebar: always rebar)
  bool learned_baseline = false;       ///< reinforce: a learned baseline (trained on the variance loss)
  double baseline_decay = 0.0;         ///< reinforce: moving-average baseline decay (0 = none)
  int64_t width = 10;                  ///< c_φ's hidden units
  int64_t depth = 1;                   ///< c_φ's hidden layers
  std::string activation = "tanh";     ///< c_φ's activation
  double eta = 1.0;                    ///< initial η of the REBAR term
  double temperature = 0.5;            ///< initial relaxation temperature λ (straight-through: fixed)
  bool common_random_numbers = false;  ///< z̃ from z's noise (the REBAR VAE code's default; toy.py: false)

  /// Declares the fields.
  void visit(config::Fields& f);
  /// Throws config::ConfigError for combinations that make no sense (a REINFORCE baseline with
  /// another estimator, two baselines at once).
  void validate() const;
  /// The estimator.
  estimators::EstimatorKind estimator_kind() const;
  /// True when the estimator learns a control variate (rebar, relax, reinforce with a learned baseline).
  bool needs_control_variate() const;
  /// The control variate's form: rebar for REBAR, baseline for REINFORCE, `surrogate` for RELAX.
  estimators::SurrogateKind surrogate_kind() const;
  /// The control variate's options for `dim` choice logits per sample and a context of `context_dim`.
  estimators::ControlVariateOptions control_variate_options(int64_t dim, int64_t context_dim = 0) const;
  /// The estimator's options.
  estimators::DiscreteEstimatorOptions estimator_options() const;
};

/// Builds the control variate `options` (weights from `seed`) on `device`, adds it to `parts` as
/// module `module_name` and, when `group` is non-empty, a parameter group `group` over it, updated
/// after the model, with `optimizer` (the caller's [optim] section for it).
estimators::ControlVariate add_control_variate(Parts& parts, const std::string& module_name,
                                               const estimators::ControlVariateOptions& options, uint64_t seed,
                                               torch::Device device, const std::string& group = "",
                                               const OptimizerConfig& optimizer = {});

/// Sets `optimizer` to the reference codes' choice for estimator experiments: Adam with β₁ = 0.9,
/// β₂ = `beta2`, at a constant rate `lr`.
void use_constant_adam(OptimizerConfig& optimizer, double lr, double beta2);

}  // namespace joule::methods
