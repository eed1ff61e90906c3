#pragma once
// Calibration of a classifier's probabilities: expected calibration error with equal-width
// confidence bins, the reliability diagram's bins, and the Brier score.
//
// ECE (Guo et al. 2017, "On Calibration of Modern Neural Networks", Eq. 3; Naeini et al. 2015):
//   ECE = Σ_b (n_b / N) · |acc_b − conf_b|,
// where bin b = (b/B, (b+1)/B] holds the samples whose confidence max_c p(c|x) falls in it
// (the first bin also holds 0), acc_b is their accuracy and conf_b their mean confidence. The
// boundaries are computed as b·(1/B) in double precision, as numpy.linspace(0, 1, B + 1) does,
// so a confidence on a boundary lands in the same bin as in the reference implementations
// (JEM++ `Task/calibration.py` uses B = 10, the JEM paper's Figure 5).

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace joule::eval {

/// One bin of a reliability diagram.
struct ReliabilityBin {
  ///@{
  /// Confidence range (lower, upper] of the bin.
  double lower = 0, upper = 0;
  ///@}
  int64_t count = 0;            ///< samples in the bin
  double confidence = 0;        ///< their mean confidence (0 when empty)
  double accuracy = 0;          ///< their accuracy (0 when empty)
};

/// Bins of `probs` [N, C] (each row a distribution) against `labels` [N] (int64 in [0, C)).
/// The prediction is argmax_c probs (the first maximum on ties). `bins` ≥ 1.
std::vector<ReliabilityBin> reliability_bins(const at::Tensor& probs, const at::Tensor& labels, int64_t bins = 10);

/// ECE from precomputed bins: Σ_b (n_b / N) |acc_b − conf_b|.
double expected_calibration_error(const std::vector<ReliabilityBin>& bins);
/// ECE of `probs` [N, C] against `labels` [N] with `bins` equal-width bins.
double expected_calibration_error(const at::Tensor& probs, const at::Tensor& labels, int64_t bins = 10);

/// Multi-class Brier score (Brier 1950): mean over samples of Σ_c (p_c − 1[y = c])², in [0, 2].
double brier_score(const at::Tensor& probs, const at::Tensor& labels);

}  // namespace joule::eval
