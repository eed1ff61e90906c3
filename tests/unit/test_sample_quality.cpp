// Fréchet and kernel distances: the closed form for Gaussians, zero for one distribution,
// invariances and clear errors; improved precision/recall and class agreement.
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

// Fewer rows than features: the M×N route against the F×F one on the same features.
TEST(SampleQualityTest, FewRowsManyFeaturesGiveTheSameDistanceByEitherRoute) {
  auto gen = joule::make_generator(4);
  auto mix = torch::randn({40, 60}, gen, torch::kFloat64);  // correlated features
  auto x = torch::randn({30, 40}, gen, torch::kFloat64).matmul(mix);
  auto y = (torch::randn({25, 40}, gen, torch::kFloat64) * 1.3 + 0.2).matmul(mix);
  const double by_rows = joule::eval::frechet_distance(x, y);  // 30·25 < 60²
  const double by_moments = joule::eval::frechet_distance(joule::eval::feature_moments(x), joule::eval::feature_moments(y));
  EXPECT_GT(by_moments, 1.0);
  EXPECT_NEAR(by_rows, by_moments, 1e-6 * by_moments);
  EXPECT_NEAR(joule::eval::frechet_distance(x, x), 0.0, 1e-6 * by_moments);
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

// Improved precision and recall (arXiv:1904.06991): exact on sets against themselves and on
// disjoint sets; on a generated set covering half the real support (or one of two modes),
// precision stays high while recall halves.
TEST(SampleQualityTest, PrecisionAndRecallSeparateFidelityFromCoverage) {
  using joule::eval::precision_recall;
  auto gen = joule::make_generator(4);
  auto real = torch::randn({1500, 4}, gen, torch::kFloat64);
  auto self = precision_recall(real, real);
  EXPECT_EQ(self.precision, 1.0);
  EXPECT_EQ(self.recall, 1.0);
  auto far = precision_recall(real, torch::randn({1500, 4}, gen, torch::kFloat64) + 20.0);
  EXPECT_EQ(far.precision, 0.0);
  EXPECT_EQ(far.recall, 0.0);

  // Uniform on the unit square against uniform on its left half. The k-NN balls leave small gaps
  // even in the support (a fresh draw of the same law scores ~0.97, not 1), so precision is
  // compared with that draw's; recall is the half plus a boundary band of about one k-NN radius
  // (sqrt(3 / (pi * 4000)) = 0.015 at the generated density), so 0.5 to ~0.53.
  auto square = torch::rand({2000, 2}, gen, torch::kFloat64);
  auto same = precision_recall(square, torch::rand({2000, 2}, gen, torch::kFloat64));
  auto half = torch::rand({2000, 2}, gen, torch::kFloat64) * torch::tensor({0.5, 1.0}, torch::kFloat64);
  auto h = precision_recall(square, half);
  EXPECT_GT(same.precision, 0.9);
  EXPECT_NEAR(h.precision, same.precision, 0.03);
  EXPECT_GT(h.recall, 0.48);
  EXPECT_LT(h.recall, 0.56);

  // Two far-apart modes against a generator that drops one: recall falls to half of what a
  // fresh draw of the same law gets (finite samples leave gaps), precision does not.
  auto modes = [&](int64_t n, bool both) {
    auto x = torch::randn({n, 4}, gen, torch::kFloat64);
    if (both) x.slice(0, 0, n / 2).add_(50.0);
    return x;
  };
  auto data = modes(2000, true);
  auto fresh = precision_recall(data, modes(2000, true));
  auto dropped = precision_recall(data, modes(1000, false));
  EXPECT_GT(fresh.recall, 0.8);
  EXPECT_NEAR(dropped.recall / fresh.recall, 0.5, 0.05);
  EXPECT_GT(dropped.precision, fresh.precision - 0.05);
}

TEST(SampleQualityTest, ClassAgreementCountsTheIntendedClass) {
  auto logits = torch::tensor({{2.0, 1.0, 0.0}, {0.0, 3.0, 1.0}, {0.0, 0.0, 5.0}, {1.0, 0.0, 0.0}});
  EXPECT_DOUBLE_EQ(joule::eval::class_agreement(logits, torch::tensor({0, 1, 2, 2})), 0.75);
  EXPECT_THROW(joule::eval::class_agreement(logits, torch::tensor({0, 1})), c10::Error);
  EXPECT_THROW(joule::eval::precision_recall(torch::randn({3, 2}), torch::randn({10, 2})), c10::Error);  // k = 3 needs 4 rows
  EXPECT_THROW(joule::eval::precision_recall(torch::randn({10, 2}), torch::randn({10, 3})), c10::Error);
}

TEST(SampleQualityTest, SequenceLabelConsistencyIsTheShareOfTheMostFrequentLabel) {
  // All four frames agree; two of four agree.
  EXPECT_DOUBLE_EQ(joule::eval::sequence_label_consistency(torch::tensor({{1, 1, 1, 1}, {0, 2, 2, 3}})), 0.75);
  EXPECT_DOUBLE_EQ(joule::eval::sequence_label_consistency(torch::tensor({{0, 1, 2}})), 1.0 / 3.0);
  EXPECT_THROW(joule::eval::sequence_label_consistency(torch::tensor({0, 1})), c10::Error);
  EXPECT_THROW(joule::eval::sequence_label_consistency(torch::tensor({{0, -1}})), c10::Error);
}

// A class row of samples off the data's manifold: the average precision only halves, the worst
// class shows it at exactly 0; classes with too few samples are not scored.
TEST(SampleQualityTest, WorstClassFindsTheRowOffTheManifold) {
  auto gen = joule::make_generator(6);
  auto real = torch::randn({300, 4}, gen, torch::kFloat64);
  auto good = real.slice(0, 0, 100);             // on the manifold: every row inside
  auto noise = real.slice(0, 100, 200) + 100.0;  // far from every real point
  auto stray = real.slice(0, 200, 203);          // a class of 3 samples
  auto generated = torch::cat({good, noise, stray});
  auto intended = torch::cat({torch::full({100}, 4, torch::kLong), torch::full({100}, 7, torch::kLong),
                              torch::full({3}, 1, torch::kLong)});
  const auto pr = joule::eval::precision_recall(real, generated);
  EXPECT_NEAR(pr.precision, 103.0 / 203.0, 1e-12);
  ASSERT_EQ(pr.generated_inside.size(0), 203);
  EXPECT_DOUBLE_EQ(pr.generated_inside.mean().item<double>(), pr.precision);
  const auto worst = joule::eval::worst_class(pr.generated_inside, intended, 5);
  EXPECT_EQ(worst.label, 7);
  EXPECT_DOUBLE_EQ(worst.value, 0.0);
  EXPECT_EQ(worst.classes, 2) << "class 1 has 3 samples, below min_count";
  // Scores per class are means: two classes at 1 and 0.5, the worst is 0.5.
  const auto half = joule::eval::worst_class(torch::tensor({1.0, 1.0, 1.0, 0.0}), torch::tensor({0, 0, 2, 2}), 1);
  EXPECT_EQ(half.label, 2);
  EXPECT_DOUBLE_EQ(half.value, 0.5);
  EXPECT_EQ(joule::eval::worst_class(torch::tensor({1.0}), torch::tensor({0}), 2).label, -1);
  EXPECT_THROW(joule::eval::worst_class(torch::tensor({1.0, 0.0}), torch::tensor({0}), 1), c10::Error);
}

}  // namespace
