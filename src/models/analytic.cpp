#include "joule/models/analytic.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace joule {

GaussianEnergyImpl::GaussianEnergyImpl(torch::Tensor mean_, torch::Tensor std_) {
  TORCH_CHECK(mean_.dim() == 1 && std_.dim() == 1 && mean_.size(0) == std_.size(0),
              "GaussianEnergy: mean and std must be 1-D of equal length, got ", mean_.sizes(), " and ", std_.sizes());
  TORCH_CHECK((std_ > 0).all().item<bool>(), "GaussianEnergy: std must be > 0");
  mean = register_buffer("mean", mean_.clone());
  std = register_buffer("std", std_.clone());
}

torch::Tensor GaussianEnergyImpl::energy(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == mean.size(0), "GaussianEnergy: expected [B, ", mean.size(0), "], got ",
              x.sizes());
  return ((x - mean) / std).pow(2).sum(1).mul(0.5);
}

EnergyGrad GaussianEnergyImpl::energy_and_grad(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  auto e = energy(x);
  return {e, (x - mean) / std.pow(2)};
}

double GaussianEnergyImpl::log_partition() const {
  const double t = temperature();
  return (std.log() + 0.5 * std::log(2.0 * M_PI * t)).sum().item<double>();
}

}  // namespace joule
