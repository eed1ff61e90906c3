// Linear probes (include/joule/eval/linear_probe.h): the logistic probe against the optimality
// condition of its objective (gradient by autograd, here) and against Bayes-easy and chance-level
// data, the ridge probe against its closed form and R²'s definition, few-shot accuracy on
// separable and pure-noise classes, label remapping and bad input.
//
// Chance-level checks use ±4 binomial standard errors: when the features say nothing about the
// labels and the test labels are balanced, the accuracy of any fixed classifier is Binomial(n, 1/K)/n,
// so a fixed seed lands outside with probability < 1e-4.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/types.h>  // torch::Device, used by joule/core/runtime.h

#include <cmath>
#include <string>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/eval/linear_probe.h"

namespace {

namespace je = joule::eval;

// K Gaussian blobs (σ = 1) in `dim` dimensions, centres 8·e_k (pairwise 11.3σ apart: the Bayes
// error is below 1e-8), `per_class` points each, labels label_of[k], float32 like encoder latents.
struct Blobs {
  at::Tensor x, y;
};
Blobs blobs(int64_t classes, int64_t dim, int64_t per_class, at::Generator& gen, const std::vector<int64_t>& label_of = {}) {
  auto centres = at::eye(dim, at::kDouble).narrow(0, 0, classes) * 8.0;
  auto ids = at::arange(classes, at::kLong).repeat_interleave(per_class);
  auto x = centres.index_select(0, ids) + at::randn({classes * per_class, dim}, gen, at::kDouble);
  auto y = ids;
  if (!label_of.empty()) y = at::tensor(label_of, at::kLong).index_select(0, ids);
  return {x.to(at::kFloat), y};
}

// n balanced labels 0..K−1 in random order.
at::Tensor balanced_labels(int64_t n, int64_t classes, at::Generator& gen) {
  auto y = at::arange(n, at::kLong).remainder(classes);
  return y.index_select(0, at::randperm(n, gen, at::kLong));
}

double accuracy(const at::Tensor& pred, const at::Tensor& y) { return pred.eq(y).to(at::kDouble).mean().item<double>(); }

// ------------------------------------------------------------------------------------------------
// Logistic probe

TEST(LinearProbeTest, LogisticSeparatesGaussianBlobs) {
  auto gen = joule::make_generator(11);
  auto train = blobs(4, 5, 100, gen), test = blobs(4, 5, 100, gen);
  auto probe = je::fit_logistic_probe(train.x, train.y);
  EXPECT_TRUE(probe.converged) << probe.iterations << " iterations";
  EXPECT_EQ(probe.weight.scalar_type(), at::kDouble);
  EXPECT_EQ(probe.weight.sizes(), (at::IntArrayRef{4, 5}));
  EXPECT_EQ(probe.num_classes(), 4);
  EXPECT_GE(accuracy(probe.predict(test.x), test.y), 0.98);
  EXPECT_GE(je::probe_accuracy(train.x, train.y, test.x, test.y), 0.98);
}

TEST(LinearProbeTest, LogisticOnNoiseIsAtChance) {
  auto gen = joule::make_generator(12);
  const int64_t k = 4, n_test = 2000;
  auto x_train = at::randn({400, 5}, gen, at::kDouble), x_test = at::randn({n_test, 5}, gen, at::kDouble);
  auto y_train = balanced_labels(400, k, gen), y_test = balanced_labels(n_test, k, gen);
  const double acc = je::probe_accuracy(x_train, y_train, x_test, y_test);
  const double chance = 1.0 / k, se = std::sqrt(chance * (1 - chance) / n_test);
  EXPECT_NEAR(acc, chance, 4 * se);
}

// The fit is the optimum of L(W, b) = mean cross-entropy + (λ/2)‖W‖²: its gradient, by autograd
// on features standardised here (population std), vanishes there. Overlapping classes (a finite
// optimum even for tiny λ) and a larger λ, with and without standardisation.
TEST(LinearProbeTest, LogisticFitIsAStationaryPointOfThePenalisedLoss) {
  auto x = at::tensor({0.1, 2.0, 1.5, -0.3, 0.7, 0.4, 2.2, 1.9, -1.0, 0.0, 1.2, 3.1, 0.5, -0.8, 1.8, 0.9}, at::kDouble)
               .view({8, 2}) * at::tensor({3.0, 0.2}, at::kDouble);
  auto y = at::tensor({0, 1, 1, 0, 1, 0, 0, 1}, at::kLong);
  for (double l2 : {1e-3, 0.1}) {
    for (bool standardize : {true, false}) {
      SCOPED_TRACE(testing::Message() << "l2 " << l2 << " standardize " << standardize);
      auto probe = je::fit_logistic_probe(x, y, je::LogisticProbeOptions().l2(l2).standardize(standardize));
      EXPECT_TRUE(probe.converged);
      auto z = x;
      if (standardize) z = (x - x.mean(0)) / x.var(0, /*unbiased=*/false).sqrt();
      EXPECT_LT((standardize ? (x - probe.mean) / probe.scale - z : probe.mean.abs()).abs().max().item<double>(), 1e-12);

      auto w = probe.weight.clone().requires_grad_(true), b = probe.bias.clone().requires_grad_(true);
      auto log_p = at::log_softmax(at::matmul(z, w.t()) + b, 1);
      auto loss = -log_p.gather(1, y.unsqueeze(1)).mean() + 0.5 * l2 * w.pow(2).sum();
      auto grads = torch::autograd::grad({loss}, {w, b});
      const double norm = at::cat({grads[0].flatten(), grads[1]}).norm().item<double>();
      EXPECT_LT(norm, 1e-5);
      EXPECT_NEAR(loss.item<double>(), probe.loss, 1e-12);
    }
  }
}

TEST(LinearProbeTest, NonContiguousLabelsAreRemappedAndPredictedAsGiven) {
  auto gen_a = joule::make_generator(13), gen_b = joule::make_generator(13);
  auto remapped = blobs(3, 4, 60, gen_a, {3, 7, 11});
  auto plain = blobs(3, 4, 60, gen_b);
  ASSERT_TRUE(remapped.x.equal(plain.x));
  auto probe = je::fit_logistic_probe(remapped.x, remapped.y);
  EXPECT_TRUE(probe.classes.equal(at::tensor({3, 7, 11}, at::kLong)));
  // Same problem as with labels 0, 1, 2: same weights, predictions mapped back to 3, 7, 11.
  auto reference = je::fit_logistic_probe(plain.x, plain.y);
  EXPECT_TRUE(probe.weight.equal(reference.weight));
  auto pred = probe.predict(remapped.x);
  EXPECT_TRUE(pred.equal(at::tensor({3, 7, 11}, at::kLong).index_select(0, reference.predict(plain.x))));
  EXPECT_GE(accuracy(pred, remapped.y), 0.98);
  // Unsorted, negative labels and int32 work too.
  auto y_odd = at::tensor({-5, 2, 100}, at::kInt).index_select(0, plain.y);
  auto odd = je::fit_logistic_probe(plain.x, y_odd);
  EXPECT_TRUE(odd.classes.equal(at::tensor({-5, 2, 100}, at::kLong)));
  EXPECT_TRUE(odd.predict(plain.x).equal(at::tensor({-5, 2, 100}, at::kLong).index_select(0, reference.predict(plain.x))));
}

TEST(LinearProbeTest, ConstantFeatureColumnsAreCentredNotDivided) {
  auto gen = joule::make_generator(14);
  auto train = blobs(3, 4, 50, gen), test = blobs(3, 4, 50, gen);
  // Columns 4 (zeros) and 5 (all 0.1, constant up to float rounding of its mean) added.
  auto add_constants = [](const at::Tensor& x) {
    return at::cat({x, at::zeros({x.size(0), 1}, x.options()), at::full({x.size(0), 1}, 0.1, x.options())}, 1);
  };
  auto probe = je::fit_logistic_probe(add_constants(train.x), train.y);
  EXPECT_TRUE(at::isfinite(probe.weight).all().item<bool>());
  EXPECT_DOUBLE_EQ(probe.scale[4].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(probe.scale[5].item<double>(), 1.0);
  EXPECT_LT(probe.weight.narrow(1, 4, 2).abs().max().item<double>(), 1e-12);
  EXPECT_GE(accuracy(probe.predict(add_constants(test.x)), test.y), 0.98);
  auto ridge = je::fit_ridge_probe(add_constants(train.x), train.x.narrow(1, 0, 2), 1e-3);
  EXPECT_TRUE(at::isfinite(ridge.weight).all().item<bool>());
}

TEST(LinearProbeTest, BadInputIsAClearError) {
  auto x = at::randn({10, 3}, at::kDouble);
  auto y = at::arange(10, at::kLong).remainder(2);
  EXPECT_THROW(je::fit_logistic_probe(x, y.narrow(0, 0, 9)), c10::Error);           // mismatched N
  EXPECT_THROW(je::fit_logistic_probe(x, y.to(at::kFloat)), c10::Error);            // float labels
  EXPECT_THROW(je::fit_logistic_probe(x, at::zeros({10}, at::kLong)), c10::Error);  // one class
  EXPECT_THROW(je::fit_logistic_probe(x.flatten(), y), c10::Error);                 // not [N, D]
  auto nan = x.clone();
  nan[3][1] = std::nan("");
  EXPECT_THROW(je::fit_logistic_probe(nan, y), c10::Error);
  auto inf = x.clone();
  inf[0][0] = INFINITY;
  EXPECT_THROW(je::probe_accuracy(x, y, inf, y), c10::Error);
  EXPECT_THROW(je::probe_accuracy(x, y, x.narrow(1, 0, 2), y), c10::Error);  // test width differs
  EXPECT_THROW(je::fit_logistic_probe(x, y, je::LogisticProbeOptions().l2(-1)), c10::Error);
  EXPECT_THROW(je::fit_logistic_probe(x, y, je::LogisticProbeOptions().max_iterations(0)), c10::Error);
  EXPECT_THROW(je::fit_logistic_probe(x, y, je::LogisticProbeOptions().tolerance(0)), c10::Error);
  EXPECT_THROW(je::fit_ridge_probe(x, nan.narrow(1, 0, 2)), c10::Error);
  EXPECT_THROW(je::fit_ridge_probe(x, x.narrow(0, 0, 9)), c10::Error);
  EXPECT_THROW(je::fit_ridge_probe(x, x, -1.0), c10::Error);
  EXPECT_THROW(je::ridge_r2(x, x, x, x.narrow(1, 0, 2)), c10::Error);  // y_test columns differ
}

// ------------------------------------------------------------------------------------------------
// Ridge probe and R²

TEST(LinearProbeTest, RidgeRecoversAnExactLinearMap) {
  auto gen = joule::make_generator(21);
  auto w = at::randn({5, 3}, gen, at::kDouble), b = at::randn({3}, gen, at::kDouble);
  auto x_train = at::randn({200, 5}, gen, at::kDouble) * 2.0, x_test = at::randn({200, 5}, gen, at::kDouble) * 2.0;
  auto r2 = je::ridge_r2_per_output(x_train.to(at::kFloat), at::matmul(x_train, w) + b, x_test, at::matmul(x_test, w) + b,
                                    1e-6);
  ASSERT_EQ(r2.sizes(), (at::IntArrayRef{3}));
  EXPECT_GT(r2.min().item<double>(), 0.999);
  EXPECT_NEAR(je::ridge_r2(x_train, at::matmul(x_train, w) + b, x_test, at::matmul(x_test, w) + b, 1e-6),
              r2.mean().item<double>(), 1e-12);
  // Float32 input of the same map: still exact up to float32 rounding.
  EXPECT_GT(je::ridge_r2(x_train.to(at::kFloat), (at::matmul(x_train, w) + b).to(at::kFloat), x_test.to(at::kFloat),
                         (at::matmul(x_test, w) + b).to(at::kFloat), 1e-6),
            0.999);
}

TEST(LinearProbeTest, RidgeOnIndependentTargetsScoresNearZero) {
  // The expected test R² of an OLS fit on noise is about −D/N (here −0.0025 per column).
  auto gen = joule::make_generator(22);
  auto x_train = at::randn({2000, 5}, gen, at::kDouble), x_test = at::randn({2000, 5}, gen, at::kDouble);
  auto y_train = at::randn({2000, 2}, gen, at::kDouble), y_test = at::randn({2000, 2}, gen, at::kDouble);
  auto r2 = je::ridge_r2_per_output(x_train, y_train, x_test, y_test);
  EXPECT_LE(r2.max().item<double>(), 0.05);
  EXPECT_GE(r2.min().item<double>(), -0.05);
}

// The coefficients are (ZᵀZ + λI)⁻¹Zᵀ(y − ȳ) on Z = standardised x, computed here by inversion.
TEST(LinearProbeTest, RidgeMatchesTheClosedForm) {
  auto gen = joule::make_generator(23);
  auto x = at::randn({50, 4}, gen, at::kDouble) * at::tensor({1.0, 10.0, 0.1, 3.0}, at::kDouble) + 2.0;
  auto y = at::randn({50, 2}, gen, at::kDouble) + at::matmul(x, at::randn({4, 2}, gen, at::kDouble));
  const double l2 = 5.0;  // large enough to move the solution well away from least squares
  auto probe = je::fit_ridge_probe(x, y, l2);
  auto mean = x.mean(0), std = x.var(0, /*unbiased=*/false).sqrt();
  auto z = (x - mean) / std;
  auto yc = y - y.mean(0);
  auto expected = at::matmul(at::inverse(at::matmul(z.t(), z) + l2 * at::eye(4, at::kDouble)), at::matmul(z.t(), yc));
  EXPECT_LT((probe.weight.t() - expected).abs().max().item<double>(), 1e-10 * expected.abs().max().item<double>());
  EXPECT_LT((probe.bias - y.mean(0)).abs().max().item<double>(), 1e-12);
  EXPECT_LT((probe.mean - mean).abs().max().item<double>(), 1e-12);
  EXPECT_LT((probe.scale - std).abs().max().item<double>(), 1e-12);
  auto x_new = at::randn({7, 4}, gen, at::kDouble);
  auto pred = at::matmul((x_new - mean) / std, expected) + y.mean(0);
  EXPECT_LT((probe.predict(x_new) - pred).abs().max().item<double>(), 1e-9);
  // λ = 0: least squares (residual orthogonal to the centred features).
  auto ols = je::fit_ridge_probe(x, y, 0.0);
  auto resid = y - ols.predict(x);
  EXPECT_LT(at::matmul(z.t(), resid).abs().max().item<double>(), 1e-8);
  EXPECT_LT(resid.mean(0).abs().max().item<double>(), 1e-10);
}

// SST is about the test mean: a probe that only predicts the training mean (λ huge, the
// intercept unpenalised) scores 1 − Σ(y − ȳ_train)²/Σ(y − ȳ_test)² = −n(ȳ_test − ȳ_train)²/SST.
TEST(LinearProbeTest, RSquaredIsAboutTheTestMean) {
  auto gen = joule::make_generator(24);
  auto x_train = at::randn({100, 3}, gen, at::kDouble), x_test = at::randn({80, 3}, gen, at::kDouble);
  auto y_train = at::randn({100, 1}, gen, at::kDouble), y_test = at::randn({80, 1}, gen, at::kDouble) + 1.0;
  const double shift = (y_test.mean() - y_train.mean()).item<double>();
  const double sst = (y_test - y_test.mean()).pow(2).sum().item<double>();
  EXPECT_NEAR(je::ridge_r2(x_train, y_train, x_test, y_test, 1e12), -80.0 * shift * shift / sst, 1e-6);
  // 1-D targets are one column.
  EXPECT_EQ(je::ridge_r2_per_output(x_train, y_train.flatten(), x_test, y_test.flatten()).sizes(), (at::IntArrayRef{1}));
  // r2_per_output by hand, and the constant-column convention (exact: 1, else 0).
  auto t = at::tensor({1.0, 5.0, 2.0, 5.0, 3.0, 5.0}, at::kDouble).view({3, 2});
  auto p = at::tensor({1.5, 5.0, 2.0, 5.0, 2.0, 5.0}, at::kDouble).view({3, 2});
  auto r2 = je::r2_per_output(t, p);
  EXPECT_NEAR(r2[0].item<double>(), 1.0 - (0.25 + 1.0) / 2.0, 1e-15);
  EXPECT_EQ(r2[1].item<double>(), 1.0);
  EXPECT_EQ(je::r2_per_output(t, p + 1.0)[1].item<double>(), 0.0);
}

// ------------------------------------------------------------------------------------------------
// Few-shot

TEST(FewShotTest, OneShotOnSeparableBlobsIsAccurateWithBothClassifiers) {
  auto gen = joule::make_generator(31);
  auto data = blobs(5, 8, 20, gen);
  for (auto classifier : {je::FewShotClassifier::kLogistic, je::FewShotClassifier::kNearestCentroid}) {
    auto draws = joule::make_generator(32);
    auto r = je::few_shot_accuracy(data.x, data.y, 1, 10, draws, classifier);
    EXPECT_GE(r.accuracy, 0.9) << static_cast<int>(classifier);
    EXPECT_EQ(r.shots, 1);
    EXPECT_EQ(r.repeats, 10);
    EXPECT_TRUE(std::isfinite(r.standard_error));
    EXPECT_GE(r.standard_error, 0.0);
  }
}

TEST(FewShotTest, NoiseFeaturesAreAtChance) {
  // Per repeat, 4 × 45 = 180 balanced unlabelled examples; the mean over repeats varies less
  // than one repeat, so ±4 single-repeat binomial standard errors is a safe bound.
  auto gen = joule::make_generator(33);
  auto x = at::randn({200, 5}, gen, at::kDouble);
  auto y = balanced_labels(200, 4, gen);
  const double se = std::sqrt(0.25 * 0.75 / 180.0);
  for (auto classifier : {je::FewShotClassifier::kLogistic, je::FewShotClassifier::kNearestCentroid}) {
    auto draws = joule::make_generator(34);
    EXPECT_NEAR(je::few_shot_accuracy(x, y, 5, 20, draws, classifier).accuracy, 0.25, 4 * se);
  }
}

TEST(FewShotTest, SeededDrawsReproduceAndLabelsAreRemapped) {
  auto gen_a = joule::make_generator(35), gen_b = joule::make_generator(35);
  auto remapped = blobs(3, 4, 10, gen_a, {3, 7, 11});
  auto plain = blobs(3, 4, 10, gen_b);
  for (auto classifier : {je::FewShotClassifier::kLogistic, je::FewShotClassifier::kNearestCentroid}) {
    auto d1 = joule::make_generator(36), d2 = joule::make_generator(36);
    auto a = je::few_shot_accuracy(remapped.x, remapped.y, 5, 4, d1, classifier);
    auto b = je::few_shot_accuracy(plain.x, plain.y, 5, 4, d2, classifier);
    EXPECT_EQ(a.accuracy, b.accuracy);
    EXPECT_EQ(a.standard_error, b.standard_error);
  }
  auto one = joule::make_generator(37);
  EXPECT_TRUE(std::isnan(je::few_shot_accuracy(plain.x, plain.y, 1, 1, one).standard_error));
}

TEST(FewShotTest, TooFewExamplesNameTheClass) {
  auto gen = joule::make_generator(38);
  auto data = blobs(3, 4, 10, gen, {3, 7, 11});
  // Class 11 keeps 3 examples: enough for 2 shots, not for 3.
  auto keep = at::arange(0, 23, at::kLong);
  auto x = data.x.index_select(0, keep), y = data.y.index_select(0, keep);
  auto draws = joule::make_generator(39);
  EXPECT_NO_THROW(je::few_shot_accuracy(x, y, 2, 2, draws));
  try {
    je::few_shot_accuracy(x, y, 3, 2, draws);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("class 11 has 3 examples"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at least 4"), std::string::npos) << msg;
  }
  EXPECT_THROW(je::few_shot_accuracy(x, y, 0, 2, draws), c10::Error);
  EXPECT_THROW(je::few_shot_accuracy(x, y, 1, 0, draws), c10::Error);
  EXPECT_THROW(je::few_shot_accuracy(x, y.narrow(0, 0, 20), 1, 2, draws), c10::Error);
}

TEST(FewShotTest, ClassifierNamesParse) {
  EXPECT_EQ(je::parse_few_shot_classifier("logistic"), je::FewShotClassifier::kLogistic);
  EXPECT_EQ(je::parse_few_shot_classifier("nearest_centroid"), je::FewShotClassifier::kNearestCentroid);
  EXPECT_EQ(je::parse_few_shot_classifier("centroid"), je::FewShotClassifier::kNearestCentroid);
  EXPECT_THROW(je::parse_few_shot_classifier("knn"), c10::Error);
}

}  // namespace
