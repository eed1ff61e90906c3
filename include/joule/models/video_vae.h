#pragma once
// A VAE for videos whose prior separates what stays the same across frames (identity) from what
// changes (pose): Grathwohl & Wilson, "Disentangling Space and Time in Video with Hierarchical
// VAEs" (arXiv:1612.04440). Each frame is encoded on its own, q(z_t | x_t) = N(μ_t, diag σ_t²);
// the latent z_t = [z_id, z_pose] is split into identity channels, whose prior over the T frames is
// the slow-feature Gaussian Σ = 11ᵀ + ε·diag(0, 1, …, 1) (z_1 ~ N(0, 1), z_t = z_1 + √ε·n_t), and pose
// channels, independent N(0, 1) per frame or a stationary Gauss–Markov chain. The ELBO's KL is
// computed exactly against the correlated prior. With every channel independent the same
// networks are the plain per-frame VAE baseline.
//
// The paper gives no architecture or code; the per-frame convolutional networks and the split
// latent are our reconstruction (docs/methods/video_vae.md says what was chosen).

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "joule/core/latent.h"
#include "joule/models/activation.h"

namespace joule {

// ---------------------------------------------------------------- Gaussian sequence priors

/// The zero-mean Gaussian prior of one latent channel over T frames.
enum class SequencePriorKind {
  kIndependent,  ///< z_t ~ N(0, 1) independently: Σ = I
  kSlow,         ///< slow features: z_1 ~ N(0, 1), z_t = z_1 + √ε·n_t, Σ = 11ᵀ + ε·diag(0, 1, …, 1)
  kMarkov,       ///< stationary AR(1): z_1 ~ N(0, 1), z_t = ρ·z_{t−1} + √(1 − ρ²)·n_t, Σ_st = ρ^|s−t|
};

/// "independent" | "slow" | "markov"; anything else is an error listing these.
SequencePriorKind parse_sequence_prior(const std::string& name);
/// The name parse_sequence_prior() accepts.
std::string to_string(SequencePriorKind kind);

/// A Gaussian prior over a channel's T values. Each kind is a chain in which frame t > 1 depends
/// on one parent frame p(t) (frame 1 for slow, t − 1 for Markov) as z_t = a·z_{p(t)} + √v·n_t,
/// which gives the precision, log-determinant and KL in O(T) closed form.
struct SequencePrior {
  SequencePriorKind kind = SequencePriorKind::kIndependent;  ///< the structure
  double eps = 0.01;  ///< slow: the innovation variance ε (> 0; the slow-feature prior's 0.1²)
  double rho = 0.9;   ///< markov: the frame-to-frame correlation ρ, in (−1, 1)

  /// Checks eps > 0 and |rho| < 1 for the kinds that use them.
  void check() const;
  /// The dense covariance Σ, [T, T] (float64 unless `options` says otherwise).
  at::Tensor covariance(int64_t frames, at::TensorOptions options = at::kDouble) const;
  /// log|Σ| in closed form: (T − 1)·log v (0 for independent).
  double log_det(int64_t frames) const;
  /// KL(N(μ, diag exp(logvar)) ‖ N(0, Σ)) summed over channels, for μ and logvar [B, T, K]
  /// (T frames, K channels that share this prior): [B]. Exact, in O(B·T·K), differentiable.
  at::Tensor kl(const at::Tensor& mu, const at::Tensor& logvar) const;
  /// log N(z; 0, Σ) summed over channels, for z [B, T, K]: [B]. Exact, O(B·T·K), from the chain
  /// form (z_1 ~ N(0, 1), z_t | z_parent ~ N(a·z_parent, v)).
  at::Tensor log_prob(const at::Tensor& z) const;
  /// n draws of K channels over T frames, [n, T, K].
  at::Tensor sample(int64_t n, int64_t frames, int64_t channels, at::Generator& gen,
                    at::TensorOptions options = at::kFloat) const;
};

/// KL(N(μ, diag exp(logvar)) ‖ N(0, Σ)) for μ, logvar [B, T] and a dense Σ [T, T], by Cholesky:
/// ½[tr(Σ⁻¹S) + μᵀΣ⁻¹μ − T + log|Σ| − log|S|], [B]. The brute-force reference for
/// SequencePrior::kl (and for any other prior a user brings).
at::Tensor gaussian_kl_dense(const at::Tensor& mu, const at::Tensor& logvar, const at::Tensor& covariance);

// ---------------------------------------------------------------- the model

/// Options for VideoVae.
struct VideoVaeOptions {
  /// Frames of `channels` × `height` × `width` (height and width divisible by 4), `frames` long.
  VideoVaeOptions(int64_t channels, int64_t height, int64_t width, int64_t frames)
      : channels_(channels), height_(height), width_(width), frames_(frames) {}
  TORCH_ARG(int64_t, channels);            ///< C: 1 (grey) or 3 (RGB)
  TORCH_ARG(int64_t, height);              ///< H, divisible by 4
  TORCH_ARG(int64_t, width);               ///< W, divisible by 4
  TORCH_ARG(int64_t, frames);              ///< T of sample() (the ELBO takes any T)
  TORCH_ARG(int64_t, identity_dim) = 8;    ///< identity channels (under identity_prior)
  TORCH_ARG(int64_t, pose_dim) = 8;        ///< pose channels (under pose_prior)
  /// The identity channels' prior: slow (the paper's) or independent (the plain VAE).
  TORCH_ARG(SequencePrior, identity_prior) = SequencePrior{SequencePriorKind::kSlow, 0.01, 0.9};
  /// The pose channels' prior: independent or markov.
  TORCH_ARG(SequencePrior, pose_prior) = SequencePrior{};
  TORCH_ARG(int64_t, filters) = 32;        ///< channels of the first convolution (the second has twice)
  TORCH_ARG(int64_t, hidden) = 256;        ///< units of the fully connected layer on each side
  TORCH_ARG(Activation, activation) = Activation::kLeakyReLU;  ///< hidden activation
  /// Pixels: "bernoulli" (cross-entropy on [0, 1] intensities) or "gaussian" (fixed pixel_std).
  TORCH_ARG(std::string, likelihood) = "bernoulli";
  TORCH_ARG(double, pixel_std) = 0.1;      ///< gaussian: the pixels' standard deviation
};

/// The per-frame convolutional VAE with a factored sequence prior (see the file comment).
///
/// Encoder: conv 4×4/2 (filters) → conv 4×4/2 (2·filters) → linear (hidden) → linear (2K);
/// decoder: the mirror image with transposed convolutions. K = identity_dim + pose_dim; latent
/// channel k < identity_dim is an identity channel.
class VideoVaeImpl : public torch::nn::Cloneable<VideoVaeImpl>, public LatentVariableModel {
 public:
  /// Checks the options and builds the networks (PyTorch's default initialisation).
  explicit VideoVaeImpl(VideoVaeOptions options);
  /// (Re)creates the networks.
  void reset() override;
  /// Re-draws every weight from `gen` (PyTorch's default uniform initialisation).
  void reset_parameters(at::Generator gen);

