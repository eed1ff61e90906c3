// JEM end to end on a subset of Fashion-MNIST: a short run learns to classify with finite
// energies, resuming from a checkpoint equals continuing, a forced divergence takes the restart
// path (model, optimizer and replay buffer from the last good checkpoint), and the CLI trains,
// evaluates against a baseline, samples, and reads CIFAR and CSV data.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "joule/core/runtime.h"
#include "joule/data/cifar.h"
#include "joule/data/idx.h"
#include "joule/eval/classifier_scores.h"
#include "joule/eval/report.h"
#include "joule/io/checkpoint.h"
#include "joule/models/classifiers.h"
#include "joule/objectives/jem.h"
#include "joule/samplers/langevin.h"
#include "joule/train/callbacks.h"
#include "joule/train/trainer.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::run_command;
using joule::testing::TempDir;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Fashion-MNIST in JEM's model space [−1, 1], loaded once.
struct Fashion {
  torch::Tensor x, y, test_x, test_y;
};
const Fashion& fashion() {
  static const Fashion f = [] {
    auto train = joule::data::load_mnist_split(joule::data::kFashionMnistDir, "train");
    auto test = joule::data::load_mnist_split(joule::data::kFashionMnistDir, "t10k");
    return Fashion{train.images.slice(0, 0, 2000).mul(2).sub(1), train.labels.slice(0, 0, 2000),
                   test.images.slice(0, 0, 500).mul(2).sub(1), test.labels.slice(0, 0, 500)};
  }();
  return f;
}

// A small JEM set-up: CNN of width c, SGLD with the JEM preset but `sgld_steps` steps.
struct Setup {
  std::shared_ptr<joule::ClassifierEnergyImpl> model;
  std::shared_ptr<joule::Jem> jem;
  std::shared_ptr<joule::ReplayBuffer> buffer;
  std::unique_ptr<joule::train::Trainer> trainer;
};

Setup make_setup(int64_t channels, int64_t sgld_steps, int64_t n_train, int64_t steps, int64_t batch, double lr,
                 int64_t labels_per_class = -1) {
  Setup s;
  auto net = joule::SmallCnn(joule::SmallCnnOptions(1, 10).channels(channels));
  net->reset_parameters(joule::make_generator(1));
  s.model = std::make_shared<joule::ClassifierEnergyImpl>(net, std::vector<int64_t>{1, 28, 28}, 10);
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::jem().steps(sgld_steps));
  s.buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(1000), std::vector<int64_t>{1, 28, 28});
  s.jem = std::make_shared<joule::Jem>(joule::JemOptions(10), sampler, s.buffer);
  auto x = fashion().x.slice(0, 0, n_train), y = fashion().y.slice(0, 0, n_train);
  std::shared_ptr<joule::data::DataSource> data;
  if (labels_per_class > 0) {
    // The first `labels_per_class` examples of each class are labelled; all are used for p(x).
    std::vector<torch::Tensor> idx;
    for (int64_t c = 0; c < 10; ++c) idx.push_back(y.eq(c).nonzero().squeeze(1).slice(0, 0, labels_per_class));
    auto i = torch::cat(idx);
    s.jem->set_labelled(std::make_shared<joule::data::TensorDataset>(x.index_select(0, i), y.index_select(0, i)));
    data = std::make_shared<joule::data::TensorDataset>(x);
  } else {
    data = std::make_shared<joule::data::TensorDataset>(x, y);
  }
  s.trainer = std::make_unique<joule::train::Trainer>(
      s.model, s.jem, data, joule::train::TrainerOptions().steps(steps).batch_size(batch).seed(7),
      joule::train::OptimizerOptions().lr(lr).beta1(0.9));
  return s;
}

double test_accuracy(joule::ClassifierEnergyImpl& model) {
  auto s = joule::eval::classifier_scores(model, fashion().test_x, 250, false);
  return joule::eval::accuracy(s.probs, fashion().test_y);
}

// Records every logged metric value.
struct Recorder : joule::train::Callback {
  std::vector<std::pair<std::string, double>> values;
  void on_step_end(joule::train::Trainer&, const joule::train::StepResult& r) override {
    values.insert(values.end(), r.metrics.begin(), r.metrics.end());
    values.emplace_back("loss", r.loss);
  }
};

