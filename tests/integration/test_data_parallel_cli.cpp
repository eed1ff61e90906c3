// `joule train --nproc N`: worker processes on loopback c10d Gloo. Two processes with batch B
// train exactly as one with batch 2B (score matching, so no sampling noise of the ranks enters);
// a worker killed mid-run stops the job with a message naming its rank, and the last checkpoint
// resumes on another number of processes.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <functional>
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

  // Starts `joule ARGS` in the background; NAME.log gets its output and NAME.rc its exit code.
  void start_job(const std::string& env, const std::string& args, const std::string& name) {
    const std::string command = "(" + env + joule::testing::joule_command(args) + " > " + name + ".log 2>&1; echo $? > " + name +
                                ".rc) > /dev/null 2>&1 &";
    ASSERT_EQ(run_command(command, dir_.path()).exit_code, 0);
  }
  // Seconds until `done` holds, polled every 0.2 s; `limit` if it never does.
  static double wait_for(const std::function<bool()>& done, double limit) {
    const auto t0 = std::chrono::steady_clock::now();
    auto waited = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    while (!done()) {
      if (waited() >= limit) return limit;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return waited();
  }
  // Sends `signal` (a kill option) to the worker of the job whose command line has `marker` and
  // whose environment says RANK=1.
  std::string signal_rank_1(const std::string& marker, const std::string& signal) {
    return run_command("for c in $(pgrep -f '" + marker + "' -d ' '); do if tr '\\0' '\\n' < /proc/$c/environ | grep -qx RANK=1; "
                       "then kill " + signal + " $c && echo signalled $c; fi; done",
                       dir_.path()).output;
  }
};

TEST_F(DataParallelCliTest, TwoProcessesTrainAsOneOnTheGlobalBatch) {
  const std::string cd = " objective.kind=sm train.steps=30" + quick_;
  // Snapshots are collective saves too: every worker joins them (else the job hangs).
  auto two = joule("train --nproc 2 train.batch_size=64 train.snapshot_every=10 run.out=two" + cd);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  for (const char* step : {"10", "20", "30"}) {
    EXPECT_TRUE(fs::exists(path("two/snapshots/step-00000" + std::string(step) + ".pt"))) << step;
  }
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
  start_job("", "train --nproc 2 train.steps=1000000 train.checkpoint_every=20 run.out=k" + quick_, "killed");
  // metrics.jsonl has lines once a checkpoint past step 0 exists.
  wait_for([&] { return fs::exists(path("k/metrics.jsonl")) && fs::file_size(path("k/metrics.jsonl")) > 200; }, 120);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto kill = signal_rank_1("run.out=k", "-9");
  ASSERT_TRUE(contains(kill, "signalled")) << kill;
  ASSERT_LT(wait_for([&] { return fs::exists(path("killed.rc")); }, 60), 60) << "the job did not stop within 60 s of a worker's death";
  const auto out = run_command("cat killed.log", dir_.path()).output;
  EXPECT_NE(run_command("cat killed.rc", dir_.path()).output, "0\n") << out;
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
  start_job("JOULE_DIST_TIMEOUT=5 ", "train --nproc 2 train.steps=1000000 train.checkpoint_every=20 run.out=h" + quick_, "hung");
  wait_for([&] { return fs::exists(path("h/checkpoint.pt")); }, 120);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto stop = signal_rank_1("run.out=h", "-STOP");
  ASSERT_TRUE(contains(stop, "signalled")) << stop;
  const double waited = wait_for([&] { return fs::exists(path("hung.rc")); }, 90);
  ASSERT_LT(waited, 90) << "the job did not stop within 90 s of a worker hanging";
  EXPECT_LT(waited, 60);
  const auto out = run_command("cat hung.log", dir_.path()).output;
  EXPECT_NE(run_command("cat hung.rc", dir_.path()).output, "0\n") << out;
  // Whichever collective rank 0 was in: the step's all-reduce, or a checkpoint's all-gather.
  EXPECT_TRUE(contains(out, "rank 0 of 2: an all-reduce with the other workers failed") ||
              contains(out, "rank 0 of 2: an all-gather with the other workers failed"))
      << out;
  EXPECT_TRUE(contains(out, "hung past the 5 s timeout, JOULE_DIST_TIMEOUT")) << out;
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
