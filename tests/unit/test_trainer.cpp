// Trainer: resuming from a checkpoint continues bit for bit; the divergence guard refuses bad
// updates, keeps the parameters, and restarts with a smaller learning rate when asked.
#include <gtest/gtest.h>
#include <fstream>
#include <limits>
#include <torch/nn/modules/linear.h>

#include "joule/core/runtime.h"
#include "joule/io/checkpoint.h"
#include "joule/models/mlp_energy.h"
#include "joule/objectives/contrastive_divergence.h"
#include "joule/samplers/langevin.h"
#include "joule/train/callbacks.h"
#include "joule/train/held_out_watch.h"
#include "joule/train/sampler_health.h"
#include "joule/train/trainer.h"
#include "support/test_support.h"

namespace {

using joule::train::OptimizerOptions;
using joule::train::ParamGroup;
using joule::train::Trainer;
using joule::train::TrainerOptions;

std::unique_ptr<Trainer> make_pcd_trainer(uint64_t seed, TrainerOptions opts = TrainerOptions()) {
  auto init = joule::make_generator(100);
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(16).depth(2));
  model->reset_parameters(init);
  auto data = std::make_shared<joule::data::TensorDataset>(torch::randn({500, 2}, init));
  auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(200), std::vector<int64_t>{2});
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::ula(0.01, 5));
  auto objective = std::make_shared<joule::ContrastiveDivergence>(joule::ContrastiveDivergenceOptions().l2_energy(0.1),
                                                                  sampler, buffer);
  opts.batch_size(32).seed(seed);
  return std::make_unique<Trainer>(model.ptr(), objective, data, opts, OptimizerOptions().lr(1e-2));
}

std::vector<double> run_steps(Trainer& t, int n) {
  std::vector<double> losses;
  for (int i = 0; i < n; ++i) losses.push_back(t.step().loss);
  return losses;
}

TEST(TrainerTest, ResumeFromCheckpointContinuesBitForBit) {
  joule::testing::TempDir dir;
  const std::string ckpt = dir / "ckpt.pt";
  auto a = make_pcd_trainer(7);
  run_steps(*a, 12);  // crosses an epoch boundary of the 500-point data (15 batches) later on
  a->save(ckpt);
  auto continued = run_steps(*a, 10);

  auto b = make_pcd_trainer(999);  // different seed: everything must come from the checkpoint
  b->load(ckpt);
  EXPECT_EQ(b->step_count(), 12);
  auto resumed = run_steps(*b, 10);
  for (size_t i = 0; i < continued.size(); ++i) EXPECT_EQ(continued[i], resumed[i]) << "step " << i;
  auto pa = a->model().parameters(), pb = b->model().parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
  auto& ba = *static_cast<joule::ContrastiveDivergence&>(a->objective()).buffer();
  auto& bb = *static_cast<joule::ContrastiveDivergence&>(b->objective()).buffer();
  EXPECT_TRUE(torch::equal(ba.storage(), bb.storage()));
}

// An objective that returns a NaN loss on chosen calls (a stand-in for a blow-up).
class FlakyObjective : public joule::EnergyObjective {
 public:
  explicit FlakyObjective(std::function<bool(int64_t)> bad) : bad_(std::move(bad)) {}
  using joule::EnergyObjective::compute;
  joule::ObjectiveOutput compute(joule::EnergyModel& model, const joule::Batch& batch, at::Generator&) override {
    auto loss = model.energy(batch.x).mean();
    if (bad_(calls_++)) loss = loss * std::numeric_limits<double>::quiet_NaN();
    return {loss, {{"e_pos", 0.0}}, {}};
  }
  std::string name() const override { return "flaky"; }

 private:
  std::function<bool(int64_t)> bad_;
  int64_t calls_ = 0;
};

// loss = ½‖θ‖² summed over the parameters, optionally with closed-form gradients (∂loss/∂θ = θ).
class QuadraticObjective : public joule::EnergyObjective {
 public:
  explicit QuadraticObjective(bool closed_form) : closed_form_(closed_form) {}
  using joule::EnergyObjective::compute;
  joule::ObjectiveOutput compute(joule::EnergyModel& model, const joule::Batch&, at::Generator&) override {
    joule::ObjectiveOutput out;
    std::vector<torch::Tensor> terms;
    for (const auto& p : model.parameters()) terms.push_back(0.5 * p.pow(2).sum());
    out.loss = torch::stack(terms).sum();
    if (closed_form_) {
      for (const auto& p : model.parameters()) out.gradients.push_back(p.detach().clone());
    }
    return out;
  }
  std::string name() const override { return "quadratic"; }

 private:
  bool closed_form_;
};

