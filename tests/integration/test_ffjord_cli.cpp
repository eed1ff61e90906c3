// method = "ffjord" end to end through the joule binary: a toy run writes a complete run folder,
// sample/eval/resume work from it (resuming equals running straight through), the flow learns
// 8gaussians toward its entropy with the exact trace and with Hutchinson + RNODE, a user's CSV
// table of another dimension (a correlated 3-D Gaussian, whose entropy is known), the tabular
// preset on a MAF-format file beating a Gaussian, the multiscale image flow's run folder, and bad
// options are clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "joule/core/runtime.h"
#include "joule/io/checkpoint.h"
#include "joule/io/npy.h"
#include "joule/train/callbacks.h"
#include "support/preset_runs.h"
#include "support/metrics_table.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;

const std::string kTiny =
    " method=ffjord data.n_train=2000 data.n_test=500 cnf.hidden=[16,16] train.steps=30 train.log_every=10"
    " train.eval_every=10 train.checkpoint_every=10 eval.n_samples=200 eval.grid_resolution=48 run.progress=none";

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

using joule::testing::read_metrics;

class FfjordCliTest : public joule::testing::CliTestBase {
 protected:
  FfjordCliTest() : CliTestBase("joule-ffjord-cli") {}
};

TEST_F(FfjordCliTest, ToyRunSampleEvalAndResumeEqualsStraight) {
  auto r = joule("train out=run" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "density.png", "curves.png"}) {
    EXPECT_TRUE(fs::exists(path(std::string("run/") + f))) << f;
  }
  const std::string json = joule::io::read_text_file(path("run/eval.json"));
  for (const char* k : {"nll_test", "nll_gap", "nfe_test", "nfe_sample", "end_time", "mmd2_model", "grid_mass"}) {
    EXPECT_TRUE(std::isfinite(joule::testing::eval_json_number(json, k))) << k << " in " << json;
  }
  // A normalised density: the grid holds almost all of it (a 48² midpoint rule on the data's box).
  EXPECT_NEAR(joule::testing::eval_json_number(json, "grid_mass"), 1.0, 0.05) << json;
  // dopri5: NFE = 2 + 6·steps (+1 at the end for T's gradient in training, not in evaluation).
  EXPECT_EQ(static_cast<int64_t>(joule::testing::eval_json_number(json, "nfe_test") - 2) % 6, 0) << json;
  auto m = read_metrics(path("run/metrics.jsonl"));
  ASSERT_TRUE(m.count(30));
  EXPECT_GT(m[30]["nfe"], 0);
  EXPECT_GT(m[30]["end_time"], 0);

  r = joule("sample run sample.n=40");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("eval run eval.grid_resolution=32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "nll_test")) << r.output;

  // 30 steps, resumed to 50, against 50 straight: identical losses.
  ASSERT_EQ(joule("train out=first" + kTiny).exit_code, 0);
  r = joule("train train.resume=first train.steps=50");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resuming first at step 30")) << r.output;
  ASSERT_EQ(joule("train out=straight" + kTiny + " train.steps=50").exit_code, 0);
  auto resumed = read_metrics(path("first/metrics.jsonl")), straight = read_metrics(path("straight/metrics.jsonl"));
  for (int64_t step : {40, 50}) {
    ASSERT_TRUE(resumed.count(step) && straight.count(step)) << step;
    EXPECT_EQ(resumed[step]["loss"], straight[step]["loss"]) << step;
  }
}

// The exact-trace preset and the RNODE preset (Hutchinson + penalties) both learn 8gaussians
// (entropy 2.838 nats; the flow starts near 4.4) in 400 steps.
TEST_F(FfjordCliTest, PresetsLearnEightGaussians) {
  for (const std::string preset : {"ffjord_toy", "ffjord_rnode"}) {
    auto r = joule("train " + preset + " out=" + preset + " train.steps=400 train.eval_every=0 data.n_test=1000 run.progress=none");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string json = joule::io::read_text_file(path(preset + "/eval.json"));
    EXPECT_LT(joule::testing::eval_json_number(json, "nll_gap"), 0.45) << preset << ": " << json;
    EXPECT_GT(joule::testing::eval_json_number(json, "nll_gap"), -0.1) << preset << ": " << json;  // the entropy is a floor (up to test noise)
  }
}

