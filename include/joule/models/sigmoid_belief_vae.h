#pragma once
// A variational autoencoder with one or more layers of Bernoulli latents (a sigmoid belief network
// as the generative model, with its recognition network): the discrete VAEs of REBAR and RELAX
// (arXiv:1703.07370 §5; arXiv:1711.00123 App. D.1), linear ("L1", "L2") or with two tanh hidden
// layers in each network ("NL1"). With L layers, q(b | x) = q(b₁ | x)·Π q(b_l | b_{l−1}) and
// p(x, b) = p(x | b₁)·Π p(b_l | b_{l+1})·p(b_L), every factor a product of Bernoullis. Pixels are
// Bernoulli. The encoder sees x − mean(x_train); every other network sees 2b − 1; the pixel
// output bias starts at logit(mean(x_train)), as in the reference code. A latent sample of all
// layers is one tensor [B, L·latent], layer 1 first.

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
  TORCH_ARG(int64_t, latent);         ///< Bernoulli latent units per layer (>= 1; the papers: 200)
  TORCH_ARG(int64_t, layers) = 1;     ///< stochastic layers (>= 1; the papers: 1 or 2)
  TORCH_ARG(bool, nonlinear) = false; ///< two tanh hidden layers in encoder and decoder (NL1), else linear (L1)
  TORCH_ARG(int64_t, hidden) = 200;   ///< hidden units of the nonlinear networks (>= 1)
};

/// q(b₁ | x) = Bernoulli(σ(enc(x − m))), q(b_l | b_{l−1}) = Bernoulli(σ(enc_l(2b_{l−1} − 1))),
/// p(b_L) = Bernoulli(σ(prior)), p(b_l | b_{l+1}) = Bernoulli(σ(dec_l(2b_{l+1} − 1))),
/// p(x | b₁) = Bernoulli(σ(dec(2b₁ − 1))).
class SigmoidBeliefVaeImpl : public torch::nn::Cloneable<SigmoidBeliefVaeImpl> {
 public:
  /// Builds the networks (PyTorch's default initialisation; prior logits 0).
  explicit SigmoidBeliefVaeImpl(const SigmoidBeliefVaeOptions& options);

  /// The recognition logits of q(b₁ | x), [B, latent], for x [B, pixels].
  at::Tensor encode(const at::Tensor& x);
  /// The recognition logits of layer `layer` (0-based): encode(x) for layer 0, else those of
  /// q(b_layer | b_{layer−1}) from `below` = b_{layer−1} [B, latent] (may be relaxed).
  at::Tensor encode_layer(int64_t layer, const at::Tensor& below);
  /// The pixel logits of p(x | b₁), [B, pixels], from b₁ [B, latent] (may be relaxed).
  at::Tensor decode(const at::Tensor& b1);
  /// The logits of p(b_layer | b_{layer+1}) for layer < layers − 1, from `above` [B, latent];
  /// the prior logits (broadcast to [B, latent]) for the top layer.
  at::Tensor decode_layer(int64_t layer, const at::Tensor& above);
  /// log p(x | b₁) + Σ log p(b_l | b_{l+1}) + log p(b_L) per example, [B], for b [B, layers·latent];
  /// b may be relaxed (the Bernoulli formula on [0, 1]).
  at::Tensor log_joint(const at::Tensor& x, const at::Tensor& b);
  /// log q(b | x) of every layer per example, [B], for b [B, layers·latent] (may be relaxed): the
  /// recognition logits of each layer are computed from the layer below in b.
  at::Tensor log_posterior(const at::Tensor& x, const at::Tensor& b);
  /// log q(b | logits) of one layer from given recognition logits, per example, [B] (b may be relaxed).
  static at::Tensor log_q(const at::Tensor& logits, const at::Tensor& b);
  /// One ancestral draw b ~ q(b | x) of every layer, [B, layers·latent].
  at::Tensor sample_posterior(const at::Tensor& x, at::Generator& gen);
  /// Layer `layer` of b [B, layers·latent]: its columns [layer·latent, (layer + 1)·latent).
  at::Tensor layer_of(const at::Tensor& b, int64_t layer) const;
  /// layers·latent: the width of a sample of every layer.
  int64_t total_latent() const { return options.layers() * options.latent(); }

  /// The importance-weighted bound (Burda et al. 2016) with k samples from q, per example, [B]:
  /// log (1/k) Σ p(x, b_i)/q(b_i | x). k = 1 is the ELBO; it rises to log p(x) as k grows.
  at::Tensor iwae_bound(const at::Tensor& x, int64_t k, at::Generator& gen);

  /// n ancestral draws of (b, x) from the generative model; returns the pixel probabilities
  /// σ(dec(2b₁ − 1)), [n, pixels] (draw x from them for binary samples).
  at::Tensor sample_means(int64_t n, at::Generator& gen);
  /// n ancestral draws of b from the prior, [n, layers·latent].
  at::Tensor sample_prior(int64_t n, at::Generator& gen);

  /// Sets the data mean the encoder subtracts and the decoder's output bias starts from
  /// (logit of the mean clipped to [1e-3, 1 − 1e-3]); call once before training.
  void set_data_mean(const at::Tensor& mean);

  /// (Re)creates the parameters.
  void reset() override;
  /// Re-draws every weight from `gen` (PyTorch's default uniform init), prior logits 0.
  void reset_parameters(at::Generator gen);

  SigmoidBeliefVaeOptions options;       ///< the options it was built with
  std::vector<torch::nn::Linear> encoder;  ///< the recognition network of b₁ (from x)
  std::vector<torch::nn::Linear> decoder;  ///< the generative network of x (from b₁)
  /// The recognition networks of the upper layers: [l − 1] computes q(b_l | b_{l−1})'s logits.
  std::vector<std::vector<torch::nn::Linear>> upper_encoders;
  /// The generative networks of the lower layers: [l] computes p(b_l | b_{l+1})'s logits.
  std::vector<std::vector<torch::nn::Linear>> upper_decoders;
  at::Tensor prior_logits;               ///< p(b_L)'s logits, [latent]
  at::Tensor data_mean;                  ///< a buffer, [pixels]: mean of the training images
};
/// Module holder of SigmoidBeliefVaeImpl.
TORCH_MODULE(SigmoidBeliefVae);

}  // namespace joule
