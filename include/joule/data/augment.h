#pragma once
// Random image augmentations: the transitions improved contrastive divergence applies to the
// replay-buffer states before each Langevin run (Du et al., arXiv:2012.01316 §3.3, "data
// augmentation transitions"). The reference code (yilundu/improved_contrastive_divergence,
// utils.py) uses torchvision's SimCLR-style pipeline on PIL images; these are batched tensor
// versions that follow torchvision's documented semantics for float images in [0, 1]:
// RandomResizedCrop, RandomHorizontalFlip, RandomApply(ColorJitter), RandomGrayscale and a
// Gaussian blur. Every random number comes from the caller's generator.
//
// Use as a chain transition:
//   auto opts = joule::data::AugmentOptions::icd_cifar10().low(-1).high(1);
//   chains->set_transition([opts](const at::Tensor& x, at::Generator& g) {
//     return joule::data::augment(x, opts, g);
//   });

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>

namespace joule::data {

/// Which transforms augment() applies, with which probability and strength. Probabilities are
/// per image. The defaults (none()) apply nothing.
struct AugmentOptions {
  /// No transform (active() is false).
  static AugmentOptions none();
  /// The reference code's CIFAR-10 recipe (utils.py, both buffers; colour strength s = 1):
  /// RandomResizedCrop(32, scale=(0.08, 1)), RandomHorizontalFlip(), RandomApply(
  /// [ColorJitter(0.8, 0.8, 0.8, 0.4)], p=0.8), RandomGrayscale(p=0.2). This is SimCLR's
  /// colour distortion except for the hue strength (SimCLR: 0.2 s, the reference: 0.4 s).
  static AugmentOptions icd_cifar10();
  /// The reference code's CelebA recipe with its default buffer (train.py --reservoir=True,
  /// ReservoirBuffer in utils.py): the crop and flip of icd_cifar10(), the colour distortion at
  /// strength s = 0.5, i.e. ColorJitter(0.4, 0.4, 0.4, 0.2) with p = 0.8 and RandomGrayscale(0.2),
  /// then SimCLR's GaussianBlur(kernel_size=5): with p = 0.5, σ ~ U(0.1, 2.0), OpenCV's
  /// cv2.GaussianBlur, whose default border (BORDER_REFLECT_101) is the reflect padding used
  /// here. (With --reservoir=False the reference's ReplayBuffer uses s = 1 and no blur.)
  static AugmentOptions icd_celeba();

  /// True when some transform can change an image.
  bool active() const;
  /// Fails with a message naming the offending option.
  void validate() const;

