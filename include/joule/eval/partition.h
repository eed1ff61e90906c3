#pragma once
// The partition function of RBMs: exact by enumeration, and annealed importance sampling (AIS)
// with forward and reverse estimates; log-likelihoods from either.
//
// Anchors: Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief
// networks" (AIS with a base-rate initial model, §3–4); Burda, Grosse & Salakhutdinov (2015),
// "Accurate and conservative estimates of MRF log-likelihood using reverse annealing" and
// Grosse, Ghahramani & Adams (2015), bidirectional Monte Carlo (the reverse estimate).

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <limits>
#include <string>
#include <vector>

#include "joule/models/rbm.h"

namespace joule::eval {

/// log Z of an RBM by enumerating the smaller discrete layer in float64 with a streaming
/// log-sum-exp: the hidden layer (Z = Σ_h exp(cᵀh) Π_i ∫/Σ_{v_i} ..., closed form per visible
/// unit; the only choice for Gaussian visibles) or, for Bernoulli visibles, the visible layer
/// (Z = Σ_v exp(−F(v))). Cost ∝ 2^min(V, H)·max(V, H): about a second at 20 units, minutes at 25.
/// Refuses when the smaller enumerable layer has more than `max_units` units.
double log_partition_exact(RbmImpl& rbm, int64_t max_units = 25);

/// Number of units log_partition_exact() would enumerate (the smaller enumerable layer).
int64_t exact_enumeration_units(const RbmImpl& rbm);

/// log p(v) = −F(v) − log Z per sample, [N] float64.
torch::Tensor log_likelihood(RbmImpl& rbm, const torch::Tensor& v, double log_z);

/// How AIS spaces its inverse temperatures 0 = β_0 < β_1 < … < β_K = 1.
enum class AisSchedule {
  kLinear,                ///< evenly spaced
  kSalakhutdinovMurray,   ///< S&M 2008: 500 steps on [0, 0.5], 4000 on [0.5, 0.9], 10000 on [0.9, 1], scaled to K
};
/// Parses "linear" or "sm" (also "salakhutdinov-murray").
AisSchedule parse_ais_schedule(const std::string& name);
/// The K + 1 inverse temperatures of a schedule (K >= 1).
std::vector<double> ais_betas(AisSchedule schedule, int64_t steps);

/// Options for log_partition_ais().
///
/// Example:
///   auto r = joule::eval::log_partition_ais(*rbm, joule::eval::AisOptions()
///                .runs(100).steps(14500).base(joule::RbmBase::from_data(*rbm, train_x)).reverse(true)
///                .reverse_init(chains), gen);
///   // r.log_z ± 3 r.log_z_se; trust it when r.reverse_log_z agrees within the error bars.
struct AisOptions {
  /// Fails unless runs >= 2, steps >= 1, reverse_burn_in >= 0 and an explicit `betas` starts at
  /// 0, ends at 1 and increases strictly.
  void validate() const;
  /// Independent annealing runs M.
  TORCH_ARG(int64_t, runs) = 100;
  /// Number of intermediate distributions K (S&M 2008 use 14500).
  TORCH_ARG(int64_t, steps) = 14500;
  /// Spacing of the inverse temperatures.
  TORCH_ARG(AisSchedule, schedule) = AisSchedule::kSalakhutdinovMurray;
  /// Explicit schedule (0 first, 1 last, increasing); overrides steps and schedule.
  TORCH_ARG(std::vector<double>, betas) = {};
  /// Initial model; undefined tensors mean RbmBase::of_model(rbm). S&M recommend the
  /// base-rate model of the training data (RbmBase::from_data).
  TORCH_ARG(RbmBase, base) = {};
  /// Also run reverse AIS (from the RBM to the base), which gives log Z from above.
  TORCH_ARG(bool, reverse) = false;
  /// Start states of reverse AIS [M', ...]: samples of the RBM (exact ones make the reverse
  /// estimate a stochastic upper bound). Undefined: the forward runs' final states resampled
  /// in proportion to their importance weights (sampling-importance-resampling).
  TORCH_ARG(torch::Tensor, reverse_init) = {};
  /// Gibbs sweeps at β = 1 applied to the reverse start states first (spreads resampled
  /// duplicates; moves approximate samples towards the RBM).
  TORCH_ARG(int64_t, reverse_burn_in) = 100;
};

/// Result of log_partition_ais().
struct AisResult {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();  ///< value of fields not computed
  /// Forward estimate log Ẑ = log Z_A + log mean(w). Unbiased in Z, so log Ẑ is a stochastic
  /// lower bound on log Z (Jensen): it underestimates when the annealing is too short.
  double log_z = nan;
  /// Delta-method standard error of log Ẑ: sd(w) / (mean(w) √M).
  double log_z_se = nan;
  ///@{
  /// S&M's interval log(Ẑ ± 3 σ̂_Z) (the lower end is −inf when σ̂_Z ≥ Ẑ / 3).
  double log_z_lower = nan, log_z_upper = nan;
  ///@}
  /// Effective sample size (Σw)² / Σw² of the forward weights, in [1, M].
  double ess = nan;
  /// Reverse estimate log Z_A − log mean(w_rev): a stochastic upper bound on log Z when the
  /// start states are exact samples of the RBM (Burda et al. 2015). NaN unless requested.
  double reverse_log_z = nan;
  double reverse_log_z_se = nan;  ///< standard error of reverse_log_z (NaN unless requested)
  double reverse_ess = nan;       ///< effective sample size of the reverse weights (NaN unless requested)
  /// log Z of the base model.
  double log_z_base = nan;
  torch::Tensor log_weights;          ///< [M] forward log-weights
  torch::Tensor reverse_log_weights;  ///< [M] reverse log-weights (undefined unless requested)
  torch::Tensor samples;              ///< [M, V] final forward states (approximate RBM samples)

  /// reverse_log_z − log_z: near 0 (within a few standard errors) when AIS is reliable; large
  /// when the schedule is too short or the chains do not mix.
  double gap() const { return reverse_log_z - log_z; }
};

/// log Z of an RBM by AIS (Salakhutdinov & Murray 2008, Algorithm 1 with the intermediate
/// distributions p_k(v) ∝ exp(−F_{β_k}(v)) of TemperedRbm and one Gibbs sweep per step).
AisResult log_partition_ais(RbmImpl& rbm, const AisOptions& options, at::Generator& gen);

/// log-mean-exp of a 1-D tensor and the delta-method standard error of it.
std::pair<double, double> log_mean_exp_with_se(const torch::Tensor& log_w);

}  // namespace joule::eval
