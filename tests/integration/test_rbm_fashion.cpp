// RBMs on real data, end to end: a short PCD run on binarised Fashion-MNIST improves test
// pseudo-likelihood and AIS test log-likelihood over the initial model by stated margins (AIS
// checked against the exact value, the hidden layer being small); the CLI writes a complete run
// folder from the shipped configs, resumes and evaluates it, and rejects bad RBM input clearly.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "joule/core/runtime.h"
#include "joule/data/idx.h"
#include "joule/data/image_transforms.h"
#include "joule/eval/partition.h"
#include "joule/eval/pseudo_likelihood.h"
#include "joule/objectives/rbm_gradient.h"
#include "joule/train/trainer.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
namespace je = joule::eval;
using joule::testing::run_command;
using joule::testing::TempDir;

torch::Tensor binarised(const std::string& split, int64_t n) {
  auto s = joule::data::load_mnist_split(joule::data::kFashionMnistDir, split);
  return joule::data::binarize_threshold(s.images.slice(0, 0, n).reshape({n, -1}), 0.5).contiguous();
}

struct Scores {
  double pll, ll_ais, ll_ais_reverse, ll_exact, log_z_ais, log_z_exact, se, gap;
};

// `model_samples`: start states for reverse AIS (undefined: the resampled forward states).
Scores score(joule::RbmImpl& rbm, const torch::Tensor& test, const torch::Tensor& train,
             const torch::Tensor& model_samples = {}) {
  auto gen = joule::make_generator(11);
  Scores s{};
  s.pll = je::pseudo_log_likelihood(rbm, test, gen).mean().item<double>();
  s.log_z_exact = je::log_partition_exact(rbm);
  auto opts = je::AisOptions().runs(100).steps(3000).reverse(true).base(joule::RbmBase::from_data(rbm, train));
  if (model_samples.defined()) opts.reverse_init(model_samples).reverse_burn_in(1000);
  auto r = je::log_partition_ais(rbm, opts, gen);
  s.log_z_ais = r.log_z;
  s.se = r.log_z_se;
  s.gap = r.gap();
  const double mean_f = -je::log_likelihood(rbm, test, 0.0).mean().item<double>();
  s.ll_ais = -mean_f - r.log_z;
  s.ll_ais_reverse = -mean_f - r.reverse_log_z;
  s.ll_exact = -mean_f - s.log_z_exact;
  return s;
}

TEST(RbmFashionTest, ShortPcdRunImprovesPseudoAndAisLikelihood) {
  joule::set_num_threads(1);
  auto train = binarised("train", 20000);
  auto test = binarised("t10k", 2000);
  auto gen = joule::make_generator(1);
  // 784 x 20 so that log Z is also exact (2^20 hidden states), 2000 PCD-1 updates of 20.
  joule::Rbm rbm(joule::RbmOptions(784, 20));
  rbm->reset_parameters(gen);
  rbm->init_visible_from_data(train);
  const Scores before = score(*rbm, test, train);
  auto objective = std::make_shared<joule::RbmGradient>(joule::RbmGradientOptions().kind(joule::RbmGradientKind::kPCD));
  joule::train::Trainer trainer(rbm.ptr(), objective, std::make_shared<joule::data::TensorDataset>(train),
                                joule::train::TrainerOptions().steps(2000).batch_size(20).seed(2),
                                joule::train::OptimizerOptions().kind(joule::train::OptimizerKind::kSGD).lr(0.05).momentum(0.5));
  trainer.train();
  const Scores after = score(*rbm, test, train);
  const Scores after_chains = score(*rbm, test, train, objective->chains());
  // The initial model is the base-rate model (W ≈ 0, data-mean visible biases), the usual RBM
  // baseline; AIS is exact for it.
  EXPECT_NEAR(before.log_z_ais, before.log_z_exact, 0.05);
  EXPECT_GT(after.pll - before.pll, 30.0) << before.pll << " -> " << after.pll;
  EXPECT_GT(after.ll_exact - before.ll_exact, 10.0) << before.ll_exact << " -> " << after.ll_exact;
  EXPECT_GT(after.ll_ais - before.ll_ais, 10.0) << before.ll_ais << " -> " << after.ll_ais;
  EXPECT_GT(after.ll_ais_reverse - before.ll_ais_reverse, 10.0) << before.ll_ais_reverse << " -> " << after.ll_ais_reverse;
  // Forward AIS is a stochastic lower bound of log Z.
  EXPECT_LT(after.log_z_ais, after.log_z_exact + 4 * after.se);
  // What this model teaches (docs/methods/rbm.md): with this seed it puts most of its mass where
  // neither the base-rate annealing path nor Gibbs chains go: forward AIS lands ~17 nats below
  // the exact log Z and the reverse runs — from the resampled forward states or from the PCD
  // chains after 1000 sweeps — agree with it (gap < 1 nat). A small gap is therefore necessary,
  // not sufficient; exact log Z (small layers) is the only full check.
  std::printf("reverse from the PCD chains: AIS %.2f, reverse %.2f, gap %.2f\n", after_chains.log_z_ais,
              after_chains.log_z_ais + after_chains.gap, after_chains.gap);
  std::printf("measured: pll %.2f -> %.2f, exact ll %.2f -> %.2f, reverse-AIS ll %.2f -> %.2f, "
              "AIS log Z %.2f (se %.2f, gap %.2f) vs exact %.2f\n",
              before.pll, after.pll, before.ll_exact, after.ll_exact, before.ll_ais_reverse, after.ll_ais_reverse,
              after.log_z_ais, after.se, after.gap, after.log_z_exact);
}

