#include "joule/samplers/langevin.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>

namespace joule {

LangevinOptions LangevinOptions::ula(double step_size, int64_t steps) {
  return LangevinOptions(steps).step_size(step_size).noise(std::sqrt(2.0 * step_size));
}

LangevinOptions LangevinOptions::jem() { return LangevinOptions(20).step_size(1.0).noise(0.01); }

LangevinOptions LangevinOptions::igebm() {
  return LangevinOptions(60).step_size(10.0).noise(0.005).grad_clip(0.01).clamp(std::make_pair(0.0, 1.0));
}

void LangevinOptions::validate() const {
  TORCH_CHECK(steps_ >= 0, "Langevin: steps must be >= 0, got ", steps_);
  TORCH_CHECK(std::isfinite(step_size_) && step_size_ > 0, "Langevin: step_size must be > 0, got ", step_size_);
  TORCH_CHECK(std::isfinite(noise_) && noise_ >= 0, "Langevin: noise must be >= 0, got ", noise_);
  if (grad_clip_) TORCH_CHECK(*grad_clip_ > 0, "Langevin: grad_clip must be > 0, got ", *grad_clip_);
  if (clamp_) TORCH_CHECK(clamp_->first < clamp_->second, "Langevin: clamp needs min < max, got [", clamp_->first, ", ",
                          clamp_->second, "]");
}

Langevin::Langevin(LangevinOptions options_) : options(std::move(options_)) { options.validate(); }

torch::Tensor Langevin::sample(EnergyModel& model, const torch::Tensor& x0, c10::optional<at::Generator> gen) {
  EvalModeGuard eval_mode(model);
  torch::NoGradGuard no_grad;
  auto x = x0.detach().clone();
  auto noise = torch::empty_like(x);
  // x ← x + a·s(x) + b·ε with s = −∇E/T; fold 1/T into the step.
  const double a = options.step_size();
  const double inv_t = 1.0 / model.temperature();
  EnergyGrad eg;
  for (int64_t k = 0; k < options.steps(); ++k) {
    eg = model.energy_and_grad(x);
    if (options.grad_clip()) {
      const double c = *options.grad_clip();
      // Clip the score element-wise, then step along it.
      x.add_(eg.grad.mul(-inv_t).clamp_(-c, c), a);
    } else {
      x.add_(eg.grad, -a * inv_t);
    }
    if (options.noise() > 0) x.add_(noise.normal_(0.0, options.noise(), gen));
    if (options.clamp()) x.clamp_(options.clamp()->first, options.clamp()->second);
  }
  stats_ = SamplerStats{};
  stats_.steps = options.steps();
  if (eg.grad.defined()) {
    stats_.mean_grad_norm = eg.grad.reshape({eg.grad.size(0), -1}).norm(2, 1).mean().item<double>();
    stats_.mean_energy = eg.energy.mean().item<double>();  // energy before the last move
  }
  return x;
}

torch::Tensor Langevin::step(EnergyModel& model, const torch::Tensor& x, c10::optional<at::Generator> gen, bool keep_graph) {
  if (!keep_graph) {
    Langevin one(LangevinOptions(options).steps(1));
    auto out = one.sample(model, x, gen);
    stats_ = one.stats();
    return out;
  }
  EvalModeGuard eval_mode(model);
  torch::AutoGradMode grad_mode(true);
  // A state without a graph (the first graph-keeping step) becomes a leaf the score can be
  // taken against; later steps differentiate through the previous ones.
  auto xg = x.requires_grad() ? x : x.detach().requires_grad_(true);
  auto s = score(model, xg, /*create_graph=*/true);
  if (options.grad_clip()) s = s.clamp(-*options.grad_clip(), *options.grad_clip());
  auto out = xg + options.step_size() * s;
  if (options.noise() > 0) out = out + torch::empty_like(x.detach()).normal_(0.0, options.noise(), gen);
  if (options.clamp()) out = out.clamp(options.clamp()->first, options.clamp()->second);
  stats_ = SamplerStats{};
  stats_.steps = 1;
  return out;
}

}  // namespace joule
