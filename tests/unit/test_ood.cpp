// OOD metrics: AUROC with ties by hand and against sklearn.metrics.roc_auc_score
// (tests/support/jem_eval_reference.h), and the ROC curve's points and area.
#include <gtest/gtest.h>

#include "joule/eval/ood.h"
#include "support/jem_eval_reference.h"

namespace {

namespace ref = joule::testing::jem_ref;
using joule::eval::auroc;

torch::Tensor t(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }

TEST(OodTest, AurocWithTiesMatchesHandComputation) {
  // in = {3, 2, 2, 1}, out = {2, 1, 0}: pairs won 3 + 2·(1 + 1 + ½) + (1 + ½) = 9.5 of 12.
  EXPECT_NEAR(auroc(t({3, 2, 2, 1}), t({2, 1, 0})), 9.5 / 12.0, 1e-15);
  EXPECT_NEAR(auroc(t({1, 1}), t({1, 1, 1})), 0.5, 1e-15);
  EXPECT_NEAR(auroc(t({5, 6}), t({1, 2, 3})), 1.0, 1e-15);
  EXPECT_NEAR(auroc(t({1, 2, 3}), t({5, 6})), 0.0, 1e-15);
  // Float32 input and infinities are fine.
  EXPECT_NEAR(auroc(torch::tensor({INFINITY, 1.0f}), torch::tensor({-INFINITY, 1.0f})), 0.875, 1e-15);
}

TEST(OodTest, AurocMatchesSklearn) {
  EXPECT_NEAR(auroc(t(ref::auroc_ties_in), t(ref::auroc_ties_out)), ref::auroc_ties, 1e-12);
  EXPECT_NEAR(auroc(t(ref::auroc_continuous_in), t(ref::auroc_continuous_out)), ref::auroc_continuous, 1e-12);
  EXPECT_NEAR(auroc(t(ref::auroc_few_levels_in), t(ref::auroc_few_levels_out)), ref::auroc_few_levels, 1e-12);
}

TEST(OodTest, RocCurvePointsAndAreaAgreeWithAuroc) {
  auto roc = joule::eval::roc_curve(t({3, 2, 2, 1}), t({2, 1, 0}));
  // Thresholds +inf, 3, 2, 1, 0: (fpr, tpr) = (0, 0), (0, ¼), (⅓, ¾), (⅔, 1), (1, 1).
  ASSERT_EQ(roc.fpr.size(), 5u);
  const std::vector<double> fpr{0, 0, 1.0 / 3, 2.0 / 3, 1}, tpr{0, 0.25, 0.75, 1, 1};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_NEAR(roc.fpr[i], fpr[i], 1e-15);
    EXPECT_NEAR(roc.tpr[i], tpr[i], 1e-15);
  }
  EXPECT_NEAR(joule::eval::trapezoid_area(roc.fpr, roc.tpr), 9.5 / 12.0, 1e-15);
  auto big = joule::eval::roc_curve(t(ref::auroc_ties_in), t(ref::auroc_ties_out));
  EXPECT_NEAR(joule::eval::trapezoid_area(big.fpr, big.tpr), ref::auroc_ties, 1e-12);
}

TEST(OodTest, BadScoresAreClearErrors) {
  EXPECT_THROW(auroc(t({1, NAN}), t({0})), c10::Error);
  EXPECT_THROW(auroc(torch::empty({0}, torch::kFloat64), t({0})), c10::Error);
  EXPECT_THROW(auroc(t({1, 2}).view({1, 2}), t({0})), c10::Error);
}

}  // namespace
