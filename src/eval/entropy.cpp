#include "joule/eval/entropy.h"

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace joule::eval {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Bytes of [rows, M] temporaries per chunk of query rows (two live at a time: the distances and
// one coordinate difference or norm term).
constexpr int64_t kChunkBytes = int64_t{64} << 20;
// Up to this feature count, squared distances are summed from coordinate differences (no
// cancellation, so the neighbour order is exact); above it ‖a‖² + ‖b‖² − 2a·b (one matrix
// product) is much faster and accurate enough to choose the neighbour, whose distance is then
// recomputed from differences anyway.
constexpr int64_t kDirectMaxDim = 8;

// Squared distances [A, B] between the rows of a [A, D] and b [B, D] (same dtype).
at::Tensor sq_dists(const at::Tensor& a, const at::Tensor& b) {
  const int64_t d = a.size(1);
  if (d <= kDirectMaxDim) {
    at::Tensor acc;
    for (int64_t j = 0; j < d; ++j) {
      auto diff = a.select(1, j).unsqueeze(1) - b.select(1, j).unsqueeze(0);
      if (acc.defined()) {
        acc.addcmul_(diff, diff);
      } else {
        acc = diff.mul_(diff);
      }
    }
    return acc;
  }
  auto an = a.pow(2).sum(1, true), bn = b.pow(2).sum(1).unsqueeze(0);
  return at::addmm(an + bn, a, b.t(), 1.0, -2.0).clamp_min_(0.0);
}

// Flattens [N, ...] to [N, D], checking what both public functions need.
at::Tensor as_rows(const at::Tensor& x, const char* fn, const char* what) {
  TORCH_CHECK(x.defined() && x.dim() >= 2, fn, ": ", what, " must be [N, features...] with at least 2 dimensions, got ",
              x.defined() ? x.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(x.is_floating_point(), fn, ": ", what, " must be floating point, got ", x.scalar_type());
  auto rows = x.reshape({x.size(0), -1});
  TORCH_CHECK(rows.size(1) >= 1, fn, ": ", what, " has no features (shape ", x.sizes(), ")");
  return rows;
}

// [N] int64 index into ref of the k-th nearest row of ref for each row of x (no gradient).
at::Tensor kth_neighbour_indices(const at::Tensor& x, const at::Tensor& ref, int64_t k, bool exclude_self) {
  at::NoGradGuard no_grad;
  const int64_t n = x.size(0), m = ref.size(0);
  // Centring on ref's mean keeps ‖a‖² small in the matrix-product form; distances are unchanged.
  auto centre = ref.mean(0, true);
  auto q = (x - centre).contiguous(), r = (ref - centre).contiguous();
  const int64_t elem = static_cast<int64_t>(q.element_size());
  const int64_t rows = std::max<int64_t>(1, kChunkBytes / (2 * elem * m));
  auto out = at::empty({n}, x.options().dtype(at::kLong));
  for (int64_t i0 = 0; i0 < n; i0 += rows) {
    const int64_t i1 = std::min(i0 + rows, n);
    auto d2 = sq_dists(q.slice(0, i0, i1), r);
    // Row i of x is row i of ref: entries (r, i0 + r) of this chunk are the self-distances.
    if (exclude_self) d2.diagonal(i0).fill_(std::numeric_limits<double>::infinity());
    auto idx = std::get<1>(d2.topk(k, 1, /*largest=*/false, /*sorted=*/true));
    out.slice(0, i0, i1).copy_(idx.select(1, k - 1));
  }
  return out;
}

void check_pair(const at::Tensor& xr, const at::Tensor& rr, int64_t k, bool exclude_self, const char* fn) {
  TORCH_CHECK(k >= 1, fn, ": k must be >= 1, got ", k);
  TORCH_CHECK(xr.size(0) >= 1, fn, ": x has no rows");
  TORCH_CHECK(xr.size(1) == rr.size(1), fn, ": x and ref must have the same number of features, got ", xr.size(1),
              " and ", rr.size(1));
  if (exclude_self) {
    TORCH_CHECK(xr.size(0) == rr.size(0), fn, ": exclude_self needs x and ref to be the same points (N == M), got N = ",
                xr.size(0), " and M = ", rr.size(0));
    TORCH_CHECK(rr.size(0) - 1 >= k, fn, ": the ", k, "-th nearest other point needs at least ", k + 1,
                " points, got ", rr.size(0));
  } else {
    TORCH_CHECK(rr.size(0) >= k, fn, ": the ", k, "-th nearest neighbour needs at least ", k, " reference points, got ",
                rr.size(0));
  }
}

}  // namespace

double digamma(double x) {
  TORCH_CHECK(x > 0 && std::isfinite(x), "digamma: defined here for finite x > 0, got ", x);
  double acc = 0;
  while (x < 12) {
    acc -= 1 / x;
    x += 1;
  }
  // ψ(x) ~ log x − 1/(2x) − Σ B₂ₙ/(2n x²ⁿ): 1/12, −1/120, 1/252, −1/240, 1/132.
  const double r = 1 / (x * x);
  return acc + std::log(x) - 0.5 / x -
         r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132)))));
}

