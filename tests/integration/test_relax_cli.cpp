// Methods relax_toy and actor_critic through the joule binary: each preset writes a run folder
// (the toy's exact loss, θ and log-variance; cart-pole's episodes to solve), resuming equals
// running straight through (both groups' optimizers, the surrogate, the running variance and
// the return history restored), and bad input is a clear error that writes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "joule/io/checkpoint.h"
#include "joule/train/callbacks.h"
#include "support/metrics_table.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;

const std::string kShort = " train.steps=300 train.log_every=50 train.checkpoint_every=100 run.progress=none";

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

using joule::testing::read_metrics;

class RelaxCliTest : public joule::testing::CliTestBase {
 protected:
  RelaxCliTest() : CliTestBase("joule-relax-cli") {}
};

TEST_F(RelaxCliTest, PresetRunAndResumeEqualsStraight) {
  auto r = joule("train relax_toy out=run" + kShort);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "curves.png"}) {
    EXPECT_TRUE(fs::exists(path(std::string("run/") + f))) << f;
  }
  const std::string json = joule::io::read_text_file(path("run/eval.json"));
  for (const char* k : {"\"theta\"", "\"loss_exact\"", "\"loss_optimum\"", "\"log_var\""}) {
    EXPECT_TRUE(contains(json, k)) << k << " in " << json;
  }
  // 200 steps resumed to 300 against 300 straight: every logged value agrees exactly.
  ASSERT_EQ(joule("train relax_toy out=first" + kShort + " train.steps=200").exit_code, 0);
  r = joule("train train.resume=first train.steps=300");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resuming first at step 200")) << r.output;
  auto resumed = read_metrics(path("first/metrics.jsonl")), straight = read_metrics(path("run/metrics.jsonl"));
  for (int64_t step : {250, 300}) {
    ASSERT_TRUE(resumed.count(step) && straight.count(step)) << step;
    for (const char* k : {"theta", "log_var", "loss.surrogate", "temperature"}) {
      ASSERT_TRUE(straight[step].count(k)) << k;
      EXPECT_EQ(resumed[step][k], straight[step][k]) << k << " at step " << step;
    }
  }
}

TEST_F(RelaxCliTest, BadInputIsAClearErrorAndWritesNothing) {
  auto r = joule("train relax_toy out=bad1" + kShort + " estimator.kind=relx");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "relax")) << r.output;
  r = joule("train relax_toy out=bad2" + kShort + " estimator.surogate=neural");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "did you mean 'estimator.surrogate'")) << r.output;
  r = joule("train relax_toy out=bad3" + kShort + " estimator.kind=rebar estimator.baseline_decay=0.9");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "REINFORCE's baselines")) << r.output;
  r = joule("train relax_toy out=bad4" + kShort + " toy.target=1.5");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "toy.target")) << r.output;
  for (const char* d : {"bad1", "bad2", "bad3", "bad4"}) EXPECT_FALSE(fs::exists(path(d))) << d;
}

}  // namespace

namespace {

class CartPoleCliTest : public joule::testing::CliTestBase {
 protected:
  CartPoleCliTest() : CliTestBase("joule-cartpole-cli") {}
};

TEST_F(CartPoleCliTest, PresetRunAndResumeEqualsStraight) {
  const std::string tiny = " train.steps=60 train.log_every=10 train.checkpoint_every=30 run.progress=none";
  auto r = joule("train relax_cartpole out=run" + tiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"eval.json", "curves.png", "checkpoint.pt"}) EXPECT_TRUE(fs::exists(path(std::string("run/") + f))) << f;
  EXPECT_TRUE(contains(joule::io::read_text_file(path("run/eval.json")), "episodes_to_solve"));
  ASSERT_EQ(joule("train relax_cartpole out=first" + tiny + " train.steps=30").exit_code, 0);
  r = joule("train train.resume=first train.steps=60");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto resumed = read_metrics(path("first/metrics.jsonl")), straight = read_metrics(path("run/metrics.jsonl"));
  for (int64_t step : {40, 60}) {
    for (const char* k : {"return", "mean_return", "variance_loss", "temperature"}) {
      ASSERT_TRUE(straight[step].count(k)) << k;
      EXPECT_EQ(resumed[step][k], straight[step][k]) << k << " at step " << step;
    }
  }
  r = joule("train relax_cartpole out=bad" + tiny + " agent.estimator=reinforce");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "a2c")) << r.output;
  r = joule("train relax_cartpole out=bad" + tiny + " train.batch_size=4");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "one episode per step")) << r.output;
  EXPECT_FALSE(fs::exists(path("bad")));
}

}  // namespace
