#include "joule/samplers/gibbs.h"

#include <ATen/Context.h>
#include <c10/util/Exception.h>

namespace joule {

RbmImpl& as_rbm(EnergyModel& model, const char* who) {
  auto* rbm = dynamic_cast<RbmImpl*>(&model);
  TORCH_CHECK(rbm, who, " needs a joule::Rbm model (block Gibbs sampling uses the RBM's conditionals), got ",
              model.name());
  return *rbm;
}

BlockGibbs::BlockGibbs(BlockGibbsOptions options_) : options(options_) {
  TORCH_CHECK(options.steps() >= 0, "BlockGibbs: steps must be >= 0, got ", options.steps());
}

torch::Tensor BlockGibbs::sample(EnergyModel& model, const torch::Tensor& x0, c10::optional<at::Generator> gen) {
  auto& rbm = as_rbm(model, "BlockGibbs");
  // Gibbs sweeps at β = 1/T would sample exp(−F_β(v)), which differs from exp(−F(v)/T).
  TORCH_CHECK(model.temperature() == 1.0, "BlockGibbs samples an RBM at temperature 1; this model has temperature ",
              model.temperature(), " (use ParallelTempering / TemperedRbm for tempered RBMs)");
  at::Generator g = gen ? *gen : at::globalContext().defaultGenerator(rbm.weight.device());
  auto x = rbm.gibbs(x0.detach(), options.steps(), g, options.mean_last());
  stats_ = SamplerStats{};
  stats_.steps = options.steps();
  return x.to(x0.scalar_type());
}

}  // namespace joule