double log_unit_ball_volume(int64_t d) {
  TORCH_CHECK(d >= 1, "log_unit_ball_volume: dimension must be >= 1, got ", d);
  return 0.5 * static_cast<double>(d) * std::log(kPi) - std::lgamma(0.5 * static_cast<double>(d) + 1);
}

at::Tensor nearest_neighbour_distances(const at::Tensor& x, const at::Tensor& ref, int64_t k, bool exclude_self) {
  const char* fn = "nearest_neighbour_distances";
  auto xr = as_rows(x, fn, "x");
  auto rr = as_rows(ref, fn, "ref").to(xr.device(), xr.scalar_type());
  check_pair(xr, rr, k, exclude_self, fn);
  auto idx = kth_neighbour_indices(xr, rr, k, exclude_self);
  // Recomputed with autograd from the differences to the chosen rows.
  auto diff = xr - rr.index_select(0, idx);
  return diff.pow(2).sum(1).clamp_min(kMinSquaredDistance).sqrt();
}

KnnEntropyTerms knn_entropy_terms(const at::Tensor& x, int64_t k) {
  const char* fn = "knn_entropy_terms";
  TORCH_CHECK(k >= 1, fn, ": k must be >= 1, got ", k);
  at::NoGradGuard no_grad;
  auto xr = as_rows(x, fn, "x").to(at::kCPU, at::kDouble);
  TORCH_CHECK(xr.size(0) > k, fn, ": needs N > k points, got N = ", xr.size(0), " and k = ", k);
  TORCH_CHECK(at::isfinite(xr).all().item<bool>(), fn, ": x contains NaN or infinite values");
  auto idx = kth_neighbour_indices(xr, xr, k, /*exclude_self=*/true);
  auto eps2 = (xr - xr.index_select(0, idx)).pow(2).sum(1);
  TORCH_CHECK(eps2.min().item<double>() > 0, fn, ": some point has ", k,
              " or more exact duplicates (k-th neighbour distance 0), so the estimate is -inf; "
              "add dequantisation noise (e.g. U(0, 1/256) per pixel for 8-bit data) or remove duplicates");
  KnnEntropyTerms t;
  t.n = xr.size(0);
  t.d = xr.size(1);
  t.k = k;
  t.digamma_n = digamma(static_cast<double>(t.n));
  t.digamma_k = digamma(static_cast<double>(k));
  t.log_unit_ball = log_unit_ball_volume(t.d);
  t.mean_log_eps = 0.5 * eps2.log().mean().item<double>();  // log ε = ½ log ε²
  return t;
}

}  // namespace joule::eval
