#pragma once
// Preprocessing for image (and other [N, ...]) data: binarisation, standardisation, a seeded
// train/validation split, and crops centred on an image's content.

#include <ATen/ATen.h>

#include <string>

namespace joule::data {

/// How to binarise images (see binarize_threshold(), binarize_stochastic()).
enum class Binarize {
  kNone,       ///< keep the grey values
  kThreshold,  ///< 1 where x > threshold
  kStochastic  ///< one Bernoulli(x) draw per element
};
/// Parses "none", "threshold", "stochastic".
Binarize parse_binarize(const std::string& name);

/// 1 where x > threshold, else 0 (same dtype as x).
at::Tensor binarize_threshold(const at::Tensor& x, double threshold = 0.5);

/// One Bernoulli(x) draw per element (x must lie in [0, 1]): the "stochastic binarisation" of
/// Salakhutdinov & Murray (2008), drawn once so that the dataset stays fixed.
at::Tensor binarize_stochastic(const at::Tensor& x, at::Generator& gen);

/// Per-feature standardisation (x − mean) / std fitted on training data. Features whose std is
/// below `min_std` are divided by min_std instead (constant border pixels of MNIST-like images
/// would otherwise blow up).
struct Standardizer {
  at::Tensor mean;  ///< shape of one sample
  at::Tensor std;   ///< per-feature standard deviation, at least min_std (shape of one sample)
  /// Fits mean and std over the first dimension of x [N, ...] (N >= 2, min_std > 0).
  static Standardizer fit(const at::Tensor& x, double min_std = 0.05);
  /// (x − mean) / std.
  at::Tensor apply(const at::Tensor& x) const;
  /// The inverse of apply(): z · std + mean.
  at::Tensor invert(const at::Tensor& z) const;
};

/// Crops a `window` × `window` square centred on each image's intensity centroid and resizes it
/// to `out_size` × `out_size` (resized_crop(): bilinear as upsample_bilinear2d, zeros outside
/// the image): `images` [M, C, H, W] →
/// [M, C, out_size, out_size]. The centroid weighs each pixel by max(mean over channels −
/// `threshold`, 0), so that a faint background does not pull it towards the middle; an image with
/// no pixel above the threshold is cropped at its centre. Used to show an object that moves in a
/// larger frame (moving Fashion-MNIST) to a classifier trained on centred items.
at::Tensor crop_at_centroid(const at::Tensor& images, int64_t window, int64_t out_size, double threshold = 0.1);

}  // namespace joule::data
