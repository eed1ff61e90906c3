// Tests for joule::eval nearest-neighbour distances and the Kozachenko–Leonenko entropy terms
// (include/joule/eval/entropy.h): ψ against its identities, distances against brute-force loops,
// gradients against finite differences, estimates against closed-form entropies.
//
// Entropy tolerances: the estimator's error at N = 4000 was measured over 60 seeds (1000..1019 and
// 2000..2039, other seeds than the tests use) for each case; the comments quote the bias (mean error)
// and the sd, and each tolerance is |bias| + ~4 sd, so a correct estimator fails with probability
// well under 1e-3 per check. The sd agrees with the estimator's asymptotic variance
// (Var log f(X) + ψ'(k)) / N (ψ'(1) = π²/6 = 1.64, ψ'(3) = 0.39; Var log f = d/2 for a Gaussian,
// 0 for a uniform): e.g. 0.023 for a 1-D Gaussian, 0.020 for a uniform, k = 1. The usual mistakes
// shift the estimate by far more: radius vs diameter by d·log 2, a missing log V_d by
// log 2 = 0.69 (d = 1) to log V_5 = 1.66, a missing ψ(k) by 0.58 at k = 1.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "joule/eval/entropy.h"

namespace {

using joule::eval::digamma;
using joule::eval::knn_entropy_terms;
using joule::eval::log_unit_ball_volume;
using joule::eval::nearest_neighbour_distances;

constexpr double kPi = 3.14159265358979323846;
constexpr double kEulerGamma = 0.57721566490153286061;
const double kLog2PiE = std::log(2 * kPi * std::exp(1.0));

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

double entropy(const at::Tensor& x, int64_t k = 1) { return knn_entropy_terms(x, k).value(); }

// k-th smallest Euclidean distance from each row of x to the rows of ref (flattened), skipping
// ref row i for x row i with exclude_self: a plain double loop.
std::vector<double> brute_kth(const at::Tensor& x_in, const at::Tensor& ref_in, int64_t k, bool exclude_self) {
  auto x = x_in.reshape({x_in.size(0), -1}).to(at::kDouble).contiguous();
  auto r = ref_in.reshape({ref_in.size(0), -1}).to(at::kDouble).contiguous();
  auto a = x.accessor<double, 2>(), b = r.accessor<double, 2>();
  std::vector<double> out;
  for (int64_t i = 0; i < x.size(0); ++i) {
    std::vector<double> d;
    for (int64_t j = 0; j < r.size(0); ++j) {
      if (exclude_self && i == j) continue;
      double s = 0;
      for (int64_t c = 0; c < x.size(1); ++c) s += (a[i][c] - b[j][c]) * (a[i][c] - b[j][c]);
      d.push_back(std::sqrt(s));
    }
    std::nth_element(d.begin(), d.begin() + (k - 1), d.end());
    out.push_back(d[k - 1]);
  }
  return out;
}

void expect_matches_brute(const at::Tensor& x, const at::Tensor& ref, int64_t k, bool exclude_self, double tol) {
  auto got = nearest_neighbour_distances(x, ref, k, exclude_self).to(at::kDouble).contiguous();
  auto want = brute_kth(x, ref, k, exclude_self);
  ASSERT_EQ(got.dim(), 1);
  ASSERT_EQ(got.size(0), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got[i].item<double>(), want[i], tol) << "row " << i << " k " << k << " exclude_self " << exclude_self;
  }
}

TEST(DigammaTest, MatchesItsIdentities) {
  EXPECT_NEAR(digamma(1.0), -kEulerGamma, 1e-13);
  EXPECT_NEAR(digamma(0.5), -kEulerGamma - 2 * std::log(2.0), 1e-13);
  // ψ(n + 1) = ψ(n) + 1/n, and so ψ(n) = −γ + Σ_{j<n} 1/j, across the switch to the series at 12.
  double harmonic = 0;
  for (int n = 1; n <= 300; ++n) {
    EXPECT_NEAR(digamma(n + 1.0), digamma(n) + 1.0 / n, 1e-12) << n;
    EXPECT_NEAR(digamma(n), -kEulerGamma + harmonic, 1e-12) << n;
    harmonic += 1.0 / n;
  }
  // Large arguments: ψ(x) = log x − 1/(2x) − 1/(12x²) + O(x⁻⁴).
  EXPECT_NEAR(digamma(1e6), std::log(1e6) - 0.5e-6 - 1.0 / 12e12, 1e-15);
  EXPECT_THROW(digamma(0.0), c10::Error);
  EXPECT_THROW(digamma(-1.5), c10::Error);
}

