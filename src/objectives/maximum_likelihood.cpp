#include "joule/objectives/maximum_likelihood.h"

#include <c10/util/Exception.h>

namespace joule {
namespace {

void check_log_prob(const at::Tensor& log_p, const Batch& batch) {
  TORCH_CHECK(log_p.dim() == 1 && log_p.size(0) == batch.x.size(0), "log_prob() must return one value per sample, shape [",
              batch.x.size(0), "], got ", log_p.sizes());
}

}  // namespace

ObjectiveOutput MaximumLikelihood::compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) {
  TORCH_CHECK(update.group == "model", "MaximumLikelihood trains the group 'model', not '", update.group, "'");
  auto& model = modules.get<DensityModel>("model");
  auto terms = model.training_terms(batch.x, gen);
  check_log_prob(terms.log_prob, batch);
  auto loss = -terms.log_prob.mean();
  ObjectiveOutput out;
  out.metrics.emplace_back("nll", loss.item<double>());
  for (const auto& [name, value] : terms.penalties) {
    loss = loss + value;
    out.metrics.emplace_back(name, value.item<double>());
  }
  out.metrics.insert(out.metrics.end(), terms.metrics.begin(), terms.metrics.end());
  out.loss = loss;
  return out;
}

ObjectiveOutput MaximumLikelihood::compute(DensityModel& model, const Batch& batch) {
  auto log_p = model.log_prob(batch.x);
  check_log_prob(log_p, batch);
  auto loss = -log_p.mean();
  ObjectiveOutput out;
  out.loss = loss;
  out.metrics = {{"nll", loss.item<double>()}};
  return out;
}

}  // namespace joule