  /// Probability of a horizontal flip (torchvision RandomHorizontalFlip(p)).
  TORCH_ARG(double, flip_prob) = 0.0;
  /// Probability of a random resized crop (torchvision's RandomResizedCrop always crops: 1).
  TORCH_ARG(double, crop_prob) = 0.0;
  /// Range of the crop's area as a fraction of the image's (RandomResizedCrop's `scale`):
  /// lower end, 0 < crop_scale_min <= crop_scale_max.
  TORCH_ARG(double, crop_scale_min) = 0.08;
  /// Upper end of the crop's area fraction (<= 1).
  TORCH_ARG(double, crop_scale_max) = 1.0;
  /// Range of the crop's aspect ratio width/height, drawn log-uniformly (`ratio`): lower end
  /// (> 0).
  TORCH_ARG(double, crop_ratio_min) = 3.0 / 4.0;
  /// Upper end of the crop's aspect ratio (>= crop_ratio_min, finite).
  TORCH_ARG(double, crop_ratio_max) = 4.0 / 3.0;
  /// Probability of a colour jitter (RandomApply([ColorJitter(...)], p)).
  TORCH_ARG(double, jitter_prob) = 0.0;
  /// ColorJitter's brightness strength v >= 0: the factor is drawn uniformly from
  /// [max(0, 1 − v), 1 + v]. 0 = off.
  TORCH_ARG(double, brightness) = 0.0;
  /// ColorJitter's contrast strength v >= 0 (factor in [max(0, 1 − v), 1 + v]; 0 = off).
  TORCH_ARG(double, contrast) = 0.0;
  /// ColorJitter's saturation strength v >= 0 (factor in [max(0, 1 − v), 1 + v]; 0 = off).
  TORCH_ARG(double, saturation) = 0.0;
  /// ColorJitter's hue strength: the shift in turns is drawn from [−hue, hue] (in [0, 0.5]; 0 = off).
  TORCH_ARG(double, hue) = 0.0;
  /// Probability of converting to grayscale (RandomGrayscale(p); no effect on C = 1).
  TORCH_ARG(double, grayscale_prob) = 0.0;
  /// Probability of a Gaussian blur with an odd `blur_kernel` × `blur_kernel` kernel whose σ is
  /// drawn uniformly from [blur_sigma_min, blur_sigma_max] (SimCLR's blur; kernel 1 = off).
  TORCH_ARG(double, blur_prob) = 0.0;
  /// Blur kernel size in pixels (positive, odd; 1 = off).
  TORCH_ARG(int64_t, blur_kernel) = 5;
  /// Smallest blur σ in pixels (> 0).
  TORCH_ARG(double, blur_sigma_min) = 0.1;
  /// Largest blur σ in pixels (>= blur_sigma_min, finite).
  TORCH_ARG(double, blur_sigma_max) = 2.0;
  /// Lower end of the images' value range (finite). The transforms work on
  /// (x − low) / (high − low) in [0, 1], as torchvision's do on float images, and the result is
  /// mapped back and lies in [low, high].
  TORCH_ARG(double, low) = 0.0;
  /// Upper end of the images' value range (finite, > low).
  TORCH_ARG(double, high) = 1.0;
};

/// Augments a batch x [B, C, H, W] (C = 1 or 3, floating point) with per-image random
/// parameters drawn from `gen`, in the fixed order
///   crop → flip → colour jitter → grayscale → blur.
/// Inside the jitter, brightness, contrast, saturation and hue are applied in a random order
/// drawn per image, like torchvision's ColorJitter (which draws torch.randperm(4) per call).
/// The input is clamped into [low, high] first; the result has x's shape, dtype and device and
/// lies in [low, high]. The crop is resized back to H × W. With !options.active() x itself is
/// returned and nothing is drawn. Random numbers are drawn on gen's device (CPU generators work
/// for CUDA tensors); a given generator state always gives the same result.
at::Tensor augment(const at::Tensor& x, const AugmentOptions& options, at::Generator& gen);

// ------------------------------------------------------------------------------------------------
// The single transforms, with explicit per-image parameters. Each takes x [B, C, H, W]
// (floating point) and returns a new tensor of the same shape and dtype. The colour transforms
// expect values in [0, 1] and, like torchvision's, clamp their blends into [0, 1].

/// Flips the images where mask [B] (bool) is true left–right.
at::Tensor hflip(const at::Tensor& x, const at::Tensor& mask);

/// Crops boxes [B, 4] = (top, left, height, width) in pixels (fractional values allowed) and
/// resizes each crop to out_h × out_w with bilinear interpolation, exactly as
/// at::upsample_bilinear2d(crop, {out_h, out_w}, align_corners=false) would (torchvision's
/// resized_crop without antialiasing): one batched at::grid_sampler_2d call. Where a box reaches
/// outside the image, the image's edge pixels are repeated, or with `zeros_outside` read as 0 (a
/// black background, e.g. an object cropped near the border of its frame).
at::Tensor resized_crop(const at::Tensor& x, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                        bool zeros_outside = false);

/// RandomResizedCrop.get_params for each image of a H × W batch: up to 10 tries of an area
/// fraction s ~ U(scale) and a ratio r ~ logU(ratio), w = round(√(sHW·r)), h = round(√(sHW/r)),
/// the first that fits placed uniformly at integer offsets; else the central crop with the
/// ratio clamped into range. Returns boxes [B, 4] (top, left, height, width) as float64 on
/// gen's device.
at::Tensor random_crop_boxes(int64_t batch, int64_t height, int64_t width, const AugmentOptions& options,
                             at::Generator& gen);

/// 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2, PIL's "L" conversion, which the reference code's PIL
/// images go through; torchvision's tensor path uses 0.2989 R) repeated over the 3 channels; C = 1
/// is returned unchanged (a copy). Also the gray image of adjust_contrast and adjust_saturation.
at::Tensor to_grayscale(const at::Tensor& x);

/// x · factor, clamped into [0, 1]; factor [B].
at::Tensor adjust_brightness(const at::Tensor& x, const at::Tensor& factor);
/// Blends each image with the mean of its grayscale image: factor · x + (1 − factor) · mean,
/// clamped into [0, 1] (0 gives a constant gray image, 1 the image).
at::Tensor adjust_contrast(const at::Tensor& x, const at::Tensor& factor);
/// Blends each image with its grayscale version, clamped into [0, 1]; C = 1 is unchanged.
at::Tensor adjust_saturation(const at::Tensor& x, const at::Tensor& factor);
/// Shifts the hue by factor [B] turns (torchvision: factor in [−0.5, 0.5]) through RGB → HSV →
/// RGB; C = 1 is unchanged.
at::Tensor adjust_hue(const at::Tensor& x, const at::Tensor& factor);

/// torchvision's ColorJitter with explicit parameters: factors [B, 4] = (brightness, contrast,
/// saturation, hue) and order [B, 4] (integer), for each image a permutation of 0..3
/// (0 brightness, 1 contrast, 2 saturation, 3 hue) giving the order they are applied in.
at::Tensor color_jitter(const at::Tensor& x, const at::Tensor& factors, const at::Tensor& order);

/// Gaussian blur with per-image σ [B] (> 0) and an odd kernel size: two 1-D passes with the
/// normalised kernel exp(−t²/2σ²), t = −(kernel−1)/2 … (kernel−1)/2, over reflect-padded images
/// (torchvision's gaussian_blur, OpenCV's BORDER_REFLECT_101). Needs kernel/2 < H and W.
at::Tensor gaussian_blur(const at::Tensor& x, const at::Tensor& sigma, int64_t kernel);

}  // namespace joule::data