TEST(DigammaTest, UnitBallVolumes) {
  EXPECT_NEAR(log_unit_ball_volume(1), std::log(2.0), 1e-14);
  EXPECT_NEAR(log_unit_ball_volume(2), std::log(kPi), 1e-14);
  EXPECT_NEAR(log_unit_ball_volume(3), std::log(4.0 / 3.0 * kPi), 1e-14);
  EXPECT_NEAR(log_unit_ball_volume(4), std::log(kPi * kPi / 2), 1e-14);
  EXPECT_THROW(log_unit_ball_volume(0), c10::Error);
}

TEST(NearestNeighbourDistancesTest, MatchBruteForceOnASmallExample) {
  auto g = gen(1);
  auto x = at::randn({7, 2, 3}, g, at::kDouble), ref = at::randn({11, 2, 3}, g, at::kDouble);
  for (int64_t k : {1, 2, 3, 11}) expect_matches_brute(x, ref, k, false, 1e-12);
  for (int64_t k : {1, 2, 10}) expect_matches_brute(ref, ref, k, true, 1e-12);
  // Without exclude_self the point itself is its own nearest neighbour (clamped zero distance).
  auto self = nearest_neighbour_distances(ref, ref, 1);
  EXPECT_LE(self.max().item<double>(), std::sqrt(joule::eval::kMinSquaredDistance) * (1 + 1e-12));
  // float32 input, float32 output.
  auto xf = x.to(at::kFloat), rf = ref.to(at::kFloat);
  EXPECT_EQ(nearest_neighbour_distances(xf, rf, 2).scalar_type(), at::kFloat);
  expect_matches_brute(xf, rf, 2, false, 1e-5);
}

TEST(NearestNeighbourDistancesTest, ChunksAndTheMatrixProductPathAreInvisible) {
  auto g = gen(2);
  // 40000 reference rows in float64: 64 MB / (2 · 8 · 40000) = 104 query rows per chunk, so 300
  // queries take three chunks. 3 features: coordinate-difference path; 20: matrix-product path.
  for (int64_t d : {3, 20}) {
    auto x = at::randn({300, d}, g, at::kDouble), ref = at::randn({40000, d}, g, at::kDouble);
    expect_matches_brute(x, ref, 2, false, 1e-12);
  }
  // exclude_self across chunks: N = M = 3000 gives 1398 rows per chunk, three chunks, each with
  // its own offset of the skipped diagonal.
  auto y = at::randn({3000, 2}, g, at::kDouble);
  expect_matches_brute(y, y, 1, true, 1e-12);
  expect_matches_brute(y, y, 3, true, 1e-12);
}

TEST(NearestNeighbourDistancesTest, GradientMatchesFiniteDifferences) {
  auto g = gen(3);
  auto x0 = at::randn({4, 3}, g, at::kDouble), ref = at::randn({6, 3}, g, at::kDouble);
  auto w = at::rand({4}, g, at::kDouble).add_(0.5);
  // The loss ICD adds for the sampler's entropy: a weighted mean of log distances.
  auto loss_of = [&](const at::Tensor& x) { return (w * nearest_neighbour_distances(x, ref, 2).log()).sum(); };
  auto x = x0.clone().set_requires_grad(true);
  loss_of(x).backward();
  auto grad = x.grad();
  ASSERT_TRUE(grad.defined());
  const double h = 1e-6;
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t c = 0; c < 3; ++c) {
      auto xp = x0.clone(), xm = x0.clone();
      xp[i][c] += h;
      xm[i][c] -= h;
      const double fd = (loss_of(xp).item<double>() - loss_of(xm).item<double>()) / (2 * h);
      // Central differences: O(h²) truncation plus ~1e-16/h rounding; the neighbour choice is
      // locally constant at a generic point.
      EXPECT_NEAR(grad[i][c].item<double>(), fd, 1e-7) << i << "," << c;
    }
  }
  // Gradient also reaches ref through the chosen rows.
  auto r = ref.clone().set_requires_grad(true);
  nearest_neighbour_distances(x0, r, 1).sum().backward();
  EXPECT_GT(r.grad().abs().sum().item<double>(), 0);
}

