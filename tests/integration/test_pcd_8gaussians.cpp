// The default job (`joule train`, configs/pcd_8gaussians.toml): PCD with proper Langevin
// sampling on 8gaussians must reach a test NLL within 0.35 nats of the data's entropy
// (issue target; measured gap ≈ 0.04, docs/methods/contrastive_divergence.md).
#include <gtest/gtest.h>

#include <chrono>
#include <regex>

#include "joule/io/checkpoint.h"
#include "support/test_support.h"

namespace {

double json_number(const std::string& json, const std::string& key) {
  std::smatch m;
  const std::regex re("\"" + key + "\": ([-0-9.eE+]+)");
  if (!std::regex_search(json, m, re)) return std::nan("");
  return std::stod(m[1]);
}

TEST(Pcd8GaussiansTest, DefaultJobGetsWithin035NatsOfTheEntropy) {
  joule::testing::TempDir dir("joule-pcd");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = joule::testing::run_command(
      joule::testing::joule_command(std::string("train ") + JOULE_SOURCE_DIR +
                                    "/configs/pcd_8gaussians.toml out=run run.progress=none"),
      dir.path());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto json = joule::io::read_text_file(dir / "run/eval.json");
  const double nll = json_number(json, "nll_test"), entropy = json_number(json, "entropy");
  std::cout << "[ measured ] test NLL " << nll << " nats, entropy " << entropy << ", gap " << nll - entropy << ", "
            << seconds << " s end to end\n";
  EXPECT_NEAR(entropy, 2.8319, 1e-3);
  EXPECT_LT(nll - entropy, 0.35);
  // The NLL can dip below the entropy only by finite-sample noise on 5000 test points
  // (SD of the per-point log-density ≈ 1 nat: SE ≈ 0.015).
  EXPECT_GT(nll - entropy, -0.06);
}

}  // namespace
