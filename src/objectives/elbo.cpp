#include "joule/objectives/elbo.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace joule {

Elbo::Elbo(ElboOptions options_) : options(options_) {
  TORCH_CHECK(std::isfinite(options.kl_weight()) && options.kl_weight() >= 0, "Elbo: kl_weight must be >= 0, got ",
              options.kl_weight());
}

ObjectiveOutput Elbo::compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) {
  TORCH_CHECK(update.group == "model", "Elbo trains the group 'model', not '", update.group, "'");
  auto terms = modules.get<LatentVariableModel>("model").elbo_terms(batch.x, gen);
  ObjectiveOutput out;
  out.loss = -terms.elbo(options.kl_weight()).mean();
  torch::NoGradGuard no_grad;
  out.metrics = {{"elbo", terms.elbo().mean().item<double>()},
                 {"reconstruction", terms.reconstruction.mean().item<double>()},
                 {"kl", terms.kl.mean().item<double>()}};
  return out;
}

}  // namespace joule
