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
  explicit MalaOptions(int64_t steps = 20) : steps_(steps) {}
  void validate() const;
  TORCH_ARG(int64_t, steps);
  TORCH_ARG(double, step_size) = 0.01;
};

class Mala : public Sampler {
 public:
  explicit Mala(MalaOptions options);
  torch::Tensor sample(EnergyModel& model, const torch::Tensor& x0,
                       c10::optional<at::Generator> gen = c10::nullopt) override;
  std::string name() const override { return "mala"; }
  std::unique_ptr<Sampler> with_steps(int64_t steps) const override {
    return std::make_unique<Mala>(MalaOptions(options).steps(steps));
  }
  int64_t steps() const override { return options.steps(); }

  MalaOptions options;
};

/// HMC with unit mass: L leapfrog steps of size ε per transition, then a Metropolis test.
struct HmcOptions {
  explicit HmcOptions(int64_t steps = 10) : steps_(steps) {}
  void validate() const;
  /// Number of HMC transitions.
  TORCH_ARG(int64_t, steps);
  /// Leapfrog step ε.
  TORCH_ARG(double, step_size) = 0.1;
  /// Leapfrog steps per transition L.
  TORCH_ARG(int64_t, leapfrog_steps) = 5;
};

class Hmc : public Sampler {
 public:
  explicit Hmc(HmcOptions options);
  torch::Tensor sample(EnergyModel& model, const torch::Tensor& x0,
                       c10::optional<at::Generator> gen = c10::nullopt) override;
  std::string name() const override { return "hmc"; }
  std::unique_ptr<Sampler> with_steps(int64_t steps) const override {
    return std::make_unique<Hmc>(HmcOptions(options).steps(steps));
  }
  int64_t steps() const override { return options.steps(); }

  HmcOptions options;
};

}  // namespace joule
