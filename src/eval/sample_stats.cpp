#include "joule/eval/sample_stats.h"

#include <c10/util/Exception.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>

namespace joule::eval {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Pairwise blocks hold at most this many distances (64 MB in float64).
constexpr int64_t kBlockElems = int64_t{1} << 23;
// Up to this dimension, squared distances are summed from coordinate differences, which keeps
// full relative precision for near neighbours; above it, ‖a‖² + ‖b‖² − 2a·b (a matrix product)
// is faster and, in float64, accurate enough for kernel sums.
constexpr int64_t kDirectMaxDim = 8;

// ψ(x) for x > 0: recurrence up to x ≥ 10, then the asymptotic series (error < 1e-12).
double digamma(double x) {
  double acc = 0;
  while (x < 10) {
    acc -= 1 / x;
    x += 1;
  }
  const double r = 1 / (x * x);
  return acc + std::log(x) - 0.5 / x - r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240))));
}

// Squared distances [A, B] between the rows of a [A, D] and the columns of bt [D, B] (b transposed,
// so each coordinate row is contiguous), same dtype.
at::Tensor sq_dists(const at::Tensor& a, const at::Tensor& bt) {
  const int64_t d = a.size(1);
  if (d <= kDirectMaxDim) {
    at::Tensor acc;
    for (int64_t j = 0; j < d; ++j) {
      auto diff = a.select(1, j).unsqueeze(1) - bt.select(0, j).unsqueeze(0);
      if (acc.defined()) {
        acc.addcmul_(diff, diff);
      } else {
        acc = diff.mul_(diff);
      }
    }
    return acc;
  }
  auto an = a.pow(2).sum(1, true), bn = bt.pow(2).sum(0, true);
  return torch::addmm(an + bn, a, bt, 1.0, -2.0).clamp_min_(0.0);
}

void check_matrix(const at::Tensor& x, const char* fn, const char* what, int64_t min_rows) {
  TORCH_CHECK(x.defined() && x.dim() == 2, fn, ": ", what, " must be a [N, D] matrix, got ",
              x.defined() ? x.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(x.size(0) >= min_rows, fn, ": ", what, " needs at least ", min_rows, " rows, got ", x.size(0));
  TORCH_CHECK(x.size(1) >= 1, fn, ": ", what, " has zero columns");
  TORCH_CHECK(x.is_floating_point(), fn, ": ", what, " must be floating point, got ", x.scalar_type());
  TORCH_CHECK(torch::isfinite(x).all().item<bool>(), fn, ": ", what, " contains NaN or infinite values");
}

// Σ_{i,j} exp(−γ‖aᵢ − bⱼ‖²), float64, over row blocks of a.
double gaussian_kernel_sum(const at::Tensor& a, const at::Tensor& b, double gamma) {
  const int64_t block = std::max<int64_t>(1, kBlockElems / std::max<int64_t>(1, b.size(0)));
  auto bt = b.t().contiguous();
  double total = 0;
  for (int64_t i = 0; i < a.size(0); i += block) {
    auto d2 = sq_dists(a.slice(0, i, std::min(i + block, a.size(0))), bt);
    total += d2.mul_(-gamma).exp_().sum().item<double>();
  }
  return total;
}

}  // namespace

