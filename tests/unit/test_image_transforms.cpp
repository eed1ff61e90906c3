// Image preprocessing (include/joule/data/image_transforms.h): binarisation, standardisation
// and the seeded train/validation split.
#include <gtest/gtest.h>

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

}  // namespace
