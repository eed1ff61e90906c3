#pragma once
// Gradients of expectations over random choices, ∂/∂θ E_{p(b|θ)}[f(b)], for an f that may be a
// black box (not differentiable, not even defined off the discrete values):
//   - REINFORCE (Williams 1992) with a moving-average or a learned baseline;
//   - REBAR (Tucker et al., arXiv:1703.07370): the concrete relaxation as control variate, with
//     its scale η and temperature λ learned;
//   - RELAX (Grathwohl et al., arXiv:1711.00123 §3.3) with a neural surrogate c_φ, alone or added
//     to REBAR's (§3.3, "c_φ(z) = f(σ_λ(z)) + r_ρ(z)"), and LAX for continuous (Gaussian) choices;
//   - Gumbel-softmax straight-through (Jang et al., arXiv:1611.01144) as the biased reference.
// The control variate's parameters φ are trained to minimise the estimator's variance: the
// estimate is returned with the graph of mean(ĝ²), whose gradient in φ is that of the variance
// (paper §3.1: E[ĝ] does not depend on φ). Bernoulli and categorical variables, batched; the
// conditional reparameterisation z̃ ~ p(z | b) follows the paper's Appendix B.

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "joule/models/activation.h"

namespace joule::estimators {

/// The distribution family of the discrete choices.
enum class DiscreteFamily {
  kBernoulli,   ///< every logit is an independent Bernoulli; b ∈ {0, 1}, shape of the logits
  kCategorical  ///< the last dimension holds the K class logits; b is one-hot, shape of the logits
};

/// Parses "bernoulli" or "categorical".
DiscreteFamily parse_discrete_family(const std::string& name);
std::string to_string(DiscreteFamily family);  ///< "bernoulli" or "categorical"

/// The gradient estimators of DiscreteGradientEstimator.
enum class EstimatorKind {
  kReinforce,             ///< (f(b) − baseline)·∂ log p(b); unbiased; baseline: none, moving average or learned
  kRebar,                 ///< RELAX with c(z) = η·f(σ_λ(z)); unbiased; f must be differentiable on relaxed inputs
  kRelax,                 ///< RELAX with any learned surrogate (neural, REBAR plus neural, or a baseline); unbiased
  kGumbelStraightThrough  ///< ∂f(b + σ_λ(z) − stop(σ_λ(z))): biased, low variance; f must be differentiable
};

/// Parses "reinforce", "rebar", "relax" or "gumbel_st".
EstimatorKind parse_estimator_kind(const std::string& name);
std::string to_string(EstimatorKind kind);  ///< the name parse_estimator_kind() reads
std::vector<std::string> estimator_names();  ///< every name parse_estimator_kind() accepts

/// The uniform noise of one draw: u gives the relaxed sample z (and b = H(z)), v gives the
/// conditional sample z̃ ~ p(z | b). Both have the shape of the logits, entries in (0, 1).
struct RelaxationNoise {
  at::Tensor u;  ///< noise of z
  at::Tensor v;  ///< noise of z̃
};

/// Draws RelaxationNoise for `logits` from `gen`, clamped to [1e-6, 1 − 1e-6] in float32 (1e-12 in
/// float64) so no logarithm below sees 0 or 1.
RelaxationNoise draw_relaxation_noise(const at::Tensor& logits, at::Generator& gen);

/// The relaxed sample z(θ, u), differentiable in the logits. Bernoulli: z = log θ − log(1 − θ) +
/// log u − log(1 − u); categorical: z = log softmax(logits) − log(−log u) (Gumbel).
at::Tensor relaxed_sample(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& u);

/// The hard sample b = H(z): 1[z > 0] (Bernoulli) or one_hot(argmax z) (categorical), as the
/// logits' dtype, without gradient.
at::Tensor hard_sample(DiscreteFamily family, const at::Tensor& z);

/// The conditional relaxed sample z̃ ~ p(z | b, θ), differentiable in the logits (paper App. B).
/// Bernoulli: v′ = v(1 − θ) if b = 0, vθ + 1 − θ if b = 1, z̃ = logit θ + logit v′. Categorical, with
/// θ = softmax(logits): z̃_b = −log(−log v_b), z̃_i = −log(−log v_i / θ_i − log v_b) for i ≠ b.
at::Tensor conditional_relaxed_sample(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& b,
                                      const at::Tensor& v);

/// The noise v for which conditional_relaxed_sample() returns exactly z in value (the common
/// random numbers of the REBAR code): z̃ then equals z but keeps the conditional path's gradient.
/// Unbiased, because z given b is already a draw from p(z | b). Returned without gradient.
at::Tensor common_random_v(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& z, const at::Tensor& b);

/// The score ∂ log p(b | logits) / ∂ logits in closed form: b − σ(logits) (Bernoulli) or
/// b − softmax(logits) (categorical), shape of the logits.
at::Tensor score_function(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& b);

/// log p(b | logits) per sample, summed over every dimension but the first: [B].
at::Tensor log_prob(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& b);

/// The concrete relaxation σ(z/λ) (Bernoulli) or softmax(z/λ) over the last dimension
/// (categorical) at temperature λ > 0 (a tensor, so that λ can be learned).
at::Tensor soft_relaxation(DiscreteFamily family, const at::Tensor& z, const at::Tensor& temperature);

/// A function of a batch of samples [B, ...] returning one value per sample, [B]. Called on
/// hard samples b always, and on relaxed samples σ_λ(z) by REBAR, REBAR-plus-neural surrogates and
/// the straight-through estimator, which differentiate through it.
using BatchFunction = std::function<at::Tensor(const at::Tensor&)>;

/// The form of a learned control variate c_φ.
enum class SurrogateKind {
  kRebar,        ///< c(z) = η·f(σ_λ(z)); φ = (η, log λ)
  kNeural,       ///< c(z) = r_ρ([2σ_λ(z) − 1, context]) (toy.py's Q network); φ = (ρ, log λ)
  kRebarNeural,  ///< c(z) = η·f(σ_λ(z)) + r_ρ(…): the paper's surrogate for the discrete VAEs
  kBaseline      ///< c = r_ρ(context), or a learned constant without context: REINFORCE's learned baseline
};

/// Parses "rebar", "neural", "rebar_neural" or "baseline".
SurrogateKind parse_surrogate_kind(const std::string& name);
std::string to_string(SurrogateKind kind);  ///< the name parse_surrogate_kind() reads

/// Options for ControlVariate.
///
/// Example (toy.py's RELAX surrogate for one Bernoulli: Dense(10, tanh) → Dense(1)):
///   auto cv = ControlVariate(ControlVariateOptions(1).kind(SurrogateKind::kNeural).width(10));
struct ControlVariateOptions {
  /// `dim`: the number of choice logits per sample (the flattened shape of one sample's logits).
  ControlVariateOptions(int64_t dim) : dim_(dim) {}  // NOLINT(google-explicit-constructor)
  /// Logits per sample (Bernoulli: variables; categorical: variables × classes), >= 1.
  TORCH_ARG(int64_t, dim);
  /// Features of a per-sample context appended to the network's input (e.g. the VAE's x), >= 0.
  TORCH_ARG(int64_t, context_dim) = 0;
  /// The family of the choices (decides σ or softmax for the relaxation).
  TORCH_ARG(DiscreteFamily, family) = DiscreteFamily::kBernoulli;
  /// The surrogate's form.
  TORCH_ARG(SurrogateKind, kind) = SurrogateKind::kNeural;
  /// Hidden units of each layer of r_ρ (>= 1).
  TORCH_ARG(int64_t, width) = 10;
  /// Hidden layers of r_ρ (>= 1).
  TORCH_ARG(int64_t, depth) = 1;
  /// Activation of r_ρ's hidden layers (toy.py: tanh; the VAE code: ReLU-like).
  TORCH_ARG(Activation, activation) = Activation::kTanh;
  /// Initial η of the REBAR term (the reference code: 1).
  TORCH_ARG(double, eta) = 1.0;
  /// Initial relaxation temperature λ (> 0; the reference code: 0.5).
  TORCH_ARG(double, temperature) = 0.5;
  /// Learn λ (as log λ) with the rest of φ.
  TORCH_ARG(bool, learn_temperature) = true;
};

/// A learned control variate c_φ(z) for the RELAX family (one value per sample). Its parameters
/// are trained on the variance loss of DiscreteGradientEstimator, by their own optimizer.
class ControlVariateImpl : public torch::nn::Cloneable<ControlVariateImpl> {
 public:
  /// Builds the surrogate described by `options` (parameters initialised by reset()).
  explicit ControlVariateImpl(const ControlVariateOptions& options);