TEST(TrainerTest, ClosedFormGradientsGiveTheSameStepsAsBackward) {
  // Momentum, weight decay and clipping all read the installed .grad() exactly as after backward.
  std::vector<std::vector<torch::Tensor>> finals;
  for (bool closed_form : {false, true}) {
    auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(8).depth(1));
    auto init = joule::make_generator(4);
    model->reset_parameters(init);
    auto data = std::make_shared<joule::data::TensorDataset>(torch::randn({64, 2}));
    Trainer t(model.ptr(), std::make_shared<QuadraticObjective>(closed_form), data,
              TrainerOptions().batch_size(16),
              OptimizerOptions()
                  .kind(joule::train::OptimizerKind::kSGD)
                  .lr(0.1)
                  .momentum(0.9)
                  .weight_decay(0.01)
                  .grad_clip_norm(1.0)
                  .lr_schedule(joule::train::LrSchedule::kConstant));
    double norm = 0;
    for (int i = 0; i < 5; ++i) norm = t.step().grad_norm;
    EXPECT_GT(norm, 0.0);
    std::vector<torch::Tensor> params;
    for (const auto& p : model->parameters()) params.push_back(p.detach().clone());
    finals.push_back(params);
  }
  for (size_t i = 0; i < finals[0].size(); ++i) EXPECT_TRUE(torch::allclose(finals[0][i], finals[1][i], 1e-6, 1e-7));
  // Without clipping the reported norm is ‖∂loss/∂θ‖ = ‖θ‖ before the step.
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(8).depth(1));
  std::vector<torch::Tensor> flat;
  for (const auto& p : model->parameters()) flat.push_back(p.detach().reshape(-1));
  const double expected = torch::cat(flat).norm().item<double>();
  Trainer t(model.ptr(), std::make_shared<QuadraticObjective>(true),
            std::make_shared<joule::data::TensorDataset>(torch::randn({64, 2})), TrainerOptions().batch_size(16));
  EXPECT_NEAR(t.step().grad_norm, expected, 1e-5 * expected);
}

std::unique_ptr<Trainer> make_flaky_trainer(std::function<bool(int64_t)> bad, TrainerOptions opts) {
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(8).depth(1));
  auto data = std::make_shared<joule::data::TensorDataset>(torch::randn({64, 2}));
  opts.batch_size(16);
  return std::make_unique<Trainer>(model.ptr(), std::make_shared<FlakyObjective>(std::move(bad)), data, opts,
                                   OptimizerOptions().lr(1e-2).lr_schedule(joule::train::LrSchedule::kConstant));
}

TEST(TrainerTest, DivergenceGuardRefusesTheUpdateAndKeepsParameters) {
  auto t = make_flaky_trainer([](int64_t call) { return call == 3; }, TrainerOptions().steps(10));
  run_steps(*t, 3);
  std::vector<torch::Tensor> before;
  for (const auto& p : t->model().parameters()) before.push_back(p.detach().clone());
  try {
    t->step();
    FAIL() << "expected a DivergenceError";
  } catch (const joule::train::DivergenceError& e) {
    EXPECT_EQ(e.step, 4);
    EXPECT_NE(std::string(e.what()).find("loss is nan"), std::string::npos) << e.what();
  }
  auto after = t->model().parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i]));
  EXPECT_EQ(t->step_count(), 3);
}

TEST(TrainerTest, EnergyBoundTripsTheGuard) {
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(8).depth(1));
  auto data = std::make_shared<joule::data::TensorDataset>(torch::randn({64, 2}));
  struct Big : joule::EnergyObjective {
    using joule::EnergyObjective::compute;
    joule::ObjectiveOutput compute(joule::EnergyModel& m, const joule::Batch& b, at::Generator&) override {
      return {m.energy(b.x).mean(), {{"e_pos", 5e4}}, {}};
    }
    std::string name() const override { return "big"; }
  };
  Trainer t(model.ptr(), std::make_shared<Big>(), data, TrainerOptions().batch_size(8).energy_bound(1e4));
  EXPECT_THROW(t.step(), joule::train::DivergenceError);
}

TEST(TrainerTest, RestartsFromLastGoodStateWithSmallerLearningRate) {
  // Diverges once at call 5; with max_restarts = 2 the run finishes after one restart.
  auto t = make_flaky_trainer([](int64_t call) { return call == 5; },
                              TrainerOptions().steps(12).max_restarts(2).restart_lr_factor(0.5));
  int divergences = 0;
  struct Count : joule::train::Callback {
    int* n;
    explicit Count(int* n_) : n(n_) {}
    void on_divergence(Trainer&, const joule::train::DivergenceError&, bool restarting) override {
      ++*n;
      EXPECT_TRUE(restarting);
    }
  };
  t->add_callback(std::make_shared<Count>(&divergences));
  t->train();
  EXPECT_EQ(divergences, 1);
  EXPECT_EQ(t->restarts(), 1);
  EXPECT_EQ(t->step_count(), 12);
  EXPECT_DOUBLE_EQ(t->lr(), 1e-2 * 0.5);
}

TEST(TrainerTest, GivesUpAfterMaxRestarts) {
  auto t = make_flaky_trainer([](int64_t call) { return call >= 2; }, TrainerOptions().steps(10).max_restarts(2));
  EXPECT_THROW(t->train(), joule::train::DivergenceError);
  EXPECT_EQ(t->restarts(), 2);
}