TEST(JemTrainTest, ShortRunLearnsToClassifyWithFiniteEnergies) {
  auto s = make_setup(/*channels=*/8, /*sgld_steps=*/5, /*n_train=*/2000, /*steps=*/40, /*batch=*/32, /*lr=*/2e-3);
  const double before = test_accuracy(*s.model);
  auto rec = std::make_shared<Recorder>();
  s.trainer->add_callback(rec);
  s.trainer->train();
  const double after = test_accuracy(*s.model);
  // Ten classes: chance is ~0.1. This seeded run reaches 0.53 on 500 held-out images (binomial SD
  // 0.02); 0.35 is far above chance and leaves room for numerical differences between machines.
  EXPECT_LT(before, 0.25);
  EXPECT_GT(after, 0.45) << "accuracy before " << before << ", after " << after;
  std::cout << "[ accuracy ] before " << before << ", after " << after << "\n";
  int64_t energies = 0;
  for (const auto& kv : rec->values) {
    EXPECT_TRUE(std::isfinite(kv.second)) << kv.first;
    if (kv.first == "e_pos" || kv.first == "e_neg") ++energies;
  }
  EXPECT_EQ(energies, 2 * 40);
  EXPECT_TRUE(torch::isfinite(s.buffer->storage()).all().item<bool>());
}

TEST(JemTrainTest, ResumeEqualsContinueIncludingBufferAndLabelledPosition) {
  TempDir dir("joule-jem");
  auto a = make_setup(4, 3, 400, 6, 16, 1e-3, /*labels_per_class=*/5);
  a.trainer->train();
  auto b = make_setup(4, 3, 400, 3, 16, 1e-3, 5);
  b.trainer->train();
  b.trainer->save(dir / "ckpt.pt");
  auto c = make_setup(4, 3, 400, 6, 16, 1e-3, 5);
  c.trainer->load(dir / "ckpt.pt");
  EXPECT_EQ(c.trainer->step_count(), 3);
  c.trainer->train();
  auto pa = a.model->parameters(), pc = c.model->parameters();
  ASSERT_EQ(pa.size(), pc.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pc[i])) << "parameter " << i;
  EXPECT_TRUE(torch::equal(a.buffer->storage(), c.buffer->storage()));
  // The runs are not trivially equal: parameters moved.
  auto fresh = make_setup(4, 3, 400, 6, 16, 1e-3, 5);
  EXPECT_FALSE(torch::equal(fresh.model->parameters()[0], pa[0]));
}

// Poisons the model and the replay buffer once, after step `at`: the next step diverges.
struct Poison : joule::train::Callback {
  Poison(int64_t at, joule::ReplayBuffer* buffer) : at(at), buffer(buffer) {}
  void on_step_end(joule::train::Trainer& t, const joule::train::StepResult& r) override {
    if (r.step != at || done) return;
    done = true;
    torch::NoGradGuard no_grad;
    t.model().parameters()[0].fill_(NAN);
    buffer->storage().fill_(NAN);
  }
  int64_t at;
  joule::ReplayBuffer* buffer;
  bool done = false;
};

