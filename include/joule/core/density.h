#pragma once
// Models with an exact density: log p(x) in closed form and exact samples (ICA now; flows and
// continuous normalising flows later). They are trained by maximum likelihood and evaluated by
// their exact log-likelihood without pretending to be energies — a model may be both (ICA is an
// energy model too, so LSD and score matching can train it).

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace joule {

/// An exact-density model. A mix-in interface: implementations are torch::nn::Modules that
/// also derive from this (a ModuleSet finds them with get<DensityModel>()).
class DensityModel {
 public:
  virtual ~DensityModel() = default;
  /// Exact log p(x) per sample: [B, ...] -> [B], differentiable in the parameters.
  virtual at::Tensor log_prob(const at::Tensor& x) = 0;
  /// n exact samples [n, ...].
  virtual at::Tensor sample(int64_t n, at::Generator gen) = 0;
  /// Shape of one sample without the batch dimension.
  virtual std::vector<int64_t> event_shape() const = 0;
};

}  // namespace joule
