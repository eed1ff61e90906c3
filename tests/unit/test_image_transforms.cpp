// Image preprocessing (include/joule/data/image_transforms.h): binarisation, standardisation,
// the seeded train/validation split and crops at an image's content.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/data/image_transforms.h"

namespace {

namespace jd = joule::data;

TEST(ImageTransformsTest, ThresholdBinarisation) {
  auto x = torch::tensor({0.0f, 0.5f, 0.51f, 1.0f});
  EXPECT_TRUE(torch::equal(jd::binarize_threshold(x, 0.5), torch::tensor({0.0f, 0.0f, 1.0f, 1.0f})));
  EXPECT_EQ(jd::parse_binarize("stochastic"), jd::Binarize::kStochastic);
  EXPECT_THROW(jd::parse_binarize("otsu"), c10::Error);
}

TEST(ImageTransformsTest, StochasticBinarisationHasMeanX) {
  auto gen = joule::make_generator(1);
  auto x = torch::full({200000}, 0.3);
  auto b = jd::binarize_stochastic(x, gen);
  EXPECT_TRUE(b.eq(0).logical_or(b.eq(1)).all().item<bool>());
  // SE of the mean: sqrt(0.21 / 2e5) = 0.001; 4 SE.
  EXPECT_NEAR(b.mean().item<double>(), 0.3, 0.004);
  EXPECT_THROW(jd::binarize_stochastic(torch::full({3}, 1.5), gen), c10::Error);
}

TEST(ImageTransformsTest, StandardizerFitsMeanAndStdWithFloor) {
  auto x = torch::tensor({{1.0, 5.0}, {3.0, 5.0}, {5.0, 5.0}}, torch::kFloat64);
  auto s = jd::Standardizer::fit(x, 0.1);
  EXPECT_TRUE(torch::allclose(s.mean, torch::tensor({3.0, 5.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(s.std, torch::tensor({2.0, 0.1}, torch::kFloat64)));  // constant column floored
  auto z = s.apply(x);
  EXPECT_TRUE(torch::allclose(z.select(1, 0), torch::tensor({-1.0, 0.0, 1.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(s.invert(z), x));
}

// An item whose intensity is symmetric under a half turn has its centroid at its box's centre, so
// a crop of the box's size returns the item pixel for pixel wherever it sits in the frame; a
// background below the threshold does not move it.
TEST(ImageTransformsTest, CropAtCentroidRecoversAnItemAnywhereInTheFrame) {
  auto gen = joule::make_generator(4);
  const auto q = torch::rand({16, 16}, gen, torch::kFloat64) * 0.4 + 0.3;
  const auto item = (q + q.flip({0, 1})) / 2;  // symmetric, values in [0.3, 0.7]
  const std::vector<std::pair<int64_t, int64_t>> corners{{0, 0}, {3, 11}, {16, 16}, {9, 2}};
  auto frames = torch::zeros({4, 1, 32, 32}, torch::kFloat64);
  for (size_t i = 0; i < corners.size(); ++i) {
    const auto [r, c] = corners[i];
    frames[static_cast<int64_t>(i)][0].slice(0, r, r + 16).slice(1, c, c + 16).copy_(item);
  }
  const auto crops = jd::crop_at_centroid(frames, 16, 16);
  ASSERT_EQ(crops.sizes(), (c10::IntArrayRef{4, 1, 16, 16}));
  for (int64_t i = 0; i < 4; ++i) EXPECT_TRUE(torch::allclose(crops[i][0], item, 0, 1e-9)) << "item " << i;
  // A faint background (0.05, below the threshold 0.1) lifts every pixel but moves no crop.
  const auto faint = jd::crop_at_centroid(frames + 0.05, 16, 16);
  for (int64_t i = 0; i < 4; ++i) EXPECT_TRUE(torch::allclose(faint[i][0], item + 0.05, 0, 1e-9)) << "item " << i;
  // Scaled up twice: bilinear interpolation of the item, as upsample_bilinear2d.
  const auto big = jd::crop_at_centroid(frames.slice(0, 1, 2), 16, 32);
  const auto up = at::upsample_bilinear2d(item.view({1, 1, 16, 16}), {32, 32}, /*align_corners=*/false);
  EXPECT_TRUE(torch::allclose(big, up, 0, 1e-9));
  // Float input stays float; nothing above the threshold: the middle of the frame.
  const auto flat = jd::crop_at_centroid(torch::full({2, 3, 20, 20}, 0.05f), 8, 12);
  EXPECT_EQ(flat.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(flat, torch::full({2, 3, 12, 12}, 0.05f)));
  EXPECT_THROW(jd::crop_at_centroid(torch::zeros({1, 32, 32}), 16, 28), c10::Error);
  EXPECT_THROW(jd::crop_at_centroid(torch::zeros({1, 1, 32, 32}), 0, 28), c10::Error);
}

}  // namespace