TEST(JemTrainTest, ForcedDivergenceRestartsFromTheLastGoodCheckpointWithItsBuffer) {
  TempDir dir("joule-jem");
  auto s = make_setup(4, 3, 400, 10, 16, 1e-3);
  auto opts = s.trainer->options();
  s.trainer = std::make_unique<joule::train::Trainer>(s.model, s.jem,
                                                      std::make_shared<joule::data::TensorDataset>(fashion().x.slice(0, 0, 400),
                                                                                                   fashion().y.slice(0, 0, 400)),
                                                      joule::train::TrainerOptions(opts).max_restarts(2).restart_lr_factor(0.5));
  s.trainer->add_callback(std::make_shared<joule::train::Checkpointer>(dir / "ckpt.pt", 4));
  auto metrics = std::make_shared<joule::train::MetricsLogger>(dir / "metrics.jsonl", 1);
  s.trainer->add_callback(metrics);
  s.trainer->add_callback(std::make_shared<Poison>(6, s.buffer.get()));
  // If the restart did not bring back the buffer saved at step 4, the NaN chains would make
  // every later step diverge and train() would throw after two restarts.
  ASSERT_NO_THROW(s.trainer->train());
  EXPECT_EQ(s.trainer->restarts(), 1);
  EXPECT_EQ(s.trainer->step_count(), 10);
  EXPECT_NEAR(s.trainer->lr(), 0.5e-3, 1e-12);
  EXPECT_TRUE(torch::isfinite(s.buffer->storage()).all().item<bool>());
  for (const auto& p : s.model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  const std::string log = joule::io::read_text_file(dir / "metrics.jsonl");
  EXPECT_TRUE(contains(log, "{\"step\":7,\"event\":\"divergence\",\"restarting\":true")) << log;
}

// ---------------------------------------------------------------------------------- CLI

const std::string kJoule = JOULE_BIN;
const std::string kConfigs = std::string(JOULE_SOURCE_DIR) + "/configs/";
const std::string kSmall =
    " data.n_train=256 data.n_test=100 model.channels=4 sampler.steps=2 buffer.capacity=500 train.steps=8"
    " train.batch_size=32 train.warmup_steps=0 train.log_every=4 train.eval_every=4 train.checkpoint_every=4"
    " eval.ood_n=50 eval.chain_steps=2 eval.grid_n=20 run.progress=none";

class JemCliTest : public joule::testing::CliTestBase {
 protected:
  JemCliTest() : CliTestBase("joule-jem-cli") {}
};

TEST_F(JemCliTest, TrainEvaluateAgainstBaselineAndSample) {
  auto r = joule("train " + kConfigs + "jem_fashion_cnn.toml out=jem" + kSmall);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "eval-table-step8.md", "reliability.png",
                        "roc.png", "samples-buffer.png", "samples-buffer-class.png", "samples-fresh.png", "samples-fresh-class.png",
                        "curves.png"}) {
    EXPECT_TRUE(fs::exists(path("jem/") + f)) << f;
  }
  EXPECT_TRUE(contains(r.output, "auroc.vflip.gradnorm")) << r.output;
  r = joule("train " + kConfigs + "ce_fashion_cnn.toml out=ce" + kSmall);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(path("ce/samples-buffer.png")));  // no replay buffer without the generative term

  r = joule("eval jem eval.baseline=ce eval.ood_sets=uniform,invert");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "| metric | jem (jem) | ce (ce) |")) << r.output;
  EXPECT_TRUE(contains(r.output, "baseline.auroc.invert.logpx")) << r.output;
  EXPECT_TRUE(contains(joule::io::read_text_file(path("jem/eval-table-step8.md")), "AUROC invert, log p(x)"));

  // Sample quality in ce's features (methods::SampleQuality): the train-vs-test floor and the
  // buffer (all; mature, labelled by the model's class), fresh and class-conditional chains; the
  // same numbers twice from the same checkpoints.
  r = joule("eval jem eval.feature_run=ce eval.quality_n=60 eval.out=q1.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto q = joule::eval::Report::from_json(joule::io::read_text_file(path("q1.json")));
  for (const char* set : {"quality.train_vs_test.", "quality.buffer.", "quality.buffer_mature.", "quality.fresh.",
                          "quality.fresh_class."}) {
    for (const char* m : {"precision", "recall"}) {
      const double v = q.value(std::string(set) + m);
      EXPECT_TRUE(v >= 0 && v <= 1) << set << m << " = " << v;
    }
    EXPECT_GE(q.value(std::string(set) + "fd"), 0) << set;
  }
  // 60 class-conditional chains, 6 per class: every class is scored on its own.
  EXPECT_EQ(q.value("quality.fresh_class.classes_scored"), 10);
  for (const char* key : {"quality.fresh_class.class_agreement", "quality.buffer_mature.class_agreement", "buffer.mature_fraction",
                          "quality.fresh_class.class_precision_min", "quality.fresh_class.class_agreement_min"}) {
    const double v = q.value(key);
    EXPECT_TRUE(v >= 0 && v <= 1) << key << " = " << v;
  }
  EXPECT_FALSE(q.has("quality.buffer.class_agreement"));
  EXPECT_FALSE(q.has("quality.fresh.class_agreement"));  // unconditional chains have no intended class
  r = joule("eval jem eval.feature_run=ce eval.quality_n=60 eval.out=q2.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto q2 = joule::eval::Report::from_json(joule::io::read_text_file(path("q2.json")));
  for (const auto& line : q.lines) {
    if (line.name.rfind("quality.", 0) == 0) EXPECT_EQ(q2.value(line.name), line.value) << line.name;
  }
  r = joule("eval jem eval.feature_run=jem/metrics.jsonl");
  EXPECT_NE(r.exit_code, 0) << r.output;
  // With p(x|y) trained, a buffer chain's intended class is its class bucket.
  r = joule("train " + kConfigs + "jem_fashion_cnn.toml out=jxy" + kSmall +
            " jem.px_weight=0 jem.pxy_weight=1 eval.feature_run=ce eval.quality_n=60 eval.buffer_min_updates=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "intended class: the chain's class bucket")) << r.output;
  const double agreement = joule::eval::Report::from_json(joule::io::read_text_file(path("jxy/eval.json")))
                               .value("quality.buffer_mature.class_agreement");
  EXPECT_TRUE(agreement >= 0 && agreement <= 1) << agreement;

  r = joule("sample jem sample.n=12 sample.steps=2 sample.class=3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("jem/samples-step8.png")));
  EXPECT_TRUE(fs::exists(path("jem/samples-step8.pt")));

  // Resume continues the run with its buffer.
  r = joule("train train.resume=jem train.steps=10 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resuming")) << r.output;
}

TEST_F(JemCliTest, QualityWatchLogsTheBuffersScoresWithoutChangingTraining) {
  ASSERT_EQ(joule("train " + kConfigs + "ce_fashion_cnn.toml out=ce" + kSmall).exit_code, 0);
  auto r = joule("train " + kConfigs + "jem_fashion_cnn.toml out=plain" + kSmall);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("train " + kConfigs + "jem_fashion_cnn.toml out=watched" + kSmall +
            " eval.feature_run=ce eval.quality_n=60 eval.quality_every=4 eval.buffer_min_updates=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  using joule::train::MetricsLogger;
  const auto plain = MetricsLogger::read(path("plain/metrics.jsonl"));
  const auto watched = MetricsLogger::read(path("watched/metrics.jsonl"));
  auto value = [](const std::vector<MetricsLogger::Row>& rows, int64_t step, const std::string& name) {
    for (const auto& row : rows) {
      if (row.step != step) continue;
      for (const auto& [n, v] : row.values) {
        if (n == name) return v;
      }
    }
    return std::nan("");
  };
  for (int64_t step : {4, 8}) {
    const double agreement = value(watched, step, "quality.buffer_mature.class_agreement");
    const double entropy = value(watched, step, "quality.buffer_mature.class_entropy");
    EXPECT_TRUE(agreement >= 0 && agreement <= 1) << step << ": " << agreement;
    EXPECT_TRUE(entropy >= 0 && entropy <= std::log(10.0) + 1e-9) << step << ": " << entropy;
    EXPECT_GE(value(watched, step, "quality.buffer_mature.fd"), 0) << step;
    const double worst = value(watched, step, "quality.buffer_mature.class_agreement_min");
    EXPECT_TRUE(std::isnan(worst) || (worst >= 0 && worst <= 1)) << step << ": " << worst;
    EXPECT_TRUE(std::isnan(value(plain, step, "quality.buffer_mature.fd"))) << "an unwatched run logs no scores";
    // Scoring draws from its own generator and only reads the buffer: training is the same.
    EXPECT_EQ(value(watched, step, "loss"), value(plain, step, "loss")) << step;
    EXPECT_EQ(value(watched, step, "test_acc"), value(plain, step, "test_acc")) << step;
  }
  // Clear errors before the run folder exists.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {" eval.quality_every=4", "set eval.feature_run"},
      {" eval.quality_every=4 eval.feature_run=ce jem.px_weight=0", "this run has none"},
      {" eval.quality_every=4 eval.feature_run=nowhere", "nowhere"}};
  for (const auto& [args, message] : bad) {
    r = joule("train " + kConfigs + "jem_fashion_cnn.toml out=bad" + kSmall + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_TRUE(contains(r.output, message)) << r.output;
    EXPECT_FALSE(fs::exists(path("bad"))) << args;
  }
}

TEST_F(JemCliTest, SemiSupervisedRunAndClearErrors) {
  auto r = joule("train " + kConfigs + "jem_fashion_ssl100.toml out=ssl" + kSmall + " jem.labels_per_class=4 train.batch_size=16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("train " + kConfigs + "jem_fashion_ssl100.toml out=bad" + kSmall + " jem.labels_per_class=1000");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "jem.labels_per_class = 1000 but class")) << r.output;
  r = joule("train " + kConfigs + "jem_fashion_cnn.toml out=bad2" + kSmall + " jem.pxy_weight=1 buffer.capacity=505");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "multiple of the 10 classes")) << r.output;
  r = joule("train " + kConfigs + "jem_fashion_cnn.toml out=bad3" + kSmall + " eval.ood_sets=uniform,mnist");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "eval.ood_mnist_dir")) << r.output;
  EXPECT_FALSE(fs::exists(path("bad")));
  EXPECT_FALSE(fs::exists(path("bad2")));
  // JEM++'s informative init fits its class Gaussians to the labelled examples only; a method
  // without labels refuses it before making a run folder.
  r = joule("train " + kConfigs + "jem_fashion_ssl100.toml out=ssl_cg" + kSmall +
            " jem.labels_per_class=4 train.batch_size=16 buffer.init=class_gaussian");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("train out=bad4 buffer.init=class_gaussian");  // the default: PCD on 2-D points
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "class_gaussian fits a Gaussian per class")) << r.output;
  EXPECT_FALSE(fs::exists(path("bad4")));
}