TEST(TrainerTest, CosineScheduleDecaysToZeroAfterWarmup) {
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(4).depth(1));
  Trainer s(model.ptr(), std::make_shared<FlakyObjective>([](int64_t) { return false; }),
            std::make_shared<joule::data::TensorDataset>(torch::randn({8, 2})), TrainerOptions().steps(110).batch_size(4),
            OptimizerOptions().warmup_steps(10).lr_schedule(joule::train::LrSchedule::kCosine).lr(1.0));
  EXPECT_NEAR(s.scheduled_lr(0), 0.1, 1e-12);    // warm-up: (0 + 1)/10
  EXPECT_NEAR(s.scheduled_lr(9), 1.0, 1e-12);
  EXPECT_NEAR(s.scheduled_lr(10), 1.0, 1e-12);   // cosine starts at full lr
  EXPECT_NEAR(s.scheduled_lr(60), 0.5, 1e-12);   // half way
  EXPECT_NEAR(s.scheduled_lr(110), 0.0, 1e-12);
}

TEST(TrainerTest, StepScheduleMultipliesAtEachMilestone) {
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(4).depth(1));
  Trainer s(model.ptr(), std::make_shared<FlakyObjective>([](int64_t) { return false; }),
            std::make_shared<joule::data::TensorDataset>(torch::randn({8, 2})), TrainerOptions().steps(100).batch_size(4),
            OptimizerOptions().lr(1.0).lr_schedule(joule::train::LrSchedule::kStep).milestones({30, 60}).decay_rate(0.3));
  EXPECT_DOUBLE_EQ(s.scheduled_lr(0), 1.0);
  EXPECT_DOUBLE_EQ(s.scheduled_lr(29), 1.0);
  EXPECT_DOUBLE_EQ(s.scheduled_lr(30), 0.3);  // MultiStepLR: decayed from the milestone on
  EXPECT_DOUBLE_EQ(s.scheduled_lr(59), 0.3);
  EXPECT_NEAR(s.scheduled_lr(60), 0.09, 1e-15);
  EXPECT_NEAR(s.scheduled_lr(99), 0.09, 1e-15);
  // Without milestones: at 80% and 90% of the run's steps.
  Trainer e(model.ptr(), std::make_shared<FlakyObjective>([](int64_t) { return false; }),
            std::make_shared<joule::data::TensorDataset>(torch::randn({8, 2})), TrainerOptions().steps(50).batch_size(4),
            OptimizerOptions().lr(1.0).lr_schedule(joule::train::LrSchedule::kStep).decay_rate(0.3));
  EXPECT_DOUBLE_EQ(e.scheduled_lr(39), 1.0);
  EXPECT_DOUBLE_EQ(e.scheduled_lr(40), 0.3);
  EXPECT_DOUBLE_EQ(e.scheduled_lr(44), 0.3);
  EXPECT_NEAR(e.scheduled_lr(45), 0.09, 1e-15);
  EXPECT_THROW(OptimizerOptions().milestones({5, 5}).validate("model"), c10::Error);
  EXPECT_THROW(OptimizerOptions().decay_rate(0).validate("model"), c10::Error);
  EXPECT_THROW(joule::train::parse_lr_schedule("steps"), c10::Error);
}

TEST(TrainerTest, LoadRejectsCorruptAndForeignFiles) {
  joule::testing::TempDir dir;
  auto t = make_pcd_trainer(1);
  const std::string missing = dir / "nope.pt";
  EXPECT_THROW(t->load(missing), c10::Error);
  const std::string garbage = dir / "garbage.pt";
  joule::io::write_text_file(garbage, "this is not a checkpoint");
  try {
    t->load(garbage);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("corrupt"), std::string::npos);
  }
  // A truncated copy of a real checkpoint.
  const std::string good = dir / "good.pt", cut = dir / "cut.pt";
  t->save(good);
  auto bytes = joule::io::read_text_file(good);
  joule::io::write_text_file(cut, bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(t->load(cut), c10::Error);
}

TEST(MetricsLoggerTest, WritesJsonLinesThatReadBack) {
  joule::testing::TempDir dir;
  joule::train::MetricsLogger log(dir / "m.jsonl", 1);
  log.log(5, {{"loss", 0.25}, {"nll", std::numeric_limits<double>::quiet_NaN()}});
  log.log(10, {{"loss", -1.5e-3}});
  auto rows = joule::train::MetricsLogger::read(dir / "m.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].step, 5);
  EXPECT_DOUBLE_EQ(rows[0].values[0].second, 0.25);
  EXPECT_TRUE(std::isnan(rows[0].values[1].second));
  EXPECT_DOUBLE_EQ(rows[1].values[0].second, -1.5e-3);
}

TEST(MetricsLoggerTest, ResumeDropsLinesTheStoppedRunWroteAfterItsCheckpoint) {
  // A run killed after logging step 20 but with its checkpoint at step 12: the resumed run logs
  // steps 13.. again, so the lines after 12 (and a torn last line) go, with one "resumed" event.
  joule::testing::TempDir dir;
  auto t = make_pcd_trainer(3);
  run_steps(*t, 12);
  const std::string path = dir / "m.jsonl";
  {
    joule::train::MetricsLogger log(path, 4);
    for (int step : {4, 8, 12, 16, 20}) log.log(step, {{"loss", double(step)}});
  }
  { std::ofstream(path, std::ios::app) << "{\"step\":24,\"lo"; }
  joule::train::MetricsLogger resumed(path, 4);
  resumed.on_train_begin(*t);
  auto rows = joule::train::MetricsLogger::read(path);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows.back().step, 12);
  EXPECT_NE(joule::io::read_text_file(path).find("\"event\":\"resumed\",\"dropped_lines\":3"), std::string::npos);
}

