#pragma once
// Exact maximum likelihood for models with an exact density (ICA now; flows later): the
// reference that sampling-free objectives are measured against.

#include "joule/core/density.h"
#include "joule/objectives/objective.h"

namespace joule {

/// loss = −mean log p(x) (nats) of the DensityModel "model", from its training_terms() (plus the
/// model's penalties: a CNF's RNODE terms).
class MaximumLikelihood : public Objective {
 public:
  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override;
  /// −mean of the exact log_prob of a density model used directly.
  ObjectiveOutput compute(DensityModel& model, const Batch& batch);
  std::string name() const override { return "mle"; }
};

}  // namespace joule
