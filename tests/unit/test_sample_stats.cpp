// Tests for joule::eval sample statistics (include/joule/eval/sample_stats.h): k-NN entropy,
// unbiased MMD² and the median bandwidth. Closed forms where they exist, brute-force double loops
// otherwise. Tolerances are ~4 standard deviations of the estimator, measured over 20 seeds at the
// same sample size (quoted in each test), plus the estimator's known finite-N bias where relevant.

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "joule/eval/sample_stats.h"

namespace {

using joule::eval::knn_entropy;
using joule::eval::median_bandwidth;
using joule::eval::mmd2_gaussian;

constexpr double kPi = 3.14159265358979323846;
const double kLog2PiE = std::log(2 * kPi * std::exp(1.0));

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Kozachenko–Leonenko by definition: O(N²) loop, ψ by its integer-argument series.
double knn_entropy_brute(const at::Tensor& x_in, int64_t k) {
  auto x = x_in.to(torch::kFloat64).contiguous();
  const int64_t n = x.size(0), d = x.size(1);
  auto a = x.accessor<double, 2>();
  auto psi = [](int64_t m) {  // ψ(m) = −γ + Σ_{j<m} 1/j
    double s = -0.57721566490153286;
    for (int64_t j = 1; j < m; ++j) s += 1.0 / j;
    return s;
  };
  double sum_log = 0;
  std::vector<double> dist(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < d; ++c) s += (a[i][c] - a[j][c]) * (a[i][c] - a[j][c]);
      dist[j] = std::sqrt(s);
    }
    std::nth_element(dist.begin(), dist.begin() + k, dist.end());  // index 0 is the point itself
    sum_log += std::log(dist[k]);
  }
  const double log_vd = 0.5 * d * std::log(kPi) - std::lgamma(0.5 * d + 1);
  return psi(n) - psi(k) + log_vd + static_cast<double>(d) * sum_log / n;
}

TEST(KnnEntropyTest, MatchesBruteForceDefinition) {
  auto g = gen(1);
  // 2-D (coordinate-difference path), with ties in the sort key (first coordinate rounded), and
  // 12-D (matrix-product path).
  auto x2 = torch::randn({400, 2}, g, torch::kFloat64);
  auto tied = x2.clone();
  tied.select(1, 0).mul_(3).round_();
  auto x12 = torch::randn({300, 12}, g, torch::kFloat64);
  for (int64_t k : {1, 3, 5}) {
    EXPECT_NEAR(knn_entropy(x2, k), knn_entropy_brute(x2, k), 1e-9) << k;
    EXPECT_NEAR(knn_entropy(tied, k), knn_entropy_brute(tied, k), 1e-9) << k;
    EXPECT_NEAR(knn_entropy(x12, k), knn_entropy_brute(x12, k), 1e-7) << k;
  }
  // float32 input: distances in float32, so agreement to ~1e-6.
  EXPECT_NEAR(knn_entropy(x2.to(torch::kFloat32), 3), knn_entropy_brute(x2.to(torch::kFloat32), 3), 1e-5);
}

TEST(KnnEntropyTest, GaussianMatchesClosedForm2D) {
  // N(0, diag(0.25, 4)): det Σ = 1, H = log(2πe) = 2.8379. At N = 2·10⁴ the estimate's sd over
  // 20 seeds is 0.011 (k = 3), 0.014 (k = 1), 0.009 (k = 5), bias < 0.004: 0.05 is ~4 sd.
  auto x = torch::randn({20000, 2}, gen(2), torch::kFloat32) * torch::tensor({0.5f, 2.0f});
  for (int64_t k : {1, 3, 5}) EXPECT_NEAR(knn_entropy(x, k), kLog2PiE, 0.05) << k;
}

