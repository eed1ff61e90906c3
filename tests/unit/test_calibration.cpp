// Calibration metrics against hand-computed values and an independent numpy implementation
// (tests/support/jem_eval_reference.h, scripts/gen_jem_eval_reference.py).
#include <gtest/gtest.h>

#include "joule/eval/calibration.h"
#include "support/jem_eval_reference.h"

namespace {

namespace ref = joule::testing::jem_ref;

torch::Tensor six_probs() {
  return torch::tensor({0.9, 0.1, 0.8, 0.2, 0.35, 0.65, 0.55, 0.45, 0.95, 0.05, 0.85, 0.15}, torch::kFloat64).view({6, 2});
}
torch::Tensor six_labels() { return torch::tensor({0, 1, 1, 0, 0, 1}, torch::kLong); }

TEST(CalibrationTest, EceMatchesHandComputation) {
  // Confidences .9 .8 .65 .55 .95 .85, correct: yes no yes yes yes no.
  // Bins (.5,.6]: gap .45; (.6,.7]: .35; (.7,.8]: .8; (.8,.9]: acc .5 vs conf .875, gap .375 (2 samples);
  // (.9,1]: .05. ECE = (.45 + .35 + .8 + 2·.375 + .05) / 6 = 0.4.
  EXPECT_NEAR(joule::eval::expected_calibration_error(six_probs(), six_labels(), 10), 0.4, 1e-12);
  auto bins = joule::eval::reliability_bins(six_probs(), six_labels(), 10);
  ASSERT_EQ(bins.size(), 10u);
  EXPECT_EQ(bins[8].count, 2);
  EXPECT_NEAR(bins[8].accuracy, 0.5, 1e-12);
  EXPECT_NEAR(bins[8].confidence, 0.875, 1e-12);
  EXPECT_EQ(bins[0].count + bins[1].count + bins[2].count + bins[3].count + bins[4].count, 0);
  EXPECT_DOUBLE_EQ(bins[9].upper, 1.0);
}

TEST(CalibrationTest, BrierMatchesHandComputation) {
  // Σ_c (p_c − 1[y = c])² per sample: .02, 1.28, .245, .405, .005, 1.445; mean 3.4 / 6.
  EXPECT_NEAR(joule::eval::brier_score(six_probs(), six_labels()), 3.4 / 6.0, 1e-12);
  auto perfect = torch::eye(3, torch::kFloat64);
  EXPECT_NEAR(joule::eval::brier_score(perfect, torch::arange(3, torch::kLong)), 0.0, 1e-15);
  EXPECT_NEAR(joule::eval::brier_score(perfect, torch::tensor({1, 2, 0}, torch::kLong)), 2.0, 1e-15);
}

TEST(CalibrationTest, BoundaryConfidencesFollowNumpyLinspaceBins) {
  // 0.3 and 0.5 lie on bin boundaries: (0.2, 0.3] and (0.4, 0.5], as with numpy.linspace edges.
  auto p = torch::tensor({0.3, 0.25, 0.25, 0.2, 0.5, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0}, torch::kFloat64).view({3, 4});
  auto bins = joule::eval::reliability_bins(p, torch::tensor({0, 1, 0}, torch::kLong), 10);
  EXPECT_EQ(bins[2].count, 1);
  EXPECT_EQ(bins[4].count, 1);
  EXPECT_EQ(bins[9].count, 1);
  EXPECT_NEAR(bins[4].accuracy, 0.0, 0);  // argmax of the tie [.5, .5] is class 0, label 1
}

TEST(CalibrationTest, MatchesIndependentNumpyImplementation) {
  auto p = torch::tensor(ref::calib_probs, torch::kFloat64).view({ref::calib_n, ref::calib_c});
  auto y = torch::tensor(ref::calib_labels, torch::kLong);
  EXPECT_NEAR(joule::eval::expected_calibration_error(p, y, 10), ref::calib_ece, 1e-12);
  EXPECT_NEAR(joule::eval::brier_score(p, y), ref::calib_brier, 1e-12);
}

TEST(CalibrationTest, BadInputsAreClearErrors) {
  EXPECT_THROW(joule::eval::expected_calibration_error(six_probs(), torch::zeros({5}, torch::kLong)), c10::Error);
  EXPECT_THROW(joule::eval::expected_calibration_error(six_probs(), torch::full({6}, 2, torch::kLong)), c10::Error);
  EXPECT_THROW(joule::eval::reliability_bins(six_probs(), six_labels(), 0), c10::Error);
  auto nan = six_probs().clone();
  nan[0][0] = NAN;
  EXPECT_THROW(joule::eval::brier_score(nan, six_labels()), c10::Error);
}

}  // namespace
