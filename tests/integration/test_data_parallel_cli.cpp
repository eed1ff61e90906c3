// `joule train --nproc N`: worker processes on loopback c10d Gloo. Two processes with batch B
// train exactly as one with batch 2B (score matching, so no sampling noise of the ranks enters);
// a worker killed mid-run stops the job with a message naming its rank, and the last checkpoint
// resumes on another number of processes.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "joule/methods/run.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::run_command;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

std::vector<at::Tensor> parameters_of(const std::string& run) {
  auto method = joule::methods::load(run);
  std::vector<at::Tensor> out;
  for (const auto& [name, module] : method->trainer().modules().items()) {
    for (const auto& p : module->parameters()) out.push_back(p.detach().clone());
  }
  return out;
}

int64_t step_of(const std::string& run) { return joule::methods::load(run)->trainer().step_count(); }

class DataParallelCliTest : public joule::testing::CliTestBase {
 protected:
  DataParallelCliTest() : CliTestBase("joule-dp-cli") {}
  const std::string quick_ = " train.eval_every=0 sample.n=16 run.progress=none run.tensorboard=false";
};

TEST_F(DataParallelCliTest, TwoProcessesTrainAsOneOnTheGlobalBatch) {
  const std::string cd = " objective.kind=sm train.steps=30" + quick_;
  auto two = joule("train --nproc 2 train.batch_size=64 run.out=two" + cd);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_TRUE(contains(two.output, "starting 2 worker processes")) << two.output;
  EXPECT_EQ(count(two.output, "run folder: two"), 1u) << "only rank 0 reports:\n" << two.output;
  auto one = joule("train --nproc 1 train.batch_size=128 run.out=one" + cd);
  ASSERT_EQ(one.exit_code, 0) << one.output;

  const auto a = parameters_of(path("two")), b = parameters_of(path("one"));
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  EXPECT_LT(worst, 1e-5) << "two processes of 64 rows against one of 128";

  // A plain run of 128 rows draws its data and noise from one generator: a different run.
  auto plain = joule("train train.batch_size=128 run.out=plain" + cd);
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  const auto c = parameters_of(path("plain"));
  double apart = 0;
  for (size_t i = 0; i < a.size(); ++i) apart = std::max(apart, (a[i] - c[i]).abs().max().item<double>());
  EXPECT_GT(apart, 100 * worst + 1e-6) << "the comparison must be able to tell runs apart";
}

TEST_F(DataParallelCliTest, AKilledWorkerStopsTheJobNamingItsRankAndTheCheckpointResumesOnAnotherWorldSize) {
  const std::string log = path("killed.log");
  const std::string start = "(" + joule::testing::joule_command("train --nproc 2 train.steps=1000000 train.checkpoint_every=20 run.out=k" + quick_) +
                            " > " + log + " 2>&1; echo $? > " + path("killed.rc") + ") > /dev/null 2>&1 &";
  ASSERT_EQ(run_command(start, dir_.path()).exit_code, 0);
  // Wait for a checkpoint past step 0 (metrics.jsonl has lines by then).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline && !(fs::exists(path("k/metrics.jsonl")) && fs::file_size(path("k/metrics.jsonl")) > 200)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // Rank 1 is the worker whose environment says RANK=1.
  auto kill = run_command("for c in $(pgrep -f 'train.steps=1000000 train.checkpoint_every=20' -d ' '); do "
                          "if tr '\\0' '\\n' < /proc/$c/environ | grep -qx RANK=1; then kill -9 $c && echo killed $c; fi; done",
                          dir_.path());
  ASSERT_TRUE(contains(kill.output, "killed")) << kill.output;
  const auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < stop_deadline && !fs::exists(path("killed.rc"))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(fs::exists(path("killed.rc"))) << "the job did not stop within 60 s of a worker's death";
  const auto rc = run_command("cat killed.rc", dir_.path()).output;
  const auto out = run_command("cat killed.log", dir_.path()).output;
  EXPECT_NE(rc, "0\n") << out;
  EXPECT_TRUE(contains(out, "worker rank 1 was killed by signal 9")) << out;

  // The last checkpoint resumes on one process, then on three.
  const int64_t at = step_of(path("k"));
  EXPECT_GE(at, 20);
  auto one = joule("train --nproc 1 train.resume=k train.steps=" + std::to_string(at + 10));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_EQ(step_of(path("k")), at + 10);
  auto three = joule("train --nproc 3 train.resume=k train.steps=" + std::to_string(at + 20));
  ASSERT_EQ(three.exit_code, 0) << three.output;
  EXPECT_EQ(step_of(path("k")), at + 20);
}

TEST_F(DataParallelCliTest, AHungWorkerStopsTheJobAtTheTimeout) {
  // Rank 1 stopped (SIGSTOP) never answers: rank 0's collective gives up after
  // JOULE_DIST_TIMEOUT seconds and the launcher ends the job.
  const std::string start = "(JOULE_DIST_TIMEOUT=5 " +
                            joule::testing::joule_command("train --nproc 2 train.steps=1000000 train.checkpoint_every=20 run.out=h" + quick_) +
                            " > hung.log 2>&1; echo $? > hung.rc) > /dev/null 2>&1 &";
  ASSERT_EQ(run_command(start, dir_.path()).exit_code, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline && !fs::exists(path("h/checkpoint.pt"))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto stop = run_command("for c in $(pgrep -f 'train.checkpoint_every=20 run.out=h' -d ' '); do "
                          "if tr '\\0' '\\n' < /proc/$c/environ | grep -qx RANK=1; then kill -STOP $c && echo stopped $c; fi; done",
                          dir_.path());
  ASSERT_TRUE(contains(stop.output, "stopped")) << stop.output;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < t0 + std::chrono::seconds(90) && !fs::exists(path("hung.rc"))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(fs::exists(path("hung.rc"))) << "the job did not stop within 90 s of a worker hanging";
  EXPECT_LT(waited, 60);
  const auto out = run_command("cat hung.log", dir_.path()).output;
  EXPECT_NE(run_command("cat hung.rc", dir_.path()).output, "0\n") << out;
  EXPECT_TRUE(contains(out, "rank 0 of 2: an all-reduce with the other workers failed")) << out;
  EXPECT_TRUE(contains(out, "joule: worker rank 0 exited with status 1")) << out;
}

TEST_F(DataParallelCliTest, BadProcessCountsAreUsageErrors) {
  auto r = joule("train --nproc 0" + quick_);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--nproc must be a number of processes in 1..1024, got '0'")) << r.output;
  auto big = joule("train --nproc 2 train.batch_size=30000 buffer.capacity=40000 train.steps=2 run.out=big" + quick_);
  EXPECT_NE(big.exit_code, 0) << big.output;
  EXPECT_TRUE(contains(big.output, "lower train.batch_size (it is per process)")) << big.output;
}

}  // namespace