class RbmCliTest : public joule::testing::CliTestBase {
 protected:
  RbmCliTest() : CliTestBase("joule-rbm-cli") {}
};

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TEST_F(RbmCliTest, ShippedConfigsTrainEvaluateAndResume) {
  const std::string src = JOULE_SOURCE_DIR;
  // Each shipped RBM config, shortened: it parses, trains, evaluates and draws its pictures.
  const std::string tiny = " rbm.epochs=0 train.steps=40 rbm.n_train=3000 rbm.n_test=500 rbm.validation=500"
                           " train.eval_every=20 train.log_every=10 eval.ais_steps=200 eval.ais_runs=20"
                           " eval.chain_steps=20 run.progress=none";
  for (const std::string c : {"rbm_cd1_fashion", "rbm_pcd_fashion", "rbm_pt_fashion", "rbm_exact_fashion", "gbrbm_fashion"}) {
    auto r = joule("train " + src + "/configs/" + c + ".toml run.out=" + c + " rbm.hidden=12" + tiny);
    ASSERT_EQ(r.exit_code, 0) << c << ":\n" << r.output;
    EXPECT_TRUE(contains(r.output, "log_z_ais")) << r.output;
    EXPECT_TRUE(contains(r.output, "log_z_exact")) << r.output;  // 12 hidden units: exact too
    for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "samples.png", "filters.png",
                          "logz.png", "curves.png"}) {
      EXPECT_TRUE(fs::exists(path(c + "/" + f))) << c << "/" << f;
    }
    if (c != "gbrbm_fashion") EXPECT_TRUE(contains(r.output, "pll_test")) << r.output;
    if (c == "rbm_pt_fashion") EXPECT_TRUE(contains(r.output, "pt_swap_accept")) << r.output;
  }
  // Resume the PCD run for 20 more steps (its persistent chains come back from the checkpoint),
  // then evaluate and sample from it.
  auto r = joule("train train.resume=rbm_pcd_fashion train.steps=60");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resuming")) << r.output;
  EXPECT_TRUE(contains(r.output, "evaluation at step 60")) << r.output;
  r = joule("eval rbm_pcd_fashion eval.ais_steps=100 eval.ais_runs=10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "ll_test_ais")) << r.output;
  // Sample quality in the features of a (tiny) classifier run: fresh Gibbs chains and the PCD chains.
  r = joule("train " + src + "/configs/ce_fashion_cnn.toml run.out=ce data.n_train=256 data.n_test=100 model.channels=4"
            " train.steps=4 train.batch_size=32 train.warmup_steps=0 eval.ood_n=50 run.progress=none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("eval rbm_pcd_fashion eval.ais_steps=100 eval.ais_runs=10 eval.feature_run=ce eval.quality_n=50");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* key : {"quality.train_vs_test.fd", "quality.fresh.precision", "quality.chains.recall"}) {
    EXPECT_TRUE(contains(r.output, key)) << key << "\n" << r.output;
  }
  r = joule("sample rbm_pcd_fashion sample.n=16 sample.steps=10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("rbm_pcd_fashion/samples-step60.csv")));
  EXPECT_TRUE(fs::exists(path("rbm_pcd_fashion/samples-step60.png")));
}

TEST_F(RbmCliTest, BadRbmInputIsAClearErrorAndWritesNothing) {
  auto r = joule("train method=rbm data.dataset=mnist run.out=a");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "needs data.path")) << r.output;
  r = joule("train method=rbm data.dataset=mnist data.path=nowhere run.out=a");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "cannot find")) << r.output;
  r = joule("train method=rbm rbm.learn_sigma=true run.out=a");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "rbm.learn_sigma needs rbm.visible")) << r.output;
  std::ofstream(path("wide.csv")) << "a,b\n0.5,3\n0.1,0.2\n0.3,0.4\n0.2,0.9\n0.7,0.1\n0.6,0.6\n";
  r = joule("train method=rbm data.dataset=csv data.path=wide.csv rbm.validation=0 train.batch_size=2 run.out=a");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "needs data in [0, 1]")) << r.output;
  r = joule("train method=rbm rbm.gradiant=pt run.out=a");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "did you mean 'rbm.gradient'")) << r.output;
  EXPECT_FALSE(fs::exists(path("a")));
}

}  // namespace
