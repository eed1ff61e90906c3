// Image augmentations (include/joule/data/augment.h): improved CD's random transitions. Each
// transform is checked exactly against its definition with explicit parameters, then the random
// pipeline for shape, dtype, range, reproducibility and per-image randomness.
//
// Tolerances: transforms that only move or scale values (flip, brightness/contrast/saturation at
// factor 1, the pipeline with low = 0, high = 1) are compared exactly. Bilinear resampling goes
// through float32 grid coordinates (relative error ~1e-7 on coordinates of at most 32 pixels,
// so ~1e-5 of a pixel step on values in [0, 1]): 1e-5. The HSV round trip and the luma weights
// (0.299 + 0.587 + 0.114 rounded to float32) are a few float32 ulps of 1: 1e-5 / 1e-6.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/data/augment.h"

namespace {

namespace jd = joule::data;

at::Tensor images(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed, double low = 0, double high = 1) {
  auto gen = joule::make_generator(seed);
  return at::rand({b, c, h, w}, gen) * (high - low) + low;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Throws, and the message names `option`.
void expect_rejected(const jd::AugmentOptions& options, const std::string& option) {
  try {
    options.validate();
    ADD_FAILURE() << "validate() accepted a bad " << option;
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------------------------------------------------
// Options

TEST(AugmentOptionsTest, NoneIsInactiveAndPresetsAreActiveAndValid) {
  EXPECT_FALSE(jd::AugmentOptions::none().active());
  EXPECT_FALSE(jd::AugmentOptions().brightness(0.5).active());  // jitter_prob is still 0
  EXPECT_FALSE(jd::AugmentOptions().blur_prob(1.0).blur_kernel(1).active());
  for (const auto& o : {jd::AugmentOptions::icd_cifar10(), jd::AugmentOptions::icd_celeba()}) {
    EXPECT_TRUE(o.active());
    EXPECT_NO_THROW(o.validate());
  }
  const auto cifar = jd::AugmentOptions::icd_cifar10();
  EXPECT_EQ(cifar.crop_prob(), 1.0);
  EXPECT_EQ(cifar.flip_prob(), 0.5);
  EXPECT_EQ(cifar.jitter_prob(), 0.8);
  EXPECT_EQ(cifar.hue(), 0.4);
  EXPECT_EQ(cifar.grayscale_prob(), 0.2);
  EXPECT_EQ(cifar.blur_prob(), 0.0);
  const auto celeba = jd::AugmentOptions::icd_celeba();
  EXPECT_EQ(celeba.brightness(), 0.4);
  EXPECT_EQ(celeba.blur_prob(), 0.5);
  EXPECT_EQ(celeba.blur_kernel(), 5);
}

TEST(AugmentOptionsTest, ValidateRejectsBadValuesNamingTheOption) {
  using O = jd::AugmentOptions;
  expect_rejected(O().flip_prob(1.5), "flip_prob");
  expect_rejected(O().crop_prob(-0.1), "crop_prob");
  expect_rejected(O().jitter_prob(std::nan("")), "jitter_prob");
  expect_rejected(O().grayscale_prob(2), "grayscale_prob");
  expect_rejected(O().blur_prob(-1), "blur_prob");
  expect_rejected(O().crop_scale_min(0), "crop_scale_min");
  expect_rejected(O().crop_scale_min(0.5).crop_scale_max(0.4), "crop_scale_max");
  expect_rejected(O().crop_scale_max(1.5), "crop_scale_max");
  expect_rejected(O().crop_ratio_min(-1), "crop_ratio_min");
  expect_rejected(O().crop_ratio_min(2).crop_ratio_max(1), "crop_ratio_max");
  expect_rejected(O().brightness(-0.1), "brightness");
  expect_rejected(O().contrast(INFINITY), "contrast");
  expect_rejected(O().saturation(-1), "saturation");
  expect_rejected(O().hue(0.6), "hue");
  expect_rejected(O().blur_kernel(4), "blur_kernel");
  expect_rejected(O().blur_kernel(0), "blur_kernel");
  expect_rejected(O().blur_sigma_min(0), "blur_sigma_min");
  expect_rejected(O().blur_sigma_min(3).blur_sigma_max(2), "blur_sigma_max");
  expect_rejected(O().low(1).high(1), "low");
  expect_rejected(O().high(INFINITY), "high");
  // augment() validates too.
  auto gen = joule::make_generator(0);
  EXPECT_THROW(jd::augment(images(2, 3, 8, 8, 1), O().flip_prob(2), gen), c10::Error);
}

// ------------------------------------------------------------------------------------------------
// Geometric transforms with explicit parameters

TEST(AugmentFlipTest, FlipEqualsAtFlipAndTwiceIsIdentity) {
  const auto x = images(3, 3, 5, 7, 1);
  const auto all = at::ones({3}, at::kBool);
  EXPECT_TRUE(at::equal(jd::hflip(x, all), at::flip(x, {3})));
  EXPECT_TRUE(at::equal(jd::hflip(jd::hflip(x, all), all), x));
  // Only the images of the mask.
  const auto some = at::tensor({1, 0, 1}).gt(0);  // (LibTorch 1.13 has no at::tensor of bools)
  const auto y = jd::hflip(x, some);
  EXPECT_TRUE(at::equal(y[0], at::flip(x[0], {2})));
  EXPECT_TRUE(at::equal(y[1], x[1]));
  EXPECT_TRUE(at::equal(y[2], at::flip(x[2], {2})));
  // The pipeline with flip_prob 1 on [0, 1] images: (x − 0) / 1 and back are exact.
  auto gen = joule::make_generator(2);
  EXPECT_TRUE(at::equal(jd::augment(x, jd::AugmentOptions().flip_prob(1.0), gen), at::flip(x, {3})));
}

TEST(AugmentCropTest, FullBoxIsIdentity) {
  const auto x = images(2, 3, 12, 16, 3);
  const auto boxes = at::tensor({0.0, 0.0, 12.0, 16.0, 0.0, 0.0, 12.0, 16.0}).view({2, 4});
  EXPECT_LT(max_abs_diff(jd::resized_crop(x, boxes, 12, 16), x), 1e-5);
}

TEST(AugmentCropTest, BoxesEqualBilinearUpsamplingOfTheCrop) {
  const auto x = images(2, 3, 16, 16, 4);
  // Image 0: the left half; image 1: an interior box, which must not see pixels outside it.
  const auto boxes = at::tensor({0.0, 0.0, 16.0, 8.0, 3.0, 5.0, 7.0, 9.0}).view({2, 4});
  const auto y = jd::resized_crop(x, boxes, 16, 16);
  const auto left = at::upsample_bilinear2d(x.slice(0, 0, 1).slice(3, 0, 8), {16, 16}, false);
  const auto inner = at::upsample_bilinear2d(x.slice(0, 1, 2).slice(2, 3, 10).slice(3, 5, 14), {16, 16}, false);
  EXPECT_LT(max_abs_diff(y.slice(0, 0, 1), left), 1e-5);
  EXPECT_LT(max_abs_diff(y.slice(0, 1, 2), inner), 1e-5);
  // Another output size, downsampling along one axis (no antialiasing, as upsample_bilinear2d).
  const auto z = jd::resized_crop(x, boxes, 5, 11);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{2, 3, 5, 11}));
  EXPECT_LT(max_abs_diff(z.slice(0, 0, 1), at::upsample_bilinear2d(x.slice(0, 0, 1).slice(3, 0, 8), {5, 11}, false)),
            1e-5);
}

TEST(AugmentCropTest, ABoxPastTheBorderRepeatsTheEdgeOrReadsZeros) {
  // Rows −2 and −1 of a box over a white 4×4 image lie outside it.
  const auto white = at::ones({1, 1, 4, 4});
  const auto box = at::tensor({-2.0, 0.0, 4.0, 4.0}).view({1, 4});
  EXPECT_TRUE(at::equal(jd::resized_crop(white, box, 4, 4), white));  // the edge repeated
  const auto zeros = jd::resized_crop(white, box, 4, 4, /*zeros_outside=*/true);
  EXPECT_TRUE(at::equal(zeros.slice(2, 0, 2), at::zeros({1, 1, 2, 4})));
  EXPECT_TRUE(at::equal(zeros.slice(2, 2, 4), at::ones({1, 1, 2, 4})));
}

TEST(AugmentCropTest, RandomBoxesFollowRandomResizedCrop) {
  auto gen = joule::make_generator(5);
  const auto o = jd::AugmentOptions().crop_scale_min(0.08).crop_scale_max(1.0);
  const auto boxes = jd::random_crop_boxes(500, 32, 24, o, gen);
  ASSERT_EQ(boxes.sizes(), (std::vector<int64_t>{500, 4}));
  const auto top = boxes.select(1, 0), left = boxes.select(1, 1), h = boxes.select(1, 2), w = boxes.select(1, 3);
  EXPECT_TRUE(at::equal(boxes, boxes.round()));  // whole pixels, as torchvision
  EXPECT_TRUE(top.ge(0).all().item<bool>() && left.ge(0).all().item<bool>());
  EXPECT_TRUE((top + h).le(32).all().item<bool>() && (left + w).le(24).all().item<bool>());
  EXPECT_TRUE(h.ge(1).all().item<bool>() && w.ge(1).all().item<bool>());
  // Areas within the scale range, widened by the rounding of h and w (±0.5 pixel each).
  const auto area = h * w / (32.0 * 24.0);
  EXPECT_GT(area.min().item<double>(), 0.08 * 0.5);
  EXPECT_LE(area.max().item<double>(), 1.0);
  // Per-image parameters: many distinct boxes among 500.
  EXPECT_GT(std::get<0>(at::_unique2(boxes.select(1, 2) * 100 + boxes.select(1, 3))).numel(), 50);

  // Scale 1 and ratio 1 on a square image: always the full image.
  const auto square = jd::AugmentOptions(o).crop_scale_min(1).crop_ratio_min(1).crop_ratio_max(1);
  const auto full = jd::random_crop_boxes(4, 20, 20, square, gen);
  EXPECT_TRUE(at::equal(full, at::tensor({0.0, 0.0, 20.0, 20.0}).expand({4, 4})));
  // Ratios that never fit fall back to torchvision's central crop: w = 30, h = round(30 / 3) = 10.
  const auto wide = jd::AugmentOptions(o).crop_scale_min(0.9).crop_ratio_min(3).crop_ratio_max(4);
  const auto fallback = jd::random_crop_boxes(3, 30, 30, wide, gen);
  EXPECT_TRUE(at::equal(fallback, at::tensor({10.0, 0.0, 10.0, 30.0}).expand({3, 4})));
}

// ------------------------------------------------------------------------------------------------
// Colour transforms with explicit parameters

TEST(AugmentColorTest, NeutralFactorsAreIdentities) {
  const auto x = images(4, 3, 6, 6, 6);
  const auto one = at::ones({4}), zero = at::zeros({4});
  EXPECT_TRUE(at::equal(jd::adjust_brightness(x, one), x));
  EXPECT_TRUE(at::equal(jd::adjust_contrast(x, one), x));
  EXPECT_TRUE(at::equal(jd::adjust_saturation(x, one), x));
  EXPECT_LT(max_abs_diff(jd::adjust_hue(x, zero), x), 1e-5);
  // A whole turn of hue is the identity too.
  EXPECT_LT(max_abs_diff(jd::adjust_hue(x, one), x), 1e-5);
}

TEST(AugmentColorTest, BrightnessScalesAndClamps) {
  const auto x = at::full({1, 3, 2, 2}, 0.4);
  EXPECT_LT(max_abs_diff(jd::adjust_brightness(x, at::tensor({0.5})), at::full_like(x, 0.2)), 1e-7);
  EXPECT_TRUE(at::equal(jd::adjust_brightness(x, at::tensor({3.0})), at::ones_like(x)));
}

TEST(AugmentColorTest, ContrastZeroGivesTheMeanGray) {
  const auto x = images(3, 3, 5, 5, 7);
  const auto y = jd::adjust_contrast(x, at::zeros({3}));
  const auto luma = 0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2);
  const auto mean = luma.mean({1, 2}).view({3, 1, 1, 1});
  EXPECT_LT(max_abs_diff(y, mean.expand_as(x)), 1e-6);
  // One channel: the mean of the image itself.
  const auto g = images(2, 1, 5, 5, 8);
  EXPECT_LT(max_abs_diff(jd::adjust_contrast(g, at::zeros({2})), g.mean({1, 2, 3}, true).expand_as(g)), 1e-6);
}

TEST(AugmentColorTest, SaturationZeroIsGrayscaleAndOneChannelIsUnchanged) {
  const auto x = images(2, 3, 4, 4, 9);
  EXPECT_LT(max_abs_diff(jd::adjust_saturation(x, at::zeros({2})), jd::to_grayscale(x)), 1e-6);
  const auto g = images(2, 1, 4, 4, 10);
  EXPECT_TRUE(at::equal(jd::adjust_saturation(g, at::full({2}, 0.3)), g));
  EXPECT_TRUE(at::equal(jd::adjust_hue(g, at::full({2}, 0.3)), g));
}

TEST(AugmentColorTest, GrayscaleUsesLumaWeightsAndKeepsGrayImages) {
  const auto rgb = at::tensor({1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f}).view({3, 3, 1, 1});
  const auto gray = jd::to_grayscale(rgb);
  EXPECT_EQ(gray.sizes(), rgb.sizes());
  EXPECT_LT(max_abs_diff(gray.select(1, 0).flatten(), at::tensor({0.299, 0.587, 0.114})), 1e-6);
  EXPECT_TRUE(at::equal(gray.select(1, 0), gray.select(1, 2)));
  // An already gray 3-channel image, and a 1-channel image.
  const auto g3 = images(2, 1, 6, 6, 11).repeat({1, 3, 1, 1});
  EXPECT_LT(max_abs_diff(jd::to_grayscale(g3), g3), 1e-6);
  const auto g1 = images(2, 1, 6, 6, 12);
  EXPECT_TRUE(at::equal(jd::to_grayscale(g1), g1));
}

TEST(AugmentColorTest, HueShiftRotatesPrimaries) {
  const auto red = at::tensor({1.0f, 0.0f, 0.0f}).view({1, 3, 1, 1}).expand({1, 3, 2, 2}).contiguous();
  const auto green = at::tensor({0.0f, 1.0f, 0.0f}).view({1, 3, 1, 1}).expand_as(red);
  const auto blue = at::tensor({0.0f, 0.0f, 1.0f}).view({1, 3, 1, 1}).expand_as(red);
  const auto yellow = at::tensor({1.0f, 1.0f, 0.0f}).view({1, 3, 1, 1}).expand_as(red);
  EXPECT_LT(max_abs_diff(jd::adjust_hue(red, at::tensor({1.0 / 3})), green), 1e-4);
  EXPECT_LT(max_abs_diff(jd::adjust_hue(red, at::tensor({-1.0 / 3})), blue), 1e-4);
  EXPECT_LT(max_abs_diff(jd::adjust_hue(red, at::tensor({1.0 / 6})), yellow), 1e-4);
  // A darker, desaturated colour keeps its value (max) and chroma (max − min).
  const auto c = at::tensor({0.6f, 0.3f, 0.2f}).view({1, 3, 1, 1});
  const auto shifted = jd::adjust_hue(c, at::tensor({0.25}));
  EXPECT_NEAR(shifted.max().item<double>(), 0.6, 1e-6);
  EXPECT_NEAR(shifted.max().item<double>() - shifted.min().item<double>(), 0.4, 1e-6);
  // Gray pixels have no hue to shift.
  const auto gray = at::full({1, 3, 2, 2}, 0.5);
  EXPECT_LT(max_abs_diff(jd::adjust_hue(gray, at::tensor({0.3})), gray), 1e-7);
}

TEST(AugmentColorTest, JitterAppliesTheAdjustmentsInEachImagesOrder) {
  const auto x = images(2, 3, 4, 4, 13);
  const auto factors = at::tensor({1.5, 0.5, 0.7, 0.1, 1.5, 0.5, 0.7, 0.1}).view({2, 4});
  // Image 0: brightness, contrast, saturation, hue; image 1: hue, saturation, contrast, brightness.
  const auto order = at::tensor({0, 1, 2, 3, 3, 2, 1, 0}, at::kLong).view({2, 4});
  const auto y = jd::color_jitter(x, factors, order);
  const auto f = [&](int64_t i, int64_t t) { return factors.select(1, t).slice(0, i, i + 1); };
  auto first = x.slice(0, 0, 1);
  first = jd::adjust_brightness(first, f(0, 0));
  first = jd::adjust_contrast(first, f(0, 1));
  first = jd::adjust_saturation(first, f(0, 2));
  first = jd::adjust_hue(first, f(0, 3));
  auto second = x.slice(0, 1, 2);
  second = jd::adjust_hue(second, f(1, 3));
  second = jd::adjust_saturation(second, f(1, 2));
  second = jd::adjust_contrast(second, f(1, 1));
  second = jd::adjust_brightness(second, f(1, 0));
  EXPECT_LT(max_abs_diff(y.slice(0, 0, 1), first), 1e-6);
  EXPECT_LT(max_abs_diff(y.slice(0, 1, 2), second), 1e-6);
  EXPECT_GT(max_abs_diff(first, second), 1e-3);  // the order matters for these factors
  EXPECT_THROW(jd::color_jitter(x, factors, at::zeros({2, 4}, at::kLong)), c10::Error);  // not a permutation
}

// ------------------------------------------------------------------------------------------------
// Blur

TEST(AugmentBlurTest, KernelOfOneIsIdentityAndConstantsAreKept) {
  const auto x = images(2, 3, 8, 8, 14);
  EXPECT_TRUE(at::equal(jd::gaussian_blur(x, at::full({2}, 1.0), 1), x));
  const auto c = at::full({2, 3, 8, 8}, 0.37);
  EXPECT_LT(max_abs_diff(jd::gaussian_blur(c, at::tensor({0.5, 2.0}), 5), c), 1e-6);
}

TEST(AugmentBlurTest, ImpulseGivesTheNormalisedGaussianKernel) {
  auto x = at::zeros({1, 1, 9, 9}, at::kDouble);
  x[0][0][4][4] = 1.0;
  const double sigma = 1.3;
  const auto y = jd::gaussian_blur(x, at::tensor({sigma}), 5);
  const auto t = at::arange(-2, 3, at::kDouble);
  auto w = at::exp(-0.5 * (t / sigma).pow(2));
  w = w / w.sum();
  const auto expected = at::outer(w, w);
  EXPECT_LT(max_abs_diff(y[0][0].slice(0, 2, 7).slice(1, 2, 7), expected), 1e-12);
  EXPECT_NEAR(y.sum().item<double>(), 1.0, 1e-12);
}

TEST(AugmentBlurTest, KeepsTheMeanOfASmoothImageAndDiffersPerImage) {
  // A smooth periodic pattern: reflect padding changes the mean only at the border, by O(1e-3).
  const auto i = at::arange(32, at::kFloat);
  constexpr double kPi = 3.14159265358979323846;
  const auto pattern = 0.5 + 0.4 * at::sin(i * (2 * kPi / 32)).unsqueeze(1) * at::cos(i * (2 * kPi / 16)).unsqueeze(0);
  const auto x = pattern.expand({2, 3, 32, 32}).contiguous();
  const auto y = jd::gaussian_blur(x, at::tensor({0.5, 2.0}), 5);
  EXPECT_NEAR(y.mean().item<double>(), x.mean().item<double>(), 5e-3);
  EXPECT_GT(max_abs_diff(y[0], y[1]), 1e-3);  // each image its own sigma
  EXPECT_THROW(jd::gaussian_blur(x, at::ones({2}), 4), c10::Error);
  EXPECT_THROW(jd::gaussian_blur(x, at::zeros({2}), 5), c10::Error);
  EXPECT_THROW(jd::gaussian_blur(images(1, 1, 3, 3, 1), at::ones({1}), 7), c10::Error);  // padding > image
}

// ------------------------------------------------------------------------------------------------
// The random pipeline

std::vector<std::pair<std::string, jd::AugmentOptions>> single_transforms() {
  using O = jd::AugmentOptions;
  return {{"flip", O().flip_prob(1)},
          {"crop", O().crop_prob(1)},
          {"brightness", O().jitter_prob(1).brightness(0.8)},
          {"contrast", O().jitter_prob(1).contrast(0.8)},
          {"saturation", O().jitter_prob(1).saturation(0.8)},
          {"hue", O().jitter_prob(1).hue(0.4)},
          {"grayscale", O().grayscale_prob(1)},
          {"blur", O().blur_prob(1)},
          {"icd_cifar10", O::icd_cifar10()},
          {"icd_celeba", O::icd_celeba()}};
}

TEST(AugmentTest, EveryTransformKeepsShapeDtypeAndRange) {
  for (const auto& [name, base] : single_transforms()) {
    for (const auto& [low, high] : std::vector<std::pair<double, double>>{{0.0, 1.0}, {-1.0, 1.0}}) {
      for (const auto dtype : {at::kFloat, at::kDouble, at::kHalf}) {
        for (const int64_t channels : {1, 3}) {
          SCOPED_TRACE(name + " [" + std::to_string(low) + ", " + std::to_string(high) + "] " +
                       std::string(c10::toString(dtype)) + " C=" + std::to_string(channels));
          const auto x = images(5, channels, 16, 12, 15, low, high).to(dtype);
          const auto before = x.clone();
          auto gen = joule::make_generator(16);
          const auto y = jd::augment(x, jd::AugmentOptions(base).low(low).high(high), gen);
          EXPECT_EQ(y.sizes(), x.sizes());
          EXPECT_EQ(y.scalar_type(), dtype);
          EXPECT_GE(y.min().item<double>(), low);
          EXPECT_LE(y.max().item<double>(), high);
          EXPECT_TRUE(at::equal(x, before));  // the input is left alone
          // Grayscale, saturation and hue leave one-channel images as they are.
          const bool colour_only = name == "grayscale" || name == "saturation" || name == "hue";
          if (!colour_only || channels == 3) {
            EXPECT_FALSE(at::equal(y, x));
          }
        }
      }
    }
  }
}

TEST(AugmentTest, OutOfRangeInputsAreClampedIntoRange) {
  const auto x = images(4, 3, 8, 8, 17, -3, 3);
  auto gen = joule::make_generator(18);
  const auto y = jd::augment(x, jd::AugmentOptions::icd_cifar10().low(-1).high(1), gen);
  EXPECT_GE(y.min().item<double>(), -1.0);
  EXPECT_LE(y.max().item<double>(), 1.0);
}

TEST(AugmentTest, SameSeedSameOutputDifferentSeedDifferent) {
  const auto x = images(6, 3, 16, 16, 19);
  const auto o = jd::AugmentOptions::icd_celeba();
  auto g1 = joule::make_generator(20), g2 = joule::make_generator(20), g3 = joule::make_generator(21);
  const auto a = jd::augment(x, o, g1);
  EXPECT_TRUE(at::equal(a, jd::augment(x, o, g2)));
  EXPECT_FALSE(at::equal(a, jd::augment(x, o, g3)));
  // The generator advances: a second call gives new parameters.
  EXPECT_FALSE(at::equal(a, jd::augment(x, o, g1)));
}

TEST(AugmentTest, ParametersDifferBetweenImagesOfABatch) {
  // Eight copies of one image: every output differs from every other (fixed seed).
  const auto x = images(1, 3, 16, 16, 22).expand({8, 3, 16, 16}).contiguous();
  auto gen = joule::make_generator(23);
  const auto y = jd::augment(x, jd::AugmentOptions::icd_cifar10(), gen);
  for (int64_t i = 0; i < 8; ++i) {
    for (int64_t j = i + 1; j < 8; ++j) EXPECT_GT(max_abs_diff(y[i], y[j]), 1e-3) << i << " vs " << j;
  }
  // With only brightness, each image gets its own factor.
  const auto b = jd::augment(x, jd::AugmentOptions().jitter_prob(1).brightness(0.5), gen);
  const auto ratios = (b.select(1, 0).select(1, 0).select(1, 0) / x.select(1, 0).select(1, 0).select(1, 0));
  EXPECT_GT((ratios.max() - ratios.min()).item<double>(), 0.1);
}

TEST(AugmentTest, ProbabilitiesAreFractionsOfTheBatch) {
  // A 1 x 2 image [0, 1] is flipped iff its first pixel becomes 1.
  const int64_t n = 4000;
  const auto x = at::tensor({0.0f, 1.0f}).view({1, 1, 1, 2}).expand({n, 1, 1, 2}).contiguous();
  auto gen = joule::make_generator(24);
  const auto y = jd::augment(x, jd::AugmentOptions().flip_prob(0.3), gen);
  // SE = sqrt(0.3 · 0.7 / 4000) = 0.0072; 4 SE.
  EXPECT_NEAR(y.select(3, 0).mean().item<double>(), 0.3, 0.03);
  // Grayscale with p = 0.2 on pure red: gray pixels have equal channels.
  const auto red = at::tensor({1.0f, 0.0f, 0.0f}).view({1, 3, 1, 1}).expand({n, 3, 1, 1}).contiguous();
  const auto g = jd::augment(red, jd::AugmentOptions().grayscale_prob(0.2), gen);
  // SE = sqrt(0.2 · 0.8 / 4000) = 0.0063; 4 SE.
  EXPECT_NEAR(g.select(1, 1).gt(0).to(at::kDouble).mean().item<double>(), 0.2, 0.026);
}

TEST(AugmentTest, NoneReturnsTheInputAndBadInputsFailClearly) {
  const auto x = images(2, 3, 8, 8, 25);
  auto gen = joule::make_generator(26);
  EXPECT_TRUE(jd::augment(x, jd::AugmentOptions::none(), gen).is_same(x));
  const auto o = jd::AugmentOptions::icd_cifar10();
  try {
    jd::augment(images(2, 2, 8, 8, 27), o, gen);
    ADD_FAILURE() << "augment accepted 2 channels";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("channels"), std::string::npos) << e.what();
  }
  EXPECT_THROW(jd::augment(at::rand({3, 8, 8}), o, gen), c10::Error);                      // no batch dimension
  EXPECT_THROW(jd::augment(at::ones({2, 3, 8, 8}, at::kLong), o, gen), c10::Error);        // integer images
  EXPECT_THROW(jd::augment(x, jd::AugmentOptions().blur_prob(1).blur_kernel(17), gen), c10::Error);  // blur > image
  EXPECT_EQ(jd::augment(at::rand({0, 3, 8, 8}), o, gen).size(0), 0);
}

}  // namespace
