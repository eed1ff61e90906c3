// Improved contrastive divergence end to end through the joule binary: objective.kind = "icd" on
// 2-D data (resume equals running straight through, the buffer's entropy reference included),
// method = "icd" on images (FIFO 8-bit buffer, augmentation transitions, EMA, multi-scale; run
// folder, sample, resume), `joule compose` of trained runs, and clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "joule/io/checkpoint.h"
#include "joule/train/callbacks.h"
#include "support/preset_runs.h"
#include "support/metrics_table.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;

const std::string kTiny2d =
    " data.n_train=2000 data.n_test=500 train.steps=30 train.log_every=10 train.eval_every=0 train.checkpoint_every=10"
    " eval.n_samples=200 eval.grid_resolution=64 eval.chain_steps=20 buffer.capacity=1000 icd.entropy_min_buffer=500"
    " run.progress=none run.threads=1";
const std::string kTinyImages =
    " data.n_train=256 data.n_test=64 train.steps=6 train.log_every=2 train.checkpoint_every=2 buffer.capacity=128"
    " icd.entropy_min_buffer=64 icd.entropy_reference=32 model.channels=4 model.blocks=2 eval.quality_n=32 eval.ood_n=32"
    " eval.chain_steps=3 eval.grid_n=16 sampler.steps=3 run.progress=none run.threads=1";

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

using joule::testing::eval_json_number;

using joule::testing::read_metrics;

class IcdCliTest : public joule::testing::CliTestBase {
 protected:
  IcdCliTest() : CliTestBase("joule-icd-cli") {}
  void write(const std::string& name, const std::string& text) { std::ofstream(path(name)) << text; }
};

TEST_F(IcdCliTest, PointsTrainWithBothTermsAndResumeEqualsStraight) {
  auto r = joule("train icd_8gaussians out=run eval.steps_curve=[0,5]" + kTiny2d);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = joule::io::read_text_file(path("run/eval.json"));
  for (const char* k : {"nll_test", "steps_curve.0.nll_model", "steps_curve.5.nll_model", "steps_curve.5.mmd2"}) {
    EXPECT_TRUE(std::isfinite(eval_json_number(json, k))) << k << " in " << json;
  }
  EXPECT_TRUE(fs::exists(path("run/steps_curve.png")));
  auto m = read_metrics(path("run/metrics.jsonl"));
  ASSERT_TRUE(m.count(30));
  EXPECT_TRUE(m[30].count("e_kl")) << "the KL term is on";
  EXPECT_TRUE(m[30].count("nn_log_dist")) << "the entropy term is on";

  // 20 steps, resumed to 30, against 30 straight (constant lr so the schedule does not stretch).
  ASSERT_EQ(joule("train icd_8gaussians out=first train.lr_schedule=constant" + kTiny2d + " train.steps=20").exit_code, 0);
  r = joule("train train.resume=first train.steps=30");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(joule("train icd_8gaussians out=straight train.lr_schedule=constant" + kTiny2d).exit_code, 0);
  auto resumed = read_metrics(path("first/metrics.jsonl")), straight = read_metrics(path("straight/metrics.jsonl"));
  for (int64_t step : {10, 20, 30}) {
    ASSERT_TRUE(resumed.count(step) && straight.count(step)) << step;
    for (const char* k : {"loss", "e_kl", "nn_log_dist"}) EXPECT_EQ(resumed[step][k], straight[step][k]) << k << " at " << step;
  }
}

TEST_F(IcdCliTest, ImagesRunFolderSampleAndResume) {
  auto r = joule("train icd_fashion out=img eval.steps_curve=[0,2]" + kTinyImages);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"config.toml", "checkpoint.pt", "eval.json", "data.png", "samples-buffer.png", "samples-fresh.png",
                        "steps_curve.png", "curves.png"}) {
    EXPECT_TRUE(fs::exists(path(std::string("img/") + f))) << f;
  }
  const std::string json = joule::io::read_text_file(path("img/eval.json"));
  for (const char* k : {"e_test", "auroc.uniform", "auroc.vflip", "e_samples", "steps_curve.2.energy"}) {
    EXPECT_TRUE(std::isfinite(eval_json_number(json, k))) << k << " in " << json;
  }
  // The FIFO buffer keeps 8-bit chains: the config says so and the run used it.
  const std::string cfg = joule::io::read_text_file(path("img/config.toml"));
  EXPECT_TRUE(contains(cfg, "policy = 'fifo'")) << cfg;
  EXPECT_TRUE(contains(cfg, "storage_bits = 8")) << cfg;

  r = joule("sample img sample.n=8 sample.steps=4 sample.augment_every=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("img/samples-step6.png")));

  // Resume: 4 steps then 2 more equal 6 straight (buffer, EMA and optimizer restored).
  ASSERT_EQ(joule("train icd_fashion out=a" + kTinyImages + " train.steps=4").exit_code, 0);
  r = joule("train train.resume=a train.steps=6");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(joule("train icd_fashion out=b" + kTinyImages).exit_code, 0);
  auto resumed = read_metrics(path("a/metrics.jsonl")), straight = read_metrics(path("b/metrics.jsonl"));
  for (int64_t step : {2, 4, 6}) {
    ASSERT_TRUE(resumed.count(step) && straight.count(step)) << step;
    EXPECT_EQ(resumed[step]["loss"], straight[step]["loss"]) << step;
  }
  EXPECT_EQ(eval_json_number(joule::io::read_text_file(path("a/eval.json")), "e_test"),
            eval_json_number(joule::io::read_text_file(path("b/eval.json")), "e_test"));
}

