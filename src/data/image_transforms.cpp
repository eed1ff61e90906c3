#include "joule/data/image_transforms.h"

#include "joule/data/augment.h"

#include <c10/util/Exception.h>

namespace joule::data {

Binarize parse_binarize(const std::string& name) {
  if (name == "none") return Binarize::kNone;
  if (name == "threshold") return Binarize::kThreshold;
  if (name == "stochastic") return Binarize::kStochastic;
  TORCH_CHECK(false, "unknown binarisation '", name, "' (allowed: none, threshold, stochastic)");
}

at::Tensor binarize_threshold(const at::Tensor& x, double threshold) { return x.gt(threshold).to(x.scalar_type()); }

at::Tensor binarize_stochastic(const at::Tensor& x, at::Generator& gen) {
  TORCH_CHECK(x.numel() == 0 || (x.min().item<double>() >= 0 && x.max().item<double>() <= 1),
              "stochastic binarisation needs values in [0, 1], got [", x.min().item<double>(), ", ",
              x.max().item<double>(), "]");
  return at::bernoulli(x, gen);
}

Standardizer Standardizer::fit(const at::Tensor& x, double min_std) {
  TORCH_CHECK(x.dim() >= 1 && x.size(0) >= 2, "Standardizer::fit needs at least 2 samples, got ", x.sizes());
  TORCH_CHECK(min_std > 0, "Standardizer: min_std must be > 0, got ", min_std);
  Standardizer s;
  s.mean = x.mean(0);
  s.std = x.std(0).clamp_min(min_std);
  return s;
}

at::Tensor Standardizer::apply(const at::Tensor& x) const { return (x - mean) / std; }
at::Tensor Standardizer::invert(const at::Tensor& z) const { return z * std + mean; }

at::Tensor crop_at_centroid(const at::Tensor& images, int64_t window, int64_t out_size, double threshold) {
  TORCH_CHECK(images.dim() == 4, "crop_at_centroid: expected images [M, C, H, W], got ", images.sizes());
  TORCH_CHECK(window > 0 && out_size > 0, "crop_at_centroid: window and out_size must be > 0, got ", window, " and ",
              out_size);
  const int64_t h = images.size(2), w = images.size(3);
  const auto x = images.to(at::kDouble);
  const auto weight = (x.mean(1) - threshold).clamp_min(0.0);  // [M, H, W]
  const auto total = weight.sum({1, 2});
  const auto empty = total <= 0;
  const auto safe = at::where(empty, at::ones_like(total), total);
  const auto centre = [&](const at::Tensor& coords, int64_t size) {
    return at::where(empty, at::full_like(total, 0.5 * static_cast<double>(size - 1)), (weight * coords).sum({1, 2}) / safe);
  };
  const auto cy = centre(at::arange(h, x.options()).view({1, h, 1}), h);
  const auto cx = centre(at::arange(w, x.options()).view({1, 1, w}), w);
  // A window × window box whose centre (top + (window − 1) / 2) is the centroid.
  const double half = 0.5 * static_cast<double>(window - 1);
  const auto side = at::full_like(cy, static_cast<double>(window));
  // Zeros outside the frame: the background an item near the border stands on.
  return resized_crop(images, at::stack({cy - half, cx - half, side, side}, 1), out_size, out_size, /*zeros_outside=*/true);
}

}  // namespace joule::data