TEST(HeldOutWatchTest, KeepsTheBestStateAndReportsALateCollapseOnce) {
  joule::testing::TempDir dir;
  auto t = make_pcd_trainer(4);
  joule::train::HeldOutWatchOptions o;
  ASSERT_TRUE(joule::train::HeldOutWatch::defaults_for("nll_test", o));
  EXPECT_TRUE(o.lower_is_better);
  o.best_checkpoint = dir / "best.pt";
  joule::train::HeldOutWatch w(o);
  joule::train::MetricsLogger log(dir / "m.jsonl", 1);
  const std::vector<double> nll{3.0, 2.6, 2.7, 3.5, 185.0, 2.0};
  for (size_t i = 0; i < nll.size(); ++i) {
    run_steps(*t, 2);
    w.observe(*t, t->step_count(), nll[i], &log);
    if (i == 1) {  // the best so far is saved as a full, loadable state
      auto copy = make_pcd_trainer(99);
      copy->load(dir / "best.pt");
      EXPECT_EQ(copy->step_count(), 4);
    }
    // 2.7 and 3.5 are within max(1 nat, 10%) of 2.6; 185 is not.
    EXPECT_EQ(w.ever_degraded(), i >= 4) << "evaluation " << i;
  }
  EXPECT_EQ(w.best(), 2.0);  // a later recovery becomes the new best
  EXPECT_EQ(w.best_step(), 12);
  EXPECT_EQ(w.degraded_step(), 10);
  EXPECT_FALSE(t->stop_requested());  // kWarn only reports
  const std::string events = joule::io::read_text_file(dir / "m.jsonl");
  EXPECT_NE(events.find("\"event\":\"degraded\",\"metric\":\"nll_test\",\"value\":185.0"), std::string::npos) << events;

  // Accuracy is higher-is-better; kStop asks the trainer to stop; NaN counts as degraded.
  joule::train::HeldOutWatchOptions a;
  ASSERT_TRUE(joule::train::HeldOutWatch::defaults_for("test_acc", a));
  a.action = joule::train::DegradeAction::kStop;
  joule::train::HeldOutWatch acc(a);
  acc.observe(*t, 1, 0.9, nullptr);
  acc.observe(*t, 2, 0.8, nullptr);
  EXPECT_FALSE(acc.ever_degraded());
  acc.observe(*t, 3, std::numeric_limits<double>::quiet_NaN(), nullptr);
  EXPECT_TRUE(acc.ever_degraded());
  EXPECT_TRUE(t->stop_requested());
  joule::train::HeldOutWatchOptions unknown;
  EXPECT_FALSE(joule::train::HeldOutWatch::defaults_for("recon_valid", unknown));
}

// Synthetic step reports: the watch sees only the metrics, so the gap's path is chosen exactly.
joule::train::StepResult fake_step(int64_t step, double gap, double scale) {
  joule::train::StepResult r;
  r.step = step;
  r.metrics = {{"e_pos_median", -3.0 + gap}, {"e_neg_median", -3.0}, {"e_pos_spread", scale}};
  return r;
}

