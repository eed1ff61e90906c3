// The joule command on a machine that other work keeps busy: with more than one thread and no
// wait policy in the environment it restarts itself with OMP_WAIT_POLICY=PASSIVE (idle OpenMP
// workers sleep instead of spinning), says so, and the run is the same; a policy the user sets is
// left alone. The busy work is a spinning thread of this test.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <sstream>
#include <thread>

#include "joule/core/cpu_load.h"
#include "joule/io/checkpoint.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::joule_command;
using joule::testing::run_command;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// One core kept busy while in scope.
class BusyCore {
 public:
  BusyCore() : thread_([this] {
      volatile double x = 0;
      while (!stop_.load(std::memory_order_relaxed)) x = x + 1;
    }) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ~BusyCore() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class ThreadsCliTest : public joule::testing::CliTestBase {
 protected:
  ThreadsCliTest() : CliTestBase("joule-threads-cli") {}
  const std::string run_ = " train train.steps=20 train.eval_every=0 sample.n=16 run.progress=none run.threads=2";
};

TEST_F(ThreadsCliTest, BusyCoresSeesABusyCore) {
  BusyCore busy;
  EXPECT_GE(joule::busy_cores(0.2), 0.5);
}

TEST_F(ThreadsCliTest, BusyMachineRestartsWithSleepingWorkersAndTheSameRun) {
  joule::testing::CommandResult busy_run, quiet_run;
  {
    BusyCore busy;
    busy_run = run_command("unset OMP_WAIT_POLICY GOMP_SPINCOUNT; " + joule_command(run_ + " out=busy"), dir_.path());
  }
  ASSERT_EQ(busy_run.exit_code, 0) << busy_run.output;
  EXPECT_TRUE(contains(busy_run.output, "restarting with OMP_WAIT_POLICY=PASSIVE")) << busy_run.output;
  EXPECT_TRUE(contains(busy_run.output, "2 thread(s) (idle: sleep (OMP_WAIT_POLICY=PASSIVE))")) << busy_run.output;
  // A policy of the user's is kept, busy or not, and the wait policy does not change the numbers.
  {
    BusyCore busy;
    quiet_run = run_command("GOMP_SPINCOUNT=1000 " + joule_command(run_ + " out=chosen"), dir_.path());
  }
  ASSERT_EQ(quiet_run.exit_code, 0) << quiet_run.output;
  EXPECT_FALSE(contains(quiet_run.output, "restarting")) << quiet_run.output;
  EXPECT_TRUE(contains(quiet_run.output, "spin 1000 times, then sleep (GOMP_SPINCOUNT)")) << quiet_run.output;
  const auto strip_time = [](std::string s) {
    std::string out;
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);) {
      if (!contains(line, "time") && !contains(line, "it_per_s")) out += line + "\n";
    }
    return out;
  };
  EXPECT_EQ(strip_time(joule::io::read_text_file(path("busy/eval.json"))),
            strip_time(joule::io::read_text_file(path("chosen/eval.json"))));
  // One run folder each: the restart happens before anything is written.
  EXPECT_TRUE(fs::exists(path("busy/checkpoint.pt")));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator{}), 2);
}

}  // namespace
