// Methods as library objects and their evaluation protocols, without the CLI: the protocols
// against exact answers (a Gaussian's grid read-out, an enumerable RBM's log Z, hand-made
// classifier inputs), and each method trained, evaluated, saved and reloaded through the library.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "joule/core/runtime.h"
#include "joule/eval/protocols/classifier.h"
#include "joule/eval/protocols/density2d.h"
#include "joule/eval/protocols/rbm_log_z.h"
#include "joule/io/checkpoint.h"
#include "joule/methods/ebm.h"
#include "joule/methods/gof.h"
#include "joule/methods/ica.h"
#include "joule/methods/jem.h"
#include "joule/methods/rbm.h"
#include "joule/methods/run.h"
#include "joule/models/analytic.h"
#include "support/blobs.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::TempDir;
using joule::testing::write_blobs;

// ---------------------------------------------------------------- protocols

TEST(ProtocolTest, Density2dReadsAGaussianExactly) {
  const double sigma = 0.7;
  auto model = joule::GaussianEnergy(torch::zeros({2}), torch::full({2}, float(sigma)));
  auto gen = joule::make_generator(1);
  auto test = torch::randn({4000, 2}, gen) * sigma, valid = torch::randn({4000, 2}, gen) * sigma;
  auto opts = joule::eval::Density2dOptions().box(joule::eval::Box::square(4.5)).resolution(256).n_exact(4000);
  auto r = joule::eval::density2d_protocol(*model, test, valid, opts, joule::make_generator(2));
  // log Z of N(0, σ²I₂) is log(2πσ²); the midpoint rule on a 256² grid over ±6.4σ is exact to 1e-4.
  EXPECT_NEAR(r.density.log_z, std::log(2 * M_PI * sigma * sigma), 1e-4);
  const double nll = (test.pow(2).sum(1) / (2 * sigma * sigma)).mean().item<double>() + std::log(2 * M_PI * sigma * sigma);
  EXPECT_NEAR(r.nll, nll, 1e-4);
  // The data come from the model: the best temperature is 1 within sampling error (~2/√n).
  EXPECT_NEAR(r.fit.temperature, 1.0, 0.05);
  EXPECT_NEAR(r.exact.var(0).mean().item<double>(), sigma * sigma, 0.03);
  // At T = 2 the density is N(0, 2σ²I).
  auto r2 = joule::eval::density2d_protocol(*model, test, valid, opts.temperature(2.0), joule::make_generator(2));
  EXPECT_NEAR(r2.density.log_z, std::log(2 * M_PI * 2 * sigma * sigma), 1e-3);
  EXPECT_EQ(model->temperature(), 1.0) << "the read-out temperature is restored";
  auto quick = joule::eval::density2d_nll(*model, test, opts.temperature(1.0));
  EXPECT_NEAR(quick.nll, r.nll, 1e-9);
}

TEST(ProtocolTest, RbmLogZMatchesEnumerationWithinItsErrorBars) {
  auto gen = joule::make_generator(3);
  joule::Rbm rbm(joule::RbmOptions(10, 6));
  rbm->reset_parameters(gen);
  {
    torch::NoGradGuard ng;
    rbm->weight.normal_(0.0, 0.5, gen);
  }
  auto data = torch::bernoulli(torch::full({200, 10}, 0.3), gen);
  auto base = joule::RbmBase::from_data(*rbm, data);
  auto opts = joule::eval::RbmLogZOptions().runs(64).steps(600).reverse_burn_in(50);
  auto r = joule::eval::rbm_log_z_protocol(*rbm, base, opts, {}, gen);
  ASSERT_TRUE(r.exact.has_value());
  EXPECT_EQ(r.exact_units, 6);
  EXPECT_NEAR(*r.exact, joule::eval::log_partition_exact(*rbm), 1e-9);
  EXPECT_LT(std::abs(r.ais.log_z - *r.exact), 4 * r.ais.log_z_se + 0.02) << "se " << r.ais.log_z_se;
  EXPECT_TRUE(std::isfinite(r.ais.reverse_log_z));
  ASSERT_EQ(r.curve.size(), 3u);  // 60, 200, 600 distributions
  EXPECT_EQ(r.curve[0].first, 60);
  EXPECT_EQ(r.curve.back().first, 600);
  // Reverse runs from a given pool; no enumeration when the layer is too large for the limit.
  auto r2 = joule::eval::rbm_log_z_protocol(*rbm, base, opts.exact_max_units(4), data, gen);
  EXPECT_FALSE(r2.exact.has_value());
  EXPECT_TRUE(std::isfinite(r2.ais.reverse_log_z));
}

