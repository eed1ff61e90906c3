#pragma once
// Goodness-of-fit tests of a model q, known through its score s_q = ∇ₓ log q̃ only, against a
// sample x₁..xₙ from an unknown p. H₀: p = q.
//
//  • Kernel Stein discrepancy (Liu, Lee & Jordan 2016, arXiv:1602.03253; Chwialkowski, Strathmann
//    & Gretton 2016, arXiv:1602.02964): the U-statistic
//      KSD² = 1/(n(n−1)) Σ_{i≠j} u_q(xᵢ, xⱼ),
//      u_q(x, y) = s(x)ᵀs(y) k + s(x)ᵀ∇_y k + s(y)ᵀ∇_x k + tr ∇_x∇_y k,
//    with the RBF kernel k = exp(−‖x − y‖²/(2h²)) and h the median pairwise distance; the
//    p-value comes from a wild (Rademacher multiplier) bootstrap of the degenerate U-statistic.
//  • Learned Stein discrepancy test (Grathwohl et al. 2020, arXiv:2002.05616 §5; lsd_test.py):
//    a critic f is trained on one split to maximise the test power mean t / std t of the Stein
//    statistic t(x) = s_q(x)ᵀf(x) + tr ∇ₓf(x); on held-out data, with the exact trace,
//    z = √n_test · mean t / std t is N(0, 1) under H₀ (Stein's identity: E_p t = 0) and the
//    test rejects when z > Φ⁻¹(1 − α) (one-sided z-test).

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "joule/core/energy.h"
#include "joule/estimators/trace.h"

namespace joule::eval {

/// x [n, ...] -> s_q(x) (same shape, no graph needed).
using ScoreFunction = std::function<at::Tensor(const at::Tensor&)>;

/// The score of an energy model, −∇ₓE/T (the model must outlive the function).
ScoreFunction model_score(EnergyModel& model);

/// What a test reports.
struct GofResult {
  std::string test;        ///< "ksd" or "lsd"
  double statistic = 0;    ///< KSD: n·KSD² (U-statistic); LSD: z
  double p_value = 1;      ///< p-value of the statistic under the null hypothesis p = q
  double alpha = 0.05;     ///< the test's significance level
  bool reject = false;     ///< p_value < alpha
  std::vector<std::pair<std::string, double>> details;  ///< bandwidth, mean, std, n_test, ...
};

// ---------------------------------------------------------------- kernel Stein discrepancy

/// Median of the pairwise Euclidean distances of the rows of x (over at most `max_points` rows
/// at evenly spaced positions). Float64.
double median_pairwise_distance(const at::Tensor& x, int64_t max_points = 2000);

/// The Stein kernel matrix u_q(xᵢ, xⱼ) [n, n] (float64, diagonal included) for the RBF kernel
/// with bandwidth h, given the scores sx = s_q(x).
at::Tensor ksd_stein_kernel(const at::Tensor& x, const at::Tensor& sx, double bandwidth);

/// The unbiased KSD² U-statistic for x and its scores.
double ksd_u_statistic(const at::Tensor& x, const at::Tensor& sx, double bandwidth);

/// Options for ksd_test().
struct KsdTestOptions {
  /// RBF bandwidth h; 0 = median heuristic.
  TORCH_ARG(double, bandwidth) = 0.0;
  /// Wild-bootstrap draws for the null distribution (the LSD paper's baseline uses 1000).
  TORCH_ARG(int64_t, bootstrap) = 1000;
  /// Significance level, in (0, 1).
  TORCH_ARG(double, alpha) = 0.05;
};

/// KSD test: statistic n·KSD²; bootstrap draws n·Σ_{i≠j} wᵢwⱼuᵢⱼ/(n(n−1)) with Rademacher w;
/// p = (1 + #{draws ≥ statistic}) / (1 + draws).
GofResult ksd_test(const ScoreFunction& score, const at::Tensor& x, const KsdTestOptions& options, at::Generator gen);

// ---------------------------------------------------------------- learned Stein discrepancy

/// Options for lsd_test(). Defaults: the paper's RBM README command
/// (--n_iters 1000 --l2 .5 --batch_size 800 --weight_decay .0005 --dropout --maximize_power --val_power).
struct LsdTestOptions {
  /// Fractions of the sample used to train the critic and to select it; the rest is the test
  /// split (800 / 100 / 100 of 1000 in the paper). This one: the training fraction (> 0).
  TORCH_ARG(double, train_fraction) = 0.8;
  /// Fraction of the sample used to select the critic (> 0; with train_fraction, sum < 1).
  TORCH_ARG(double, val_fraction) = 0.1;
  /// Critic 50-300-300-50 style MLP with learned-β Swish: units per hidden layer.
  TORCH_ARG(int64_t, width) = 300;
  /// Hidden layers of the critic.
  TORCH_ARG(int64_t, depth) = 2;
  /// Dropout probability after each hidden activation while training the critic.
  TORCH_ARG(double, dropout) = 0.5;
  /// Critic training iterations (>= 1).
  TORCH_ARG(int64_t, iterations) = 1000;
  /// Critic minibatch (drawn without replacement from the training split; capped at its size).
  TORCH_ARG(int64_t, batch_size) = 800;
  /// Adam learning rate of the critic (> 0).
  TORCH_ARG(double, lr) = 1e-3;
  /// Adam weight decay of the critic.
  TORCH_ARG(double, weight_decay) = 5e-4;
  /// λ of the λ‖f‖² penalty.
  TORCH_ARG(double, l2) = 0.5;
  /// Train on −mean/std (test power) rather than −mean.
  TORCH_ARG(bool, maximize_power) = true;
  /// Trace estimator during training (the statistic on held-out data always uses the exact trace).
  TORCH_ARG(ProbeKind, probe) = ProbeKind::kGaussian;
  /// Hutchinson probes per sample during training.
  TORCH_ARG(int64_t, probes) = 1;
  /// Use the critic's fused step and exact statistic (SteinCritic::stein_loss_backward and
  /// stein_statistic_exact: same values, no autograd graph); false forces the generic
  /// double-backward and backward-per-dimension paths.
  TORCH_ARG(bool, fused) = true;
  /// Iterations between validations (exact trace on the validation and test splits).
  TORCH_ARG(int64_t, val_every) = 100;
  /// Also validate after the last iteration. lsd_test.py validates only at multiples of
  /// val_every (0, 100, ..., 900 of 1000), so reference() turns this off.
  TORCH_ARG(bool, validate_last) = true;
  /// Significance level, in (0, 1).
  TORCH_ARG(double, alpha) = 0.05;

 public:  // (TORCH_ARG leaves the members private)
  /// Exactly the settings of the paper's RBM README command run by lsd_test.py: the defaults,
  /// validating at iterations 0, 100, ..., 900 only.
  static LsdTestOptions reference() { return LsdTestOptions().validate_last(false); }
};

/// The LSD test. `x` [n, D] is split in order (shuffle beforehand if its order is not random).
/// details: mean and std of t on the test split at the selected critic, the iteration picked,
/// n_train / n_val / n_test.
GofResult lsd_test(const ScoreFunction& score, const at::Tensor& x, const LsdTestOptions& options, at::Generator gen);

/// One-sided p-value of a standard-normal statistic: 1 − Φ(z).
double normal_sf(double z);
/// Φ⁻¹(p) (Acklam's rational approximation refined by one Newton step; |error| < 1e-12).
double normal_quantile(double p);

}  // namespace joule::eval
