// The built-in default preset on every built-in 2-D dataset over three seeds: no divergence, no
// degraded held-out NLL, the test-NLL gap within the bounds of support/preset_runs.h.
// ~24 trainings of ~1 minute (label: slow; `ctest -L slow`).
#include <gtest/gtest.h>

#include "support/preset_runs.h"

namespace {

class DefaultPresetOnEveryToy : public ::testing::TestWithParam<std::string> {};

TEST_P(DefaultPresetOnEveryToy, ThreeSeeds) {
  ASSERT_EQ(joule::testing::preset_gap_bounds().count(GetParam()), 1u) << "no gap bound for " << GetParam();
  for (int seed : {0, 1, 2}) joule::testing::expect_default_preset_fits(GetParam(), seed, 2);
}

INSTANTIATE_TEST_SUITE_P(Toys, DefaultPresetOnEveryToy,
                         ::testing::Values("8gaussians", "checkerboard", "2spirals", "pinwheel", "rings", "moons",
                                           "circles", "swissroll"));

}  // namespace
