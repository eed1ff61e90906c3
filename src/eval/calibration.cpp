#include "joule/eval/calibration.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace joule::eval {
namespace {

void check_inputs(const at::Tensor& probs, const at::Tensor& labels, const char* what) {
  TORCH_CHECK(probs.dim() == 2 && probs.size(0) > 0 && probs.size(1) > 0, what, ": probs must be [N, C] with N, C > 0, got ",
              probs.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == probs.size(0), what, ": labels must be [", probs.size(0), "], got ",
              labels.sizes());
  TORCH_CHECK(at::isfinite(probs).all().item<bool>(), what, ": probs contain NaN or inf");
  auto l = labels.to(at::kLong);
  TORCH_CHECK(l.min().item<int64_t>() >= 0 && l.max().item<int64_t>() < probs.size(1), what, ": labels must be in [0, ",
              probs.size(1), ")");
}

}  // namespace

std::vector<ReliabilityBin> reliability_bins(const at::Tensor& probs, const at::Tensor& labels, int64_t bins) {
  TORCH_CHECK(bins >= 1, "reliability_bins: bins must be >= 1, got ", bins);
  check_inputs(probs, labels, "reliability_bins");
  auto p = probs.detach().to(at::kCPU, at::kDouble);
  auto [conf_t, pred_t] = p.max(1);
  auto correct_t = pred_t.eq(labels.to(at::kCPU, at::kLong)).to(at::kDouble).contiguous();
  conf_t = conf_t.contiguous();
  const double* conf = conf_t.data_ptr<double>();
  const double* correct = correct_t.data_ptr<double>();
  const double width = 1.0 / static_cast<double>(bins);
  std::vector<ReliabilityBin> out(bins);
  for (int64_t b = 0; b < bins; ++b) {
    out[b].lower = static_cast<double>(b) * width;
    out[b].upper = b + 1 == bins ? 1.0 : static_cast<double>(b + 1) * width;
  }
  std::vector<double> sum_conf(bins, 0.0), sum_correct(bins, 0.0);
  for (int64_t i = 0; i < conf_t.size(0); ++i) {
    const double c = conf[i];
    // (lower, upper] against the same boundaries as numpy.linspace; start from the estimate and
    // correct it so boundary values follow the comparison, not the rounding of c·B.
    int64_t b = std::min<int64_t>(bins - 1, std::max<int64_t>(0, static_cast<int64_t>(std::ceil(c * bins)) - 1));
    while (b > 0 && c <= out[b].lower) --b;
    while (b + 1 < bins && c > out[b].upper) ++b;
    ++out[b].count;
    sum_conf[b] += c;
    sum_correct[b] += correct[i];
  }
  for (int64_t b = 0; b < bins; ++b) {
    if (out[b].count == 0) continue;
    out[b].confidence = sum_conf[b] / static_cast<double>(out[b].count);
    out[b].accuracy = sum_correct[b] / static_cast<double>(out[b].count);
  }
  return out;
}

double expected_calibration_error(const std::vector<ReliabilityBin>& bins) {
  int64_t total = 0;
  for (const auto& b : bins) total += b.count;
  TORCH_CHECK(total > 0, "expected_calibration_error: no samples in the bins");
  double ece = 0;
  for (const auto& b : bins) ece += static_cast<double>(b.count) / static_cast<double>(total) * std::abs(b.accuracy - b.confidence);
  return ece;
}

double expected_calibration_error(const at::Tensor& probs, const at::Tensor& labels, int64_t bins) {
  return expected_calibration_error(reliability_bins(probs, labels, bins));
}

double brier_score(const at::Tensor& probs, const at::Tensor& labels) {
  check_inputs(probs, labels, "brier_score");
  auto p = probs.detach().to(at::kCPU, at::kDouble);
  auto onehot = at::zeros_like(p).scatter_(1, labels.to(at::kCPU, at::kLong).unsqueeze(1), 1.0);
  return (p - onehot).pow(2).sum(1).mean().item<double>();
}

}  // namespace joule::eval