TEST(ProtocolTest, ClassifierInputsBuildTheOodSetsFromTheTestImages) {
  auto gen = joule::make_generator(4);
  auto x = torch::rand({30, 1, 4, 4}, gen) * 2 - 1;
  auto y = torch::randint(3, {30}, gen, torch::kLong);
  auto opts = joule::eval::ClassifierEvalOptions().ood_n(20).data_noise(0.0).ood_sets({"vflip", "invert", "uniform"});
  auto in = joule::eval::make_classifier_eval_inputs(x, y, opts, joule::make_generator(5));
  EXPECT_TRUE(torch::equal(in.x, x));
  EXPECT_EQ(in.in_dist.size(0), 20);
  ASSERT_EQ(in.ood.size(), 3u);
  EXPECT_TRUE(torch::allclose(in.ood[0].second, x.slice(0, 0, 20).flip({2}), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(in.ood[1].second, -x.slice(0, 0, 20), 1e-6, 1e-6));  // 1 − p in pixel space
  EXPECT_LE(in.ood[2].second.abs().max().item<double>(), 1.0);
  // Noise is seeded: the same inputs twice.
  auto a = joule::eval::make_classifier_eval_inputs(x, y, opts.data_noise(0.1), joule::make_generator(5));
  auto b = joule::eval::make_classifier_eval_inputs(x, y, opts.data_noise(0.1), joule::make_generator(5));
  EXPECT_TRUE(torch::equal(a.x, b.x));
  EXPECT_FALSE(torch::equal(a.x, x));
  // Tables get no OOD sets; unknown sets are errors.
  EXPECT_TRUE(joule::eval::make_classifier_eval_inputs(x, y, opts.images(false), gen).ood.empty());
  EXPECT_THROW(joule::eval::make_classifier_eval_inputs(x, y, opts.images(true).ood_sets({"fog"}), gen), c10::Error);
}

TEST(ProtocolTest, ClassifierScoresOfAPerfectClassifier) {
  // Logits 10·x for one-hot inputs: every test input is classified right with confidence ~1, and
  // inputs 10 times further out have a far larger log p̃(x), so the AUROC of log p̃ is 0 and that
  // of −log p̃ would be 1 (in-distribution inputs score *lower* here).
  auto net = torch::nn::Linear(torch::nn::LinearOptions(3, 3).bias(false));
  {
    torch::NoGradGuard ng;
    net->weight.copy_(torch::eye(3) * 10);
  }
  joule::ClassifierEnergyImpl model(net, std::vector<int64_t>{3}, 3);
  auto y = torch::arange(3).repeat(10);
  joule::eval::ClassifierEvalInputs in;
  in.x = torch::one_hot(y, 3).to(torch::kFloat);
  in.y = y;
  in.in_dist = in.x;
  in.ood.emplace_back("far", in.x * 10);
  auto r = joule::eval::evaluate_classifier(model, in, 1.0, 8);
  EXPECT_DOUBLE_EQ(r.acc, 1.0);
  EXPECT_LT(r.ece, 1e-3);
  EXPECT_LT(r.brier, 1e-6);
  joule::eval::Report report;
  joule::eval::add_classifier_lines(report, r, "", 1.0);
  EXPECT_DOUBLE_EQ(report.value("test_acc"), 1.0);
  EXPECT_DOUBLE_EQ(report.value("auroc.far.logpx"), 0.0);
  EXPECT_NE(joule::eval::classifier_table(r, "a", &r, "b").find("| test accuracy | 100.00% | 100.00% |"), std::string::npos);
}

// ---------------------------------------------------------------- methods through the library

joule::methods::EbmConfig small_ebm() {
  joule::methods::EbmConfig c;
  c.data.n_train = 2000;
  c.data.n_test = 400;
  c.model.width = 32;
  c.model.depth = 2;
  c.sampler.steps = 5;
  c.buffer.capacity = 500;
  c.train.steps = 30;
  c.train.batch_size = 64;
  c.train.eval_every = 10;
  c.train.checkpoint_every = 10;
  c.eval.grid_resolution = 48;
  c.eval.n_samples = 200;
  c.eval.chain_steps = 10;
  return c;
}

TEST(MethodsTest, EbmTrainsIntoARunFolderAndReloadsWithTheSameNumbers) {
  joule::testing::OneThread one_thread;
  TempDir dir;
  joule::methods::EbmMethod m(small_ebm());
  m.build();
  const auto result = joule::methods::train_run(m, dir / "run");
  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoint.pt", "eval.json", "samples.png", "density.png", "curves.png"}) {
    EXPECT_TRUE(fs::exists(dir / ("run/" + std::string(f)))) << f;
  }
  EXPECT_EQ(result.report.step, 30);
  EXPECT_TRUE(std::isfinite(result.report.value("nll_test")));
  EXPECT_EQ(joule::eval::Report::from_json(joule::io::read_text_file(dir / "run/eval.json")).value("nll_test"),
            result.report.value("nll_test"));
  auto again = joule::methods::load(dir / "run");
  EXPECT_EQ(again->name(), "ebm");
  EXPECT_EQ(again->trainer().step_count(), 30);
  EXPECT_EQ(again->config_toml(), m.config_toml());
  const auto r2 = again->evaluate();
  // train_run appends the held-out watch's best_nll_test and best_step (the training's history);
  // every line before them is the model's evaluation, reproduced exactly after reloading.
  ASSERT_EQ(r2.lines.size() + 2, result.report.lines.size());
  EXPECT_EQ(result.report.lines[r2.lines.size()].name, "best_nll_test");
  EXPECT_TRUE(fs::exists(dir / "run/checkpoint-best.pt"));
  for (size_t i = 0; i < r2.lines.size(); ++i) EXPECT_EQ(r2.lines[i].value, result.report.lines[i].value) << r2.lines[i].name;
  // A run folder is never overwritten.
  joule::methods::EbmMethod other(small_ebm());
  other.build();
  EXPECT_THROW(joule::methods::train_run(other, dir / "run"), joule::config::ConfigError);
}

