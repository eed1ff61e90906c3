// Fréchet and kernel distances: the closed form for Gaussians, zero for one distribution,
// invariances and clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/eval/sample_quality.h"

namespace {

using joule::eval::FeatureMoments;

// Diagonal covariances commute: the distance is ‖μ₁ − μ₂‖² + Σ (√a_i − √b_i)².
TEST(SampleQualityTest, FrechetDistanceOfGaussiansMatchesTheClosedForm) {
  FeatureMoments a, b;
  a.mean = torch::tensor({0.0, 1.0, 2.0}, torch::kFloat64);
  b.mean = torch::tensor({1.0, 1.0, 0.0}, torch::kFloat64);
  a.cov = torch::diag(torch::tensor({1.0, 4.0, 0.25}, torch::kFloat64));
  b.cov = torch::diag(torch::tensor({4.0, 1.0, 0.0}, torch::kFloat64));  // singular
  const double exact = (1 + 0 + 4) + (1 + 1 + 0.25);
  EXPECT_NEAR(joule::eval::frechet_distance(a, b), exact, 1e-10);
  // A rotation of both distributions leaves the distance unchanged (a full covariance case).
  auto q = std::get<0>(torch::linalg_qr(torch::randn({3, 3}, joule::make_generator(1), torch::kFloat64)));
  FeatureMoments ra{q.matmul(a.mean), q.matmul(a.cov).matmul(q.t()), 0};
  FeatureMoments rb{q.matmul(b.mean), q.matmul(b.cov).matmul(q.t()), 0};
  // The singular covariance's zero eigenvalue comes back as ±1e-16 after the rotation; its square
  // root (up to 1e-8) is the error bound here.
  EXPECT_NEAR(joule::eval::frechet_distance(ra, rb), exact, 1e-6);
  EXPECT_NEAR(joule::eval::frechet_distance(a, a), 0.0, 1e-10);
}

TEST(SampleQualityTest, DistancesFromSamplesSeparateDistributions) {
  auto gen = joule::make_generator(2);
  auto x = torch::randn({4000, 8}, gen, torch::kFloat64);
  auto y = torch::randn({4000, 8}, gen, torch::kFloat64);
  auto z = torch::randn({4000, 8}, gen, torch::kFloat64) * 1.5 + 0.5;
  const double same = joule::eval::frechet_distance(x, y);
  const double diff = joule::eval::frechet_distance(x, z);
  // Same law: the estimate's bias is O(F²/N) = 0.016 here; different: 8·0.25 + 8·0.25 = 4.
  EXPECT_LT(same, 0.05);
  EXPECT_NEAR(diff, 4.0, 0.2);
  auto k_same = joule::eval::kernel_distance(x, y, gen, 5, 1000);
  auto k_diff = joule::eval::kernel_distance(x, z, gen, 5, 1000);
  // Unbiased: centred on 0 for one law (SD over subsets ~1e-3 here), clearly positive otherwise.
  EXPECT_LT(std::abs(k_same.mean), 5 * std::max(k_same.std, 1e-3));
  EXPECT_GT(k_diff.mean, 10 * std::max(k_same.std, 1e-3));
}

TEST(SampleQualityTest, ClearErrors) {
  auto gen = joule::make_generator(3);
  EXPECT_THROW(joule::eval::frechet_distance(torch::randn({10, 3}), torch::randn({10, 4})), c10::Error);
  EXPECT_THROW(joule::eval::frechet_distance(torch::randn({1, 3}), torch::randn({10, 3})), c10::Error);
  auto bad = torch::randn({10, 3});
  bad[0][0] = std::nan("");
  EXPECT_THROW(joule::eval::frechet_distance(bad, torch::randn({10, 3})), c10::Error);
  EXPECT_THROW(joule::eval::kernel_distance(torch::randn({10, 3}), torch::randn({10, 2}), gen), c10::Error);
}

}  // namespace
