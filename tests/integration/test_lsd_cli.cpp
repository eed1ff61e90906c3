// Sampling-free training and goodness-of-fit through the joule binary: `joule gof` accepts a
// matching sample and rejects a shifted one, with both tests; ICA and the 2-D EBM train with the
// LSD and score-matching objectives from the command line; bad gof input is a clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::run_command;
using joule::testing::TempDir;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

class LsdCliTest : public joule::testing::CliTestBase {
 protected:
  LsdCliTest() : CliTestBase("joule-lsd-cli") {}
  // n rows of `dim` N(shift, 1) coordinates, with a header.
  void write_gaussian(const std::string& file, int n, int dim, double shift, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(shift, 1.0);
    std::ofstream f(path(file));
    for (int j = 0; j < dim; ++j) f << (j ? "," : "") << "x" << j;
    f << "\n";
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < dim; ++j) f << (j ? "," : "") << normal(rng);
      f << "\n";
    }
  }
};

// Fast LSD-test settings for the CLI check (the test's statistics are covered in test_gof.cpp).
const std::string kFastLsd = " gof.lsd_iterations=150 gof.lsd_width=32 gof.ksd_bootstrap=300";

TEST_F(LsdCliTest, GofAcceptsAMatchingSampleAndRejectsAShiftedOne) {
  write_gaussian("same.csv", 500, 3, 0.0, 1);
  write_gaussian("shifted.csv", 500, 3, 0.5, 2);
  auto r = joule("gof gaussian same.csv gof.out=same.json" + kFastLsd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "500 rows, 3 columns")) << r.output;
  EXPECT_FALSE(contains(r.output, "reject H0")) << r.output;
  EXPECT_TRUE(fs::exists(path("same.json")));
  r = joule("gof gaussian shifted.csv" + kFastLsd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Both tests reject a mean shift of 0.5 in every coordinate at n = 500.
  size_t rejections = 0;
  for (size_t pos = r.output.find("reject H0"); pos != std::string::npos; pos = r.output.find("reject H0", pos + 1)) {
    ++rejections;
  }
  EXPECT_EQ(rejections, 2u) << r.output;
}

TEST_F(LsdCliTest, GofBadInputIsAClearError) {
  auto r = joule("gof gaussian missing.csv");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "missing.csv")) << r.output;
  write_gaussian("three.csv", 50, 3, 0.0, 3);
  r = joule("gof rbm-benchmark three.csv");  // the benchmark RBM has 50 visible units
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "50")) << r.output;
  r = joule("gof gaussian three.csv gof.tset=ksd");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "did you mean 'gof.test'")) << r.output;
}

TEST_F(LsdCliTest, IcaAndToyModelsTrainWithoutSampling) {
  // ICA: exact likelihood, so LSD and MLE runs report comparable test NLLs.
  for (const std::string kind : {"lsd", "mle", "ssm"}) {
    auto r = joule("train method=ica ica.dim=3 objective.kind=" + kind +
                   " data.n_train=2000 data.n_test=500 train.steps=30 train.batch_size=200 train.eval_every=30"
                   " lsd.critic_width=32 run.progress=none run.out=ica_" + kind);
    ASSERT_EQ(r.exit_code, 0) << kind << ":\n" << r.output;
    EXPECT_TRUE(fs::exists(path("ica_" + kind + "/eval.json"))) << kind;
    EXPECT_TRUE(fs::exists(path("ica_" + kind + "/metrics.jsonl"))) << kind;
  }
  // The 2-D EBM pipeline with sampling-free objectives (sampling only for the pictures).
  for (const std::string kind : {"lsd", "ssm", "dsm"}) {
    auto r = joule("train objective.kind=" + kind +
                   " data.n_train=2000 data.n_test=500 train.steps=20 train.eval_every=20 eval.chain_steps=20"
                   " eval.n_samples=200 eval.grid_resolution=64 lsd.critic_width=32 run.progress=none run.out=toy_" +
                   kind);
    ASSERT_EQ(r.exit_code, 0) << kind << ":\n" << r.output;
    EXPECT_TRUE(fs::exists(path("toy_" + kind + "/density.png"))) << kind;
  }
}

}  // namespace