TEST(MethodsTest, ResumingAReloadedRunContinuesItExactly) {
  joule::testing::OneThread one_thread;
  TempDir dir;
  // A constant rate: a decaying schedule is stretched over train.steps, which the resume extends.
  auto full = small_ebm();
  full.train.optimizer.lr_schedule = "constant";
  joule::methods::EbmMethod straight(full);
  straight.build();
  straight.train();
  auto half = full;
  half.train.steps = 15;
  joule::methods::EbmMethod first(half);
  first.build();
  joule::methods::train_run(first, dir / "run");
  joule::config::Document more;
  more.set("train.steps", "30");
  auto resumed = joule::methods::load(dir / "run", torch::kCPU, more);
  joule::methods::train_run(*resumed, dir / "run");
  EXPECT_TRUE(fs::exists(dir / "run/config-resume-step15.toml"));
  auto pa = straight.trainer().model().parameters(), pb = resumed->trainer().model().parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
}

TEST(MethodsTest, LsdTrainsTheCriticAsItsOwnParameterGroup) {
  auto c = small_ebm();
  c.objective.kind = "lsd";
  c.lsd.critic_width = 16;
  c.optim.critic.updates = 2;
  c.train.steps = 4;
  joule::methods::EbmMethod m(c);
  m.build();
  auto& t = m.trainer();
  ASSERT_EQ(t.groups().size(), 2u);
  EXPECT_EQ(t.groups()[0].name, "critic");
  EXPECT_EQ(t.groups()[0].optimizer.updates(), 2);
  EXPECT_TRUE(t.groups()[0].optimizer.fresh_batches());
  auto critic0 = t.modules().at("critic").parameters()[0].detach().clone();
  auto r = t.step();
  ASSERT_EQ(r.groups.size(), 2u);
  EXPECT_EQ(r.groups[0].updates, 2);
  EXPECT_FALSE(torch::equal(critic0, t.modules().at("critic").parameters()[0]));
  bool has_lsd = false;
  for (const auto& kv : r.metrics) has_lsd = has_lsd || kv.first == "lsd";
  EXPECT_TRUE(has_lsd);
}

TEST(MethodsTest, IcaMaximumLikelihoodOnTheDensityInterface) {
  joule::methods::IcaConfig c;
  c.ica.dim = 2;
  c.data.n_train = 4000;
  c.data.n_test = 2000;
  c.train.steps = 300;
  c.train.batch_size = 500;
  c.train.optimizer.lr = 2e-2;
  joule::methods::IcaMethod m(c);
  m.build();
  m.train();
  const auto r = m.evaluate();
  // 300 Adam steps on 4000 points: within a few hundredths of a nat of the truth.
  EXPECT_LT(std::abs(r.value("nll_gap")), 0.05) << r.value("nll_gap");
  EXPECT_LT(r.value("amari"), 0.1);
  EXPECT_EQ(m.sample().sizes(), torch::IntArrayRef({1000, 2}));
}


