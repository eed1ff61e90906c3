#pragma once
// Energies with closed-form normaliser and score, used as exact references in tests,
// benchmarks and goodness-of-fit examples.

#include <torch/nn/pimpl.h>

#include "joule/core/energy.h"

namespace joule {

/// Diagonal Gaussian: E(x) = ½ Σ_i (x_i − μ_i)² / σ_i², so exp(−E/T) is N(μ, T·diag(σ²)).
class GaussianEnergyImpl : public EnergyModel {
 public:
  /// `mean` and `std` are 1-D tensors of the same length (the event dimension).
  GaussianEnergyImpl(torch::Tensor mean, torch::Tensor std);

  torch::Tensor energy(const torch::Tensor& x) override;
  EnergyGrad energy_and_grad(const torch::Tensor& x) override;
  std::vector<int64_t> event_shape() const override { return {mean.size(0)}; }

  /// log ∫ exp(−E(x)/T) dx = Σ_i log(σ_i √(2πT)).
  double log_partition() const;

  /// μ, [D] (a registered buffer).
  torch::Tensor mean, std;  ///< σ, [D] (a registered buffer)
};
/// The module holder of GaussianEnergyImpl (a shared pointer to it).
TORCH_MODULE(GaussianEnergy);

}  // namespace joule