TEST(SamplerHealthTest, ChainTotalVariationIsFlaggedAfterItsPatienceAndOnlyWhenWatched) {
  joule::testing::TempDir dir;
  auto t = make_pcd_trainer(5);
  namespace jt = joule::train;
  auto log = std::make_shared<jt::MetricsLogger>(dir / "m.jsonl", 1);
  jt::SamplerHealthWatch watch(jt::SamplerHealthOptions().threshold(0).tv_threshold(0.5), log);
  // One evaluation above the threshold, then healthy again: a single bad reading is not a finding.
  const std::vector<double> tv{0.2, 0.7, 0.3, 0.6, 0.8, 0.9};
  for (size_t i = 0; i < tv.size(); ++i) {
    watch.observe_evaluation(*t, 250 * static_cast<int64_t>(i + 1), "nll_test", 100.0);  // other metrics ignored
    watch.observe_evaluation(*t, 250 * static_cast<int64_t>(i + 1), "chain_tv", tv[i]);
    if (i < 4) EXPECT_FALSE(watch.flagged()) << "evaluation " << i;
  }
  // Above 0.5 at 1000 and 1250 (two in a row): flagged at 1250, counted from 1000.
  ASSERT_TRUE(watch.tv_flagged());
  EXPECT_FALSE(watch.gap_flagged());
  EXPECT_EQ(watch.flagged_step(), 1250);
  EXPECT_DOUBLE_EQ(watch.flagged_tv(), 0.8);
  EXPECT_NE(watch.summary().find("from step 1000"), std::string::npos) << watch.summary();
  EXPECT_NE(watch.summary().find("do not sample the model"), std::string::npos) << watch.summary();
  EXPECT_FALSE(t->stop_requested());
  const std::string events = joule::io::read_text_file(dir / "m.jsonl");
  EXPECT_NE(events.find("\"event\":\"sampler_unhealthy\""), std::string::npos) << events;
  EXPECT_NE(events.find("\"chain_tv\":0.8"), std::string::npos) << events;
  // With the gap check off, CD-gap metrics far from zero change nothing.
  for (int64_t s = 1; s <= 2000; ++s) watch.on_step_end(*t, fake_step(s, 5.0, 1.0));
  EXPECT_FALSE(watch.gap_flagged());

  // NaN (no chains to compare) is not health; kStop stops training; tv_threshold 0 = off.
  jt::SamplerHealthWatch stop(jt::SamplerHealthOptions().tv_threshold(0.5).tv_patience(1).action(jt::DegradeAction::kStop));
  stop.observe_evaluation(*t, 500, "chain_tv", std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(stop.tv_flagged());
  EXPECT_TRUE(t->stop_requested());
  jt::SamplerHealthWatch off;
  off.observe_evaluation(*t, 500, "chain_tv", 0.99);
  off.observe_evaluation(*t, 750, "chain_tv", 0.99);
  EXPECT_FALSE(off.flagged());
  EXPECT_THROW(jt::SamplerHealthWatch(jt::SamplerHealthOptions().tv_threshold(1.0)), c10::Error);
}

TEST(SamplerHealthTest, QuietOnANoisyGapNearZeroFlagsOnePersistentlyFarFromIt) {
  joule::testing::TempDir dir;
  auto t = make_pcd_trainer(5);
  auto gen = joule::make_generator(11);
  auto noise = torch::randn({4000}, gen).to(torch::kDouble);
  // Healthy: the gap fluctuates (sd 0.8 data-energy sds per step) around zero for 4000 steps.
  joule::train::SamplerHealthWatch healthy;
  for (int64_t s = 1; s <= 4000; ++s) healthy.on_step_end(*t, fake_step(s, 0.8 * noise[s - 1].item<double>(), 1.0));
  EXPECT_FALSE(healthy.flagged());
  EXPECT_LT(std::abs(healthy.z()), 0.3);

  // From step 1000 the chains sit 2 data-energy sds above the data (gap −2 on scale 1): the
  // average crosses the threshold of 1 after ln 2 · 200 ≈ 139 steps, then 400 steps of patience.
  auto log = std::make_shared<joule::train::MetricsLogger>(dir / "m.jsonl", 1);
  joule::train::SamplerHealthWatch watch(joule::train::SamplerHealthOptions(), log);
  for (int64_t s = 1; s <= 2500; ++s)
    watch.on_step_end(*t, fake_step(s, (s > 1000 ? -2.0 : 0.0) + 0.3 * noise[s - 1].item<double>(), 1.0));
  ASSERT_TRUE(watch.flagged());
  EXPECT_GT(watch.flagged_step(), 1000 + 400 + 100);
  EXPECT_LT(watch.flagged_step(), 1000 + 400 + 200);
  EXPECT_LT(watch.flagged_z(), -1.0);
  EXPECT_NE(watch.summary().find("above the data's"), std::string::npos) << watch.summary();
  EXPECT_FALSE(t->stop_requested());  // kWarn only reports
  const std::string events = joule::io::read_text_file(dir / "m.jsonl");
  EXPECT_NE(events.find("\"event\":\"sampler_unhealthy\""), std::string::npos) << events;

  // The same gap on a scale of 10 data-energy units is only 0.2 sds: healthy.
  joule::train::SamplerHealthWatch wide;
  for (int64_t s = 1; s <= 2500; ++s) wide.on_step_end(*t, fake_step(s, s > 1000 ? -2.0 : 0.0, 10.0));
  EXPECT_FALSE(wide.flagged());

  // A positive gap (chains below the data) is flagged too; kStop stops training.
  joule::train::SamplerHealthWatch stop(joule::train::SamplerHealthOptions().action(joule::train::DegradeAction::kStop));
  for (int64_t s = 1; s <= 2000 && !stop.flagged(); ++s) stop.on_step_end(*t, fake_step(s, 3.0, 1.0));
  ASSERT_TRUE(stop.flagged());
  EXPECT_EQ(stop.flagged_step(), 2 * 200 + 400);  // the warm-up, then the patience
  EXPECT_NE(stop.summary().find("below the data's"), std::string::npos);
  EXPECT_TRUE(t->stop_requested());

  // Objectives that do not report the metrics leave the watch idle.
  joule::train::SamplerHealthWatch idle;
  joule::train::StepResult r;
  r.metrics = {{"lsd", 1.0}, {"e_pos", 5.0}};
  for (int64_t s = 1; s <= 2000; ++s) idle.on_step_end(*t, r);
  EXPECT_TRUE(std::isnan(idle.z()));
  EXPECT_FALSE(idle.flagged());
}

// ---------------------------------------------------------------- parameter groups

// Two linear maps "a" and "b" trained as groups "critic" and "model": each update's loss is the
// squared output of its own module, and every call is recorded.
class TwoGroupObjective : public joule::Objective {
 public:
  struct Call {
    std::string group;
    int64_t index, step;
    double first_x;
  };
  joule::ObjectiveOutput compute(joule::ModuleSet& modules, const joule::Batch& batch, at::Generator&,
                                 const joule::Update& update) override {
    calls.push_back({update.group, update.index, update.step, batch.x[0][0].item<double>()});
    auto& lin = modules.get<torch::nn::LinearImpl>(update.group == "critic" ? "a" : "b");
    joule::ObjectiveOutput out;
    out.loss = lin.forward(batch.x).pow(2).mean();
    if (nan_at >= 0 && int64_t(calls.size()) - 1 == nan_at) out.loss = out.loss * std::numeric_limits<double>::quiet_NaN();
    out.metrics = {{update.group + "_loss", out.loss.item<double>()}};
    return out;
  }
  std::string name() const override { return "two-group"; }
  std::vector<Call> calls;
  int64_t nan_at = -1;
};

struct TwoGroups {
  std::shared_ptr<TwoGroupObjective> objective = std::make_shared<TwoGroupObjective>();
  std::unique_ptr<Trainer> trainer;
  TwoGroups(uint64_t init_seed, OptimizerOptions critic, OptimizerOptions model, TrainerOptions opts = TrainerOptions()) {
    torch::manual_seed(init_seed);
    joule::ModuleSet modules;
    modules.add("a", torch::nn::Linear(3, 2).ptr()).add("b", torch::nn::Linear(3, 1).ptr());
    // Row i of the data is (i, i, i): a batch's first value tells which rows it holds.
    auto x = torch::arange(64, torch::kFloat32).unsqueeze(1).repeat({1, 3}) / 64.0;
    trainer = std::make_unique<Trainer>(std::move(modules),
                                        std::vector<ParamGroup>{{"critic", {"a"}, critic}, {"model", {"b"}, model}}, objective,
                                        std::make_shared<joule::data::TensorDataset>(x), opts.batch_size(8).seed(3));
  }
};

TEST(TrainerGroupsTest, EachGroupUpdatesInOrderWithItsCadenceAndOnlyItsParameters) {
  TwoGroups t(1, OptimizerOptions().lr(1e-2).updates(3).fresh_batches(true), OptimizerOptions().lr(1e-2).every(2));
  auto a0 = t.trainer->modules().at("a").parameters()[0].detach().clone();
  auto b0 = t.trainer->modules().at("b").parameters()[0].detach().clone();
  t.trainer->step();  // step 0: 3 critic updates on fresh batches, then the model on the step's batch
  const auto& c = t.objective->calls;
  ASSERT_EQ(c.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c[i].group, "critic");
    EXPECT_EQ(c[i].index, i);
  }
  EXPECT_EQ(c[3].group, "model");
  // The step's batch is drawn first, so the model sees a batch none of the critic updates saw.
  for (int i = 0; i < 3; ++i) EXPECT_NE(c[i].first_x, c[3].first_x);
  t.trainer->step();  // step 1: the model is due every 2nd step only
  ASSERT_EQ(c.size(), 7u);
  for (size_t i = 4; i < 7; ++i) EXPECT_EQ(c[i].group, "critic");
  EXPECT_EQ(c[6].step, 1);
  t.trainer->step();
  EXPECT_EQ(c.back().group, "model");
  EXPECT_EQ(c.back().step, 2);
  EXPECT_FALSE(torch::equal(a0, t.trainer->modules().at("a").parameters()[0]));
  EXPECT_FALSE(torch::equal(b0, t.trainer->modules().at("b").parameters()[0]));

  // Without fresh batches every update of a step sees the step's batch.
  TwoGroups s(1, OptimizerOptions().updates(2), OptimizerOptions());
  s.trainer->step();
  ASSERT_EQ(s.objective->calls.size(), 3u);
  EXPECT_EQ(s.objective->calls[0].first_x, s.objective->calls[2].first_x);
  EXPECT_EQ(s.objective->calls[1].first_x, s.objective->calls[2].first_x);
}