double knn_entropy(const at::Tensor& x, int64_t k) {
  TORCH_CHECK(k >= 1, "knn_entropy: k must be >= 1, got ", k);
  check_matrix(x, "knn_entropy", "x", k + 1);
  const int64_t n = x.size(0), d = x.size(1);
  // Low dimension: coordinate differences are exact enough in the input's float type (no
  // cancellation), and float32 halves the memory traffic. Centring keeps ‖a‖² small in the
  // matrix-product form used for larger D.
  auto dtype = (d <= kDirectMaxDim && x.scalar_type() == torch::kFloat32) ? torch::kFloat32 : torch::kFloat64;
  auto pts = x.to(torch::kCPU, dtype);
  pts = pts - pts.mean(0, true);

  // Sort by the widest coordinate. A block of consecutive queries then only needs the columns whose
  // key lies within the block's largest current k-th distance r of the block's key range: any
  // other point is farther than r from every query, so it cannot change the k smallest. The
  // result is exact; in 2-D it skips ~99% of the pairs at N = 200k.
  const int64_t key_dim = pts.var(0).argmax().item<int64_t>();
  pts = pts.index_select(0, std::get<1>(pts.select(1, key_dim).sort()));
  auto cols = pts.t().contiguous();
  auto keys_t = pts.select(1, key_dim).to(torch::kFloat64).contiguous();
  const double* keys = keys_t.data_ptr<double>();

  // Rows per block: the whole sorted array as the window (worst case) must stay within kBlockElems.
  const int64_t block = std::clamp<int64_t>(kBlockElems / n, 1, 256);
  int64_t half = std::max<int64_t>(64, 2 * (k + 1));  // window margin guess, adapted as we go
  double sum_log_eps2 = 0;
  for (int64_t i0 = 0; i0 < n; i0 += block) {
    const int64_t i1 = std::min(i0 + block, n);
    auto q = pts.slice(0, i0, i1);
    int64_t lo = std::max<int64_t>(0, i0 - half), hi = std::min(n, i1 + half);
    while (hi - lo < k + 1) {  // at least k + 1 candidates
      lo = std::max<int64_t>(0, lo - (k + 1));
      hi = std::min(n, hi + (k + 1));
    }
    at::Tensor kth;
    while (true) {
      auto d2 = sq_dists(q, cols.slice(1, lo, hi));
      // The k + 1 smallest include the point itself (distance 0); with duplicates a zero may come
      // from another point instead, which gives the same values.
      kth = std::get<0>(d2.topk(k + 1, 1, /*largest=*/false, /*sorted=*/true)).select(1, k).to(torch::kFloat64);
      const double r = std::sqrt(kth.max().item<double>());
      const int64_t need_lo = std::lower_bound(keys, keys + n, keys[i0] - r) - keys;
      const int64_t need_hi = std::upper_bound(keys, keys + n, keys[i1 - 1] + r) - keys;
      half = std::max<int64_t>(64, std::max(i0 - need_lo, need_hi - i1) * 5 / 4);
      if (need_lo >= lo && need_hi <= hi) break;
      // r can only shrink on a wider window, so the second pass is final.
      lo = std::min(lo, need_lo);
      hi = std::max(hi, need_hi);
    }
    TORCH_CHECK(kth.min().item<double>() > 0, "knn_entropy: some point has ", k,
                " or more exact duplicates (k-th neighbour distance 0), so the estimate is -inf; "
                "remove duplicates or add jitter");
    sum_log_eps2 += kth.log().sum().item<double>();
  }
  const double log_unit_ball = 0.5 * d * std::log(kPi) - std::lgamma(0.5 * d + 1);
  // (D/N) Σ log εᵢ = (D/2N) Σ log εᵢ².
  return digamma(static_cast<double>(n)) - digamma(static_cast<double>(k)) + log_unit_ball +
         0.5 * d * sum_log_eps2 / n;
}

double mmd2_gaussian(const at::Tensor& x, const at::Tensor& y, double bandwidth) {
  check_matrix(x, "mmd2_gaussian", "x", 2);
  check_matrix(y, "mmd2_gaussian", "y", 2);
  TORCH_CHECK(x.size(1) == y.size(1), "mmd2_gaussian: x and y must have the same number of columns, got ", x.size(1),
              " and ", y.size(1));
  TORCH_CHECK(bandwidth > 0 && std::isfinite(bandwidth), "mmd2_gaussian: bandwidth must be > 0, got ", bandwidth);
  auto xd = x.to(torch::kCPU, torch::kFloat64).contiguous();
  auto yd = y.to(torch::kCPU, torch::kFloat64).contiguous();
  const double gamma = 1.0 / (2.0 * bandwidth * bandwidth);
  const double m = static_cast<double>(xd.size(0)), n = static_cast<double>(yd.size(0));
  // The diagonal terms k(xᵢ, xᵢ) are exactly 1; drop them from the within-sample sums.
  const double kxx = gaussian_kernel_sum(xd, xd, gamma) - m;
  const double kyy = gaussian_kernel_sum(yd, yd, gamma) - n;
  const double kxy = gaussian_kernel_sum(xd, yd, gamma);
  return kxx / (m * (m - 1)) + kyy / (n * (n - 1)) - 2.0 * kxy / (m * n);
}

double median_bandwidth(const at::Tensor& x, const at::Tensor& y, int64_t max_points) {
  check_matrix(x, "median_bandwidth", "x", 1);
  check_matrix(y, "median_bandwidth", "y", 1);
  TORCH_CHECK(x.size(1) == y.size(1), "median_bandwidth: x and y must have the same number of columns, got ",
              x.size(1), " and ", y.size(1));
  TORCH_CHECK(max_points >= 2, "median_bandwidth: max_points must be >= 2, got ", max_points);
  auto z = torch::cat({x.to(torch::kCPU, torch::kFloat64), y.to(torch::kCPU, torch::kFloat64)}, 0);
  const int64_t total = z.size(0);
  if (total > max_points) {
    // Rows ⌊i·total/max_points⌋: evenly spread over both samples, in proportion to their sizes.
    auto idx = torch::arange(max_points, torch::kLong).mul(total).div(max_points, "floor");
    z = z.index_select(0, idx);
  }
  const int64_t m = z.size(0);
  auto upper = torch::ones({m, m}, torch::kBool).triu(1);
  auto d = sq_dists(z, z.t().contiguous()).masked_select(upper).sqrt_();
  const int64_t cnt = d.numel();
  // kthvalue is 1-based; for an even count average the two middle order statistics.
  const double hi = std::get<0>(d.kthvalue(cnt / 2 + 1)).item<double>();
  const double med = (cnt % 2 == 1) ? hi : 0.5 * (hi + std::get<0>(d.kthvalue(cnt / 2)).item<double>());
  TORCH_CHECK(med > 0, "median_bandwidth: the median pairwise distance is 0 (mostly identical points)");
  return med;
}

}  // namespace joule::eval
