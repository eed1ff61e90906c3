// The robustness protocol end to end: `joule eval RUN eval.attack.kind=pgd` attacks a short JEM
// run and a cross-entropy run beside it, with and without the SGLD defence, and writes the
// curves (PNG, JSON, markdown) and the distal adversarials; bad attack options fail clearly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "joule/io/checkpoint.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

const std::string kConfigs = std::string(JOULE_SOURCE_DIR) + "/configs/";
const std::string kSmall =
    " data.n_train=512 data.n_test=100 model.channels=4 sampler.steps=2 buffer.capacity=500 train.steps=30"
    " train.batch_size=32 train.warmup_steps=0 train.log_every=10 train.eval_every=0 train.checkpoint_every=10"
    " eval.ood_n=50 eval.ood_sets=uniform eval.chain_steps=2 eval.grid_n=20 run.progress=none";
// Every radius up to the whole pixel range (ε = 1 in L∞ reaches any image), few inputs.
const std::string kAttack =
    " eval.attack.kind=pgd eval.attack.n=60 eval.attack.seeds=2 eval.attack.steps=10 eval.attack.eps_linf=[0,0.05,1]"
    " eval.attack.eps_l2=[0,1,30] eval.attack.defence_steps=[0,2] eval.attack.defence_chains=2 eval.attack.defence_n=12"
    " eval.attack.defence_attack_steps=4 eval.attack.distal_steps=5";

class RobustnessCliTest : public joule::testing::CliTestBase {
 protected:
  RobustnessCliTest() : CliTestBase("joule-robustness-cli") {}
};

TEST_F(RobustnessCliTest, AttacksTwoRunsWithAndWithoutTheDefenceAndWritesTheCurves) {
  auto r = joule("train " + kConfigs + "jem_fashion_cnn.toml out=jem" + kSmall);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = joule("train " + kConfigs + "ce_fashion_cnn.toml out=ce" + kSmall);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  r = joule("eval jem" + kAttack + " eval.attack.models=ce");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "robust.linf.k0.eps0.05")) << r.output;
  EXPECT_TRUE(contains(r.output, "model1.robust.l2.k2.eps1")) << r.output;
  EXPECT_TRUE(contains(r.output, "| jem (jem) | SGLD K=2 |")) << r.output;
  for (const char* f : {"robustness.png", "robustness.json", "robustness.md", "distal.png"}) {
    EXPECT_TRUE(fs::exists(path("jem/eval-step30-") + f)) << f;
  }
  const auto j = nlohmann::json::parse(joule::io::read_text_file(path("jem/eval-step30-robustness.json")));
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["attack"]["loss"], "ce+margin");  // the default: an input is robust only if both attacks fail
  for (const auto& m : j["models"]) {
    const double clean = m["clean_acc"].get<double>();
    ASSERT_EQ(m["curves"].size(), 4u);  // {linf, l2} x {no defence, K = 2}
    for (const auto& c : m["curves"]) {
      const auto acc = c["acc_mean"].get<std::vector<double>>();
      ASSERT_EQ(acc.size(), 3u);
      if (c["defence_steps"].get<int64_t>() == 0) {
        // ε = 0 is the clean accuracy of the same inputs; no attack beats it; the undefended
        // classifier is deterministic, so a radius covering the whole range leaves nothing right.
        EXPECT_DOUBLE_EQ(acc[0], clean) << c.dump();
        for (double a : acc) EXPECT_LE(a, clean + 1e-12) << c.dump();
        EXPECT_EQ(acc[2], 0.0) << c.dump();
      }
      EXPECT_GE(c["acc_check"].get<double>(), 0.0);
    }
  }

  // A second evaluation with other options keeps its own files beside its eval.out.
  r = joule("eval jem" + kAttack + " eval.attack.defence_steps=[0] eval.attack.loss=margin eval.out=jem/eval-margin.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "robustness: jem (jem), l2, defence K=0")) << r.output;
  for (const char* f : {"eval-margin.json", "eval-margin-robustness.png", "eval-margin-robustness.json", "eval-margin-distal.png"}) {
    EXPECT_TRUE(fs::exists(path("jem/") + f)) << f;
  }
  const auto first = nlohmann::json::parse(joule::io::read_text_file(path("jem/eval-step30-robustness.json")));
  EXPECT_EQ(first["models"][0]["curves"].size(), 4u);  // not replaced by the second evaluation
  const auto margin = nlohmann::json::parse(joule::io::read_text_file(path("jem/eval-margin-robustness.json")));
  EXPECT_EQ(margin["attack"]["loss"], "margin");
  EXPECT_EQ(margin["models"][0]["curves"].size(), 2u);
}

TEST_F(RobustnessCliTest, BadAttackOptionsFailBeforeAnyWorkAndNameTheProblem) {
  auto r = joule("train " + kConfigs + "ce_fashion_cnn.toml out=ce" + kSmall + " train.steps=4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string before = joule::io::read_text_file(path("ce/eval.json"));

  r = joule("eval ce eval.attack.kind=pgdd");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "pgd")) << r.output;
  r = joule("eval ce eval.attack.epsl2=[1]");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "eval.attack.eps_l2")) << r.output;
  r = joule("eval ce eval.attack.kind=pgd eval.attack.eps_linf=[-0.1]");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "eval.attack.eps_linf")) << r.output;
  r = joule("eval ce eval.attack.kind=pgd eval.attack.models=no-such-run");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "no-such-run")) << r.output;
  EXPECT_EQ(joule::io::read_text_file(path("ce/eval.json")), before);
}

}  // namespace