TEST(TrainerGroupsTest, EachGroupFollowsItsOwnLearningRateSchedule) {
  TwoGroups t(1, OptimizerOptions().lr(0.5), OptimizerOptions().lr(2.0).lr_schedule(joule::train::LrSchedule::kLinear),
              TrainerOptions().steps(10));
  EXPECT_DOUBLE_EQ(t.trainer->scheduled_lr("critic", 5), 0.5);
  EXPECT_DOUBLE_EQ(t.trainer->scheduled_lr("model", 5), 1.0);
  EXPECT_EQ(t.trainer->main_group(), "model");
  t.trainer->step();
  EXPECT_DOUBLE_EQ(t.trainer->lr("critic"), 0.5);
  EXPECT_DOUBLE_EQ(t.trainer->lr(), 2.0);
}

TEST(TrainerGroupsTest, CheckpointResumesEveryGroupBitForBit) {
  auto make = [](uint64_t init) {
    return TwoGroups(init, OptimizerOptions().lr(1e-2).beta1(0.5).updates(2).fresh_batches(true), OptimizerOptions().lr(3e-2));
  };
  auto a = make(1);
  for (int i = 0; i < 5; ++i) a.trainer->step();
  const std::string snap = a.trainer->snapshot();
  for (int i = 0; i < 6; ++i) a.trainer->step();
  auto b = make(2);  // other initial weights: everything must come from the snapshot
  b.trainer->restore(snap);
  EXPECT_EQ(b.trainer->step_count(), 5);
  for (int i = 0; i < 6; ++i) b.trainer->step();
  for (const char* m : {"a", "b"}) {
    auto pa = a.trainer->modules().at(m).parameters(), pb = b.trainer->modules().at(m).parameters();
    for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << m << " parameter " << i;
  }
}

