#pragma once
// Metropolis-adjusted Langevin (MALA) and Hamiltonian Monte Carlo: exact samplers of the model
// density (no step-size bias), with their acceptance rate in stats().

#include <torch/arg.h>

#include "joule/samplers/sampler.h"

namespace joule {

/// MALA: propose x' = x + a·∇ log p̃(x) + √(2a)·ξ, accept with the Metropolis–Hastings ratio.
///
/// Example:
///   joule::Mala mala(joule::MalaOptions(100).step_size(0.05));
struct MalaOptions {
  /// `steps` MALA transitions per sample() call.
  explicit MalaOptions(int64_t steps = 20) : steps_(steps) {}
  /// Fails unless steps >= 0 and step_size > 0 (finite).
  void validate() const;
  /// Number of MALA transitions (each one proposal and one Metropolis–Hastings test).
  TORCH_ARG(int64_t, steps);
  /// Step a of the proposal (noise √(2a)).
  TORCH_ARG(double, step_size) = 0.01;
};

/// Metropolis-adjusted Langevin sampler; samples the model density exactly at temperature 1 and
/// reports its acceptance rate in stats().
class Mala : public Sampler {
 public:
  /// Validates `options`.
  explicit Mala(MalaOptions options);
  torch::Tensor sample(EnergyModel& model, const torch::Tensor& x0,
                       c10::optional<at::Generator> gen = c10::nullopt) override;
  /// "mala".
  std::string name() const override { return "mala"; }
  std::unique_ptr<Sampler> with_steps(int64_t steps) const override {
    return std::make_unique<Mala>(MalaOptions(options).steps(steps));
  }
  int64_t steps() const override { return options.steps(); }

  MalaOptions options;  ///< steps and step size
};

/// HMC with unit mass: L leapfrog steps of size ε per transition, then a Metropolis test.
struct HmcOptions {
  /// `steps` HMC transitions per sample() call.
  explicit HmcOptions(int64_t steps = 10) : steps_(steps) {}
  /// Fails unless steps >= 0, step_size > 0 (finite) and leapfrog_steps >= 1.
  void validate() const;
  /// Number of HMC transitions.
  TORCH_ARG(int64_t, steps);
  /// Leapfrog step ε.
  TORCH_ARG(double, step_size) = 0.1;
  /// Leapfrog steps per transition L.
  TORCH_ARG(int64_t, leapfrog_steps) = 5;
};

/// Hamiltonian Monte Carlo sampler (unit mass, leapfrog integrator, Metropolis correction);
/// samples the model density exactly at temperature 1 and reports its acceptance rate in stats().
class Hmc : public Sampler {
 public:
  /// Validates `options`.
  explicit Hmc(HmcOptions options);
  torch::Tensor sample(EnergyModel& model, const torch::Tensor& x0,
                       c10::optional<at::Generator> gen = c10::nullopt) override;
  /// "hmc".
  std::string name() const override { return "hmc"; }
  std::unique_ptr<Sampler> with_steps(int64_t steps) const override {
    return std::make_unique<Hmc>(HmcOptions(options).steps(steps));
  }
  int64_t steps() const override { return options.steps(); }

  HmcOptions options;  ///< steps, leapfrog step size and leapfrog steps
};

}  // namespace joule
