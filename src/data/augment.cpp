#include "joule/data/augment.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace joule::data {

namespace {

constexpr int64_t kCropTries = 10;  // torchvision's RandomResizedCrop.get_params

void check_images(const at::Tensor& x, const char* what) {
  TORCH_CHECK(x.defined() && x.dim() == 4, what, ": needs images [B, C, H, W], got ",
              x.defined() ? x.sizes() : at::IntArrayRef{});
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), what, ": needs floating-point images, got ", x.scalar_type());
}

void check_color_images(const at::Tensor& x, const char* what) {
  check_images(x, what);
  TORCH_CHECK(x.size(1) == 1 || x.size(1) == 3, what, ": needs 1 (gray) or 3 (RGB) channels, got ", x.size(1),
              " (images ", x.sizes(), ")");
}

void check_per_image(const at::Tensor& p, int64_t batch, const char* what, const char* name) {
  TORCH_CHECK(p.defined() && p.dim() == 1 && p.size(0) == batch, what, ": ", name, " must have shape [", batch,
              "] (one per image), got ", p.defined() ? p.sizes() : at::IntArrayRef{});
}

// Half-precision images are transformed in float32 (grid sampling and the HSV round trip lose
// too much in 16 bits) and converted back at the end.
at::Tensor to_work(const at::Tensor& x) {
  const auto t = x.scalar_type();
  return (t == at::kHalf || t == at::kBFloat16) ? x.to(at::kFloat) : x;
}
at::Tensor from_work(const at::Tensor& y, const at::Tensor& like) { return y.to(like.scalar_type()); }

// A per-image parameter [B] as a [B, 1, 1, 1] tensor that broadcasts against the images.
at::Tensor per_image(const at::Tensor& p, const at::Tensor& x) {
  return p.to(x.device(), x.scalar_type()).view({-1, 1, 1, 1});
}

// The luma channel [B, 1, H, W] (the image itself for C = 1).
at::Tensor luma(const at::Tensor& x) {
  if (x.size(1) == 1) return x;
  return (0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2)).unsqueeze(1);
}

// torchvision's _blend for float images.
at::Tensor blend(const at::Tensor& a, const at::Tensor& b, const at::Tensor& factor) {
  return (factor * a + (1 - factor) * b).clamp(0, 1);
}

// fn(images, index) applied to the images of x selected by mask [B] (bool); index holds their
// positions in the batch, to pick their parameters. The other images pass through unchanged.
template <typename Fn>
at::Tensor apply_masked(const at::Tensor& x, const at::Tensor& mask, Fn&& fn) {
  const auto index = mask.to(x.device()).nonzero().view(-1);
  const int64_t n = index.numel();
  if (n == 0) return x;
  if (n == x.size(0)) return fn(x, index);
  return x.index_copy(0, index, fn(x.index_select(0, index), index));
}

