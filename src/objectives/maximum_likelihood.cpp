#include "joule/objectives/maximum_likelihood.h"

#include <c10/util/Exception.h>

namespace joule {

ObjectiveOutput MaximumLikelihood::compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) {
  TORCH_CHECK(update.group == "model", "MaximumLikelihood trains the group 'model', not '", update.group, "'");
  return compute(modules.get<DensityModel>("model"), batch);
}

ObjectiveOutput MaximumLikelihood::compute(DensityModel& model, const Batch& batch) {
  auto log_p = model.log_prob(batch.x);
  TORCH_CHECK(log_p.dim() == 1 && log_p.size(0) == batch.x.size(0), "log_prob() must return one value per sample, shape [",
              batch.x.size(0), "], got ", log_p.sizes());
  auto loss = -log_p.mean();
  ObjectiveOutput out;
  out.loss = loss;
  out.metrics = {{"nll", loss.item<double>()}};
  return out;
}

}  // namespace joule
