// method = "discrete_vae" through the joule binary on the user's own MNIST-format IDX files
// (written here, 28×28 images of two kinds of stroke): a RELAX run, with one or two stochastic
// layers, writes the run folder with the ELBOs and the test log-likelihood bound, resuming equals
// running straight through (model, surrogates and both optimizers restored), wake-sleep and RWS
// run, and bad input is a clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "joule/io/checkpoint.h"
#include "joule/train/callbacks.h"
#include "support/metrics_table.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

using joule::testing::read_metrics;

void put_u32(std::ofstream& f, uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  f.write(reinterpret_cast<const char*>(b), 4);
}

// n images (horizontal or vertical bars at a position set by i) and their labels, IDX format.
void write_mnist(const fs::path& dir, const std::string& split, int n) {
  std::ofstream img(dir / (split + "-images-idx3-ubyte"), std::ios::binary);
  put_u32(img, 0x00000803);
  put_u32(img, n);
  put_u32(img, 28);
  put_u32(img, 28);
  std::ofstream lab(dir / (split + "-labels-idx1-ubyte"), std::ios::binary);
  put_u32(lab, 0x00000801);
  put_u32(lab, n);
  for (int i = 0; i < n; ++i) {
    const bool vertical = i % 2 == 0;
    const int pos = 4 + (i * 7) % 20;
    for (int r = 0; r < 28; ++r) {
      for (int c = 0; c < 28; ++c) {
        const int d = vertical ? c - pos : r - pos;
        const unsigned char v = (d >= 0 && d < 3) ? 230 : (d == -1 || d == 3) ? 90 : 0;
        img.put(static_cast<char>(v));
      }
    }
    lab.put(static_cast<char>(vertical ? 1 : 7));
  }
}

class DiscreteVaeCliTest : public joule::testing::CliTestBase {
 protected:
  DiscreteVaeCliTest() : CliTestBase("joule-discrete-vae-cli") {
    fs::create_directories(path("mnist"));
    write_mnist(path("mnist"), "train", 300);
    write_mnist(path("mnist"), "t10k", 60);
    tiny_ = " method=discrete_vae data.dataset=mnist data.path=" + path("mnist") +
            " data.validation=50 vae.latent=16 estimator.width=16 train.steps=40 train.log_every=10"
            " train.eval_every=20 train.checkpoint_every=20 eval.iwae_samples=10 run.progress=none";
  }
  std::string tiny_;

  // A RELAX run with `extra` options writes the run folder and learns; 20 steps resumed to 40
  // equal 40 straight (model, surrogates and both optimizers restored).
  void check_run_and_resume(const std::string& extra) {
    auto r = joule("train out=run" + tiny_ + extra);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "250 training, 50 validation, 60 test images")) << r.output;
    for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "samples.png",
                          "reconstructions.png", "curves.png"}) {
      EXPECT_TRUE(fs::exists(path(std::string("run/") + f))) << f;
    }
    const std::string json = joule::io::read_text_file(path("run/eval.json"));
    for (const char* k : {"\"elbo_train\"", "\"elbo_valid\"", "\"elbo_test\"", "\"loglik_test\""}) {
      EXPECT_TRUE(contains(json, k)) << k << " in " << json;
    }
    auto m = read_metrics(path("run/metrics.jsonl"));
    ASSERT_TRUE(m.count(10) && m.count(40));
    EXPECT_GT(m[40]["elbo"], m[10]["elbo"]);  // learning, from the data mean's bias onwards
    ASSERT_EQ(joule("train out=first" + tiny_ + extra + " train.steps=20").exit_code, 0);
    r = joule("train train.resume=first train.steps=40");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto resumed = read_metrics(path("first/metrics.jsonl"));
    for (int64_t step : {30, 40}) {
      for (const char* k : {"elbo", "loss.surrogate", "eta", "temperature", "variance_loss", "log_var"}) {
        ASSERT_TRUE(m[step].count(k)) << k;
        EXPECT_EQ(resumed[step][k], m[step][k]) << k << " at step " << step;
      }
    }
  }
};

TEST_F(DiscreteVaeCliTest, RelaxRunOnUserIdxFilesAndResumeEqualsStraight) { check_run_and_resume(""); }

// The paper's L2: two stochastic layers, one control variate per layer in one surrogate group.
TEST_F(DiscreteVaeCliTest, TwoLayerRelaxRunAndResumeEqualsStraight) {
  check_run_and_resume(" vae.layers=2");
  EXPECT_TRUE(contains(joule::io::read_text_file(path("run/config.toml")), "layers = 2"));
}

TEST_F(DiscreteVaeCliTest, WakeSleepAndReweightedWakeSleepRun) {
  for (const char* t : {"wake_sleep", "rws"}) {
    auto r = joule(std::string("train out=") + t + tiny_ + " vae.training=" + t + " vae.model=nonlinear vae.hidden=16");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(joule::io::read_text_file(path(std::string(t) + "/eval.json")), "loglik_test")) << t;
  }
}

TEST_F(DiscreteVaeCliTest, BadInputIsAClearErrorAndWritesNothing) {
  auto r = joule("train out=bad1 method=discrete_vae data.dataset=mnist run.progress=none");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "needs data.path")) << r.output;
  r = joule("train out=bad2" + tiny_ + " data.validation=300");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "leaves no training images")) << r.output;
  r = joule("train out=bad3" + tiny_ + " vae.trainng=rws");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "did you mean 'vae.training'")) << r.output;
  r = joule("train out=bad4" + tiny_ + " data.path=" + path("nowhere"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "nowhere")) << r.output;
  for (const char* d : {"bad1", "bad2", "bad3", "bad4"}) EXPECT_FALSE(fs::exists(path(d))) << d;
}

}  // namespace