TEST_F(JemCliTest, CifarFilesWideResNetAndTabularCsv) {
  // Tiny CIFAR-10 files in the binary format, a WRN-10-1 with GroupNorm and p(x|y) on them.
  fs::create_directories(path("cifar"));
  auto gen = joule::make_generator(3);
  for (int i = 1; i <= 5; ++i) {
    joule::data::write_cifar_file(path("cifar/data_batch_" + std::to_string(i) + ".bin"), joule::data::CifarKind::kCifar10,
                                  torch::rand({8, 3, 32, 32}, gen), torch::arange(8, torch::kLong));
  }
  joule::data::write_cifar_file(path("cifar/test_batch.bin"), joule::data::CifarKind::kCifar10, torch::rand({10, 3, 32, 32}, gen),
                                torch::arange(10, torch::kLong));
  auto r = joule("train " + kConfigs + "jem_cifar10_wrn28_10.toml out=wrn data.dataset=cifar10 data.path=cifar model.wrn_depth=10"
                 " model.wrn_widen=1 model.norm=group jem.pxy_weight=1 buffer.capacity=100 sampler.steps=2 train.steps=2"
                 " train.batch_size=8 train.warmup_steps=0 eval.ood_n=10 eval.chain_steps=1 eval.grid_n=10 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("wrn/samples-buffer-class.png")));

  // A CSV table with three Gaussian classes: MLP classifier, standardised features.
  {
    std::ofstream f(path("blobs.csv"));
    f << "a,b,c,label\n";
    auto x = torch::randn({300, 3}, gen);
    for (int64_t i = 0; i < 300; ++i) {
      const int64_t y = i % 3;
      f << x[i][0].item<double>() + 4.0 * y << "," << x[i][1].item<double>() * 10 << "," << x[i][2].item<double>() - 2.0 * y
        << "," << y << "\n";
    }
  }
  r = joule("train " + kConfigs + "jem_tabular_mlp.toml out=tab data.path=blobs.csv train.steps=100 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "val_acc")) << r.output;
  // Well-separated blobs: the held-out accuracy is high after a short run.
  const std::string json = joule::io::read_text_file(path("tab/eval.json"));
  const auto pos = json.find("\"test_acc\": ");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_GT(std::stod(json.substr(pos + 12)), 0.8) << json;
}

}  // namespace
