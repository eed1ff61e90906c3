#pragma once
// Out-of-distribution detection metrics: AUROC and the ROC curve of a score that is higher on
// in-distribution inputs (the JEM paper's convention, Table 3: in-distribution = positive).
//
// AUROC = P(s_in > s_out) + ½ P(s_in = s_out), the Mann–Whitney U statistic over n_in · n_out
// pairs. It equals the trapezoidal area under the ROC curve with tied scores sharing one
// threshold, which is what sklearn.metrics.roc_auc_score computes (checked against it in
// tests/unit/test_ood.cpp).

#include <ATen/ATen.h>

#include <vector>

namespace joule::eval {

/// AUROC of scores [N_in] (positives) against [N_out] (negatives); float64 ranks with ties
/// averaged. NaN scores are an error; ±inf are ordered normally.
double auroc(const at::Tensor& scores_in, const at::Tensor& scores_out);

/// The ROC curve: one point per distinct score threshold t (descending), with
/// tpr = #{s_in ≥ t} / N_in and fpr = #{s_out ≥ t} / N_out, preceded by (0, 0) at t = +inf.
struct RocCurve {
  ///@{
  /// False- and true-positive rates and their thresholds, one entry per point.
  std::vector<double> fpr, tpr, thresholds;
  ///@}
};
/// The ROC curve of scores_in (positives) against scores_out (negatives).
RocCurve roc_curve(const at::Tensor& scores_in, const at::Tensor& scores_out);

/// Trapezoidal area under a curve given by points sorted by x (e.g. a RocCurve).
double trapezoid_area(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace joule::eval