  /// c_φ(z) per sample, [B]. `z`: relaxed samples shaped like the logits, [B, ...]; `f` is called
  /// on σ_λ(z) for the REBAR term; `context` [B, context_dim] or undefined.
  at::Tensor forward(const at::Tensor& z, const BatchFunction& f, const at::Tensor& context = {});

  /// r_ρ on an explicit input [B, dim] (and context): LAX's surrogate for continuous samples.
  at::Tensor network(const at::Tensor& input, const at::Tensor& context = {});

  /// The relaxation temperature λ = exp(log λ) (a 0-d tensor with gradient when learned).
  at::Tensor temperature() const;

  /// True when the surrogate has a REBAR term η·f(σ_λ(z)).
  bool has_rebar_term() const;
  /// True when the surrogate depends on z (every kind but kBaseline).
  bool depends_on_z() const { return options.kind() != SurrogateKind::kBaseline; }

  /// (Re)creates the parameters: η and log λ from the options, r_ρ with PyTorch's default init.
  void reset() override;
  /// Re-draws r_ρ's weights from `gen` (PyTorch's default uniform init), η and λ from the options.
  void reset_parameters(at::Generator gen);

  /// Writes a one-line description.
  void pretty_print(std::ostream& stream) const override;

  ControlVariateOptions options;  ///< the options it was built with
  at::Tensor eta;                 ///< η (a parameter for the REBAR kinds, else undefined)
  at::Tensor log_temperature;     ///< log λ (a parameter when learned, else a buffer)
  at::Tensor constant;            ///< the learned baseline without context (kBaseline, context_dim = 0)
  std::vector<torch::nn::Linear> layers;  ///< r_ρ's layers (empty for kRebar)
};
/// Module holder of ControlVariateImpl.
TORCH_MODULE(ControlVariate);

/// Options for DiscreteGradientEstimator.
struct DiscreteEstimatorOptions {
  /// The estimator.
  TORCH_ARG(EstimatorKind, kind) = EstimatorKind::kRelax;
  /// The family of the choices.
  TORCH_ARG(DiscreteFamily, family) = DiscreteFamily::kBernoulli;
  /// Draw z̃ from the same noise as z (common_random_v()): unbiased, usually lower variance; the
  /// REBAR VAE code's default, not toy.py's.
  TORCH_ARG(bool, common_random_numbers) = false;
  /// REINFORCE without a learned baseline: subtract a moving average of f with this decay
  /// (0 = no baseline). The average is of earlier batches only, so the estimate stays unbiased.
  TORCH_ARG(double, baseline_decay) = 0.0;
  /// The straight-through estimator's relaxation temperature (> 0).
  TORCH_ARG(double, straight_through_temperature) = 1.0;
};

/// One estimate for a batch of logits.
struct GradientEstimate {
  /// ĝ_i, the estimate of ∂E[f(b_i)]/∂logits_i per sample, shaped like the logits. For a model
  /// whose output is the logits, back-propagate it: logits.backward(grad_logits / B) (detached).
  at::Tensor grad_logits;
  /// mean(ĝ²) over the batch and the logits, with its graph to the control variate's parameters
  /// φ (its gradient in φ is the variance's): train φ on it with their own optimizer. Undefined
  /// when nothing is learned (REINFORCE without a learned baseline, straight-through).
  at::Tensor variance_loss;
  at::Tensor f;  ///< f(b) per sample, [B], detached
  at::Tensor b;  ///< the hard samples, shaped like the logits
};

/// ∂/∂logits E_{b ~ p(b | logits)}[f(b)] for Bernoulli or categorical choices, batched: row i of
/// the logits is sample i's distribution and gets its own estimate.
///
/// Example (RELAX on a black-box f of 3 Bernoullis):
///   auto cv = ControlVariate(ControlVariateOptions(3).kind(SurrogateKind::kNeural));
///   DiscreteGradientEstimator est(DiscreteEstimatorOptions().kind(EstimatorKind::kRelax), cv);
///   auto g = est.estimate(logits, f, gen);
///   logits.backward(g.grad_logits.detach() / logits.size(0));          // the model's gradient
///   auto dphi = torch::autograd::grad({g.variance_loss}, cv->parameters());  // the surrogate's
///
/// The control variate sees detached logits, so the surrogate's gradient never reaches the
/// model (the bug fixed in pydrobert-pytorch PR #9), and z̃ is a function of the logits, so its
/// path is in ĝ (duvenaud/relax issue #6).
class DiscreteGradientEstimator {
 public:
  /// `control_variate` is required for REBAR (kind kRebar) and RELAX (any kind), optional for
  /// REINFORCE (a kBaseline surrogate: the learned baseline) and unused by straight-through.
  explicit DiscreteGradientEstimator(DiscreteEstimatorOptions options = {}, ControlVariate control_variate = nullptr);