TEST(KnnEntropyTest, UnitBallVolumeIsRightIn1DAnd3D) {
  // A radius/diameter or V_D mix-up shifts the estimate by D·log 2 or more, so other dimensions
  // check the convention: H = (D/2) log(2πe). sd at N = 2·10⁴: 0.008 (1-D), 0.009 (3-D).
  EXPECT_NEAR(knn_entropy(torch::randn({20000, 1}, gen(3), torch::kFloat32)), 0.5 * kLog2PiE, 0.04);
  EXPECT_NEAR(knn_entropy(torch::randn({20000, 3}, gen(4), torch::kFloat32)), 1.5 * kLog2PiE, 0.045);
}

TEST(KnnEntropyTest, UniformSquareMatchesLogArea) {
  // U[0, 2]²: H = log 4. The edges bias k-NN up by +0.008 at N = 2·10⁴ (sd 0.005), so allow 0.03.
  auto x = torch::empty({20000, 2}).uniform_(0, 2, gen(5));
  EXPECT_NEAR(knn_entropy(x), std::log(4.0), 0.03);
}

TEST(KnnEntropyTest, RejectsBadInput) {
  EXPECT_THROW(knn_entropy(torch::randn({3, 2}), 3), c10::Error);  // needs N > k
  EXPECT_THROW(knn_entropy(torch::randn({10, 2}), 0), c10::Error);
  EXPECT_THROW(knn_entropy(torch::randn({10})), c10::Error);
  auto dup = torch::randn({50, 2});
  dup.slice(0, 0, 4).copy_(dup[0].expand({4, 2}));  // a point with 3 exact copies
  EXPECT_THROW(knn_entropy(dup, 3), c10::Error);
  auto nan = torch::randn({50, 2});
  nan[7][1] = NAN;
  EXPECT_THROW(knn_entropy(nan), c10::Error);
}

// Unbiased MMD² by its definition (Gretton et al. 2012, Lemma 6).
double mmd2_brute(const at::Tensor& x_in, const at::Tensor& y_in, double h) {
  auto x = x_in.to(torch::kFloat64).contiguous(), y = y_in.to(torch::kFloat64).contiguous();
  const int64_t m = x.size(0), n = y.size(0), d = x.size(1);
  auto kern = [&](const double* a, const double* b) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) s += (a[c] - b[c]) * (a[c] - b[c]);
    return std::exp(-s / (2 * h * h));
  };
  const double* px = x.data_ptr<double>();
  const double* py = y.data_ptr<double>();
  double sxx = 0, syy = 0, sxy = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j)
      if (i != j) sxx += kern(px + i * d, px + j * d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (i != j) syy += kern(py + i * d, py + j * d);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) sxy += kern(px + i * d, py + j * d);
  return sxx / (m * (m - 1.0)) + syy / (n * (n - 1.0)) - 2 * sxy / (m * static_cast<double>(n));
}

TEST(MmdTest, MatchesBruteForceDoubleLoop) {
  auto g = gen(6);
  auto x = torch::randn({5, 3}, g), y = torch::randn({7, 3}, g).add(0.3);
  EXPECT_NEAR(mmd2_gaussian(x, y, 0.8), mmd2_brute(x, y, 0.8), 1e-12);
  auto x12 = torch::randn({6, 12}, g, torch::kFloat64), y12 = torch::randn({9, 12}, g, torch::kFloat64);
  EXPECT_NEAR(mmd2_gaussian(x12, y12, 3.0), mmd2_brute(x12, y12, 3.0), 1e-12);
  // Symmetric in its arguments.
  EXPECT_NEAR(mmd2_gaussian(x, y, 0.8), mmd2_gaussian(y, x, 0.8), 1e-12);
}

TEST(MmdTest, SameDistributionIsNearZero) {
  // Under H0 the unbiased estimate has mean 0; its sd for 1000 vs 1000 N(0, I₂) points, h = 1,
  // is 0.0007 (20 seeds). 0.0035 is 5 sd.
  auto g = gen(7);
  EXPECT_NEAR(mmd2_gaussian(torch::randn({1000, 2}, g), torch::randn({1000, 2}, g), 1.0), 0.0, 0.0035);
}

