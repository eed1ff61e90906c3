// method = "vera" end to end through the joule binary: a toy run writes a complete run folder,
// sample/eval/resume work from it (resuming equals running straight through, for the EBM and the
// generator), the HMC estimator and images run, VERA-JEM learns a CSV table semi-supervised with
// the paper's tabular filter, and bad input is a clear error that writes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "joule/core/runtime.h"
#include "joule/io/checkpoint.h"
#include "joule/methods/run.h"
#include "joule/methods/vera.h"
#include "joule/train/callbacks.h"
#include "support/metrics_table.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;

const std::string kTiny =
    " method=vera data.n_train=2000 data.n_test=500 train.steps=30 train.log_every=10 train.eval_every=10"
    " train.checkpoint_every=10 eval.n_samples=200 eval.grid_resolution=64 run.progress=none";

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

double json_number(const std::string& json, const std::string& key) {
  const auto pos = json.find("\"" + key + "\": ");
  if (pos == std::string::npos) return std::nan("");
  return std::stod(json.substr(pos + key.size() + 4));
}

using joule::testing::read_metrics;

class VeraCliTest : public joule::testing::CliTestBase {
 protected:
  VeraCliTest() : CliTestBase("joule-vera-cli") {}
};

TEST_F(VeraCliTest, ToyRunSampleEvalAndResumeEqualsStraight) {
  auto r = joule("train out=run refine.steps=5" + kTiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "samples.png", "density.png", "curves.png"}) {
    EXPECT_TRUE(fs::exists(path(std::string("run/") + f))) << f;
  }
  const std::string json = joule::io::read_text_file(path("run/eval.json"));
  for (const char* k : {"nll_test", "nll_gap", "mmd2_generator", "mmd2_refined", "generator_sigma"}) {
    EXPECT_TRUE(std::isfinite(json_number(json, k))) << k << " in " << json;
  }
  // σ stays inside its clamp.
  EXPECT_GE(json_number(json, "generator_sigma"), 0.01 - 1e-9);
  EXPECT_LE(json_number(json, "generator_sigma"), 0.3 + 1e-9);

  r = joule("sample run sample.n=40 sample.steps=3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("run/samples-step30.csv")));
  r = joule("sample run sample.n=4 sample.class=0 sample.out=run/class0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "sample.class needs a classifier")) << r.output;
  r = joule("eval run eval.grid_resolution=32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "mmd2_generator")) << r.output;

  // 30 steps, resumed to 50, against 50 straight: the EBM's and the generator's losses agree
  // exactly, so all three optimizers, both modules and every random stream were restored.
  const std::string constant = " train.lr_schedule=constant optim.generator.lr_schedule=constant";
  ASSERT_EQ(joule("train out=first" + kTiny + constant).exit_code, 0);
  r = joule("train train.resume=first train.steps=50");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resuming first at step 30")) << r.output;
  ASSERT_EQ(joule("train out=straight" + kTiny + constant + " train.steps=50").exit_code, 0);
  auto resumed = read_metrics(path("first/metrics.jsonl")), straight = read_metrics(path("straight/metrics.jsonl"));
  for (int64_t step : {40, 50}) {
    ASSERT_TRUE(resumed.count(step) && straight.count(step)) << step;
    for (const char* k : {"loss", "loss.generator", "loss.posterior"}) {
      ASSERT_TRUE(straight[step].count(k)) << k;
      EXPECT_EQ(resumed[step][k], straight[step][k]) << k << " at step " << step;
    }
  }
}

TEST_F(VeraCliTest, StepScheduleDecaysAtEightyAndNinetyPercentOfAnyLength) {
  auto r = joule("train out=run" + kTiny + " train.steps=20 train.log_every=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The EBM's and the generator's rates: 1e-3, then x 0.3 from step 16 and again from step 18.
  auto m = read_metrics(path("run/metrics.jsonl"));
  ASSERT_TRUE(m.count(5) && m.count(17) && m.count(20));
  EXPECT_NEAR(m[5]["lr"], 1e-3, 1e-12);
  EXPECT_NEAR(m[17]["lr"], 3e-4, 1e-12);
  EXPECT_NEAR(m[20]["lr"], 9e-5, 1e-12);
}

TEST_F(VeraCliTest, HmcEstimatorAndImages) {
  auto r = joule("train out=hmc" + kTiny + " data.dataset=checkerboard vera.estimator=hmc train.steps=10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Fashion-MNIST images with the DCGAN-style generator, an MLP energy on the flattened pixels.
  r = joule("train out=img method=vera data.dataset=fashion-mnist data.n_train=256 data.n_test=64 generator.net=conv"
            " generator.width=8 generator.noise_dim=16 generator.output=tanh model.width=64 train.steps=3"
            " train.batch_size=32 eval.n_samples=32 eval.grid_n=16 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("img/samples-generator.png")));
  EXPECT_TRUE(fs::exists(path("img/samples-data.png")));
}

TEST_F(VeraCliTest, VeraJemImagesAreGroupedAndJudgedByTheModelsClass) {
  // VERA-JEM on images: generator samples (and after refinement) labelled by the model's own
  // class, one picture row per class, the class-conditional generator's draws for each class, and
  // the feature classifier's agreement with those labels.
  const std::string small = " data.n_train=256 data.n_test=100 model.channels=4 train.steps=3 train.batch_size=32"
                            " train.eval_every=0 run.progress=none";
  auto r = joule("train ce_fashion_cnn out=ce" + small);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("train vera_jem_fashion out=vj" + small + " generator.width=32 eval.n_samples=60 refine.steps=2 eval.grid_n=20"
            " eval.ood_n=50 eval.feature_run=ce eval.quality_n=60");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"samples-generator.png", "samples-generator-class.png", "samples-refined-class.png",
                        "samples-generator-class-conditional.png", "samples-refined-class-conditional.png"}) {
    EXPECT_TRUE(fs::exists(path("vj/") + f)) << f;
  }
  const std::string json = joule::io::read_text_file(path("vj/eval.json"));
  // The preset's generator is class-conditional: its own draws for each class are scored too.
  for (const char* k : {"quality.generator.class_agreement", "quality.generator_class.class_agreement",
                        "quality.refined.class_agreement", "quality.refined_class.class_agreement"}) {
    const double v = json_number(json, k);
    EXPECT_TRUE(v >= 0 && v <= 1) << k << " = " << v;
  }
  // The class-conditional refinement asks for the classes in turn: 60 samples, 6 of each of the
  // 10 classes, so every class is scored (the model's own labels of 3-step samples would not be).
  EXPECT_EQ(json_number(json, "quality.refined_class.classes_scored"), 10.0);
  EXPECT_EQ(json_number(json, "quality.generator_class.classes_scored"), 10.0);

  // `joule sample RUN sample.class=y` draws q(x|y); an absent class is a clear error.
  r = joule("sample vj sample.n=8 sample.class=3 sample.out=vj/class3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("vj/class3.png")));
  r = joule("sample vj sample.n=8 sample.class=10");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "sample.class = 10 but the model has 10 classes")) << r.output;
  // In the library: the same seed and noise with another class gives other images, and class −1
  // the generator's own draws.
  auto method = joule::methods::load(path("vj"), torch::Device(torch::kCPU));
  auto& vera = dynamic_cast<joule::methods::VeraMethod&>(*method);
  vera.config().sample.n = 8;
  vera.config().sample.label = 3;
  const auto three = vera.sample();
  auto gen = joule::make_generator(static_cast<uint64_t>(vera.config().sample.seed));
  EXPECT_TRUE(torch::equal(three, vera.generate_for_classes(torch::full({8}, 3, torch::kLong), 0, gen)));
  vera.config().sample.label = 4;
  EXPECT_FALSE(torch::allclose(three, vera.sample()));
}

TEST_F(VeraCliTest, VeraJemLearnsATableSemiSupervisedWithTheRepeatedValueFilter) {
  // Three Gaussian classes in 4 columns plus a column that is mostly a fill value (0), which the
  // paper's filter drops.
  auto gen = joule::make_generator(5);
  {
    std::ofstream f(path("blobs.csv"));
    f << "a,b,c,fill,label\n";
    auto x = torch::randn({600, 3}, gen);
    for (int64_t i = 0; i < 600; ++i) {
      const int64_t y = i % 3;
      f << x[i][0].item<double>() + 3.0 * y << "," << x[i][1].item<double>() * 10 << "," << x[i][2].item<double>() - 2.0 * y
        << "," << (i % 10 == 0 ? 1.5 : 0.0) << "," << y << "\n";
    }
  }
  auto r = joule("train vera_jem_tabular out=tab data.path=blobs.csv data.drop_repeated=5 vera.labels_per_class=20 train.steps=400"
                 " model.hidden=[64,64] generator.width=64 generator.noise_dim=8 train.eval_every=50 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = joule::io::read_text_file(path("tab/eval.json"));
  EXPECT_GT(json_number(json, "test_acc"), 0.8) << json;  // chance 0.33, Bayes ~0.93
  EXPECT_TRUE(std::isfinite(json_number(json, "ece"))) << json;
  EXPECT_TRUE(fs::exists(path("tab/reliability.png")));
  const std::string log = joule::io::read_text_file(path("tab/metrics.jsonl"));
  EXPECT_TRUE(contains(log, "\"ce\"")) << "the labelled batches' cross-entropy is logged";
  EXPECT_TRUE(contains(r.output, "dropped 1 feature")) << r.output;
}

TEST_F(VeraCliTest, VeraJemReadsTheHumanActivityFolderAsPublished) {
  // The UCI HAR layout (train/X_train.txt, train/y_train.txt, test/...; whitespace, labels 1–6) with
  // six separable classes and a fill-value column the table's own filter (5) drops.
  auto gen = joule::make_generator(9);
  for (const std::string part : {"train", "test"}) {
    fs::create_directories(path("har/" + part));
    std::ofstream x(path("har/" + part + "/X_" + part + ".txt")), y(path("har/" + part + "/y_" + part + ".txt"));
    const int64_t n = part == "train" ? 600 : 120;
    auto noise = torch::randn({n, 3}, gen);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = i % 6;
      x << "  " << std::scientific << noise[i][0].item<double>() + 4.0 * (c % 3) << " " << noise[i][1].item<double>() + 4.0 * (c / 3)
        << " " << noise[i][2].item<double>() << " " << (i % 50 == 0 ? 1.0 : -1.0) << "\n";
      y << c + 1 << "\n";
    }
  }
  auto r = joule("train vera_jem_tabular out=har-run data.dataset=human data.path=har vera.labels_per_class=10 train.steps=300"
                 " model.hidden=[64,64] generator.width=64 generator.noise_dim=8 train.eval_every=100 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "human with 3 of 4 features, 540 / 60 / 120")) << r.output;
  const std::string json = joule::io::read_text_file(path("har-run/eval.json"));
  EXPECT_GT(json_number(json, "test_acc"), 0.7) << json;  // chance 1/6
  // A folder without the files: exit 1 (a data error) naming the missing file, and no run folder.
  fs::create_directories(path("empty"));
  r = joule("train vera_jem_tabular out=no-har data.dataset=human data.path=empty run.progress=none");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "train/X_train.txt")) << r.output;
  EXPECT_FALSE(fs::exists(path("no-har")));
}

TEST_F(VeraCliTest, NiceFlowIsTrainedByEveryObjectiveAndItsExactLikelihoodIsTheGridOne) {
  // VERA's tractable-model check in miniature: the same NICE flow trained by exact maximum
  // likelihood, VERA and score matching; in 2-D its exact test log-likelihood must equal minus the
  // grid-quadrature NLL (the flow is normalised, so the grid's log Z is ~0).
  const std::string nice = " model.kind=nice model.width=16 model.depth=2 data.n_train=2000 data.n_test=500 train.steps=20"
                           " eval.grid_resolution=256 eval.n_samples=200 run.progress=none";
  for (const std::string& args : {"method=ebm out=mle objective.kind=mle", "method=vera out=vera", "method=ebm out=ssm objective.kind=ssm"}) {
    auto r = joule("train " + args + nice);
    ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    const std::string dir = args.substr(args.find("out=") + 4, args.find(' ', args.find("out=")) - args.find("out=") - 4);
    const std::string json = joule::io::read_text_file(path(dir + "/eval.json"));
    EXPECT_NEAR(json_number(json, "test_loglik"), -json_number(json, "nll_test"), 2e-3) << args << "\n" << json;
    EXPECT_NEAR(json_number(json, "log_z"), 0.0, 2e-3) << args;
  }
  auto r = joule("train method=ebm out=bad objective.kind=mle data.n_train=2000 run.progress=none");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "model.kind = \"nice\"")) << r.output;
  EXPECT_FALSE(fs::exists(path("bad")));
}

TEST_F(VeraCliTest, BadInputIsAClearErrorAndWritesNothing) {
  auto r = joule("train out=bad1" + kTiny + " vera.jem=true");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "vera.jem needs labelled data")) << r.output;
  r = joule("train out=bad2" + kTiny + " vera.min_sigma=0.5 vera.max_sigma=0.1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "vera.max_sigma")) << r.output;
  r = joule("train out=bad3" + kTiny + " vera.posterior_sample=5");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "did you mean 'vera.posterior_samples'")) << r.output;
  r = joule("train out=bad4" + kTiny + " vera.estimator=mcmc");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "vera, hmc")) << r.output;
  r = joule("train out=bad5" + kTiny + " model.kind=cnn");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "model.kind = \"mlp\" or \"nice\"")) << r.output;
  for (const char* d : {"bad1", "bad2", "bad3", "bad4", "bad5"}) EXPECT_FALSE(fs::exists(path(d))) << d;
}

}  // namespace