TEST(MethodsTest, JemOnATableEvaluatesBesideABaselineRun) {
  joule::testing::OneThread one_thread;
  TempDir dir;
  auto make = [&](double px) {
    auto doc = joule::config::preset("jem_tabular_mlp");
    doc.set("data.path", write_blobs(dir));
    doc.set("train.steps", "40");
    doc.set("train.warmup_steps", "5");
    doc.set("buffer.capacity", "200");
    doc.set("model.width", "32");
    doc.set("jem.px_weight", std::to_string(px));
    auto m = joule::methods::create(doc);
    m->build();
    return m;
  };
  auto ce = make(0.0);
  joule::methods::train_run(*ce, dir / "ce");
  auto jem = make(1.0);
  auto& cfg = static_cast<joule::methods::JemMethod&>(*jem).config();
  cfg.eval.baseline = dir / "ce";
  const auto result = joule::methods::train_run(*jem, dir / "jem");
  const auto& r = result.report;
  EXPECT_GT(r.value("test_acc"), 0.9);
  EXPECT_GT(r.value("val_acc"), 0.9);
  EXPECT_TRUE(r.has("baseline.test_acc"));
  EXPECT_EQ(r.value("baseline.test_acc"), ce->evaluate().value("test_acc"));
  EXPECT_NE(r.table.find("ce (ce)"), std::string::npos) << r.table;
  EXPECT_TRUE(fs::exists(dir / "jem/eval-table-step40.md"));
  auto again = joule::methods::load(dir / "jem");
  EXPECT_EQ(again->evaluate().value("test_acc"), r.value("test_acc"));
  EXPECT_EQ(again->sample().size(0), 1000);
}

TEST(MethodsTest, EveryRegisteredMethodRoundTripsItsConfiguration) {
  for (const auto& info : joule::methods::registry()) {
    auto m = info.create();
    EXPECT_EQ(m->name(), info.name);
    EXPECT_FALSE(m->schema().empty());
    const std::string toml = m->config_toml();
    auto again = joule::methods::create(joule::config::Document::from_string(toml, "resolved " + info.name));
    EXPECT_EQ(again->config_toml(), toml) << info.name;
  }
  EXPECT_THROW(joule::methods::create(joule::config::Document::from_string("method = \"rbm\"", "x")).get()->evaluate(),
               c10::Error);  // not built yet: a clear error, not a crash
}

TEST(MethodsTest, GofTestFromTheLibrary) {
  joule::methods::GofConfig cfg;
  cfg.gof.model = "gaussian";
  cfg.gof.test = "ksd";
  cfg.gof.ksd_bootstrap = 300;
  joule::methods::GofTest test(cfg);
  auto gen = joule::make_generator(12);
  auto fits = test.run(torch::randn({200, 2}, gen));
  ASSERT_EQ(fits.results.size(), 1u);
  EXPECT_FALSE(fits.results[0].reject) << fits.results[0].p_value;
  auto shifted = test.run(torch::randn({200, 2}, gen) + 1.0);
  EXPECT_TRUE(shifted.results[0].reject) << shifted.results[0].p_value;
  EXPECT_NE(shifted.to_json("x.csv").find("\"reject\": true"), std::string::npos);
  cfg.gof.model = "gausian";
  try {
    joule::methods::GofTest(cfg).run(torch::randn({20, 2}, gen));
    FAIL();
  } catch (const joule::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'gaussian'"), std::string::npos) << e.what();
  }
}

TEST(MethodsTest, RunsOfCheckpointFormatOneStillOpen) {
  // Format 1 (before this library shape): one "model", one "optimizer", and a saved config with
  // every method's keys and LSD's critic as lsd.critic_*. Built here from a trained method's parts.
  TempDir dir;
  auto c = small_ebm();
  c.train.steps = 5;
  joule::methods::EbmMethod m(c);
  m.build();
  m.train();
  auto& t = m.trainer();
  torch::serialize::OutputArchive a, model, optim, objective, data;
  a.write("format_version", torch::tensor(int64_t(1)));
  a.write("step", torch::tensor(t.step_count()));
  a.write("restarts", torch::tensor(int64_t(0)));
  a.write("lr_scale", torch::tensor(1.0, torch::kFloat64));
  t.model().save(model);
  t.optimizer().save(optim);
  t.objective().save(objective);
  t.data().save(data);
  a.write("model", model);
  a.write("optimizer", optim);
  a.write("objective", objective);
  a.write("data", data);
  a.write("rng", t.generator().get_state());
  const std::string config = m.config_toml() + "\n[rbm]\nhidden = 7\n\n[jem]\nchannels = 3\n";
  a.write("meta_keys", c10::IValue(std::string("config\nmethod")));
  a.write("meta_config", c10::IValue(config));
  a.write("meta_method", c10::IValue(std::string("ebm")));
  fs::create_directories(dir / "old");
  a.save_to(dir / "old/checkpoint.pt");
  auto again = joule::methods::load(dir / "old");
  EXPECT_EQ(again->trainer().step_count(), 5);
  auto pa = t.model().parameters(), pb = again->trainer().model().parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  EXPECT_EQ(again->evaluate().value("nll_test"), m.evaluate().value("nll_test"));
  // The same config read as this version's would name the foreign keys.
  EXPECT_THROW(joule::methods::create(joule::config::Document::from_string(config, "x")), joule::config::ConfigError);
}

}  // namespace

