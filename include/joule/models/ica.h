#pragma once
// Independent component analysis as an energy model with an exact likelihood: the test bed of
// LSD's §6.2 (arXiv:2002.05616; reference code lsd_ica.py), where training by LSD, score
// matching or NCE can be compared with exact maximum likelihood.
//
//   s = x B,   log q(x) = Σ_i log Logistic(s_i) + log |det B|,
//   E(x) = −Σ_i log Logistic(s_i) = Σ_i [softplus(s_i) + softplus(−s_i)],   log Z = −log |det B|.

#include <ATen/ATen.h>
#include <torch/nn/pimpl.h>

#include "joule/core/density.h"
#include "joule/core/energy.h"

namespace joule {

/// ICA energy with a learned unmixing matrix B [D, D] (parameter "unmixing"). Both an energy
/// model (so LSD, score matching and CD train it) and an exact density (maximum likelihood).
class IcaImpl : public EnergyModel, public DensityModel {
 public:
  /// An ICA model of `dim` (> 0) dimensions, B initialised to the identity.
  explicit IcaImpl(int64_t dim);

  /// Draws B with i.i.d. N(0, 1) entries, redrawn until cond(B) < max(D, 2) (lsd_ica.py keeps
  /// B well conditioned the same way). Returns the number of draws.
  int64_t reset_parameters(at::Generator gen);

  torch::Tensor energy(const torch::Tensor& x) override;
  /// Analytic: ∇ₓE = tanh(s/2) Bᵀ.
  EnergyGrad energy_and_grad(const torch::Tensor& x) override;
  std::vector<int64_t> event_shape() const override { return {dim_}; }

  /// log Z = −log|det B| as a differentiable scalar (for maximum likelihood); needs T = 1.
  torch::Tensor log_partition();
  /// Exact log q(x) = −E(x) + log|det B|, [B]; needs T = 1.
  torch::Tensor log_prob(const torch::Tensor& x) override;
  /// n exact samples: s ~ Logistic(0, 1)ᴰ, x = s B⁻¹.
  torch::Tensor sample(int64_t n, at::Generator gen) override;

  /// D, the data dimension.
  int64_t dim() const { return dim_; }
  torch::Tensor unmixing;  ///< B, registered parameter

 private:
  int64_t dim_;
};
/// The module holder of IcaImpl (a shared pointer to it).
TORCH_MODULE(Ica);

}  // namespace joule

namespace joule {

/// Amari index of P = B_true⁻¹ B (Amari, Cichocki & Yang 1996), in [0, 1]: 0 when the model's
/// unmixing B recovers the true one up to permutation, sign and scale of the sources.
double amari_index(const torch::Tensor& b_true, const torch::Tensor& b_model);

}  // namespace joule
