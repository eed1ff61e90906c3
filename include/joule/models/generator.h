#pragma once
// VERA's generator (Grathwohl, Kelly, Hashemi, Norouzi, Swersky, Duvenaud, "No MCMC for me:
// Amortized sampling for fast and stable training of energy-based models", arXiv:2010.04230 §3;
// code `VERA:models/generator.py`):
//
//   q_φ(x) = ∫ N(x; g_φ(h), σ²I) N(h; 0, I) dh,   σ learned and clamped to [σ_min, σ_max],
//
// with the estimator of ∇_φ H(q) that lets it be trained to minimise KL(q ‖ p_θ) against an
// energy model: the score ∇ₓ log q(x) = E_{q(h|x)}[−(x − g(h))/σ²] is estimated by K self-
// normalised importance samples from a proposal N(h₀, diag σ_post²) centred at the latent h₀
// that generated x (σ_post learned on the ELBO), and the surrogate mean_x c(x)ᵀx with the
// estimate c detached has φ-gradient ∇_φ H(q). The HMC posterior of PresGAN (Dieng et al.,
// arXiv:1910.04302) is the baseline estimator.
//
// With num_classes = K > 0 the generator is class-conditional, q_φ(x|y) = ∫ N(x; g_φ(h, y), σ²I)
// N(h; 0, I) dh with g reading [h, one_hot(y)], and q_φ(x) = Σ_y π(y) q_φ(x|y) for the class
// prior π (a buffer): every function taking `y` then estimates the quantities of q_φ(·|y).

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace joule {

/// Options for VeraGenerator.
///
/// Example (VERA's 2-D generator: 2 → 100 → 100 → 2 with BatchNorm and ReLU):
///   auto g = joule::VeraGenerator(joule::VeraGeneratorOptions({2}, 2).width(100).depth(2));
struct VeraGeneratorOptions {
  /// Options for samples of `event_shape` generated from `noise_dim` latent dimensions.
  VeraGeneratorOptions(std::vector<int64_t> event_shape, int64_t noise_dim)
      : event_shape_(std::move(event_shape)), noise_dim_(noise_dim) {}
  /// Throws unless event_shape is non-empty, noise_dim, width, depth and the initial sigmas are
  /// > 0, net and output are known names, and net = conv has [C, H, W] with H, W multiples of 4.
  void validate() const;
  /// Shape of one sample, e.g. {2} or {1, 28, 28}.
  TORCH_ARG(std::vector<int64_t>, event_shape);
  /// Latent dimension of h.
  TORCH_ARG(int64_t, noise_dim);
  /// "linear": g(h) = Wh + b, so q is the Gaussian N(b, WWᵀ + σ²I) (probabilistic PCA; the
  /// exact reference of the entropy estimators, `VERA:estimator.py`);
  /// "mlp": Linear (no bias) + BatchNorm + ReLU hidden layers (`small_mlp_generator`);
  /// "large_mlp": the same with Softplus (`large_mlp_generator`); "conv": a DCGAN-style
  /// generator for images (linear to (4c, H/4, W/4), two transposed 4×4 stride-2 convolutions to
  /// 2c and c channels with BatchNorm and ReLU, a 3×3 convolution to the image channels).
  TORCH_ARG(std::string, net) = "mlp";
  /// Hidden units per layer (mlp) or base channels c (conv).
  TORCH_ARG(int64_t, width) = 100;
  /// Hidden layers (mlp).
  TORCH_ARG(int64_t, depth) = 2;
  /// Output activation of the mean g(h): "none", "tanh" (images in [−1, 1]) or "sigmoid".
  TORCH_ARG(std::string, output) = "none";
  /// Initial σ of q(x|h) and initial per-dimension width of the posterior proposal.
  TORCH_ARG(double, init_sigma) = 0.01;
  /// Initial σ_post of every latent dimension of the posterior proposal N(h₀, diag σ_post²).
  TORCH_ARG(double, init_posterior_sigma) = 0.1;
  /// K > 0: a class-conditional generator q(x|y), y in [0, K), with g reading [h, one_hot(y)]
  /// (the first layer has K more inputs). 0: unconditional.
  TORCH_ARG(int64_t, num_classes) = 0;
};

/// Options of the HMC posterior estimator (VERA's `verahmc`, after PresGAN).
struct HmcPosteriorOptions {
  /// HMC iterations discarded (and used to adapt the step size) before the kept ones.
  TORCH_ARG(int64_t, burn_in) = 2;
  /// HMC iterations kept as posterior samples of h.
  TORCH_ARG(int64_t, samples) = 2;
  /// Leapfrog steps per HMC iteration.
  TORCH_ARG(int64_t, leapfrog_steps) = 5;
  /// The step size adapts during burn-in towards this acceptance rate at this rate.
  TORCH_ARG(double, target_acceptance) = 0.67;
  /// After each burn-in iteration, step += adapt_rate·(acceptance − target_acceptance)·step.
  TORCH_ARG(double, adapt_rate) = 0.02;
};

/// VERA's generator q_φ(x) (see the file comment) with its entropy-gradient estimators.
class VeraGeneratorImpl : public torch::nn::Cloneable<VeraGeneratorImpl> {
 public:
  /// Validates `options` and builds the network (see reset()).
  explicit VeraGeneratorImpl(VeraGeneratorOptions options);
  /// (Re)creates the network from the global generator, log σ, log σ_post at their initial
  /// values and the HMC step size at 1/noise_dim.
  void reset() override;
  /// Re-draws the network's weights from `gen` (PyTorch's defaults: U(±1/√fan_in); BatchNorm
  /// weight 1, bias 0), σ and σ_post to their initial values.
  void reset_parameters(at::Generator gen);

  /// x ~ q(x, h): h ~ N(0, I), mean = g(h), x = mean + σ·ε. x and mean carry the graph to φ.
  struct Draw {
    ///@{
    /// The sample x and its mean g(h) [n, event_shape...], and the latent h [n, noise_dim].
    at::Tensor x, h, mean;
    ///@}
    /// The classes y [n] (int64) of a class-conditional generator; undefined otherwise.
    at::Tensor y;
  };
  /// n (> 0) draws from q, noise from `gen` (class-conditional: y ~ the class prior first).
  Draw sample(int64_t n, at::Generator& gen);
  /// Class-conditional: one draw from q(x|y) for each class of `y` [n] (int64, in [0, K)).
  Draw sample_classes(const at::Tensor& y, at::Generator& gen);
  /// g(h) (class-conditional: g(h, y)): [n, noise_dim] -> [n, event_shape...]. `y` [n] must be
  /// given exactly when the generator is class-conditional.
  at::Tensor mean(const at::Tensor& h, const at::Tensor& y = {});
  /// log q(x, h) = log N(h; 0, I) + log N(x; g(h), σ²I), [n] (given y when class-conditional).
  at::Tensor log_joint(const at::Tensor& x, const at::Tensor& h, const at::Tensor& y = {});
  /// K of a class-conditional generator; 0 when unconditional.
  int64_t num_classes() const { return options.num_classes(); }
  /// Class-conditional: the prior π(y) of sample(n) (probabilities [K], normalised here).
  void set_class_prior(const at::Tensor& probs);
  /// σ = exp(log_sigma).
  double sigma() const;

  /// The entropy-gradient surrogate for samples (x, h₀) of sample(): `surrogate` is a scalar
  /// whose gradient in φ is an estimate of ∇_φ H(q) (its value means nothing); `score` is the
  /// detached estimate c(x) of −∇ₓ log q(x); `score_norm` its mean norm.
  struct Entropy {
    /// Scalar whose φ-gradient estimates ∇_φ H(q).
    at::Tensor surrogate, score;  ///< c(x), detached, shaped like x
    double score_norm = 0;        ///< mean over the batch of ‖c(x)‖
  };
  /// VERA's estimator with `samples` importance samples from N(h₀, diag σ_post²). With the
  /// classes `y` of the draws (class-conditional), it estimates the gradient of H(q(·|y)).
  Entropy entropy_surrogate(const at::Tensor& x, const at::Tensor& h, int64_t samples, at::Generator& gen,
                            const at::Tensor& y = {});
  /// The HMC baseline: posterior samples of h given x by HMC started at h₀, c = (x − mean_k g(h_k))/σ².
  /// The leapfrog step size is kept (a buffer) and adapted during each call's burn-in.
  Entropy entropy_surrogate_hmc(const at::Tensor& x, const at::Tensor& h, const HmcPosteriorOptions& options,
                                at::Generator& gen, const at::Tensor& y = {});
  /// −ELBO of the proposal width: −mean[log q(x, h̃) + H(N(h₀, σ_post²))], h̃ = h₀ + σ_post·ε,
  /// with x and h₀ detached. Its gradient trains σ_post (VERA trains it with its own Adam).
  at::Tensor posterior_loss(const at::Tensor& x, const at::Tensor& h, at::Generator& gen, const at::Tensor& y = {});

  /// σ into [min_sigma, max_sigma] (VERA clamps after every generator step).
  void clamp_sigma(double min_sigma, double max_sigma);
  /// The parameters of the network and σ (the generator's parameter group), and σ_post alone
  /// (the posterior's group).
  std::vector<at::Tensor> generator_parameters();
  /// log σ_post alone (the posterior's parameter group).
  std::vector<at::Tensor> posterior_parameters() { return {posterior_log_sigma}; }

  VeraGeneratorOptions options;        ///< the options it was built with
  torch::nn::Sequential net{nullptr};  ///< g_φ: [n, noise_dim] -> [n, event_shape...] (submodule "net")
  at::Tensor log_sigma;            ///< log σ, [1]
  at::Tensor posterior_log_sigma;  ///< log σ_post, [noise_dim]
  at::Tensor hmc_step_size;        ///< buffer: the HMC estimator's adapted leapfrog step
  at::Tensor class_prior;          ///< buffer of a class-conditional generator: π(y) [K]; undefined otherwise
  double hmc_acceptance = 0;       ///< mean acceptance of the last HMC call
};
/// The module holder of VeraGeneratorImpl (a shared pointer to it).
TORCH_MODULE(VeraGenerator);

}  // namespace joule