// A user's table of another dimension: a correlated 3-D Gaussian (entropy ½ log det(2πeΣ)).
TEST_F(FfjordCliTest, LearnsACorrelatedGaussianTable) {
  auto gen = joule::make_generator(3);
  auto l = torch::tensor({{1.0, 0.0, 0.0}, {0.8, 0.6, 0.0}, {-0.5, 0.3, 0.4}}, torch::kFloat64);
  auto x = torch::randn({6000, 3}, gen, torch::kFloat64).matmul(l.t());
  {
    std::ofstream f(path("gauss.csv"));
    f << "a,b,c\n";
    for (int64_t i = 0; i < x.size(0); ++i) f << x[i][0].item<double>() << "," << x[i][1].item<double>() << "," << x[i][2].item<double>() << "\n";
  }
  const double det = std::pow(1.0 * 0.6 * 0.4, 2);
  const double entropy = 0.5 * std::log(std::pow(2 * M_PI * M_E, 3) * det);
  auto r = joule("train out=tab method=ffjord data.dataset=csv data.path=gauss.csv cnf.hidden=[32,32] train.steps=300"
                 " train.eval_every=0 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = joule::io::read_text_file(path("tab/eval.json"));
  // The test split (1 200 rows) has sampling noise of ~0.03 nats around the entropy.
  EXPECT_NEAR(joule::testing::eval_json_number(json, "nll_test"), entropy, 0.12) << json << " entropy " << entropy;
}

TEST_F(FfjordCliTest, TabularPresetOnAMafFileBeatsTheGaussianBaseline) {
  // A MINIBOONE-format data.npy holding a banana (x₂ = x₁² − 1 + 0.3ε) beside a Gaussian column:
  // far from any Gaussian, so the flow must beat the full-covariance Gaussian baseline.
  auto gen = joule::make_generator(4);
  auto e = torch::randn({3000, 3}, gen, torch::kFloat64);
  auto x = torch::stack({e.select(1, 0), e.select(1, 0).pow(2) - 1 + 0.3 * e.select(1, 1), e.select(1, 2)}, 1);
  fs::create_directories(path("miniboone"));
  joule::io::write_npy(path("miniboone/data.npy"), x);
  auto r = joule("train out=tab ffjord_tabular data.dataset=miniboone data.path=miniboone cnf.width_per_dim=8 "
                 "train.batch_size=200 train.steps=500 train.eval_every=250 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = joule::io::read_text_file(path("tab/eval.json"));
  const double nll = joule::testing::eval_json_number(json, "nll_test");
  const double gaussian = joule::testing::eval_json_number(json, "nll_gaussian");
  // The data's entropy is 2 · ½log(2πe) + ½log(2πe · 0.09) = 3.05 nats, about 1 nat below the
  // Gaussian's; 500 steps close more than half of that gap.
  EXPECT_LT(nll, gaussian - 0.5) << json;
  EXPECT_TRUE(std::isfinite(joule::testing::eval_json_number(json, "best_nll_valid"))) << json;
  EXPECT_TRUE(fs::exists(path("tab/checkpoint-best.pt")));
}

TEST_F(FfjordCliTest, MultiscaleImageFlowRunsOnFashionMnist) {
  auto r = joule("train out=img ffjord_images data.n_train=48 data.n_test=8 cnf.hidden=[4] cnf.blocks=1 "
                 "train.batch_size=8 train.steps=3 train.warmup_steps=0 train.eval_every=3 eval.n_samples=10 "
                 "run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"eval.json", "samples.png", "data.png", "curves.png"}) {
    EXPECT_TRUE(fs::exists(path(std::string("img/") + f))) << f;
  }
  const std::string json = joule::io::read_text_file(path("img/eval.json"));
  const double bpd = joule::testing::eval_json_number(json, "bits_per_dim");
  // An untrained flow puts the logit of the dark background far out in N(0, I)'s tail: ~20 bits.
  EXPECT_TRUE(std::isfinite(bpd) && bpd > 0) << json;
  // bits/dim and nats per image are the same number on two scales.
  EXPECT_NEAR(bpd, (joule::testing::eval_json_number(json, "nll_test") / 784 + std::log(256.0)) / std::log(2.0), 1e-6);
  // With a feature classifier the reverse solve's samples get the sample-quality scores, with the
  // train-vs-test floor beside them.
  r = joule("train out=ce ce_fashion_cnn data.n_train=256 data.n_test=100 model.channels=4 train.steps=3 train.batch_size=32 "
            "train.eval_every=0 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("eval img eval.feature_run=ce eval.quality_n=10 eval.out=img/eval-quality.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string quality = joule::io::read_text_file(path("img/eval-quality.json"));
  for (const char* k : {"quality.samples.fd", "quality.train_vs_test.fd"}) {
    EXPECT_TRUE(std::isfinite(joule::testing::eval_json_number(quality, k))) << k << "\n" << quality;
  }
  const double precision = joule::testing::eval_json_number(quality, "quality.samples.precision");
  EXPECT_TRUE(precision >= 0 && precision <= 1) << quality;
  r = joule("train out=img3 ffjord_toy train.steps=1 eval.feature_run=ce");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "eval.feature_run scores image samples")) << r.output;
  r = joule("train out=img2 method=ffjord cnf.architecture=multiscale data.dataset=moons train.steps=1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "data.dataset = \"fashion-mnist\"")) << r.output;
}

TEST_F(FfjordCliTest, BadOptionsAreClearErrors) {
  auto r = joule("train out=bad" + kTiny + " solver.method=rk4");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "solver.step_size")) << r.output;
  r = joule("train out=bad2" + kTiny + " solver.seminorm=true");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "adjoint")) << r.output;
  r = joule("train out=bad3" + kTiny + " objective.divergense=exact");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "objective.divergence")) << r.output;
  EXPECT_FALSE(fs::exists(path("bad/checkpoint.pt")));
  // Dynamics the solver cannot follow within its step budget: divergence (exit 3), said so.
  r = joule("train out=stiff" + kTiny + " solver.max_num_steps=1 train.steps=5");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(contains(r.output, "the ODE solver failed")) << r.output;
  // A fixed grid with its step trains.
  r = joule("train out=rk4" + kTiny + " solver.method=rk4 solver.step_size=0.1 train.steps=5");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