  /// q(z_t | x_t) for videos x [B, T, C, H, W]: the means and log-variances, [B, T, K] each.
  std::pair<at::Tensor, at::Tensor> encode(const at::Tensor& x);
  /// The pixel logits (bernoulli) or means (gaussian) of p(x_t | z_t) for z [B, T, K]: [B, T, C, H, W].
  at::Tensor decode(const at::Tensor& z);
  /// The frames' expected intensities in [0, 1] for z [B, T, K]: σ(logits) or the clamped means.
  at::Tensor decode_mean(const at::Tensor& z);
  /// log p(x | z) summed over frames and pixels, for x [B, T, C, H, W] and z [B, T, K]: [B].
  at::Tensor log_likelihood(const at::Tensor& x, const at::Tensor& z);
  /// The KL of q to the factored prior, [B] (identity and pose channels under their priors).
  at::Tensor kl(const at::Tensor& mu, const at::Tensor& logvar) const;

  /// Reconstruction (one reparameterised draw) and the exact KL per video, [B] each.
  ElboTerms elbo_terms(const at::Tensor& x, at::Generator& gen) override;
  /// The importance-weighted bound with k draws from q per video, [B] (k = 1: a one-draw ELBO).
  at::Tensor iwae_bound(const at::Tensor& x, int64_t k, at::Generator& gen);
  /// n videos of options.frames() frames drawn from the prior, as expected intensities (decode_mean).
  at::Tensor sample(int64_t n, at::Generator gen) override;
  std::vector<int64_t> event_shape() const override;

  /// z with the identity channels of `identity_from` and the pose channels of `pose_from`, both
  /// [B, T, K]: decoding it swaps who is shown with how they move.
  at::Tensor swap(const at::Tensor& identity_from, const at::Tensor& pose_from) const;
  /// The identity channels of z [..., K].
  at::Tensor identity_part(const at::Tensor& z) const;
  /// The pose channels of z [..., K].
  at::Tensor pose_part(const at::Tensor& z) const;
  /// K, the latent channels per frame.
  int64_t latent_dim() const { return options.identity_dim() + options.pose_dim(); }

  VideoVaeOptions options;  ///< the options it was built with
  ///@{
  /// The encoder's layers.
  torch::nn::Conv2d enc_conv1{nullptr}, enc_conv2{nullptr};
  torch::nn::Linear enc_fc{nullptr}, enc_out{nullptr};
  ///@}
  ///@{
  /// The decoder's layers.
  torch::nn::Linear dec_fc{nullptr}, dec_in{nullptr};
  torch::nn::ConvTranspose2d dec_conv1{nullptr}, dec_conv2{nullptr};
  ///@}

 private:
  at::Tensor act(const at::Tensor& h) const;
};
/// Module holder of VideoVaeImpl.
TORCH_MODULE(VideoVae);

}  // namespace joule