TEST(NearestNeighbourDistancesTest, ZeroDistanceGivesAFiniteZeroGradient) {
  auto ref = at::randn({5, 2}, gen(4), at::kDouble);
  auto x = ref.slice(0, 0, 2).clone().set_requires_grad(true);  // on top of ref rows 0 and 1
  auto d = nearest_neighbour_distances(x, ref);
  d.log().sum().backward();
  EXPECT_TRUE(at::isfinite(d.log()).all().item<bool>());
  EXPECT_TRUE(at::isfinite(x.grad()).all().item<bool>());
  EXPECT_EQ(x.grad().abs().max().item<double>(), 0.0);
}

TEST(NearestNeighbourDistancesTest, RejectsBadInput) {
  auto x = at::randn({4, 3}), ref = at::randn({6, 3});
  EXPECT_THROW(nearest_neighbour_distances(x, at::randn({6, 4})), c10::Error);   // feature counts differ
  EXPECT_THROW(nearest_neighbour_distances(x, ref, 7), c10::Error);              // k > M
  EXPECT_THROW(nearest_neighbour_distances(x, ref, 0), c10::Error);
  EXPECT_THROW(nearest_neighbour_distances(ref, ref, 6, true), c10::Error);      // k > M − 1
  EXPECT_THROW(nearest_neighbour_distances(x, ref, 1, true), c10::Error);        // N ≠ M
  EXPECT_THROW(nearest_neighbour_distances(at::randn({4}), ref), c10::Error);    // no feature dimension
  EXPECT_THROW(nearest_neighbour_distances(x.to(at::kLong), ref), c10::Error);
}

TEST(KnnEntropyTermsTest, AgreesWithSampleStatsKnnEntropy) {
  // Two implementations of one estimator (sample_stats.h: pruned search; here: brute force).
  auto g = gen(5);
  auto x2 = at::randn({500, 2}, g, at::kDouble), x12 = at::randn({300, 12}, g, at::kDouble);
  for (int64_t k : {1, 3, 5}) {
    EXPECT_NEAR(entropy(x2, k), joule::eval::knn_entropy(x2, k), 1e-9) << k;
    EXPECT_NEAR(entropy(x12, k), joule::eval::knn_entropy(x12, k), 1e-9) << k;
  }
  // [N, d...] input is flattened: 2 × 3 × 2 features.
  auto img = at::randn({200, 2, 3, 2}, g, at::kDouble);
  EXPECT_NEAR(entropy(img, 2), joule::eval::knn_entropy(img.reshape({200, 12}), 2), 1e-9);
  auto t = knn_entropy_terms(img, 2);
  EXPECT_EQ(t.n, 200);
  EXPECT_EQ(t.d, 12);
  EXPECT_EQ(t.k, 2);
  EXPECT_NEAR(t.digamma_n - t.digamma_k, digamma(200) - digamma(2), 1e-14);
}

TEST(KnnEntropyTermsTest, StandardGaussianMatchesClosedForm) {
  // N(0, I_d), N = 4000, k = 1: H = (d/2) log(2πe). Measured error: d = 1: bias +0.007, sd 0.021;
  // d = 2: bias −0.004, sd 0.031; d = 5: bias −0.044 (the k-NN bias grows with d), sd 0.034.
  const int64_t n = 4000;
  EXPECT_NEAR(entropy(at::randn({n, 1}, gen(11), at::kDouble)), 0.5 * kLog2PiE, 0.10);
  EXPECT_NEAR(entropy(at::randn({n, 2}, gen(12), at::kDouble)), kLog2PiE, 0.14);
  EXPECT_NEAR(entropy(at::randn({n, 5}, gen(13), at::kDouble)), 2.5 * kLog2PiE, 0.18);
}

TEST(KnnEntropyTermsTest, DiagonalGaussianWithUnequalScales) {
  // N(0, diag(0.25, 1, 9)): H = (3/2) log(2πe) + Σ log σ = (3/2) log(2πe) + log 1.5. k = 3,
  // N = 4000: bias −0.025, sd 0.028.
  auto sigma = at::tensor({0.5, 1.0, 3.0}, at::kDouble);
  auto x = at::randn({4000, 3}, gen(14), at::kDouble) * sigma;
  EXPECT_NEAR(entropy(x, 3), 1.5 * kLog2PiE + std::log(1.5), 0.14);
  // Also stored as [N, 3, 1] float32: same features, same estimate to float rounding.
  EXPECT_NEAR(entropy(x.to(at::kFloat).view({4000, 3, 1}), 3), entropy(x.to(at::kFloat), 3), 1e-12);
}

