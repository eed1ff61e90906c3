#pragma once
// A linear-Gaussian VAE: the smallest latent-variable model whose likelihood is exact, used to
// check the ELBO machinery against closed forms (Tipping & Bishop 1999; Lucas, Tucker, Grosse &
// Norouzi, "Don't Blame the ELBO!", arXiv:1911.02469, §3: its ELBO optimum is probabilistic
// PCA's maximum-likelihood solution).
//
//   p(z) = N(0, I_K),  p(x|z) = N(W z + b, σ² I_D),  q(z|x) = N(A x + c, diag(s²)),
//   so p(x) = N(b, W Wᵀ + σ² I) exactly.

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "joule/core/latent.h"

namespace joule {

/// Options for LinearGaussianVae.
struct LinearGaussianVaeOptions {
  /// A model of `dim` observed and `latent` latent dimensions.
  LinearGaussianVaeOptions(int64_t dim, int64_t latent) : dim_(dim), latent_(latent) {}
  /// D, the data dimension (> 0).
  TORCH_ARG(int64_t, dim);
  /// K, the latent dimension (> 0).
  TORCH_ARG(int64_t, latent);
};

/// The linear-Gaussian VAE of the file comment: decoder p(x|z) = N(W z + b, σ² I), encoder
/// q(z|x) = N(A x + c, diag(s²)).
class LinearGaussianVaeImpl : public torch::nn::Cloneable<LinearGaussianVaeImpl>, public LatentVariableModel {
 public:
  /// Checks dim, latent > 0 and creates the parameters (see reset()).
  explicit LinearGaussianVaeImpl(LinearGaussianVaeOptions options);
  /// (Re)registers every parameter at zero; reset_parameters() draws them.
  void reset() override;
  /// Small random weights from `gen` (W, A ~ N(0, 0.1²)), σ = s = 1, zero offsets.
  void reset_parameters(at::Generator gen);

  ElboTerms elbo_terms(const at::Tensor& x, at::Generator& gen) override;
  at::Tensor sample(int64_t n, at::Generator gen) override;
  std::vector<int64_t> event_shape() const override { return {options.dim()}; }
  /// The exact log p(x) = log N(x; b, W Wᵀ + σ² I), [B].
  at::Tensor log_marginal(const at::Tensor& x) const;

  LinearGaussianVaeOptions options;  ///< the options it was built with
  ///@{
  /// Decoder W [D, K], b [D], log σ² (scalar).
  at::Tensor weight, bias, log_var;
  ///@}
  ///@{
  /// Encoder A [K, D], c [K], log s² [K].
  at::Tensor enc_weight, enc_bias, enc_log_var;
  ///@}
};
/// The module holder of LinearGaussianVaeImpl (a shared pointer to it).
TORCH_MODULE(LinearGaussianVae);

}  // namespace joule