TEST(MmdTest, ShiftedGaussiansMatchClosedForm) {
  // P = N(0, I), Q = N(μ, I) in D dims with h: E k(a, b) over a − b ~ N(δ, 2I) is
  // (h²/(h²+2))^{D/2} exp(−‖δ‖²/(2(h²+2))), so MMD² = 2 (h²/(h²+2))^{D/2} (1 − exp(−‖μ‖²/(2(h²+2)))).
  // D = 2, h = 1, μ = (1, 0): 0.10235. sd at 1000 vs 1000: 0.009; 0.036 is 4 sd, and the value is
  // > 100 null sd from 0.
  const double h = 1.0, mu2 = 1.0;
  const double want = 2 * (h * h / (h * h + 2)) * (1 - std::exp(-mu2 / (2 * (h * h + 2))));
  auto g = gen(8);
  auto x = torch::randn({1000, 2}, g), y = torch::randn({1000, 2}, g) + torch::tensor({1.0f, 0.0f});
  const double est = mmd2_gaussian(x, y, h);
  EXPECT_NEAR(est, want, 0.036);
  EXPECT_GT(est, 0.05);
}

TEST(MmdTest, RejectsBadInput) {
  auto x = torch::randn({10, 2}), y = torch::randn({10, 2});
  EXPECT_THROW(mmd2_gaussian(x, y, 0.0), c10::Error);
  EXPECT_THROW(mmd2_gaussian(x, y, -1.0), c10::Error);
  EXPECT_THROW(mmd2_gaussian(x, torch::randn({10, 3}), 1.0), c10::Error);
  EXPECT_THROW(mmd2_gaussian(x.slice(0, 0, 1), y, 1.0), c10::Error);  // unbiased needs ≥ 2 rows
}

// Median of all pairwise distances of the pooled rows (mean of the middle two if even).
double median_brute(const at::Tensor& x, const at::Tensor& y) {
  auto z = torch::cat({x, y}).to(torch::kFloat64).contiguous();
  auto a = z.accessor<double, 2>();
  std::vector<double> d;
  for (int64_t i = 0; i < z.size(0); ++i)
    for (int64_t j = i + 1; j < z.size(0); ++j) {
      double s = 0;
      for (int64_t c = 0; c < z.size(1); ++c) s += (a[i][c] - a[j][c]) * (a[i][c] - a[j][c]);
      d.push_back(std::sqrt(s));
    }
  std::sort(d.begin(), d.end());
  const size_t m = d.size();
  return m % 2 ? d[m / 2] : 0.5 * (d[m / 2 - 1] + d[m / 2]);
}

TEST(MedianBandwidthTest, MatchesBruteForceMedian) {
  auto g = gen(9);
  // 4 + 3 rows → 21 pairs (odd); 4 + 4 rows → 28 pairs (even).
  auto x = torch::randn({4, 2}, g), y3 = torch::randn({3, 2}, g), y4 = torch::randn({4, 2}, g);
  EXPECT_NEAR(median_bandwidth(x, y3), median_brute(x, y3), 1e-6);
  EXPECT_NEAR(median_bandwidth(x, y4), median_brute(x, y4), 1e-6);
}

TEST(MedianBandwidthTest, SubsampleIsDeterministicAndClose) {
  auto g = gen(10);
  auto x = torch::randn({1500, 2}, g), y = torch::randn({1500, 2}, g).add(0.5);
  const double a = median_bandwidth(x, y, 500), b = median_bandwidth(x, y, 500);
  EXPECT_EQ(a, b);
  // 500 evenly spaced rows vs all 3000: the subsample median is off by ~1% (sd of a median of
  // ~10⁵ dependent distances); allow 5%.
  const double full = median_bandwidth(x, y, 3000);
  EXPECT_NEAR(a / full, 1.0, 0.05);
  // For N(0, I₂) vs N(0, I₂): distance = √2·Rayleigh, median √2·√(2 log 2) = 1.665; the 0.5 shift
  // moves the pooled value up slightly.
  EXPECT_NEAR(full, 1.665, 0.1);
  EXPECT_THROW(median_bandwidth(x, y, 1), c10::Error);
}

}  // namespace
