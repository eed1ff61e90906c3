// The joule binary end to end: a short run writes a complete run folder; sample, eval and
// resume work from it; bad input exits non-zero with a clear message and writes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "joule/eval/report.h"
#include "joule/io/checkpoint.h"
#include "joule/train/callbacks.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::run_command;
using joule::testing::TempDir;

const std::string kJoule = JOULE_BIN;
// A small, fast configuration of the default job.
const std::string kTiny =
    " data.n_train=2000 data.n_test=500 train.steps=30 train.log_every=10 train.eval_every=10"
    " train.checkpoint_every=10 eval.chain_steps=20 eval.n_samples=200 eval.grid_resolution=64 run.progress=none";

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// The test NLL as a report prints it (the exact text, so equal states compare equal).
std::string nll(const std::string& output) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(output, m, std::regex("nll_test +([-0-9.e]+)"))) << output;
  return m.size() > 1 ? m[1].str() : std::string("?");
}

void io_write(const std::string& path, const std::string& text) { joule::io::write_text_file(path, text); }

class CliTest : public joule::testing::CliTestBase {
 protected:
  CliTest() : CliTestBase("joule-cli") {}
};

TEST_F(CliTest, HelpAndUnknownCommand) {
  auto r = joule("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "train"));
  r = joule("train --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "sampler.step_size"));
  r = joule("trian");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "did you mean 'train'")) << r.output;
}

TEST_F(CliTest, UnknownKeyOrBadValueExitsWithoutWritingAnything) {
  auto r = joule("train sampler.stepsize=0.1 out=run1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "unknown option 'sampler.stepsize'")) << r.output;
  EXPECT_TRUE(contains(r.output, "did you mean 'sampler.step_size'")) << r.output;
  r = joule("train --sampler.kind langvin out=run1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "allowed values are langevin, mala, hmc")) << r.output;
  std::ofstream(path("typo.toml")) << "[train]\nsteps = 10\nlearning_rate = 0.1\n";
  r = joule("train typo.toml out=run1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "typo.toml:3")) << r.output;
  EXPECT_FALSE(fs::exists(path("run1")));
  EXPECT_FALSE(fs::exists(path("runs")));
}

TEST_F(CliTest, TrainSampleEvalResumeRoundTrip) {
  auto r = joule("train out=run" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "samples.png", "density.png",
                        "curves.png"}) {
    EXPECT_TRUE(fs::exists(path(std::string("run/") + f))) << f;
  }
  EXPECT_TRUE(contains(r.output, "nll_test"));
  EXPECT_TRUE(contains(joule::io::read_text_file(path("run/eval.json")), "\"nll_gap\""));

  // Refuses to reuse a non-empty run folder, and leaves it as it was.
  const auto before = joule::io::read_text_file(path("run/config.toml"));
  r = joule("train out=run" + kTiny);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "already exists")) << r.output;
  EXPECT_EQ(before, joule::io::read_text_file(path("run/config.toml")));

  r = joule("sample run sample.n=50 sample.steps=10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream csv(path("run/samples-step30.csv"));
  int rows = 0;
  for (std::string line; std::getline(csv, line);) ++rows;
  EXPECT_EQ(rows, 50);
  EXPECT_TRUE(fs::exists(path("run/samples-step30.png")));

  r = joule("eval run/checkpoint.pt eval.grid_resolution=64");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "nll_test"));
  EXPECT_TRUE(fs::exists(path("run/eval-step30.json")));

  // Resume to step 50 and compare with an uninterrupted 50-step run: identical losses. (The
  // default cosine schedule depends on train.steps, so this pair uses a constant rate.)
  ASSERT_EQ(joule("train out=first" + kTiny + " train.lr_schedule=constant").exit_code, 0);
  r = joule("train train.resume=first train.steps=50");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resuming first at step 30")) << r.output;
  r = joule("train out=straight" + kTiny + " train.steps=50 train.lr_schedule=constant");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto losses = [](const std::string& file) {
    std::map<int64_t, double> out;
    for (const auto& row : joule::train::MetricsLogger::read(file)) {
      for (const auto& kv : row.values) if (kv.first == "loss") out[row.step] = kv.second;
    }
    return out;
  };
  auto resumed = losses(path("first/metrics.jsonl")), straight = losses(path("straight/metrics.jsonl"));
  ASSERT_TRUE(straight.count(50) && resumed.count(50));
  EXPECT_EQ(resumed[40], straight[40]);
  EXPECT_EQ(resumed[50], straight[50]);
}

