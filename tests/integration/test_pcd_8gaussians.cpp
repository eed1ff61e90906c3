// The default job (`joule train`, configs/pcd_8gaussians.toml): PCD with proper Langevin
// sampling on 8gaussians must reach a test NLL within 0.35 nats of the data's entropy
// (issue target; measured gap ≈ 0.04, docs/methods/contrastive_divergence.md).
#include <gtest/gtest.h>

#include <chrono>
#include <regex>

#include "joule/io/checkpoint.h"
#include "support/preset_runs.h"
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

// The same preset on two datasets it was not tuned on, whose thin shapes broke the previous one
// (rings diverged, pinwheel grew a spike). All eight datasets × three seeds: tests/slow.
namespace {
TEST(DefaultPresetTest, TrainsWithoutDivergenceOrCollapseOnRingsAndPinwheel) {
  joule::testing::expect_default_preset_fits("rings", 0, 1);
  joule::testing::expect_default_preset_fits("pinwheel", 0, 1);
}
}  // namespace

namespace {
// Trains with `args`, expects exit 0, the `warning` in the output, a `sampler_unhealthy` event in
// metrics.jsonl and `sampler_unhealthy_step` in [min_step, 2000]; returns eval.json.
std::string expect_sampler_flagged(const std::string& args, const std::string& warning, double min_step) {
  joule::testing::TempDir dir("joule-health");
  auto r = joule::testing::run_command(
      joule::testing::joule_command("train " + args + " train.steps=2000 run.threads=1 out=run run.progress=none"),
      dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: " + warning), std::string::npos) << r.output;
  const auto json = joule::io::read_text_file(dir / "run/eval.json");
  const double step = joule::testing::eval_json_number(json, "sampler_unhealthy_step");
  EXPECT_GE(step, min_step);
  EXPECT_LE(step, 2000);
  EXPECT_NE(joule::io::read_text_file(dir / "run/metrics.jsonl").find("\"event\":\"sampler_unhealthy\""),
            std::string::npos);
  return json;
}

// objective.gap_watch: on 2spirals ULA at the default step (0.03) is too coarse for the thin arms:
// the chains escape the wells onto the plateau around them and their median energy rises several
// spreads above the data's by step ~1000 (docs/reliability.md); the watch must say so in the
// run's output, eval.json and metrics.jsonl.
TEST(DefaultPresetTest, GapWatchReportsChainsThatNoLongerSampleTheModel) {
  expect_sampler_flagged("data.dataset=2spirals sampler.kind=langevin train.eval_every=0 objective.gap_watch=1",
                         "the sampler stopped matching the model", 801);
}

// objective.tv_watch (on by default): with ULA instead of the preset's MALA, the chains on rings
// leave the rings by step ~750 (chain_tv 0.1 -> 0.8-0.9, docs/reliability.md) while the exact test
// NLL keeps improving. The default run must say that its chains do not sample its model.
TEST(DefaultPresetTest, TvWatchReportsChainsThatEscapeAModelThatFits) {
  const auto json = expect_sampler_flagged("data.dataset=rings sampler.kind=langevin train.eval_every=250",
                                           "the training chains do not sample the model", 500);
  EXPECT_GT(joule::testing::eval_json_number(json, "chain_tv"), 0.5);
}
}  // namespace
