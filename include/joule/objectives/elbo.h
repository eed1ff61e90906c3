#pragma once
// The negative evidence lower bound of a latent-variable model (a VAE), with an optional weight
// β on the KL term (β-VAE, KL annealing).

#include <torch/arg.h>

#include "joule/core/latent.h"
#include "joule/objectives/objective.h"

namespace joule {

/// Options for Elbo.
struct ElboOptions {
  /// Weight β of KL(q(z|x) ‖ p(z)); 1 is the ELBO.
  TORCH_ARG(double, kl_weight) = 1.0;
};

/// loss = −mean(E_q[log p(x|z)] − β·KL) of the LatentVariableModel "model". Metrics: "elbo"
/// (β = 1), "reconstruction", "kl".
class Elbo : public Objective {
 public:
  /// Checks that kl_weight is finite and ≥ 0.
  explicit Elbo(ElboOptions options = {});
  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override;
  std::string name() const override { return "elbo"; }

  ElboOptions options;  ///< the loss options
};

}  // namespace joule
