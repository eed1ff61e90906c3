#include "joule/objectives/objective.h"

#include <c10/util/Exception.h>

namespace joule {

ObjectiveOutput EnergyObjective::compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) {
  TORCH_CHECK(update.group == "model", "objective '", name(), "' trains one energy model (group 'model'), not group '",
              update.group, "'");
  return compute(modules.get<EnergyModel>("model"), batch, gen);
}

}  // namespace joule
