#include "joule/eval/sample_quality.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <vector>

namespace joule::eval {

namespace {

void check_features(const at::Tensor& f, const char* what, int64_t min_rows) {
  TORCH_CHECK(f.defined() && f.dim() == 2, what, ": expected features [N, F], got ",
              f.defined() ? f.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(f.size(0) >= min_rows, what, ": needs at least ", min_rows, " rows, got ", f.size(0));
  TORCH_CHECK(at::isfinite(f).all().item<bool>(), what, ": the features contain NaN or inf");
}

// The symmetric PSD square root by eigendecomposition (rounding negatives clipped to 0).
at::Tensor sqrt_psd(const at::Tensor& m) {
  auto eig = at::linalg_eigh(m);
  auto w = std::get<0>(eig).clamp_min(0).sqrt();
  auto v = std::get<1>(eig);
  return (v * w.unsqueeze(0)).matmul(v.transpose(0, 1));
}

}  // namespace

FeatureMoments feature_moments(const at::Tensor& features) {
  check_features(features, "feature_moments", 2);
  auto f = features.to(at::kCPU, at::kDouble);
  FeatureMoments m;
  m.n = f.size(0);
  m.mean = f.mean(0);
  auto c = f - m.mean;
  m.cov = c.transpose(0, 1).matmul(c) / static_cast<double>(m.n - 1);
  return m;
}

double frechet_distance(const FeatureMoments& a, const FeatureMoments& b) {
  TORCH_CHECK(a.mean.numel() == b.mean.numel(), "frechet_distance: ", a.mean.numel(), " features against ", b.mean.numel());
  auto s1 = sqrt_psd(a.cov);
  auto inner = s1.matmul(b.cov).matmul(s1);
  inner = 0.5 * (inner + inner.transpose(0, 1));  // symmetric up to rounding; make it exact
  const double tr_sqrt = std::get<0>(at::linalg_eigh(inner)).clamp_min(0).sqrt().sum().item<double>();
  const double mean_term = (a.mean - b.mean).pow(2).sum().item<double>();
  const double d = mean_term + a.cov.trace().item<double>() + b.cov.trace().item<double>() - 2.0 * tr_sqrt;
  return std::max(d, 0.0);
}

double frechet_distance(const at::Tensor& features_a, const at::Tensor& features_b) {
  check_features(features_a, "frechet_distance", 2);
  check_features(features_b, "frechet_distance", 2);
  TORCH_CHECK(features_a.size(1) == features_b.size(1), "frechet_distance: ", features_a.size(1), " features against ",
              features_b.size(1));
  const int64_t m = features_a.size(0), n = features_b.size(0), dim = features_a.size(1);
  // Few rows against many features (500 samples of 3 136 CNN features): the F×F route costs two
  // eigendecompositions of F×F (about 20 s each at F = 3 136 on one core). With centred rows A
  // [M, F] and B [N, F], Σ₁ = AᵀA/(M−1) and Σ₂ = BᵀB/(N−1), the matrix Σ₁^{1/2} Σ₂ Σ₁^{1/2} has the
  // non-zero eigenvalues of Σ₁Σ₂, which are those of (ABᵀ)(ABᵀ)ᵀ/((M−1)(N−1)): its trace square
  // root is the sum of ABᵀ's singular values over √((M−1)(N−1)). Exact, and an M×N problem.
  if (m * n >= dim * dim) return frechet_distance(feature_moments(features_a), feature_moments(features_b));
  auto a = features_a.to(at::kCPU, at::kDouble);
  auto b = features_b.to(at::kCPU, at::kDouble);
  const auto mean_a = a.mean(0), mean_b = b.mean(0);
  a = a - mean_a;
  b = b - mean_b;
  const double ca = static_cast<double>(m - 1), cb = static_cast<double>(n - 1);
  const double tr_sqrt = at::linalg_svdvals(a.matmul(b.transpose(0, 1))).sum().item<double>() / std::sqrt(ca * cb);
  const double mean_term = (mean_a - mean_b).pow(2).sum().item<double>();
  const double d = mean_term + a.pow(2).sum().item<double>() / ca + b.pow(2).sum().item<double>() / cb - 2.0 * tr_sqrt;
  return std::max(d, 0.0);
}

KernelDistance kernel_distance(const at::Tensor& features_a, const at::Tensor& features_b, at::Generator& gen,
                               int64_t subsets, int64_t subset_size) {
  check_features(features_a, "kernel_distance", 2);
  check_features(features_b, "kernel_distance", 2);
  TORCH_CHECK(features_a.size(1) == features_b.size(1), "kernel_distance: ", features_a.size(1), " features against ",
              features_b.size(1));
  TORCH_CHECK(subsets >= 1 && subset_size >= 2, "kernel_distance: needs subsets >= 1 and subset_size >= 2");
  auto a = features_a.to(at::kCPU, at::kDouble);
  auto b = features_b.to(at::kCPU, at::kDouble);
  const int64_t m = std::min({subset_size, a.size(0), b.size(0)});
  const double dim = static_cast<double>(a.size(1));
  const auto kernel = [dim](const at::Tensor& x, const at::Tensor& y) { return (x.matmul(y.transpose(0, 1)) / dim + 1).pow(3); };
  std::vector<double> values;
  auto cpu_long = at::TensorOptions().dtype(at::kLong);
  for (int64_t s = 0; s < subsets; ++s) {
    auto ia = at::randperm(a.size(0), gen, cpu_long).slice(0, 0, m);
    auto ib = at::randperm(b.size(0), gen, cpu_long).slice(0, 0, m);
    auto x = a.index_select(0, ia), y = b.index_select(0, ib);
    auto kxx = kernel(x, x), kyy = kernel(y, y), kxy = kernel(x, y);
    const double mm = static_cast<double>(m);
    const double sxx = (kxx.sum() - kxx.diagonal().sum()).item<double>() / (mm * (mm - 1));
    const double syy = (kyy.sum() - kyy.diagonal().sum()).item<double>() / (mm * (mm - 1));
    const double sxy = kxy.sum().item<double>() / (mm * mm);
    values.push_back(sxx + syy - 2 * sxy);
  }
  KernelDistance out;
  for (double v : values) out.mean += v / static_cast<double>(values.size());
  if (values.size() > 1) {
    double ss = 0;
    for (double v : values) ss += (v - out.mean) * (v - out.mean);
    out.std = std::sqrt(ss / static_cast<double>(values.size() - 1));
  }
  return out;
}

namespace {

// Euclidean distances from each row of `x` [M, F] to its nearest rows of `y` [N, F], in blocks
// of rows, reduced by `reduce` (a [b, N] block of distances -> [b]).
template <class Reduce>
at::Tensor blockwise_distances(const at::Tensor& x, const at::Tensor& y, Reduce reduce) {
  constexpr int64_t kBlock = 512;
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += kBlock) out.push_back(reduce(at::cdist(x.slice(0, i, i + kBlock), y)));
  return at::cat(out);
}

// The k-th-neighbour radius of every row of `f` within `f` (the row itself, at distance 0, excluded).
at::Tensor knn_radii(const at::Tensor& f, int64_t k) {
  return blockwise_distances(f, f, [k](const at::Tensor& d) { return std::get<0>(d.topk(k + 1, 1, false, true)).select(1, k); });
}

// Per row of `query`: 1 if within the radius of some row of `support`, else 0.
at::Tensor inside(const at::Tensor& query, const at::Tensor& support, const at::Tensor& radii) {
  return blockwise_distances(query, support, [&radii](const at::Tensor& d) {
    return (d <= radii.unsqueeze(0)).any(1).to(at::kDouble);
  });
}

}  // namespace

PrecisionRecall precision_recall(const at::Tensor& real, const at::Tensor& generated, int64_t k) {
  TORCH_CHECK(k >= 1, "precision_recall: k must be >= 1, got ", k);
  check_features(real, "precision_recall (real)", k + 1);
  check_features(generated, "precision_recall (generated)", k + 1);
  TORCH_CHECK(real.size(1) == generated.size(1), "precision_recall: ", real.size(1), " features against ",
              generated.size(1));
  auto r = real.to(at::kCPU, at::kDouble), g = generated.to(at::kCPU, at::kDouble);
  PrecisionRecall out;
  out.generated_inside = inside(g, r, knn_radii(r, k));
  out.precision = out.generated_inside.mean().item<double>();
  out.recall = inside(r, g, knn_radii(g, k)).mean().item<double>();
  return out;
}

double class_agreement(const at::Tensor& logits, const at::Tensor& intended) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(0) > 0, "class_agreement: expected logits [N, C], got ", logits.sizes());
  TORCH_CHECK(intended.dim() == 1 && intended.size(0) == logits.size(0), "class_agreement: expected ", logits.size(0),
              " intended classes, got shape ", intended.sizes());
  return (logits.argmax(1).cpu() == intended.cpu().to(at::kLong)).to(at::kDouble).mean().item<double>();
}

