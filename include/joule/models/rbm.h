#pragma once
// Restricted Boltzmann machines (Bernoulli–Bernoulli and Gaussian–Bernoulli) as energy models,
// with block Gibbs sampling and the tempered family used by parallel tempering and AIS.
//
// Units: visible v ∈ {0,1}^V (Bernoulli) or ℝ^V (Gaussian), hidden h ∈ {0,1}^H. Parameters:
// weights W [H, V] (row j = the filter of hidden unit j, as sklearn's components_), visible
// bias b [V], hidden bias c [H], and for Gaussian visibles the log-variances z = log σ² [V].
//
//   Bernoulli–Bernoulli:  E(v, h) = −bᵀv − cᵀh − hᵀW v
//   Gaussian–Bernoulli:   E(v, h) = Σᵢ (vᵢ − bᵢ)² / (2σᵢ²) − cᵀh − hᵀW (v / σ²)
//
// The Gaussian form is that of Cho, Ilin & Raiko (2011), "Improved learning of
// Gaussian-Bernoulli restricted Boltzmann machines", eq. 1 (the visibles enter the interaction
// divided by σ², so the conditional mean of v does not depend on σ). Conditionals:
//   p(h_j = 1 | v) = sigmoid(c_j + W_j ṽ),  ṽ = v (Bernoulli) or v / σ² (Gaussian)
//   Bernoulli:  p(v_i = 1 | h) = sigmoid(b_i + (Wᵀh)_i)
//   Gaussian:   v_i | h ~ N(b_i + (Wᵀh)_i, σ_i²)
// Free energy F(v) = −log Σ_h exp(−E(v, h)) (Hinton 2002; Hinton 2010, "A practical guide", §16):
//   Bernoulli:  F(v) = −bᵀv − Σ_j softplus(c_j + W_j v)
//   Gaussian:   F(v) = Σᵢ (vᵢ − bᵢ)² / (2σᵢ²) − Σ_j softplus(c_j + W_j (v / σ²))
// so p(v) = exp(−F(v)) / Z. `energy(v)` returns F(v): an RBM plugs into every generic sampler,
// objective and evaluation of Joule, and ∇_v log p(v) = −∇_v F(v) is analytic (Gaussian case):
//   −∇_v F(v) = −(v − b) / σ² + (Wᵀ sigmoid(c + W ṽ)) / σ².
//
// With σ = 1 the Gaussian–Bernoulli RBM is the goodness-of-fit benchmark of Liu, Lee & Jordan
// (2016) and Grathwohl et al. (2020, LSD), written there with hidden units s ∈ {−1, +1}:
//   p(x, s) ∝ exp(½ xᵀB s + bᵀx + cᵀs − ½‖x‖²),  B [V, H].
// Substituting s = 2h − 1 gives this class with W = Bᵀ, visible bias b − ½ B·1 and hidden bias
// 2c: see gaussian_rbm_from_pm1_hidden().

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "joule/core/energy.h"

namespace joule {

/// The type of the visible units.
enum class RbmVisible { kBernoulli, kGaussian };
/// Parses "bernoulli" / "binary" and "gaussian".
RbmVisible parse_rbm_visible(const std::string& name);
/// "bernoulli" or "gaussian".
std::string to_string(RbmVisible v);

/// Options for Rbm.
///
/// Example:
///   auto rbm = joule::Rbm(joule::RbmOptions(784, 256).event_shape({1, 28, 28}));
///   auto gb  = joule::Rbm(joule::RbmOptions(10, 5).visible_type(joule::RbmVisible::kGaussian)
///                             .sigma(1.0).learn_sigma(false));
struct RbmOptions {
  /// Options for `visible` visible and `hidden` hidden units.
  RbmOptions(int64_t visible, int64_t hidden) : visible_(visible), hidden_(hidden) {}
  /// Throws unless visible, hidden > 0, sigma > 0, init_std ≥ 0 (all finite), learn_sigma only
  /// with Gaussian visibles, and event_shape (if set) has `visible` elements.
  void validate() const;
  /// Number of visible units V (inputs [N, ...] are flattened to [N, V]).
  TORCH_ARG(int64_t, visible);
  /// Number of hidden units H.
  TORCH_ARG(int64_t, hidden);
  /// Bernoulli (binary) or Gaussian (real-valued) visible units.
  TORCH_ARG(RbmVisible, visible_type) = RbmVisible::kBernoulli;
  /// Gaussian visibles: initial (or fixed) standard deviation σ of every visible unit.
  TORCH_ARG(double, sigma) = 1.0;
  /// Gaussian visibles: learn log σ² (Cho et al. 2011) instead of keeping σ fixed.
  TORCH_ARG(bool, learn_sigma) = false;
  /// Weights start as N(0, init_std²) (Hinton's guide §8: 0.01); biases start at 0.
  TORCH_ARG(double, init_std) = 0.01;
  /// Shape of one sample (e.g. {1, 28, 28}); empty means {visible}.
  TORCH_ARG(std::vector<int64_t>, event_shape) = {};
};

/// A restricted Boltzmann machine; `energy(v)` is the free energy F(v) (see the file comment
/// for the exact energy conventions).
///
/// Methods taking visible states accept [N, ...] with V elements per sample and any floating
/// dtype (converted to the parameters' dtype); methods returning visible states return [N, V].
/// Every stochastic method takes an explicit generator.
class RbmImpl : public EnergyModel {
 public:
  /// Builds the parameters (see reset()).
  explicit RbmImpl(const RbmOptions& options);

