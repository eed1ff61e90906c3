#include "joule/objectives/maximum_likelihood.h"

#include <c10/util/Exception.h>

namespace joule {

MaximumLikelihood::MaximumLikelihood(LogPartition log_partition) : log_partition_(std::move(log_partition)) {
  TORCH_CHECK(log_partition_, "MaximumLikelihood needs a log-partition function");
}

ObjectiveOutput MaximumLikelihood::compute(EnergyModel& model, const Batch& batch, at::Generator& gen) {
  auto e = model.energy(batch.x);
  auto log_z = log_partition_(model);
  TORCH_CHECK(log_z.numel() == 1, "MaximumLikelihood: log_partition must return a scalar, got shape ", log_z.sizes());
  auto loss = e.mean() / model.temperature() + log_z.reshape({});
  ObjectiveOutput out;
  out.loss = loss;
  out.metrics = {{"nll", loss.item<double>()}, {"e_pos", e.mean().item<double>()}};
  return out;
}

}  // namespace joule
