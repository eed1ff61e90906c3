#include "joule/models/compose.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace joule {

CompositionOp parse_composition_op(const std::string& name) {
  if (name == "sum" || name == "and") return CompositionOp::kSum;
  if (name == "logsumexp" || name == "or") return CompositionOp::kLogSumExp;
  TORCH_CHECK(false, "unknown composition '", name, "' (allowed: and (= sum), or (= logsumexp))");
}

std::string to_string(CompositionOp op) { return op == CompositionOp::kSum ? "and" : "or"; }

ComposedEnergy::ComposedEnergy(CompositionOp op, std::vector<EnergyPart> parts) : op_(op), parts_(std::move(parts)) {
  TORCH_CHECK(!parts_.empty(), "ComposedEnergy needs at least one part");
  const auto shape = parts_.front().energy() ? parts_.front().energy()->event_shape() : std::vector<int64_t>{};
  for (size_t i = 0; i < parts_.size(); ++i) {
    const auto& p = parts_[i];
    const std::string label = p.name().empty() ? "part " + std::to_string(i) : "part '" + p.name() + "'";
    TORCH_CHECK(p.energy(), "ComposedEnergy: ", label, " has no energy model");
    TORCH_CHECK(std::isfinite(p.weight()) && p.weight() != 0, "ComposedEnergy: ", label, " needs a finite non-zero weight, got ",
                p.weight());
    TORCH_CHECK(std::isfinite(p.temperature()) && p.temperature() > 0, "ComposedEnergy: ", label,
                " needs a temperature > 0, got ", p.temperature());
    TORCH_CHECK(std::isfinite(p.log_weight()), "ComposedEnergy: ", label, " has a non-finite log_weight");
    TORCH_CHECK(p.energy()->event_shape() == shape, "ComposedEnergy: ", label, " models samples of shape ",
                c10::IntArrayRef(p.energy()->event_shape()), " but the first part's are ", c10::IntArrayRef(shape));
    // Register each distinct model once, so that .to(device), eval() and parameters() reach it.
    bool seen = false;
    for (size_t j = 0; j < i; ++j) seen = seen || parts_[j].energy() == p.energy();
    if (!seen) register_module("part" + std::to_string(i), p.energy());
  }
}

torch::Tensor ComposedEnergy::terms(const torch::Tensor& x) {
  std::vector<torch::Tensor> u;
  u.reserve(parts_.size());
  for (const auto& p : parts_) {
    auto e = p.energy()->energy(x);
    auto term = e * (p.weight() / p.temperature());
    if (p.log_weight() != 0) term = term - p.log_weight();
    u.push_back(term);
  }
  return at::stack(u, 1);
}

torch::Tensor ComposedEnergy::energy(const torch::Tensor& x) {
  auto u = terms(x);
  if (op_ == CompositionOp::kSum) return u.sum(1);
  return -at::logsumexp(-u, 1);
}

EnergyGrad ComposedEnergy::energy_and_grad(const torch::Tensor& x) {
  // Each part's own (possibly analytic) gradient, combined: for a sum Σ w_i/T_i ∇E_i; for the
  // log-sum-exp the softmax(−u) weights of the same.
  std::vector<EnergyGrad> eg;
  eg.reserve(parts_.size());
  std::vector<torch::Tensor> u;
  for (const auto& p : parts_) {
    auto g = p.energy()->energy_and_grad(x);
    auto term = g.energy * (p.weight() / p.temperature());
    if (p.log_weight() != 0) term = term - p.log_weight();
    u.push_back(term);
    eg.push_back(std::move(g));
  }
  auto ut = at::stack(u, 1);
  EnergyGrad out;
  std::vector<int64_t> bshape(x.dim(), 1);
  bshape[0] = x.size(0);
  if (op_ == CompositionOp::kSum) {
    out.energy = ut.sum(1);
    out.grad = at::zeros_like(x);
    for (size_t i = 0; i < parts_.size(); ++i) out.grad.add_(eg[i].grad, parts_[i].weight() / parts_[i].temperature());
  } else {
    out.energy = -at::logsumexp(-ut, 1);
    auto r = at::softmax(-ut, 1);
    out.grad = at::zeros_like(x);
    for (size_t i = 0; i < parts_.size(); ++i) {
      out.grad.add_(eg[i].grad * r.select(1, i).view(bshape) * (parts_[i].weight() / parts_[i].temperature()));
    }
  }
  return out;
}

torch::Tensor downsample2x(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "downsample2x expects images [B, C, H, W], got ", x.sizes());
  return at::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1});
}

MultiScaleEnergy::MultiScaleEnergy(std::vector<std::shared_ptr<EnergyModel>> scales, std::vector<int64_t> event_shape)
    : scales_(std::move(scales)), event_shape_(std::move(event_shape)) {
  TORCH_CHECK(!scales_.empty(), "MultiScaleEnergy needs at least one scale");
  TORCH_CHECK(event_shape_.size() == 3, "MultiScaleEnergy models images: event_shape must be {C, H, W}, got ",
              c10::IntArrayRef(event_shape_));
  int64_t h = event_shape_[1], w = event_shape_[2];
  for (size_t s = 0; s < scales_.size(); ++s) {
    TORCH_CHECK(scales_[s], "MultiScaleEnergy: scale ", s, " has no network");
    TORCH_CHECK(h >= 1 && w >= 1, "MultiScaleEnergy: ", scales_.size(), " scales are too many for ", event_shape_[1], "×",
                event_shape_[2], " images");
    bool seen = false;
    for (size_t j = 0; j < s; ++j) seen = seen || scales_[j] == scales_[s];
    if (!seen) register_module("scale" + std::to_string(s), scales_[s]);
    h = (h - 1) / 2 + 1;  // avg_pool(3, 2, 1): ⌊(h + 2 − 3)/2⌋ + 1
    w = (w - 1) / 2 + 1;
  }
}

torch::Tensor MultiScaleEnergy::scale_energies(const torch::Tensor& x) {
  std::vector<torch::Tensor> e;
  e.reserve(scales_.size());
  auto xs = x;
  for (size_t s = 0; s < scales_.size(); ++s) {
    if (s > 0) xs = downsample2x(xs);
    e.push_back(scales_[s]->energy(xs));
  }
  return at::stack(e, 1);
}

torch::Tensor MultiScaleEnergy::energy(const torch::Tensor& x) { return scale_energies(x).sum(1); }

}  // namespace joule
