#include "joule/samplers/mala.h"

#include <c10/util/Exception.h>

namespace joule {
namespace {

// Broadcasts a per-sample mask [B] over the event dimensions of t.
torch::Tensor expand_mask(const torch::Tensor& mask, const torch::Tensor& t) {
  std::vector<int64_t> shape(t.dim(), 1);
  shape[0] = t.size(0);
  return mask.view(shape);
}

// Accepted moves are counted on the chains' device and read once after the loop: an item() per
// step would make a GPU wait for every step's kernels before queuing the next one.
torch::Tensor acceptance_counter(const torch::Tensor& x) {
  return torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
}

double acceptance_rate(const torch::Tensor& accepted, int64_t steps, int64_t chains) {
  return double(accepted.item<int64_t>()) / (double(steps) * double(chains));
}

}  // namespace

void MalaOptions::validate() const {
  TORCH_CHECK(steps_ >= 0, "MALA: steps must be >= 0, got ", steps_);
  TORCH_CHECK(std::isfinite(step_size_) && step_size_ > 0, "MALA: step_size must be > 0, got ", step_size_);
}

Mala::Mala(MalaOptions options_) : options(options_) { options.validate(); }

torch::Tensor Mala::sample(EnergyModel& model, const torch::Tensor& x0, c10::optional<at::Generator> gen) {
  EvalModeGuard eval_mode(model);
  torch::NoGradGuard no_grad;
  const double a = options.step_size();
  const double inv_t = 1.0 / model.temperature();
  auto x = x0.detach().clone();
  // U = E/T and ∇U for the current state, reused across steps.
  auto eg = model.energy_and_grad(x);
  auto u = eg.energy * inv_t;
  auto gu = eg.grad * inv_t;
  auto noise = torch::empty_like(x);
  auto unif = torch::empty({x.size(0)}, x.options());
  auto accepted = acceptance_counter(x);
  for (int64_t k = 0; k < options.steps(); ++k) {
    auto mean_fwd = x - a * gu;
    auto xp = mean_fwd + noise.normal_(0.0, std::sqrt(2.0 * a), gen);
    auto egp = model.energy_and_grad(xp);
    auto up = egp.energy * inv_t;
    auto gup = egp.grad * inv_t;
    auto mean_bwd = xp - a * gup;
    // log q(x | x') − log q(x' | x) for the Gaussian proposals N(mean, 2a I).
    auto log_q_ratio = (sum_event((xp - mean_fwd).pow(2)) - sum_event((x - mean_bwd).pow(2))) / (4.0 * a);
    auto log_alpha = (u - up) + log_q_ratio;
    auto accept = unif.uniform_(0.0, 1.0, gen).log_() < log_alpha;
    accepted.add_(accept.sum());
    auto m = expand_mask(accept, x);
    x = torch::where(m, xp, x);
    gu = torch::where(m, gup, gu);
    u = torch::where(accept, up, u);
  }
  stats_ = SamplerStats{};
  stats_.steps = options.steps();
  if (options.steps() > 0) stats_.acceptance_rate = acceptance_rate(accepted, options.steps(), x.size(0));
  stats_.mean_energy = (u / inv_t).mean().item<double>();
  stats_.mean_grad_norm = (gu / inv_t).reshape({x.size(0), -1}).norm(2, 1).mean().item<double>();
  return x;
}

void HmcOptions::validate() const {
  TORCH_CHECK(steps_ >= 0, "HMC: steps must be >= 0, got ", steps_);
  TORCH_CHECK(std::isfinite(step_size_) && step_size_ > 0, "HMC: step_size must be > 0, got ", step_size_);
  TORCH_CHECK(leapfrog_steps_ >= 1, "HMC: leapfrog_steps must be >= 1, got ", leapfrog_steps_);
}

Hmc::Hmc(HmcOptions options_) : options(options_) { options.validate(); }

torch::Tensor Hmc::sample(EnergyModel& model, const torch::Tensor& x0, c10::optional<at::Generator> gen) {
  EvalModeGuard eval_mode(model);
  torch::NoGradGuard no_grad;
  const double eps = options.step_size();
  const double inv_t = 1.0 / model.temperature();
  auto x = x0.detach().clone();
  auto eg = model.energy_and_grad(x);
  auto u = eg.energy * inv_t;
  auto gu = eg.grad * inv_t;
  auto unif = torch::empty({x.size(0)}, x.options());
  auto accepted = acceptance_counter(x);
  for (int64_t k = 0; k < options.steps(); ++k) {
    auto p = torch::empty_like(x).normal_(0.0, 1.0, gen);
    const auto h0 = u + 0.5 * sum_event(p * p);
    auto xq = x.clone();
    auto gq = gu;
    torch::Tensor uq;
    p.sub_(gq, 0.5 * eps);  // half step in momentum
    for (int64_t l = 0; l < options.leapfrog_steps(); ++l) {
      xq.add_(p, eps);
      auto egq = model.energy_and_grad(xq);
      uq = egq.energy * inv_t;
      gq = egq.grad * inv_t;
      if (l + 1 < options.leapfrog_steps()) p.sub_(gq, eps);
    }
    p.sub_(gq, 0.5 * eps);
    const auto h1 = uq + 0.5 * sum_event(p * p);
    auto accept = unif.uniform_(0.0, 1.0, gen).log_() < (h0 - h1);
    accepted.add_(accept.sum());
    std::vector<int64_t> shape(x.dim(), 1);
    shape[0] = x.size(0);
    auto m = accept.view(shape);
    x = torch::where(m, xq, x);
    gu = torch::where(m, gq, gu);
    u = torch::where(accept, uq, u);
  }
  stats_ = SamplerStats{};
  stats_.steps = options.steps();
  if (options.steps() > 0) stats_.acceptance_rate = acceptance_rate(accepted, options.steps(), x.size(0));
  stats_.mean_energy = (u / inv_t).mean().item<double>();
  stats_.mean_grad_norm = (gu / inv_t).reshape({x.size(0), -1}).norm(2, 1).mean().item<double>();
  return x;
}

}  // namespace joule