double sequence_label_consistency(const at::Tensor& labels) {
  TORCH_CHECK(labels.dim() == 2 && labels.size(0) > 0 && labels.size(1) > 0,
              "sequence_label_consistency: expected labels [N, T] with N, T > 0, got ", labels.sizes());
  const auto y = labels.cpu().to(at::kLong);
  const int64_t classes = y.max().item<int64_t>() + 1;
  TORCH_CHECK(y.min().item<int64_t>() >= 0, "sequence_label_consistency: labels must be >= 0");
  // Per sequence: counts of each label over its frames, via one-hot sums.
  const auto counts = at::one_hot(y, classes).sum(1);  // [N, classes]
  return (std::get<0>(counts.max(1)).to(at::kDouble) / static_cast<double>(y.size(1))).mean().item<double>();
}

WorstClass worst_class(const at::Tensor& per_sample, const at::Tensor& intended, int64_t min_count) {
  TORCH_CHECK(per_sample.dim() == 1 && intended.dim() == 1 && per_sample.size(0) == intended.size(0),
              "worst_class: expected per-sample scores [N] and intended classes [N], got ", per_sample.sizes(), " and ",
              intended.sizes());
  TORCH_CHECK(min_count >= 1, "worst_class: min_count must be >= 1, got ", min_count);
  WorstClass out;
  if (per_sample.size(0) == 0) return out;
  const auto y = intended.cpu().to(at::kLong);
  const auto v = per_sample.cpu().to(at::kDouble);
  TORCH_CHECK(y.min().item<int64_t>() >= 0, "worst_class: intended classes must be >= 0");
  const int64_t classes = y.max().item<int64_t>() + 1;
  const auto counts = at::bincount(y, {}, classes);
  const auto sums = at::bincount(y, v, classes);
  for (int64_t c = 0; c < classes; ++c) {
    const int64_t n = counts[c].item<int64_t>();
    if (n < min_count) continue;
    ++out.classes;
    const double mean = sums[c].item<double>() / static_cast<double>(n);
    if (out.label < 0 || mean < out.value) {
      out.label = c;
      out.value = mean;
    }
  }
  return out;
}

}  // namespace joule::eval
