#include "joule/objectives/score_matching.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>

namespace joule {
namespace {

// E(x) and s(x) = −∇ₓE/T with the graph kept (x must require grad).
std::pair<at::Tensor, at::Tensor> energy_and_score(EnergyModel& model, const at::Tensor& x) {
  auto e = model.energy(x);
  TORCH_CHECK(e.dim() == 1 && e.size(0) == x.size(0), "energy() must return one value per sample, shape [", x.size(0),
              "], got ", e.sizes());
  auto g = torch::autograd::grad({e.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  return {e, g / (-model.temperature())};
}

at::Tensor half_norm2(const at::Tensor& s) { return s.pow(2).reshape({s.size(0), -1}).sum(1).mul(0.5); }

}  // namespace

ScoreMatchingKind parse_score_matching_kind(const std::string& name) {
  if (name == "exact") return ScoreMatchingKind::kExact;
  if (name == "sliced") return ScoreMatchingKind::kSliced;
  if (name == "denoising") return ScoreMatchingKind::kDenoising;
  TORCH_CHECK(false, "unknown score-matching kind '", name, "' (allowed: exact, sliced, denoising)");
}

std::string to_string(ScoreMatchingKind kind) {
  switch (kind) {
    case ScoreMatchingKind::kExact: return "exact";
    case ScoreMatchingKind::kSliced: return "sliced";
    case ScoreMatchingKind::kDenoising: return "denoising";
  }
  return "?";
}

at::Tensor exact_score_matching_loss(EnergyModel& model, const at::Tensor& x_in) {
  torch::AutoGradMode grad_mode(true);
  auto x = x_in.detach().requires_grad_(true);
  auto s = energy_and_score(model, x).second;
  return half_norm2(s) + jacobian_trace_exact(s, x, /*create_graph=*/true);
}

at::Tensor sliced_score_matching_loss(EnergyModel& model, const at::Tensor& x_in, ProbeKind probe, int64_t projections,
                                      bool variance_reduced, at::Generator& gen) {
  TORCH_CHECK(projections >= 1, "sliced score matching: projections must be >= 1, got ", projections);
  torch::AutoGradMode grad_mode(true);
  auto x = x_in.detach().requires_grad_(true);
  auto s = energy_and_score(model, x).second;
  const int64_t b = x.size(0);
  at::Tensor total;
  for (int64_t k = 0; k < projections; ++k) {
    auto v = draw_probe(s, probe, gen);
    // vᵀ∇ₓ(vᵀs) by one vector-Jacobian product of s (the Hessian of log p̃ is symmetric).
    auto hv = torch::autograd::grad({s}, {x}, {v}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    auto t = (hv * v).reshape({b, -1}).sum(1);
    if (!variance_reduced) t = t + (s * v).reshape({b, -1}).sum(1).pow(2).mul(0.5);
    total = k == 0 ? t : total + t;
  }
  total = total / static_cast<double>(projections);
  return variance_reduced ? total + half_norm2(s) : total;
}

at::Tensor denoising_score_matching_loss(EnergyModel& model, const at::Tensor& x_in, double sigma, at::Generator& gen) {
  TORCH_CHECK(sigma > 0, "denoising score matching: noise sigma must be > 0, got ", sigma);
  torch::AutoGradMode grad_mode(true);
  auto eps = at::empty(x_in.sizes(), x_in.options().requires_grad(false)).normal_(0.0, 1.0, gen);
  auto x = (x_in.detach() + sigma * eps).requires_grad_(true);
  auto s = energy_and_score(model, x).second;
  // The target is ∇ log N(x̃; x, σ²I) = −ε/σ.
  return half_norm2(s + eps / sigma);
}

ScoreMatching::ScoreMatching(ScoreMatchingOptions options_) : options(options_) {
  TORCH_CHECK(options.projections() >= 1, "ScoreMatching: projections must be >= 1, got ", options.projections());
  TORCH_CHECK(options.noise() > 0, "ScoreMatching: noise must be > 0, got ", options.noise());
  TORCH_CHECK(options.l2_energy() >= 0, "ScoreMatching: l2_energy must be >= 0, got ", options.l2_energy());
}

std::string ScoreMatching::name() const {
  switch (options.kind()) {
    case ScoreMatchingKind::kExact: return "sm";
    case ScoreMatchingKind::kSliced: return "ssm";
    case ScoreMatchingKind::kDenoising: return "dsm";
  }
  return "sm";
}

ObjectiveOutput ScoreMatching::compute(EnergyModel& model, const Batch& batch, at::Generator& gen) {
  torch::AutoGradMode grad_mode(true);
  const auto& x = batch.x;
  at::Tensor per_sample;
  switch (options.kind()) {
    case ScoreMatchingKind::kExact: per_sample = exact_score_matching_loss(model, x); break;
    case ScoreMatchingKind::kSliced:
      per_sample = sliced_score_matching_loss(model, x, options.probe(), options.projections(),
                                              options.variance_reduced(), gen);
      break;
    case ScoreMatchingKind::kDenoising: per_sample = denoising_score_matching_loss(model, x, options.noise(), gen); break;
  }
  auto loss = per_sample.mean();
  // Energies of the data for the divergence guard (and the optional penalty); one extra
  // forward pass, negligible next to the double backward.
  at::Tensor e;
  if (options.l2_energy() > 0) {
    e = model.energy(x);
    loss = loss + options.l2_energy() * e.pow(2).mean();
  } else {
    torch::NoGradGuard no_grad;
    e = model.energy(x);
  }
  ObjectiveOutput out;
  out.loss = loss;
  out.metrics = {{name() + "_loss", per_sample.mean().item<double>()}, {"e_pos", e.mean().item<double>()}};
  return out;
}

}  // namespace joule