  /// Validates the options and (re)registers the parameters: W ~ N(0, init_std²) from the global
  /// generator, zero biases, log σ² = 2 log sigma for Gaussian visibles.
  void reset();
  /// Re-draws W ~ N(0, init_std²) from `gen` and resets the biases to 0 and σ to options.sigma.
  void reset_parameters(at::Generator gen);
  /// Hinton's guide §8.1: visible biases log(p̂ᵢ / (1 − p̂ᵢ)) from the data's pixel means
  /// (clamped to [eps, 1 − eps]) for Bernoulli visibles; the data mean for Gaussian visibles
  /// (and, with learn_sigma, σ² = the data variance).
  void init_visible_from_data(const torch::Tensor& data, double eps = 1e-3);

  /// F(v): [N, ...] -> [N]. Differentiable in v and the parameters (twice).
  torch::Tensor energy(const torch::Tensor& v) override;
  /// F(v) and ∇_v F(v) in closed form (no autograd).
  EnergyGrad energy_and_grad(const torch::Tensor& v) override;
  std::vector<int64_t> event_shape() const override;
  /// Prints "joule::Rbm(visible=..., hidden=..., visible_type=...)" (and σ settings if Gaussian).
  void pretty_print(std::ostream& stream) const override;

  /// Same as energy().
  torch::Tensor free_energy(const torch::Tensor& v) { return energy(v); }
  /// E(v, h) for v [N, ...] and h [N, H]: [N].
  torch::Tensor joint_energy(const torch::Tensor& v, const torch::Tensor& h);

  /// c + W ṽ: [N, H] (ṽ = v, or v / σ² for Gaussian visibles).
  torch::Tensor hidden_logits(const torch::Tensor& v);
  /// p(h = 1 | v): [N, H].
  torch::Tensor hidden_probs(const torch::Tensor& v);
  /// E[v | h]: sigmoid(b + Wᵀh) or b + Wᵀh, [N, V].
  torch::Tensor visible_mean(const torch::Tensor& h);
  /// h ~ p(h | v), as 0/1 in the parameters' dtype.
  torch::Tensor sample_hidden(const torch::Tensor& v, at::Generator& gen);
  /// v ~ p(v | h), [N, V].
  torch::Tensor sample_visible(const torch::Tensor& h, at::Generator& gen);
  /// `steps` block Gibbs sweeps v → h → v. Returns sampled visibles with the shape of `v`
  /// (with `mean_last`, the last half-step returns E[v | h] instead of a sample: pictures).
  torch::Tensor gibbs(const torch::Tensor& v, int64_t steps, at::Generator& gen, bool mean_last = false);

  /// Whether the visible units are Gaussian.
  bool gaussian() const { return options.visible_type() == RbmVisible::kGaussian; }
  /// V, the number of visible units.
  int64_t num_visible() const { return options.visible(); }
  /// H, the number of hidden units.
  int64_t num_hidden() const { return options.hidden(); }
  /// σ² [V] (Gaussian visibles only).
  torch::Tensor variance() const;
  /// v as [N, V] in the parameters' dtype and device (checks the element count).
  torch::Tensor flat(const torch::Tensor& v) const;
  /// ṽ = v or v / σ², for [N, V] input.
  torch::Tensor scaled_visible(const torch::Tensor& v_flat) const;