// train.init_from: a new run starts from another run's weights (step 0, fresh optimizer and
// chains); a missing run or another network is a clear error that leaves no run folder behind.
TEST_F(CliTest, WarmStartFromAnotherRunsWeights) {
  auto r = joule("train out=first" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string trained = nll(r.output);
  r = joule("train out=warm train.init_from=first" + kTiny + " train.steps=0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "warm start: model from")) << r.output;
  EXPECT_EQ(nll(r.output), trained) << "zero steps from the first run's weights evaluate as the first run";
  r = joule("train out=cold" + kTiny + " train.steps=0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(nll(r.output), trained);
  // Training on from the warm start counts its own steps from 0.
  r = joule("train out=on train.init_from=first/checkpoint.pt" + kTiny + " train.steps=10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto rows = joule::train::MetricsLogger::read(path("on/metrics.jsonl"));
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().step, 10);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"train.init_from=nowhere", "nowhere"},
      {"train.init_from=first model.width=24", "cannot start module 'model'"},
      {"train.init_from=first 'train.init_modules=[\"critic\"]'", "no module 'critic'"}};
  for (const auto& [args, message] : bad) {
    r = joule("train out=bad " + args + kTiny);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_TRUE(contains(r.output, message)) << r.output;
    EXPECT_FALSE(fs::exists(path("bad"))) << args;
  }
}

TEST_F(CliTest, SnapshotsKeepEveryNthStateAndEachEvaluates) {
  auto r = joule("train out=run train.snapshot_every=10" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(path("run/snapshots"))) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step-0000010.pt", "step-0000020.pt", "step-0000030.pt"}));
  // The last snapshot is the final state; an earlier one is another state, not a copy.
  const std::string final_nll = nll(r.output);
  r = joule("eval run/snapshots/step-0000030.pt eval.chain_steps=20 eval.n_samples=200 eval.grid_resolution=64");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nll(r.output), final_nll);
  r = joule("eval run/snapshots/step-0000010.pt eval.chain_steps=20 eval.n_samples=200 eval.grid_resolution=64");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(nll(r.output), final_nll);
  // A snapshot's outputs go beside its run's; a snapshot is neither overwritten nor resumed in place.
  EXPECT_FALSE(fs::exists(path("run/snapshots/eval.json")));
  EXPECT_TRUE(fs::exists(path("run/eval-step10.json")));
  r = joule("eval run eval.out=run/snapshots/step-0000020.pt");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "would replace a snapshot")) << r.output;
  r = joule("train train.resume=run/snapshots/step-0000010.pt");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "is a snapshot of the run")) << r.output;
  EXPECT_EQ(joule::train::MetricsLogger::read(path("run/metrics.jsonl")).back().step, 30);
  r = joule("train out=bad train.snapshot_every=-1" + kTiny);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "snapshot_every")) << r.output;
}

TEST_F(CliTest, CorruptOrMissingCheckpointIsAClearError) {
  auto r = joule("eval nowhere/checkpoint.pt");
  EXPECT_EQ(r.exit_code, 1);  // a missing file (docs/cli.md: exit codes)
  EXPECT_TRUE(contains(r.output, "does not exist")) << r.output;
  ASSERT_EQ(joule("train out=run" + kTiny).exit_code, 0);
  auto bytes = joule::io::read_text_file(path("run/checkpoint.pt"));
  fs::create_directories(path("broken"));
  joule::io::write_text_file(path("broken/checkpoint.pt"), bytes.substr(0, bytes.size() / 3));
  r = joule("eval broken");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.output, "corrupt")) << r.output;
  r = joule("train train.resume=broken");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(joule::io::read_text_file(path("broken/checkpoint.pt")).size(), bytes.size() / 3) << "must not be touched";
}

