#pragma once
// Exact maximum likelihood for energy models whose normaliser is known in closed form (ICA,
// Gaussians, small RBMs): the reference that sampling-free objectives are measured against.

#include <functional>

#include "joule/objectives/objective.h"

namespace joule {

/// loss = mean_x E(x)/T + log Z(θ) = mean negative log-likelihood (nats).
/// `log_partition` returns log Z(θ) as a scalar differentiable in the model parameters.
class MaximumLikelihood : public Objective {
 public:
  using LogPartition = std::function<at::Tensor(EnergyModel&)>;
  explicit MaximumLikelihood(LogPartition log_partition);

  ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) override;
  std::string name() const override { return "mle"; }

 private:
  LogPartition log_partition_;
};

}  // namespace joule
