#pragma once
// Statistics of samples alone: a k-NN entropy estimate and the kernel two-sample distance MMD².

#include <ATen/ATen.h>

#include <cstdint>

namespace joule::eval {

/// Kozachenko–Leonenko k-nearest-neighbour estimate of the differential entropy (nats) of the
/// density that produced x [N, D] (Kozachenko & Leonenko 1987; digamma form of Kraskov, Stögbauer
/// & Grassberger, Phys. Rev. E 69, 066138, Eq. 20):
///   Ĥ = ψ(N) − ψ(k) + log V_D + (D/N) Σᵢ log εᵢ,
/// εᵢ = Euclidean distance from xᵢ to its k-th nearest other point (a radius, not a diameter),
/// V_D = π^{D/2} / Γ(D/2 + 1) the volume of the unit ball. Exact neighbours: blocks of queries
/// against the points sorted by their widest coordinate, pruned to the columns that can hold a
/// neighbour (≤ 64 MB of distances at a time). In 2-D on 2 cores: 0.04–0.15 s for N = 2·10⁴,
/// 0.5–2 s for 2·10⁵; worst case (nothing to prune, e.g. high D) O(N²D).
/// Duplicate points (a zero k-th distance) are an error. Requires N > k ≥ 1.
double knn_entropy(const at::Tensor& x, int64_t k = 3);

/// Unbiased estimate of MMD² between the distributions of x [M, D] and y [N, D] (Gretton et al.,
/// JMLR 13 (2012), Lemma 6) with the Gaussian kernel k(a, b) = exp(−‖a − b‖² / (2h²)), h = bandwidth:
///   1/(M(M−1)) Σ_{i≠j} k(xᵢ, xⱼ) + 1/(N(N−1)) Σ_{i≠j} k(yᵢ, yⱼ) − 2/(MN) Σ_{i,j} k(xᵢ, yⱼ).
/// Can be slightly negative when the distributions agree. Float64 throughout, blocked rows.
double mmd2_gaussian(const at::Tensor& x, const at::Tensor& y, double bandwidth);

/// Median heuristic: the median Euclidean distance over all pairs i < j of the pooled rows of x and
/// y (mean of the two middle values for an even count). With more than max_points pooled rows,
/// uses max_points rows at evenly spaced positions (deterministic). Float64. Pass the result as
/// h to mmd2_gaussian.
double median_bandwidth(const at::Tensor& x, const at::Tensor& y, int64_t max_points = 2000);

}  // namespace joule::eval