// Runs `f`, which must throw a c10::Error whose message contains `needle`.
template <class F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find(needle), std::string::npos) << e.what_without_backtrace();
  }
}

TEST(TrainerGroupsTest, WarmStartLoadsOnlyTheChosenModulesWeights) {
  joule::testing::TempDir dir;
  const std::string ckpt = dir / "trained.pt";
  auto a = TwoGroups(1, OptimizerOptions().lr(1e-1), OptimizerOptions().lr(1e-1));
  for (int i = 0; i < 5; ++i) a.trainer->step();
  a.trainer->save(ckpt);

  // Only "b": "a" keeps its own initial weights; the step count, optimizer and data order start fresh.
  auto b = TwoGroups(2, OptimizerOptions().lr(1e-1), OptimizerOptions().lr(1e-1));
  auto a_init = b.trainer->modules().at("a").parameters()[0].detach().clone();
  EXPECT_EQ(b.trainer->load_modules(ckpt, {"b"}), std::vector<std::string>{"b"});
  EXPECT_EQ(b.trainer->step_count(), 0);
  EXPECT_TRUE(torch::equal(b.trainer->modules().at("a").parameters()[0], a_init));
  auto pa = a.trainer->modules().at("b").parameters(), pb = b.trainer->modules().at("b").parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  b.trainer->step();
  EXPECT_EQ(b.objective->calls.front().step, 0);

  // All modules by default; a divergence restart returns to the warm start, not to the random init.
  auto c = TwoGroups(3, OptimizerOptions().lr(1e-1), OptimizerOptions().lr(1e-1));
  EXPECT_EQ(c.trainer->load_modules(ckpt), (std::vector<std::string>{"a", "b"}));
  const std::string warm = c.trainer->snapshot();
  auto d = TwoGroups(4, OptimizerOptions().lr(1e-1), OptimizerOptions().lr(1e-1));
  d.trainer->restore(warm);
  EXPECT_TRUE(torch::equal(d.trainer->modules().at("a").parameters()[0], a.trainer->modules().at("a").parameters()[0]));

  // A module the setup lacks, one the file lacks, or another shape: an error naming it.
  expect_error([&] { c.trainer->load_modules(ckpt, {"critic"}); }, "no module 'critic'");
  torch::manual_seed(5);
  joule::ModuleSet wide;
  wide.add("a", torch::nn::Linear(3, 4).ptr()).add("b", torch::nn::Linear(3, 1).ptr()).add("extra", torch::nn::Linear(1, 1).ptr());
  Trainer e(std::move(wide), std::vector<ParamGroup>{{"critic", {"a"}, {}}, {"model", {"b", "extra"}, {}}},
            std::make_shared<TwoGroupObjective>(), std::make_shared<joule::data::TensorDataset>(torch::zeros({8, 3})),
            TrainerOptions().batch_size(8).seed(3));
  expect_error([&] { e.load_modules(ckpt, {"extra"}); }, "has no module 'extra'");
  expect_error([&] { e.load_modules(ckpt, {"a"}); }, "cannot start module 'a'");
  expect_error([&] { e.load_modules(dir / "missing.pt"); }, "missing.pt");
}

