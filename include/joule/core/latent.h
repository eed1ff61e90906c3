#pragma once
// Latent-variable models trained by their evidence lower bound (VAEs): p(x) = ∫ p(x|z) p(z) dz
// with an inference model q(z|x), log p(x) ≥ E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))
// (Kingma & Welling, arXiv:1312.6114, eq. 3).

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace joule {

/// The terms of the ELBO per sample, [B] each.
struct ElboTerms {
  at::Tensor reconstruction;  ///< E_q(z|x)[log p(x|z)] (a Monte Carlo estimate, reparameterised)
  at::Tensor kl;              ///< KL(q(z|x) ‖ p(z)) (closed form where it has one)
  /// reconstruction − β·kl (β = 1: the ELBO).
  at::Tensor elbo(double beta = 1.0) const { return reconstruction - beta * kl; }
};

/// A latent-variable model. A mix-in interface for torch::nn::Modules, like DensityModel.
class LatentVariableModel {
 public:
  virtual ~LatentVariableModel() = default;
  /// The ELBO terms of a batch x [B, ...]; differentiable in every parameter (encoder and
  /// decoder) through the reparameterised draw from `gen`.
  virtual ElboTerms elbo_terms(const at::Tensor& x, at::Generator& gen) = 0;
  /// n draws x ~ p(x|z), z ~ p(z).
  virtual at::Tensor sample(int64_t n, at::Generator gen) = 0;
  /// Shape of one sample x without the batch dimension.
  virtual std::vector<int64_t> event_shape() const = 0;
};

}  // namespace joule