TEST_F(IcdCliTest, MultiScaleAndBadOptions) {
  auto r = joule("train icd_fashion out=ms model.scales=3" + kTinyImages + " train.steps=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("train icd_fashion out=four model.scales=4 data.dataset=synthetic-cifar10 data.synthetic_n=64" + kTinyImages);
  EXPECT_EQ(r.exit_code, 0) << "32 -> 16 -> 8 -> 4: four scales fit 32x32 images\n" << r.output;
  r = joule("train icd_fashion out=bad2 sampler.kind=mala" + kTinyImages);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "langevin")) << r.output;
  EXPECT_FALSE(fs::exists(path("bad2")));
  r = joule("train icd_fashion out=bad3 icd.kl_weigth=2" + kTinyImages);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "icd.kl_weight")) << r.output;
  r = joule("train icd_fashion out=bad4 buffer.storage_bits=16" + kTinyImages);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = joule("train icd_8gaussians out=bad5 sampler.kind=mala" + kTiny2d);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "langevin")) << r.output;
}

TEST_F(IcdCliTest, ComposeClassesOfAClassifierRunAndTwoEnergies) {
  // A tiny JEM run supplies class-conditional parts and scores the samples.
  auto r = joule("train method=jem out=jem data.n_train=256 data.n_test=64 train.steps=4 train.eval_every=0 sampler.steps=2"
                 " buffer.capacity=200 eval.ood_n=32 eval.grid_n=10 eval.chain_steps=0 run.progress=none run.threads=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  write("or.toml",
        "op = \"or\"\n[[parts]]\nrun = \"jem\"\nlabel = 7\n[[parts]]\nrun = \"jem\"\nlabel = 5\n"
        "[sample]\nn = 12\nsteps = 4\naugment_every = 2\nout = \"sneaker-or-sandal\"\n[score]\nrun = \"jem\"\nclasses = [5, 7]\n");
  r = joule("compose or.toml run.threads=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"sneaker-or-sandal.csv", "sneaker-or-sandal.pt", "sneaker-or-sandal.png", "sneaker-or-sandal.json"}) {
    EXPECT_TRUE(fs::exists(path(f))) << f;
  }
  const std::string json = joule::io::read_text_file(path("sneaker-or-sandal.json"));
  const double in_classes = eval_json_number(json, "fraction_in_classes");
  EXPECT_GE(in_classes, 0.0);
  EXPECT_LE(in_classes, 1.0);
  EXPECT_NEAR(eval_json_number(json, "class.5") + eval_json_number(json, "class.7"), in_classes, 1e-9);

  // AND of two 2-D energies (NOT as a negative weight).
  ASSERT_EQ(joule("train icd_8gaussians out=e1" + kTiny2d + " train.steps=10").exit_code, 0);
  ASSERT_EQ(joule("train pcd_8gaussians out=e2 data.n_train=2000 data.n_test=500 train.steps=10 eval.grid_resolution=64"
                  " eval.n_samples=100 eval.chain_steps=10 run.progress=none run.threads=1")
                .exit_code,
            0);
  write("and.toml",
        "op = \"and\"\n[[parts]]\nrun = \"e1\"\n[[parts]]\nrun = \"e2\"\nweight = -0.5\n[sampler]\nclamp_min = -inf\nclamp_max = inf\n"
        "step_size = 0.01\nnoise = -1.0\n[sample]\nn = 50\nsteps = 10\ninit_low = -4\ninit_high = 4\nout = \"both\"\n");
  r = joule("compose and.toml run.threads=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("both.csv")));

  // Errors: a label on a run without classes, no output, a typo.
  write("bad.toml", "[[parts]]\nrun = \"e1\"\nlabel = 3\n[sample]\nout = \"x\"\n");
  r = joule("compose bad.toml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "not a classifier run")) << r.output;
  write("noout.toml", "[[parts]]\nrun = \"e1\"\n");
  r = joule("compose noout.toml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "sample.out")) << r.output;
  r = joule("compose and.toml sample.stpes=3");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "sample.steps")) << r.output;
}

}  // namespace