  /// One estimate with noise drawn from `gen`. `context` [B, context_dim] is passed to the
  /// control variate (undefined: none). `relaxed_f`, when given, replaces f on relaxed inputs
  /// (REBAR's term, straight-through): for choices that feed later random choices, it pushes the
  /// relaxed sample through relaxed versions of them (the multi-layer VAEs of arXiv:1703.07370
  /// §5); it must agree with f wherever the relaxation is hard.
  GradientEstimate estimate(const at::Tensor& logits, const BatchFunction& f, at::Generator& gen,
                            const at::Tensor& context = {}, const BatchFunction& relaxed_f = {});
  /// One estimate with the given noise (for tests and common random numbers across estimators).
  GradientEstimate estimate(const at::Tensor& logits, const BatchFunction& f, const RelaxationNoise& noise,
                            const at::Tensor& context = {}, const BatchFunction& relaxed_f = {});

  /// The moving-average baseline (REINFORCE with baseline_decay > 0), 0 before the first batch.
  double baseline() const { return baseline_; }
  /// Restores the moving-average baseline (checkpoints).
  void set_baseline(double value, int64_t batches) {
    baseline_ = value;
    baseline_batches_ = batches;
  }
  /// Batches folded into the moving-average baseline so far.
  int64_t baseline_batches() const { return baseline_batches_; }