  RbmOptions options;  ///< the options it was built with
  torch::Tensor weight;        ///< W [H, V]
  torch::Tensor visible_bias;  ///< b [V]
  torch::Tensor hidden_bias;   ///< c [H]
  /// log σ² [V] for Gaussian visibles (a parameter with learn_sigma, a buffer otherwise);
  /// undefined for Bernoulli visibles.
  torch::Tensor log_var;
};
/// The module holder of RbmImpl (a shared pointer to it).
TORCH_MODULE(Rbm);

/// 0/1 draws with P(1) = p, same dtype as p: (U < p) with U uniform (24 bits). For float32 on
/// the CPU, U comes from SplitMix64 in counter mode keyed by one 64-bit draw of `gen` (about 3×
/// faster than torch::rand, itself 4× faster than at::bernoulli, on the small blocks RBM
/// sampling works on); otherwise from torch::rand. Either way `gen` alone decides the draws.
torch::Tensor sample_bernoulli(const torch::Tensor& p, at::Generator& gen);

/// The Gaussian–Bernoulli RBM (σ = 1) equal to p(x, s) ∝ exp(½ xᵀB s + bᵀx + cᵀs − ½‖x‖²) with
/// s ∈ {−1, +1}^H (Liu et al. 2016; LSD's GB-RBM target): W = Bᵀ, visible bias b − ½B·1,
/// hidden bias 2c. B [V, H], b [V], c [H].
Rbm gaussian_rbm_from_pm1_hidden(const torch::Tensor& B, const torch::Tensor& b, const torch::Tensor& c);

/// The base distribution p_A of tempered RBMs: independent visible units (Bernoulli with
/// logits `bias`, or Gaussian N(bias, exp(log_var))) and uniform hidden units.
struct RbmBase {
  torch::Tensor bias;     ///< [V]
  torch::Tensor log_var;  ///< [V], Gaussian visibles only
  /// The model's own visible layer (tempering then scales only cᵀh + hᵀWṽ).
  static RbmBase of_model(const RbmImpl& rbm);
  /// Salakhutdinov & Murray (2008) §4.2: the base-rate model of the data (pixel-mean logits,
  /// clamped to [eps, 1 − eps]; or the data mean and variance for Gaussian visibles).
  static RbmBase from_data(const RbmImpl& rbm, const torch::Tensor& data, double eps = 1e-3);
};

/// The family p_β(v, h) ∝ exp(−(1 − β) E_A(v) − β E(v, h)), β ∈ [0, 1], between the base p_A
/// (β = 0, with uniform hidden units) and the RBM (β = 1). Used by parallel tempering and by
/// AIS (Salakhutdinov & Murray 2008, eq. 13–15). Every method takes one β per row ([N] tensor)
/// so that chains at different temperatures run in one matrix product. No autograd.
class TemperedRbm {
 public:
  /// The family between `base` and `rbm` (borrowed: it must outlive this object). `base` needs
  /// V entries (and a log-variance for Gaussian visibles); it is moved to the RBM's dtype and device.
  TemperedRbm(RbmImpl& rbm, RbmBase base);

  /// p_β(h = 1 | v) = sigmoid(β (c + W ṽ)), v [N, ...]: [N, H].
  torch::Tensor hidden_probs(const torch::Tensor& v, const torch::Tensor& beta) const;
  /// h ~ p_β(h | v), as 0/1: [N, H].
  torch::Tensor sample_hidden(const torch::Tensor& v, const torch::Tensor& beta, at::Generator& gen) const;
  /// v ~ p_β(v | h), [N, V]: Bernoulli with logits (1 − β) b_A + β (b + Wᵀh), or the Gaussian
  /// with precision (1 − β)/σ_A² + β/σ².
  torch::Tensor sample_visible(const torch::Tensor& h, const torch::Tensor& beta, at::Generator& gen) const;
  /// −log Σ_h exp(−(1 − β) E_A(v) − β E(v, h)), v [N, V]: [N] (float64).
  torch::Tensor free_energy(const torch::Tensor& v, const torch::Tensor& beta) const;
  /// E(v, h) − E_A(v): the part of the energy that tempering scales, [N] (float64).
  torch::Tensor interaction_energy(const torch::Tensor& v, const torch::Tensor& h) const;
  /// log Z at β = 0: H log 2 + log Z_A.
  double log_z_base() const;
  /// n exact samples of the base visible distribution.
  torch::Tensor sample_base(int64_t n, at::Generator& gen) const;

  /// The RBM (β = 1).
  RbmImpl& rbm() const { return rbm_; }
  /// The base distribution (β = 0).
  const RbmBase& base() const { return base_; }

 private:
  RbmImpl& rbm_;
  RbmBase base_;
};

}  // namespace joule