TEST(KnnEntropyTermsTest, UniformCubesMatchLogVolume) {
  // U([0, a]^d): H = d log a. Points near the faces have part of their ε-ball outside the support,
  // so the estimate is biased up, more in higher d. N = 4000: d = 1, k = 1: bias +0.001, sd 0.024;
  // d = 3, k = 3: bias +0.082, sd 0.013 (k = 1 would be sd 0.027).
  const int64_t n = 4000;
  EXPECT_NEAR(entropy(at::rand({n, 1}, gen(15), at::kDouble)), 0.0, 0.11);
  EXPECT_NEAR(entropy(at::rand({n, 3}, gen(16), at::kDouble), 3), 0.0, 0.14);
  EXPECT_NEAR(entropy(at::empty({n, 1}, at::kDouble).uniform_(0, 2.5, gen(17))), std::log(2.5), 0.11);
  EXPECT_NEAR(entropy(at::empty({n, 3}, at::kDouble).uniform_(0, 2.5, gen(18)), 3), 3 * std::log(2.5), 0.14);
}

TEST(KnnEntropyTermsTest, NeighbourOrdersOneToFiveAgree) {
  // 2-D standard Gaussian, N = 4000. Per k, bias / sd: k = 1: −0.004 / 0.031, k = 2: −0.002 / 0.023,
  // k = 3..5: < 0.009 / ≤ 0.021. On one sample the estimates for k = 1..5 move together: their
  // range was 0.026 on average, at most 0.052 over 40 samples.
  auto x = at::randn({4000, 2}, gen(19), at::kDouble);
  double lo = 1e9, hi = -1e9;
  for (int64_t k = 1; k <= 5; ++k) {
    const double h = entropy(x, k);
    EXPECT_NEAR(h, kLog2PiE, k == 1 ? 0.14 : 0.10) << k;
    lo = std::min(lo, h);
    hi = std::max(hi, h);
  }
  EXPECT_LT(hi - lo, 0.10);
}

TEST(KnnEntropyTermsTest, ScaleEquivarianceIsExact) {
  // Ĥ(c·x) = Ĥ(x) + d log c: every ε scales by c, the neighbours stay the same.
  auto x = at::randn({500, 3}, gen(20), at::kDouble);
  for (int64_t k : {1, 4}) {
    for (double c : {3.7, 0.01, 250.0}) {
      EXPECT_NEAR(entropy(x * c, k), entropy(x, k) + 3 * std::log(c), 1e-10) << k << " " << c;
    }
  }
  // float32 input: scaling by 2 is exact, by 0.1 rounds each coordinate (relative 6e-8).
  auto xf = x.to(at::kFloat);
  EXPECT_NEAR(entropy(xf * 2, 2), entropy(xf, 2) + 3 * std::log(2.0), 1e-12);
  EXPECT_NEAR(entropy(xf * 0.1f, 2), entropy(xf, 2) + 3 * std::log(0.1), 1e-5);
}

TEST(KnnEntropyTermsTest, RejectsBadInput) {
  EXPECT_THROW(knn_entropy_terms(at::randn({3, 2}), 3), c10::Error);  // N ≤ k
  EXPECT_THROW(knn_entropy_terms(at::randn({3, 2}), 5), c10::Error);
  EXPECT_NO_THROW(knn_entropy_terms(at::randn({4, 2}), 3));
  EXPECT_THROW(knn_entropy_terms(at::randn({10, 2}), 0), c10::Error);
  EXPECT_THROW(knn_entropy_terms(at::randn({10})), c10::Error);
  auto nan = at::randn({50, 2});
  nan[7][1] = NAN;
  EXPECT_THROW(knn_entropy_terms(nan), c10::Error);
  // Duplicates: a point with one copy makes ε = 0 for k = 1 (not for k = 2); the message says what to do.
  auto dup = at::randn({50, 2}, gen(21));
  dup[3].copy_(dup[0]);
  EXPECT_NO_THROW(knn_entropy_terms(dup, 2));
  try {
    knn_entropy_terms(dup, 1);
    ADD_FAILURE() << "duplicates were accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("dequantisation noise"), std::string::npos) << e.what();
  }
  // 8-bit-like data: many exact duplicates.
  auto quantised = at::rand({2000, 2}, gen(22)).mul(8).floor();
  EXPECT_THROW(knn_entropy_terms(quantised), c10::Error);
}

}  // namespace