// The jitter with only the enabled adjustments computed (a disabled one has identity factors).
at::Tensor color_jitter_impl(const at::Tensor& x, const at::Tensor& factors, const at::Tensor& order,
                             const std::array<bool, 4>& enabled) {
  using Adjust = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
  static const std::array<Adjust, 4> adjust = {&adjust_brightness, &adjust_contrast, &adjust_saturation,
                                               &adjust_hue};
  auto y = x;
  for (int64_t slot = 0; slot < 4; ++slot) {
    const auto which = order.select(1, slot);
    for (int64_t t = 0; t < 4; ++t) {
      if (!enabled[t]) continue;
      y = apply_masked(y, which.eq(t), [&](const at::Tensor& images, const at::Tensor& index) {
        return adjust[t](images, factors.select(1, t).index_select(0, index.to(factors.device())));
      });
    }
  }
  return y;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Options

AugmentOptions AugmentOptions::none() { return AugmentOptions(); }

AugmentOptions AugmentOptions::icd_cifar10() {
  return AugmentOptions()
      .crop_prob(1.0)
      .crop_scale_min(0.08)
      .crop_scale_max(1.0)
      .flip_prob(0.5)
      .jitter_prob(0.8)
      .brightness(0.8)
      .contrast(0.8)
      .saturation(0.8)
      .hue(0.4)
      .grayscale_prob(0.2);
}

AugmentOptions AugmentOptions::icd_celeba() {
  // utils.py ReservoirBuffer: get_color_distortion(0.5) for every dataset but CIFAR-10, and
  // GaussianBlur(kernel_size=5) (p = 0.5, σ ~ U(0.1, 2.0)) after it.
  return icd_cifar10()
      .brightness(0.4)
      .contrast(0.4)
      .saturation(0.4)
      .hue(0.2)
      .blur_prob(0.5)
      .blur_kernel(5)
      .blur_sigma_min(0.1)
      .blur_sigma_max(2.0);
}

bool AugmentOptions::active() const {
  const bool jitter = jitter_prob_ > 0 && (brightness_ > 0 || contrast_ > 0 || saturation_ > 0 || hue_ > 0);
  return flip_prob_ > 0 || crop_prob_ > 0 || jitter || grayscale_prob_ > 0 || (blur_prob_ > 0 && blur_kernel_ > 1);
}

void AugmentOptions::validate() const {
  // Written so that NaN fails every check.
  const auto probability = [](double p, const char* name) {
    TORCH_CHECK(p >= 0 && p <= 1, "AugmentOptions: ", name, " must be in [0, 1], got ", p);
  };
  probability(flip_prob_, "flip_prob");
  probability(crop_prob_, "crop_prob");
  probability(jitter_prob_, "jitter_prob");
  probability(grayscale_prob_, "grayscale_prob");
  probability(blur_prob_, "blur_prob");
  TORCH_CHECK(crop_scale_min_ > 0 && crop_scale_min_ <= crop_scale_max_ && crop_scale_max_ <= 1,
              "AugmentOptions: crop_scale_min and crop_scale_max must satisfy "
              "0 < crop_scale_min <= crop_scale_max <= 1, got crop_scale_min = ",
              crop_scale_min_, ", crop_scale_max = ", crop_scale_max_);
  TORCH_CHECK(crop_ratio_min_ > 0 && crop_ratio_min_ <= crop_ratio_max_ && std::isfinite(crop_ratio_max_),
              "AugmentOptions: crop_ratio_min and crop_ratio_max must satisfy "
              "0 < crop_ratio_min <= crop_ratio_max < inf, got crop_ratio_min = ",
              crop_ratio_min_, ", crop_ratio_max = ", crop_ratio_max_);
  const auto strength = [](double v, const char* name) {
    TORCH_CHECK(v >= 0 && std::isfinite(v), "AugmentOptions: ", name, " must be a finite number >= 0, got ", v);
  };
  strength(brightness_, "brightness");
  strength(contrast_, "contrast");
  strength(saturation_, "saturation");
  TORCH_CHECK(hue_ >= 0 && hue_ <= 0.5, "AugmentOptions: hue must be in [0, 0.5], got ", hue_);
  TORCH_CHECK(blur_kernel_ >= 1 && blur_kernel_ % 2 == 1,
              "AugmentOptions: blur_kernel must be a positive odd number, got ", blur_kernel_);
  TORCH_CHECK(blur_sigma_min_ > 0 && blur_sigma_min_ <= blur_sigma_max_ && std::isfinite(blur_sigma_max_),
              "AugmentOptions: blur_sigma_min and blur_sigma_max must satisfy "
              "0 < blur_sigma_min <= blur_sigma_max < inf, got blur_sigma_min = ",
              blur_sigma_min_, ", blur_sigma_max = ", blur_sigma_max_);
  TORCH_CHECK(std::isfinite(low_) && std::isfinite(high_) && low_ < high_,
              "AugmentOptions: low and high must be finite with low < high, got low = ", low_, ", high = ", high_);
}

// ------------------------------------------------------------------------------------------------
// Geometric transforms

at::Tensor hflip(const at::Tensor& x, const at::Tensor& mask) {
  check_images(x, "hflip");
  check_per_image(mask, x.size(0), "hflip", "mask");
  return at::where(mask.to(x.device(), at::kBool).view({-1, 1, 1, 1}), x.flip({3}), x);
}

at::Tensor resized_crop(const at::Tensor& x, const at::Tensor& boxes, int64_t out_h, int64_t out_w, bool zeros_outside) {
  check_images(x, "resized_crop");
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  TORCH_CHECK(boxes.defined() && boxes.dim() == 2 && boxes.size(0) == B && boxes.size(1) == 4,
              "resized_crop: boxes must have shape [", B, ", 4] (top, left, height, width), got ",
              boxes.defined() ? boxes.sizes() : at::IntArrayRef{});
  TORCH_CHECK(out_h >= 1 && out_w >= 1, "resized_crop: output size must be positive, got ", out_h, " x ", out_w);
  if (B == 0) return at::empty({0, x.size(1), out_h, out_w}, x.options());
  const auto xw = to_work(x);
  // Coordinates in float64: grid_sampler's normalised coordinates lose ~1e-7 of a pixel in float32.
  const auto b = boxes.to(x.device(), at::kDouble);
  TORCH_CHECK(b.slice(1, 2, 4).gt(0).all().item<bool>(), "resized_crop: box heights and widths must be > 0");

  // Source coordinate of each output pixel centre, as upsample_bilinear2d(align_corners=false)
  // computes it inside the crop (scale = extent / out); keeping it between the crop's first and
  // last pixel reproduces upsample's edge clamping, so no pixel outside the box contributes.
  // Returned as grid_sampler's normalised coordinate (align_corners=false): (2p + 1) / size − 1.
  const auto grid_coords = [&](const at::Tensor& start, const at::Tensor& extent, int64_t out, int64_t size) {
    const auto centres = at::arange(out, b.options()).add_(0.5).unsqueeze(0);  // [1, out]
    const auto first = start.unsqueeze(1), last = (start + extent - 1).unsqueeze(1);
    auto p = first + centres * (extent / static_cast<double>(out)).unsqueeze(1) - 0.5;
    p = at::minimum(at::maximum(p, first), last);
    return (2 * p + 1) / static_cast<double>(size) - 1;  // [B, out]
  };
  const auto gy = grid_coords(b.select(1, 0), b.select(1, 2), out_h, H);
  const auto gx = grid_coords(b.select(1, 1), b.select(1, 3), out_w, W);
  const auto grid = at::stack({gx.unsqueeze(1).expand({B, out_h, out_w}), gy.unsqueeze(2).expand({B, out_h, out_w})}, 3)
                        .to(xw.scalar_type());
  // Modes: bilinear (0); for boxes that reach outside the image, border (1) or zeros (0) padding.
  return from_work(at::grid_sampler_2d(xw, grid, 0, zeros_outside ? 0 : 1, /*align_corners=*/false), x);
}

at::Tensor random_crop_boxes(int64_t batch, int64_t height, int64_t width, const AugmentOptions& options,
                             at::Generator& gen) {
  options.validate();
  TORCH_CHECK(batch >= 0 && height >= 1 && width >= 1,
              "random_crop_boxes: needs batch >= 0 and a positive image size, got ", batch, " images of ", height,
              " x ", width);
  const auto opts = at::TensorOptions().dtype(at::kDouble).device(gen.device());
  const double H = static_cast<double>(height), W = static_cast<double>(width);
  const double log_r0 = std::log(options.crop_ratio_min()), log_r1 = std::log(options.crop_ratio_max());
  const double s0 = options.crop_scale_min(), s1 = options.crop_scale_max();

  // All tries of all images at once; each image keeps its first try that fits.
  const auto u = at::empty({batch, kCropTries, 2}, opts).uniform_(0, 1, gen);
  const auto area = (s0 + (s1 - s0) * u.select(2, 0)) * (H * W);
  const auto ratio = at::exp(log_r0 + (log_r1 - log_r0) * u.select(2, 1));
  const auto w = at::round(at::sqrt(area * ratio));  // round half to even, as Python's round()
  const auto h = at::round(at::sqrt(area / ratio));
  const auto fits = w.gt(0).logical_and(w.le(W)).logical_and(h.gt(0)).logical_and(h.le(H));
  // The first fitting try has the largest (tries − index) among fitting ones.
  const auto rank = fits.to(at::kLong) * (kCropTries - at::arange(kCropTries, opts.dtype(at::kLong)));
  const auto first = rank.argmax(1, /*keepdim=*/true);
  const auto found = fits.any(1);

  // Fallback: the central crop, the whole image with its ratio clamped into range.
  const double in_ratio = W / H;
  double fh = H, fw = W;
  if (in_ratio < options.crop_ratio_min()) {
    fh = std::nearbyint(W / options.crop_ratio_min());
  } else if (in_ratio > options.crop_ratio_max()) {
    fw = std::nearbyint(H * options.crop_ratio_max());
  }
  const auto hh = at::where(found, h.gather(1, first).squeeze(1), at::full({batch}, fh, opts));
  const auto ww = at::where(found, w.gather(1, first).squeeze(1), at::full({batch}, fw, opts));

  // Integer offsets uniform in [0, H − h] and [0, W − w] (torch.randint(0, H − h + 1)).
  const auto v = at::empty({batch, 2}, opts).uniform_(0, 1, gen);
  const auto top_random = at::minimum(at::floor(v.select(1, 0) * (H - hh + 1)), H - hh);
  const auto left_random = at::minimum(at::floor(v.select(1, 1) * (W - ww + 1)), W - ww);
  const auto top = at::where(found, top_random, at::floor((H - hh) / 2));
  const auto left = at::where(found, left_random, at::floor((W - ww) / 2));
  return at::stack({top, left, hh, ww}, 1);
}

// ------------------------------------------------------------------------------------------------
// Colour transforms (values in [0, 1])

at::Tensor to_grayscale(const at::Tensor& x) {
  check_color_images(x, "to_grayscale");
  if (x.size(1) == 1) return x.clone();
  const auto xw = to_work(x);
  return from_work(luma(xw).repeat({1, 3, 1, 1}), x);
}

at::Tensor adjust_brightness(const at::Tensor& x, const at::Tensor& factor) {
  check_color_images(x, "adjust_brightness");
  check_per_image(factor, x.size(0), "adjust_brightness", "factor");
  const auto xw = to_work(x);
  return from_work((xw * per_image(factor, xw)).clamp(0, 1), x);
}

at::Tensor adjust_contrast(const at::Tensor& x, const at::Tensor& factor) {
  check_color_images(x, "adjust_contrast");
  check_per_image(factor, x.size(0), "adjust_contrast", "factor");
  const auto xw = to_work(x);
  const auto mean = luma(xw).mean({1, 2, 3}, /*keepdim=*/true);
  return from_work(blend(xw, mean, per_image(factor, xw)), x);
}

at::Tensor adjust_saturation(const at::Tensor& x, const at::Tensor& factor) {
  check_color_images(x, "adjust_saturation");
  check_per_image(factor, x.size(0), "adjust_saturation", "factor");
  if (x.size(1) == 1) return x.clone();  // as torchvision (and PIL): nothing to desaturate
  const auto xw = to_work(x);
  return from_work(blend(xw, luma(xw), per_image(factor, xw)), x);
}

at::Tensor adjust_hue(const at::Tensor& x, const at::Tensor& factor) {
  check_color_images(x, "adjust_hue");
  check_per_image(factor, x.size(0), "adjust_hue", "factor");
  if (x.size(1) == 1) return x.clone();
  const auto xw = to_work(x);
  const auto r = xw.select(1, 0), g = xw.select(1, 1), b = xw.select(1, 2);
  // HSV with S·V kept as the chroma c = max − min, which is all the way back needs.
  const auto v = at::maximum(at::maximum(r, g), b);
  const auto c = v - at::minimum(at::minimum(r, g), b);
  const auto colored = c.gt(0);
  const auto safe_c = at::where(colored, c, at::ones_like(c));
  // Hue in sixths of a turn, from the channel holding the maximum (red first, then green, as
  // torchvision breaks ties); gray pixels get hue 0.
  auto hue6 = at::where(v.eq(r), (g - b) / safe_c, at::where(v.eq(g), (b - r) / safe_c + 2, (r - g) / safe_c + 4));
  hue6 = at::where(colored, hue6, at::zeros_like(hue6));
  hue6 = at::remainder(hue6 + 6 * factor.to(xw.device(), xw.scalar_type()).view({-1, 1, 1}), 6.0);
  // HSV → RGB: channel n (R: 5, G: 3, B: 1) is v − c · clamp(min(k, 4 − k), 0, 1) with
  // k = (n + hue6) mod 6.
  const auto channel = [&](double n) {
    const auto k = at::remainder(hue6 + n, 6.0);
    return v - c * at::minimum(k, 4.0 - k).clamp(0, 1);
  };
  return from_work(at::stack({channel(5), channel(3), channel(1)}, 1), x);
}

at::Tensor color_jitter(const at::Tensor& x, const at::Tensor& factors, const at::Tensor& order) {
  check_color_images(x, "color_jitter");
  const int64_t B = x.size(0);
  TORCH_CHECK(factors.defined() && factors.dim() == 2 && factors.size(0) == B && factors.size(1) == 4,
              "color_jitter: factors must have shape [", B, ", 4] (brightness, contrast, saturation, hue), got ",
              factors.defined() ? factors.sizes() : at::IntArrayRef{});
  TORCH_CHECK(order.defined() && order.dim() == 2 && order.size(0) == B && order.size(1) == 4 &&
                  !at::isFloatingType(order.scalar_type()),
              "color_jitter: order must be an integer tensor [", B, ", 4], got ",
              order.defined() ? order.sizes() : at::IntArrayRef{});
  const auto o = order.to(x.device(), at::kLong);
  TORCH_CHECK(at::equal(std::get<0>(o.sort(1)), at::arange(4, o.options()).expand({B, 4})),
              "color_jitter: each row of order must be a permutation of 0, 1, 2, 3");
  return color_jitter_impl(x, factors.to(x.device()), o, {true, true, true, true});
}

at::Tensor gaussian_blur(const at::Tensor& x, const at::Tensor& sigma, int64_t kernel) {
  check_images(x, "gaussian_blur");
  check_per_image(sigma, x.size(0), "gaussian_blur", "sigma");
  TORCH_CHECK(kernel >= 1 && kernel % 2 == 1, "gaussian_blur: kernel must be a positive odd number, got ", kernel);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t half = kernel / 2;
  TORCH_CHECK(half < H && half < W, "gaussian_blur: reflect padding of a kernel of ", kernel,
              " needs images larger than ", half, " pixels per side, got ", H, " x ", W);
  const auto s = sigma.to(x.device(), at::kDouble);
  TORCH_CHECK(B == 0 || s.gt(0).all().item<bool>(), "gaussian_blur: every sigma must be > 0");
  if (kernel == 1 || B == 0 || C == 0) return x.clone();
  const auto xw = to_work(x);
  // One normalised 1-D kernel per image, shared by its channels: a depthwise convolution over the
  // B·C channels of a single "image" applies every image's own kernel in one call.
  const auto t = at::arange(-half, half + 1, s.options()).unsqueeze(0);  // [1, k]
  auto weights = at::exp(-0.5 * (t / s.unsqueeze(1)).pow(2));
  weights = (weights / weights.sum(1, /*keepdim=*/true)).to(xw.scalar_type());  // [B, k]
  const auto row = weights.unsqueeze(1).expand({B, C, kernel}).reshape({B * C, 1, 1, kernel});
  const auto column = row.view({B * C, 1, kernel, 1});
  auto y = at::reflection_pad2d(xw.reshape({1, B * C, H, W}), {half, half, half, half});
  const std::array<int64_t, 2> stride = {1, 1}, padding = {0, 0}, dilation = {1, 1};
  y = at::conv2d(y, row, c10::nullopt, stride, padding, dilation, B * C);     // along the width
  y = at::conv2d(y, column, c10::nullopt, stride, padding, dilation, B * C);  // along the height
  return from_work(y.view({B, C, H, W}), x);
}

// ------------------------------------------------------------------------------------------------
// The pipeline

at::Tensor augment(const at::Tensor& x, const AugmentOptions& options, at::Generator& gen) {
  options.validate();
  check_images(x, "augment");
  TORCH_CHECK(x.size(1) == 1 || x.size(1) == 3, "augment: needs images with 1 (gray) or 3 (RGB) channels, got ",
              x.size(1), " channels (images ", x.sizes(), ")");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const bool blur = options.blur_prob() > 0 && options.blur_kernel() > 1;
  TORCH_CHECK(!blur || (options.blur_kernel() / 2 < H && options.blur_kernel() / 2 < W),
              "augment: blur_kernel ", options.blur_kernel(), " is too large for images of ", H, " x ", W,
              " (reflect padding needs blur_kernel / 2 < H and W)");
  if (!options.active()) return x;
  if (B == 0) return x.clone();

  // Random numbers are drawn on the generator's device in float64 and then moved to the images.
  const auto on_gen = at::TensorOptions().dtype(at::kDouble).device(gen.device());
  const auto draw = [&](at::IntArrayRef shape) { return at::empty(shape, on_gen).uniform_(0, 1, gen).to(x.device()); };
  const auto chosen = [&](double p) { return draw({B}).lt(p); };

  const double low = options.low(), span = options.high() - options.low();
  auto y = ((to_work(x) - low) / span).clamp(0, 1);

  if (options.crop_prob() > 0) {
    const auto boxes = random_crop_boxes(B, H, W, options, gen).to(x.device());
    y = apply_masked(y, chosen(options.crop_prob()), [&](const at::Tensor& images, const at::Tensor& index) {
      return resized_crop(images, boxes.index_select(0, index), H, W);
    });
  }
  if (options.flip_prob() > 0) y = hflip(y, chosen(options.flip_prob()));

  const std::array<bool, 4> jitter = {options.brightness() > 0, options.contrast() > 0, options.saturation() > 0,
                                      options.hue() > 0};
  if (options.jitter_prob() > 0 && (jitter[0] || jitter[1] || jitter[2] || jitter[3])) {
    const auto apply = chosen(options.jitter_prob());
    // Factor ranges as torchvision's ColorJitter: [max(0, 1 − v), 1 + v], hue [−h, h].
    const auto range = [&](std::array<double, 4> values) {
      return at::tensor(at::ArrayRef<double>(values.data(), 4), at::TensorOptions().dtype(at::kDouble)).to(x.device());
    };
    const auto lo = range({std::max(0.0, 1 - options.brightness()), std::max(0.0, 1 - options.contrast()),
                           std::max(0.0, 1 - options.saturation()), -options.hue()});
    const auto hi = range({1 + options.brightness(), 1 + options.contrast(), 1 + options.saturation(), options.hue()});
    const auto factors = lo + (hi - lo) * draw({B, 4});
    const auto order = draw({B, 4}).argsort(/*dim=*/1, /*descending=*/false);  // a uniform random permutation per image
    y = apply_masked(y, apply, [&](const at::Tensor& images, const at::Tensor& index) {
      return color_jitter_impl(images, factors.index_select(0, index), order.index_select(0, index), jitter);
    });
  }
  if (options.grayscale_prob() > 0 && C == 3) {
    y = apply_masked(y, chosen(options.grayscale_prob()),
                     [&](const at::Tensor& images, const at::Tensor&) { return to_grayscale(images); });
  }
  if (blur) {
    const auto apply = chosen(options.blur_prob());
    const auto sigma = options.blur_sigma_min() + (options.blur_sigma_max() - options.blur_sigma_min()) * draw({B});
    y = apply_masked(y, apply, [&](const at::Tensor& images, const at::Tensor& index) {
      return gaussian_blur(images, sigma.index_select(0, index), options.blur_kernel());
    });
  }
  // Mapping back can overshoot [low, high] by a rounding error. Clamped in the working dtype:
  // LibTorch 1.13 has no CPU clamp for float16.
  return from_work((y * span + low).clamp(low, options.high()), x);
}

}  // namespace joule::data
