#include "joule/eval/ood.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <limits>
#include <numeric>

namespace joule::eval {
namespace {

std::vector<double> to_vector(const at::Tensor& s, const char* what) {
  TORCH_CHECK(s.dim() == 1 && s.size(0) > 0, what, " must be a non-empty 1-D tensor, got ", s.sizes());
  auto d = s.detach().to(at::kCPU, at::kDouble).contiguous();
  TORCH_CHECK(!at::isnan(d).any().item<bool>(), what, " contain NaN; an OOD score must be defined for every input");
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace

double auroc(const at::Tensor& scores_in, const at::Tensor& scores_out) {
  const auto a = to_vector(scores_in, "auroc: in-distribution scores");
  const auto b = to_vector(scores_out, "auroc: out-of-distribution scores");
  // Pool, sort, give tied values their average rank (1-based); then
  // U = Σ ranks(in) − n_in(n_in + 1)/2 counts pairs with s_in > s_out plus half the ties.
  const size_t n = a.size() + b.size();
  std::vector<std::pair<double, bool>> all;
  all.reserve(n);
  for (double v : a) all.emplace_back(v, true);
  for (double v : b) all.emplace_back(v, false);
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  double rank_sum_in = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    int64_t in_group = 0;
    while (j < n && all[j].first == all[i].first) in_group += all[j++].second ? 1 : 0;
    const double avg_rank = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j));
    rank_sum_in += avg_rank * static_cast<double>(in_group);
    i = j;
  }
  const double n_in = static_cast<double>(a.size()), n_out = static_cast<double>(b.size());
  const double u = rank_sum_in - n_in * (n_in + 1) / 2;
  return u / (n_in * n_out);
}

RocCurve roc_curve(const at::Tensor& scores_in, const at::Tensor& scores_out) {
  const auto a = to_vector(scores_in, "roc_curve: in-distribution scores");
  const auto b = to_vector(scores_out, "roc_curve: out-of-distribution scores");
  std::vector<std::pair<double, bool>> all;
  for (double v : a) all.emplace_back(v, true);
  for (double v : b) all.emplace_back(v, false);
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  RocCurve roc;
  roc.fpr.push_back(0);
  roc.tpr.push_back(0);
  roc.thresholds.push_back(std::numeric_limits<double>::infinity());
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) (all[j++].second ? tp : fp)++;
    roc.tpr.push_back(static_cast<double>(tp) / static_cast<double>(a.size()));
    roc.fpr.push_back(static_cast<double>(fp) / static_cast<double>(b.size()));
    roc.thresholds.push_back(all[i].first);
    i = j;
  }
  return roc;
}

double trapezoid_area(const std::vector<double>& x, const std::vector<double>& y) {
  TORCH_CHECK(x.size() == y.size(), "trapezoid_area: x and y differ in length (", x.size(), " vs ", y.size(), ")");
  double area = 0;
  for (size_t i = 1; i < x.size(); ++i) area += (x[i] - x[i - 1]) * 0.5 * (y[i] + y[i - 1]);
  return area;
}

}  // namespace joule::eval