TEST(TrainerGroupsTest, GuardCoversEveryGroupAndRestartsScaleEveryGroup) {
  // A NaN loss in the second critic update of step 0: nothing of that step is applied after it,
  // and the step is refused.
  TwoGroups t(1, OptimizerOptions().lr(0.1).updates(2), OptimizerOptions().lr(0.2), TrainerOptions().steps(4).max_restarts(1));
  t.objective->nan_at = 1;
  auto b0 = t.trainer->modules().at("b").parameters()[0].detach().clone();
  EXPECT_THROW(t.trainer->step(), joule::train::DivergenceError);
  EXPECT_EQ(t.trainer->step_count(), 0);
  EXPECT_TRUE(torch::equal(b0, t.trainer->modules().at("b").parameters()[0]));
  // train() restarts from the last good state with every group's learning rate halved.
  TwoGroups r(1, OptimizerOptions().lr(0.1).updates(2), OptimizerOptions().lr(0.2), TrainerOptions().steps(4).max_restarts(1));
  r.objective->nan_at = 4;
  r.trainer->train();
  EXPECT_EQ(r.trainer->restarts(), 1);
  EXPECT_DOUBLE_EQ(r.trainer->lr("critic"), 0.05);
  EXPECT_DOUBLE_EQ(r.trainer->lr("model"), 0.1);
}

TEST(TrainerGroupsTest, BadGroupsAreRejectedWithClearErrors) {
  joule::ModuleSet modules;
  auto lin = torch::nn::Linear(2, 2);
  modules.add("a", lin.ptr());
  auto obj = std::make_shared<TwoGroupObjective>();
  auto data = std::make_shared<joule::data::TensorDataset>(torch::randn({8, 2}));
  auto err = [&](std::vector<ParamGroup> groups) {
    return joule::testing::error_of([&] { Trainer(modules, groups, obj, data, TrainerOptions()); });
  };
  EXPECT_NE(err({{"g", {"nope"}}}).find("no module called 'nope'"), std::string::npos);
  EXPECT_NE(err({{"g", {"a"}}, {"h", {"a"}}}).find("also in another group"), std::string::npos);
  EXPECT_NE(err({{"g", {"a"}, OptimizerOptions().updates(0)}}).find("optim.g.updates"), std::string::npos);
  EXPECT_NE(err({}).find("at least one parameter group"), std::string::npos);
  EXPECT_THROW(modules.add("a", lin.ptr()), c10::Error);
}

// One module split into two groups by parameter name; after_update sees every applied update.
class SplitObjective : public joule::Objective {
 public:
  joule::ObjectiveOutput compute(joule::ModuleSet& modules, const joule::Batch& batch, at::Generator&,
                                 const joule::Update& update) override {
    auto& lin = modules.get<torch::nn::LinearImpl>("a");
    joule::ObjectiveOutput out;
    out.loss = lin.forward(batch.x).pow(2).mean();
    return out;
  }
  void after_update(joule::ModuleSet& modules, const joule::Update& update) override {
    after.push_back(update.group);
    torch::NoGradGuard no_grad;
    modules.get<torch::nn::LinearImpl>("a").bias.clamp_(-0.01, 0.01);
  }
  std::string name() const override { return "split"; }
  std::vector<std::string> after;
};

TEST(TrainerGroupsTest, GroupsSelectParametersByNameAndAfterUpdateRunsPerUpdate) {
  torch::manual_seed(0);
  auto lin = torch::nn::Linear(3, 2);
  joule::ModuleSet modules;
  modules.add("a", lin.ptr());
  auto obj = std::make_shared<SplitObjective>();
  auto data = std::make_shared<joule::data::TensorDataset>(torch::randn({16, 3}) + 5.0);
  auto w0 = lin->weight.detach().clone();
  // The bias takes large SGD steps; the weight, in its own group, tiny ones (a gradient of order
  // 10 at lr 1.0 would move it by about 10).
  Trainer t(modules,
            {ParamGroup("bias", {"a"}, OptimizerOptions().kind(joule::train::OptimizerKind::kSGD).lr(1.0)).only_parameters({"bias"}),
             ParamGroup("model", {"a"}, OptimizerOptions().kind(joule::train::OptimizerKind::kSGD).lr(1e-6))
                 .except_parameters({"bias"})},
            obj, data, TrainerOptions().batch_size(8).steps(3));
  t.step();
  t.step();
  EXPECT_EQ(obj->after, (std::vector<std::string>{"bias", "model", "bias", "model"}));
  const double moved = (lin->weight - w0).abs().max().item<double>();
  EXPECT_GT(moved, 0.0);
  EXPECT_LT(moved, 1e-3);
  // A large SGD step on the bias, clamped after the update.
  EXPECT_LE(lin->bias.abs().max().item<double>(), 0.01 + 1e-7);

  auto err = joule::testing::error_of([&] {
    Trainer(modules, {ParamGroup("g", {"a"}).only_parameters({"wieght"})}, obj, data, TrainerOptions());
  });
  EXPECT_NE(err.find("lists parameter 'wieght'"), std::string::npos) << err;
  err = joule::testing::error_of([&] {
    Trainer(modules, {ParamGroup("g", {"a"}).only_parameters({"bias"}), ParamGroup("h", {"a"})}, obj, data, TrainerOptions());
  });
  EXPECT_NE(err.find("also in another group"), std::string::npos) << err;
}

}  // namespace