  const DiscreteEstimatorOptions& options() const { return options_; }  ///< the options
  ControlVariate control_variate() const { return cv_; }                 ///< the surrogate (may be null)

 private:
  DiscreteEstimatorOptions options_;
  ControlVariate cv_;
  double baseline_ = 0;
  int64_t baseline_batches_ = 0;
};

/// LAX's estimate for Gaussian choices x = μ + σ·ε (paper §3.2, eq. 5), per sample.
struct GaussianGradientEstimate {
  at::Tensor grad_mean;     ///< estimate of ∂E[f(x_i)]/∂μ_i, shaped like the mean
  at::Tensor grad_log_std;  ///< estimate of ∂E[f(x_i)]/∂log σ_i, shaped like log_std
  at::Tensor variance_loss; ///< mean of both estimates squared, with its graph to the surrogate
  at::Tensor f;             ///< f(x) per sample, [B], detached
  at::Tensor x;             ///< the samples
};

/// LAX: ĝ = [f(x) − c_φ(x)]·∂ log N(x; μ, σ) + ∂c_φ(x) with x = μ + σε reparameterised, for any
/// (black-box) f; c_φ is control_variate->network(x, context). `mean` and `log_std` are [B, D]
/// (log_std may broadcast). Unbiased for every c_φ.
GaussianGradientEstimate lax_gaussian(const at::Tensor& mean, const at::Tensor& log_std, const BatchFunction& f,
                                      ControlVariate control_variate, at::Generator& gen,
                                      const at::Tensor& context = {});

/// The variance of a stream of gradient estimates, per element, online: exponential moving
/// averages of g and g² with decay d and Adam's bias correction (d = 0: the last estimate only,
/// whose variance is 0). Use it to compare estimators on your own f.
class RunningGradientVariance {
 public:
  /// `decay` in [0, 1): the weight of the past.
  explicit RunningGradientVariance(double decay = 0.99);
  /// Folds one estimate (any shape, fixed across calls) into the averages.
  void update(const at::Tensor& estimate);
  /// The per-element variance E[g²] − E[g]² (clamped at 0), shaped like the estimates.
  at::Tensor variance() const;
  /// The per-element mean of the estimates.
  at::Tensor mean() const;
  /// mean over elements of log variance (the papers' "log variance" curves); −inf before two updates.
  double mean_log_variance() const;
  int64_t count() const { return count_; }  ///< estimates folded in so far
  /// The averages and the count, {E[g], E[g²], count} (uncorrected), for checkpoints.
  std::vector<at::Tensor> state() const;
  /// Restores what state() returned.
  void set_state(const std::vector<at::Tensor>& state);

 private:
  double decay_;
  int64_t count_ = 0;
  at::Tensor m1_, m2_;
};

}  // namespace joule::estimators