TEST_F(CliTest, NanInDataIsRefusedBeforeAnythingIsWritten) {
  std::ofstream(path("points.csv")) << "x,y\n0.1,0.2\n0.3,nan\n0.5,0.6\n";
  auto r = joule("train data.dataset=csv data.path=points.csv out=run" + kTiny);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.output, "points.csv:3")) << r.output;
  EXPECT_FALSE(fs::exists(path("run")));
  r = joule("train data.dataset=csv data.path=missing.csv out=run" + kTiny);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "missing.csv")) << r.output;
}

TEST_F(CliTest, ForcedDivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  // An energy bound of 1e-9 trips the guard at the first step.
  auto r = joule("train out=run train.energy_bound=1e-9" + kTiny);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(contains(r.output, "diverged at step 1")) << r.output;
  EXPECT_TRUE(contains(r.output, "run/checkpoint.pt")) << r.output;
  r = joule("eval run eval.grid_resolution=32");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "step 0")) << r.output;
}

TEST_F(CliTest, SamplesLoadInPythonTorch) {
  ASSERT_EQ(joule("train out=run" + kTiny).exit_code, 0);
  ASSERT_EQ(joule("sample run sample.n=7 sample.steps=2").exit_code, 0);
  auto r = run_command("/usr/bin/python3 -c \"import torch; t = torch.load('run/samples-step30.pt'); "
                       "print(tuple(t.shape), t.dtype)\"",
                       dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "(7, 2) torch.float32")) << r.output;
}

// Python's json module, refusing NaN and Infinity (which it accepts by default).
int strict_json_check(const std::string& files) {
  const std::string py =
      "import json, sys\n"
      "def refuse(c): raise ValueError('non-standard JSON constant ' + c)\n"
      "for p in sys.argv[1:]:\n"
      "    text = open(p).read()\n"
      "    docs = text.splitlines() if p.endswith('.jsonl') else [text]\n"
      "    for d in docs:\n"
      "        json.loads(d, parse_constant=refuse)\n";
  std::ofstream(::testing::TempDir() + "joule_strict_json.py") << py;
  return run_command("/usr/bin/python3 " + ::testing::TempDir() + "joule_strict_json.py " + files).exit_code;
}

TEST_F(CliTest, EveryJsonFileJouleWritesIsStrictJson) {
  auto r = joule("train" + kTiny + " out=run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("eval run eval.grid_resolution=32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  {
    std::ofstream f(path("x.csv"));
    for (int i = 0; i < 40; ++i) f << (i % 7) * 0.3 - 1.0 << "," << (i % 5) * 0.4 - 0.8 << "\n";
  }
  r = joule("gof gaussian x.csv gof.test=ksd gof.ksd_bootstrap=50 gof.out=gof.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(strict_json_check(path("run/eval.json") + " " + path("run/eval-step30.json") + " " + path("run/metrics.jsonl") +
                              " " + path("gof.json")),
            0);
  // NaN and infinity become null; strings are escaped.
  joule::eval::Report report;
  report.method = "q\"uote\\d\n";
  report.add("nan", std::nan(""), "a \"note\"\twith\ncontrol characters");
  report.add("inf", INFINITY);
  report.add("ok", 1.5);
  io_write(path("special.json"), report.to_json());
  joule::train::MetricsLogger log(path("special.jsonl"), 1);
  log.log(1, {{"loss", std::nan("")}, {"x", -INFINITY}});
  log.log_divergence(joule::train::DivergenceError(3, "loss is \"nan\"\n"), false);
  EXPECT_EQ(strict_json_check(path("special.json") + " " + path("special.jsonl")), 0);
  auto back = joule::eval::Report::from_json(joule::io::read_text_file(path("special.json")));
  EXPECT_TRUE(std::isnan(back.value("nan")));
  EXPECT_TRUE(std::isnan(back.value("inf")));
  EXPECT_EQ(back.value("ok"), 1.5);
  EXPECT_EQ(back.method, report.method);
}

}  // namespace

