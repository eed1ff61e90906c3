#pragma once
// A variational autoencoder with one layer of Bernoulli latents (a sigmoid belief network as the
// generative model, with its recognition network): the discrete VAEs of REBAR and RELAX
// (arXiv:1703.07370 §5; arXiv:1711.00123 App. D.1), linear ("L1") or with two tanh hidden layers
// in each network ("NL1"). Pixels are Bernoulli. The encoder sees x − mean(x_train); the decoder
// sees 2b − 1 and its output bias starts at logit(mean(x_train)), as in the reference code.

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

namespace joule {

/// Options for SigmoidBeliefVae.
struct SigmoidBeliefVaeOptions {
  /// `pixels`: the flattened size of one example; `latent`: Bernoulli latents.
  SigmoidBeliefVaeOptions(int64_t pixels, int64_t latent) : pixels_(pixels), latent_(latent) {}
  TORCH_ARG(int64_t, pixels);         ///< observed binary units per example (>= 1)
  TORCH_ARG(int64_t, latent);         ///< Bernoulli latent units (>= 1; the papers: 200)
  TORCH_ARG(bool, nonlinear) = false; ///< two tanh hidden layers in encoder and decoder (NL1), else linear (L1)
  TORCH_ARG(int64_t, hidden) = 200;   ///< hidden units of the nonlinear networks (>= 1)
};

/// q(b | x) = Bernoulli(σ(enc(x − m))), p(b) = Bernoulli(σ(prior)), p(x | b) = Bernoulli(σ(dec(2b − 1))).
class SigmoidBeliefVaeImpl : public torch::nn::Cloneable<SigmoidBeliefVaeImpl> {
 public:
  /// Builds the networks (PyTorch's default initialisation; prior logits 0).
  explicit SigmoidBeliefVaeImpl(const SigmoidBeliefVaeOptions& options);

  /// The recognition logits of q(b | x), [B, latent], for x [B, pixels].
  at::Tensor encode(const at::Tensor& x);
  /// The pixel logits of p(x | b), [B, pixels]; b may be relaxed (values in [0, 1]).
  at::Tensor decode(const at::Tensor& b);
  /// log p(x | b) + log p(b) per example, [B]; b may be relaxed (the Bernoulli formula on [0, 1]).
  at::Tensor log_joint(const at::Tensor& x, const at::Tensor& b);
  /// log q(b | x) from given recognition logits, per example, [B] (b may be relaxed).
  static at::Tensor log_q(const at::Tensor& logits, const at::Tensor& b);

  /// The importance-weighted bound (Burda et al. 2016) with k samples from q, per example, [B]:
  /// log (1/k) Σ p(x, b_i)/q(b_i | x). k = 1 is the ELBO; it rises to log p(x) as k grows.
  at::Tensor iwae_bound(const at::Tensor& x, int64_t k, at::Generator& gen);

  /// n draws of (b, x) from the generative model; returns the pixel probabilities σ(dec(2b − 1)),
  /// [n, pixels] (draw x from them for binary samples).
  at::Tensor sample_means(int64_t n, at::Generator& gen);

  /// Sets the data mean the encoder subtracts and the decoder's output bias starts from
  /// (logit of the mean clipped to [1e-3, 1 − 1e-3]); call once before training.
  void set_data_mean(const at::Tensor& mean);

  /// (Re)creates the parameters.
  void reset() override;
  /// Re-draws every weight from `gen` (PyTorch's default uniform init), prior logits 0.
  void reset_parameters(at::Generator gen);

  SigmoidBeliefVaeOptions options;       ///< the options it was built with
  std::vector<torch::nn::Linear> encoder;  ///< the recognition network's layers
  std::vector<torch::nn::Linear> decoder;  ///< the generative network's layers
  at::Tensor prior_logits;               ///< p(b)'s logits, [latent]
  at::Tensor data_mean;                  ///< a buffer, [pixels]: mean of the training images
};
/// Module holder of SigmoidBeliefVaeImpl.
TORCH_MODULE(SigmoidBeliefVae);

}  // namespace joule
