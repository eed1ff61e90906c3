#pragma once
// Nearest-neighbour distances and the Kozachenko–Leonenko entropy estimate, for improved
// contrastive divergence (Du et al., arXiv:2012.01316 §3.2: the sampler's entropy term
// −0.3 · mean log dᵢ, dᵢ the distance of a negative sample to its nearest buffered state) and for
// measuring the entropy of samples.
//
// The scalar estimator joule::eval::knn_entropy(x [N, D], k = 3) lives in sample_stats.h (an
// exact pruned search for large N, 2-D input); knn_entropy_terms here computes the same
// estimate for [N, d...] input by brute force in chunks and returns its parts. Both give the same
// value on the same points (tests/unit/test_entropy.cpp checks it).

#include <ATen/ATen.h>

#include <cstdint>

#include "joule/eval/sample_stats.h"

namespace joule::eval {

/// ψ(x) = d/dx log Γ(x) for x > 0: the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 12, then the
/// asymptotic series to x⁻¹⁰ (truncation error < 1e-14 there; ≤ 1e-13 absolute overall, e.g.
/// ψ(1) = −γ). Error for x ≤ 0 or NaN.
double digamma(double x);

/// log V_d, V_d = π^{d/2} / Γ(d/2 + 1) the volume of the d-dimensional unit ball (d ≥ 1).
double log_unit_ball_volume(int64_t d);

/// Distances below this are clamped in nearest_neighbour_distances: the squared distance is
/// clamped at kMinSquaredDistance before the square root, so a zero distance reads as 1e-10
/// (log d = −23) with a zero gradient instead of an infinite one (d√s/ds = 1/(2√s)) or a NaN.
inline constexpr double kMinSquaredDistance = 1e-20;

/// [N] Euclidean distance from each row of x [N, ...] to its k-th nearest row of ref [M, ...]
/// (features flattened; x and ref have the same feature count and dtype/device compatible).
/// With exclude_self, x and ref must be the same points in the same order (N == M) and row i of
/// ref is skipped for x_i, so the zero self-distance does not count as a neighbour (an exact
/// duplicate at another row still does).
///
/// The neighbour is chosen without gradient, in chunks of rows that keep the [rows, M] distance
/// temporaries under ~64 MB; the returned distance ‖x_i − ref_j‖ is then recomputed from the
/// coordinate differences with autograd, so it is differentiable w.r.t. x (and ref, through the
/// chosen rows) and exact even where ‖a‖² + ‖b‖² − 2a·b would cancel. Clamped below at
/// √kMinSquaredDistance = 1e-10 (zero gradient there). Needs M ≥ k (M − 1 ≥ k with exclude_self).
at::Tensor nearest_neighbour_distances(const at::Tensor& x, const at::Tensor& ref, int64_t k = 1,
                                       bool exclude_self = false);

/// The parts of the Kozachenko–Leonenko estimate (Kraskov, Stögbauer & Grassberger, Phys. Rev.
/// E 69, 066138 (2004), Eq. 20, with the Euclidean norm):
///   Ĥ = ψ(N) − ψ(k) + log V_d + (d/N) Σᵢ log εᵢ,
/// εᵢ the distance from xᵢ to its k-th nearest other point (a radius), d the feature count.
struct KnnEntropyTerms {
  ///@{
  /// Number of points N, feature count d and neighbour rank k.
  int64_t n = 0, d = 0, k = 0;
  ///@}
  double digamma_n = 0;      ///< ψ(N)
  double digamma_k = 0;      ///< ψ(k)
  double log_unit_ball = 0;  ///< log V_d
  double mean_log_eps = 0;   ///< (1/N) Σᵢ log εᵢ
  /// Ĥ in nats.
  double value() const { return digamma_n - digamma_k + log_unit_ball + static_cast<double>(d) * mean_log_eps; }
};

/// Kozachenko–Leonenko estimate for x [N, d...] (features flattened), computed in float64 by a
/// chunked brute-force search (O(N²d); for large 2-D samples knn_entropy is faster). Needs
/// N > k ≥ 1 and finite values; an exact duplicate that makes some εᵢ = 0 is an error (the
/// estimate would be −∞; add dequantisation noise to discrete data first).
KnnEntropyTerms knn_entropy_terms(const at::Tensor& x, int64_t k = 1);

}  // namespace joule::eval
