// Learned Stein discrepancy: the closed form for Gaussians (f* = (s_q − s_p)/(2λ),
// LSD* = ‖μ‖²/(4λ)), finite-difference checks of the critic and model gradients (double
// backward), and exact resume of the objective's own state (critic + optimizer).
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/data/dataset.h"
#include "joule/estimators/trace.h"
#include "joule/models/analytic.h"
#include "joule/models/mlp_energy.h"
#include "joule/objectives/lsd.h"
#include "joule/train/trainer.h"
#include "support/test_support.h"

namespace {

// Runs a test body at one intra-op thread (restored afterwards): these small networks are
// fastest single-threaded, and two spinning threads on a busy 2-core machine are 10x slower.
using joule::testing::OneThread;

using joule::SteinTraceOptions;
using joule::TraceKind;

struct ClosedFormCase {
  double lambda;
};

class LsdClosedFormTest : public ::testing::TestWithParam<ClosedFormCase> {};

TEST_P(LsdClosedFormTest, TrainedCriticReachesOptimum) {
  OneThread one_thread;
  // p = N(0, I₂) (data), q = N(μ, I₂) (model), μ = (1, 0): s_q − s_p = μ, so the optimal
  // critic is the constant μ/(2λ) and LSD* = ‖μ‖²/(4λ) (arXiv:2002.05616 §3, eq. 8).
  const double lambda = GetParam().lambda;
  auto mu = at::tensor({1.0, 0.0}, at::kDouble);
  auto model = joule::GaussianEnergy(mu, at::ones({2}, at::kDouble));
  auto gen = joule::make_generator(21);
  auto critic = joule::SteinCritic(joule::SteinCriticOptions(2).width(32).depth(2));
  critic->reset_parameters(gen);
  critic->to(at::kDouble);
  joule::LsdObjective lsd(joule::LsdOptions().l2(lambda));
  torch::optim::Adam adam(critic->parameters(), torch::optim::AdamOptions(3e-3).betas(std::make_tuple(0.0, 0.999)));
  for (int i = 0; i < 1500; ++i) {
    // A tenfold smaller step for the last third settles Adam's jitter around the small f*.
    if (i == 1000) static_cast<torch::optim::AdamOptions&>(adam.param_groups()[0].options()).lr(3e-4);
    adam.zero_grad();
    lsd.critic_backward(*model, *critic, at::randn({256, 2}, gen, at::kDouble), gen);
    adam.step();
  }

  const double lsd_star = 1.0 / (4 * lambda);
  auto x = at::randn({20000, 2}, gen, at::kDouble).requires_grad_(true);
  critic->eval();
  auto fx = critic->forward(x);
  // The critic is within 5% (in norm) of f* = μ/(2λ) on average over p.
  auto f_star = mu / (2 * lambda);
  const double rel_err = (fx.detach() - f_star).norm(2, 1).mean().item<double>() / f_star.norm().item<double>();
  EXPECT_LT(rel_err, 0.05);

  auto sq = joule::score(*model, x.detach());
  auto gen2 = joule::make_generator(22);
  auto exact = joule::stein_statistics(sq, fx, x, SteinTraceOptions().kind(TraceKind::kExact).create_graph(false), gen2);
  auto hutch = joule::stein_statistics(sq, fx, x, SteinTraceOptions().create_graph(false), gen2);
  const double norm2 = fx.detach().pow(2).sum(1).mean().item<double>();
  const double value = exact.mean().item<double>() - lambda * norm2;
  // The penalised objective is flat at its maximum (second order in the critic's error), so a
  // 5% critic is within ~1% of LSD*; allow that plus 4 Monte-Carlo standard errors.
  const double se = exact.std().item<double>() / std::sqrt(20000.0);
  EXPECT_NEAR(value, lsd_star, 0.01 * lsd_star + 4 * se);
  // Exact and Hutchinson traces agree within the Monte-Carlo error of their difference.
  auto diff = hutch - exact;
  const double se_diff = diff.std().item<double>() / std::sqrt(20000.0);
  EXPECT_NEAR(diff.mean().item<double>(), 0.0, 4 * se_diff + 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Lambdas, LsdClosedFormTest, ::testing::Values(ClosedFormCase{10.0}, ClosedFormCase{0.5}),
                         [](const auto& info) { return info.param.lambda == 10.0 ? "Lambda10" : "LambdaHalf"; });

TEST(LsdTest, OptimalCriticGivesClosedFormValueExactly) {
  // With f = f* = μ/(2λ) (constant, zero trace) the per-sample statistic is s_q(x)ᵀf* and the
  // penalised value E[s_qᵀf*] − λ‖f*‖² = ‖μ‖²/(2λ) − ‖μ‖²/(4λ) = ‖μ‖²/(4λ).
  auto gen = joule::make_generator(23);
  auto mu = at::tensor({0.6, -0.8, 0.0}, at::kDouble);
  auto model = joule::GaussianEnergy(mu, at::ones({3}, at::kDouble));
  const double lambda = 0.5;
  auto x = at::randn({50000, 3}, gen, at::kDouble).requires_grad_(true);
  auto fx = (mu / (2 * lambda)).expand({50000, 3}) + 0 * x;
  auto t = joule::stein_statistics(joule::score(*model, x.detach()), fx, x,
                                   SteinTraceOptions().kind(TraceKind::kExact).create_graph(false), gen);
  const double se = t.std().item<double>() / std::sqrt(50000.0);
  EXPECT_NEAR(t.mean().item<double>() - lambda * (mu / (2 * lambda)).pow(2).sum().item<double>(), 1.0 / (4 * lambda),
              4 * se);
}

double central_difference(at::Tensor p, int64_t k, const std::function<double()>& f, double h = 1e-6) {
  auto set = [&](double v) {
    torch::NoGradGuard no_grad;
    p.view({-1})[k] = v;
  };
  const double old = p.view({-1})[k].item<double>();
  set(old + h);
  const double up = f();
  set(old - h);
  const double down = f();
  set(old);
  return (up - down) / (2 * h);
}

void expect_gradients_match(const std::function<at::Tensor()>& loss_fn, const std::vector<at::Tensor>& params) {
  // allow_unused: the output bias of an energy never reaches its score.
  auto grads = torch::autograd::grad({loss_fn()}, params, {}, c10::nullopt, false, /*allow_unused=*/true);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) grads[i] = at::zeros_like(params[i]);
    const int64_t n = params[i].numel();
    for (int64_t k : {int64_t{0}, n / 3, n - 1}) {
      const double fd = central_difference(params[i], k, [&] { return loss_fn().item<double>(); });
      const double an = grads[i].view({-1})[k].item<double>();
      EXPECT_NEAR(an, fd, 1e-5 * std::max(1.0, std::abs(fd))) << "parameter " << i << " entry " << k;
    }
  }
}

TEST(LsdTest, CriticAndModelGradientsMatchFiniteDifferences) {
  auto gen = joule::make_generator(24);
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(3).width(8).depth(2));
  model->reset_parameters(gen);
  model->to(at::kDouble);
  auto critic = joule::SteinCritic(joule::SteinCriticOptions(3).width(8).depth(2));
  critic->reset_parameters(gen);
  critic->to(at::kDouble);
  {
    torch::NoGradGuard no_grad;  // move the β away from 1 so their gradient path is exercised
    for (auto& b : critic->betas) b.uniform_(0.5, 1.5, gen);
  }
  auto x0 = at::randn({5, 3}, gen, at::kDouble);
  for (auto kind : {TraceKind::kExact, TraceKind::kHutchinson}) {
    for (bool power : {false, true}) {
      // Critic loss: the gradient flows through f and through the trace (double backward).
      auto critic_loss = [&]() {
        auto g = joule::make_generator(99);  // the same probes at every evaluation
        auto x = x0.clone().requires_grad_(true);
        auto fx = critic->forward(x);
        auto t = joule::stein_statistics(joule::score(*model, x0), fx, x, SteinTraceOptions().kind(kind), g);
        return joule::lsd_critic_loss(t, fx, 0.7, power).loss;
      };
      expect_gradients_match(critic_loss, critic->parameters());
    }
    // Model loss: the gradient flows through s_θ = −∇ₓE_θ (double backward in θ).
    auto model_loss = [&]() {
      auto g = joule::make_generator(98);
      auto x = x0.clone().requires_grad_(true);
      auto sq = joule::score(*model, x, /*create_graph=*/true);
      auto xc = x0.clone().requires_grad_(true);
      auto fx = critic->forward(xc);
      return joule::stein_statistics(sq, fx, xc, SteinTraceOptions().kind(kind), g).mean();
    };
    expect_gradients_match(model_loss, model->parameters());
  }
}

TEST(LsdTest, ObjectiveTrainsModelTowardData) {
  OneThread one_thread;
  // An MLP energy trained with LSD on N(1, 0.5²) data: the LSD value falls and the model
  // score at the data points approaches the true score −(x − 1)/0.25.
  torch::manual_seed(0);
  auto gen = joule::make_generator(25);
  auto data = at::randn({4000, 1}, gen) * 0.5 + 1.0;
  auto model = std::make_shared<joule::MlpEnergyImpl>(joule::MlpEnergyOptions(1).width(32).depth(2));
  model->reset_parameters(gen);
  auto critic = joule::SteinCritic(joule::SteinCriticOptions(1).width(32).depth(2));
  critic->reset_parameters(gen);
  auto source = std::make_shared<joule::data::TensorDataset>(data);
  joule::ModuleSet modules;
  modules.add("model", model).add("critic", critic.ptr());
  using joule::train::OptimizerOptions;
  joule::train::Trainer trainer(
      std::move(modules),
      {{"critic", {"critic"}, OptimizerOptions().updates(2).fresh_batches(true)}, {"model", {"model"}, OptimizerOptions().lr(3e-3)}},
      std::make_shared<joule::LsdObjective>(joule::LsdOptions().l2(1.0)), source,
      joule::train::TrainerOptions().steps(600).batch_size(200).seed(1));
  auto test = at::randn({2000, 1}, gen) * 0.5 + 1.0;
  auto err = [&] { return (joule::score(*model, test) + (test - 1.0) / 0.25).pow(2).mean().item<double>(); };
  const double before = err();
  trainer.train();
  const double after = err();
  // The Fisher divergence to the truth: E‖s_p‖² = 4 for this p, so 0.4 means the model captured
  // 90% of the score's scale; an untrained MLP sits near 4.
  EXPECT_LT(after, 0.4) << "before " << before;
  EXPECT_LT(after, 0.25 * before);
}

TEST(LsdTest, CheckpointRestoresCriticAndResumesExactly) {
  auto make = [](uint64_t seed) {
    auto gen = joule::make_generator(seed);
    auto model = std::make_shared<joule::MlpEnergyImpl>(joule::MlpEnergyOptions(2).width(16).depth(2));
    model->reset_parameters(gen);
    auto critic = joule::SteinCritic(joule::SteinCriticOptions(2).width(16).depth(2));
    critic->reset_parameters(gen);
    // The data is not part of a checkpoint: both trainers get the same points.
    auto source = std::make_shared<joule::data::TensorDataset>(at::randn({512, 2}, joule::make_generator(7)));
    joule::ModuleSet modules;
    modules.add("model", model).add("critic", critic.ptr());
    using joule::train::OptimizerOptions;
    return std::make_unique<joule::train::Trainer>(
        std::move(modules),
        std::vector<joule::train::ParamGroup>{{"critic", {"critic"}, OptimizerOptions().updates(3).fresh_batches(true)},
                                              {"model", {"model"}, OptimizerOptions()}},
        std::make_shared<joule::LsdObjective>(), source, joule::train::TrainerOptions().steps(20).batch_size(64).seed(5));
  };
  auto a = make(30);
  for (int i = 0; i < 10; ++i) a->step();
  const std::string snap = a->snapshot();
  for (int i = 0; i < 10; ++i) a->step();
  auto b = make(31);  // different initial weights: everything must come from the snapshot
  b->restore(snap);
  for (int i = 0; i < 10; ++i) b->step();
  auto pa = a->model().parameters(), pb = b->model().parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i], pb[i])) << "model parameter " << i;
  auto qa = a->modules().at("critic").parameters(), qb = b->modules().at("critic").parameters();
  for (size_t i = 0; i < qa.size(); ++i) EXPECT_TRUE(at::equal(qa[i], qb[i])) << "critic parameter " << i;
}

TEST(LsdTest, BadOptionsAreRejected) {
  EXPECT_THROW(joule::LsdObjective(joule::LsdOptions().l2(0)), c10::Error);
  EXPECT_THROW(joule::LsdObjective(joule::LsdOptions().l2_energy(-1)), c10::Error);
  EXPECT_THROW(joule::parse_trace_kind("hutch"), c10::Error);
  EXPECT_THROW(joule::SteinCritic(joule::SteinCriticOptions(2).dropout(1.0)), c10::Error);
  auto c = joule::SteinCritic(joule::SteinCriticOptions(3));
  EXPECT_THROW(c->forward(at::randn({4, 2})), c10::Error);
  auto d = joule::SteinCritic(joule::SteinCriticOptions(3).dropout(0.5));
  EXPECT_THROW(d->forward(at::randn({4, 3})), c10::Error);  // training-mode dropout needs a generator
}

}  // namespace

namespace {

struct FusedCase {
  bool learn_beta, power, rademacher;
  int64_t probes;
  double dropout;
};

class FusedCriticStepTest : public ::testing::TestWithParam<FusedCase> {};

TEST_P(FusedCriticStepTest, MatchesAutogradDoubleBackward) {
  // The hand-written forward-mode + backward pass gives the autograd path's loss and
  // gradients (same dropout masks and probes from the same seed), in double precision.
  const auto c = GetParam();
  auto gen = joule::make_generator(71);
  auto critic = joule::SteinCritic(
      joule::SteinCriticOptions(4).width(16).depth(2).learn_beta(c.learn_beta).dropout(c.dropout));
  critic->reset_parameters(gen);
  critic->to(at::kDouble);
  if (c.learn_beta) {
    torch::NoGradGuard no_grad;
    for (auto& b : critic->betas) b.uniform_(0.5, 1.5, gen);
  }
  auto x = at::randn({9, 4}, gen, at::kDouble);
  auto sq = at::randn({9, 4}, gen, at::kDouble);
  const double l2 = 0.7;
  auto probe = c.rademacher ? joule::ProbeKind::kRademacher : joule::ProbeKind::kGaussian;

  auto g1 = joule::make_generator(5);
  auto xg = x.clone().requires_grad_(true);
  auto fx = critic->forward(xg, g1);
  auto t = joule::stein_statistics(sq, fx, xg, SteinTraceOptions().probe(probe).probes(c.probes), g1);
  auto ref = joule::lsd_critic_loss(t, fx, l2, c.power);
  auto params = critic->parameters();
  auto ref_grads = torch::autograd::grad({ref.loss}, params);

  for (auto& p : params) p.mutable_grad() = at::Tensor();
  auto g2 = joule::make_generator(5);
  auto st = critic->stein_loss_backward(x, sq, l2, c.power, c.rademacher, c.probes, g2);
  EXPECT_NEAR(st.loss, ref.loss.item<double>(), 1e-12);
  EXPECT_NEAR(st.stat_mean, ref.stat_mean, 1e-12);
  EXPECT_NEAR(st.f_norm2, ref.f_norm2, 1e-12);
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_TRUE(params[i].grad().defined()) << "parameter " << i;
    EXPECT_TRUE(at::allclose(params[i].grad(), ref_grads[i], 1e-10, 1e-12))
        << "parameter " << i << ": max diff " << (params[i].grad() - ref_grads[i]).abs().max().item<double>();
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, FusedCriticStepTest,
                         ::testing::Values(FusedCase{true, false, false, 1, 0.0}, FusedCase{true, true, false, 1, 0.0},
                                           FusedCase{true, true, true, 3, 0.0}, FusedCase{false, false, true, 2, 0.0},
                                           FusedCase{true, true, false, 1, 0.5}, FusedCase{false, true, false, 2, 0.3}));

TEST(LsdTest, ExactStatisticByForwardModeEqualsAutogradTrace) {
  // stein_statistic_exact (D basis tangents, chunked) against sᵀf + the autograd exact trace,
  // double precision, with learned β, without, and with dropout configured (ignored: eval).
  for (bool learn_beta : {true, false}) {
    auto gen = joule::make_generator(73);
    auto critic = joule::SteinCritic(joule::SteinCriticOptions(5).width(12).depth(3).learn_beta(learn_beta).dropout(0.4));
    critic->reset_parameters(gen);
    critic->to(at::kDouble);
    if (learn_beta) {
      torch::NoGradGuard no_grad;
      for (auto& b : critic->betas) b.uniform_(0.5, 1.5, gen);
    }
    auto x = at::randn({11, 5}, gen, at::kDouble), sq = at::randn({11, 5}, gen, at::kDouble);
    critic->eval();
    auto xg = x.clone().requires_grad_(true);
    auto fx = critic->forward(xg);
    auto ref = ((sq * fx).sum(1) + joule::jacobian_trace_exact(fx, xg, false)).detach();
    critic->train();
    for (int64_t chunk : {int64_t(65536), int64_t(13)}) {  // 13 rows: two samples per chunk
      auto t = critic->stein_statistic_exact(x, sq, chunk);
      EXPECT_TRUE(at::allclose(t, ref, 1e-10, 1e-12)) << learn_beta << " chunk " << chunk;
    }
  }
}

TEST(LsdTest, FusedAndAutogradObjectivesTrainIdentically) {
  // LsdObjective with and without the fused critic step, from the same seeds: the same
  // critic after a few steps up to float rounding.
  auto run = [](bool fused) {
    auto gen = joule::make_generator(72);
    auto model = joule::MlpEnergy(joule::MlpEnergyOptions(3).width(8).depth(2));
    model->reset_parameters(gen);
    auto critic = joule::SteinCritic(joule::SteinCriticOptions(3).width(16).depth(2));
    critic->reset_parameters(gen);
    joule::LsdObjective lsd(joule::LsdOptions().fused_critic_step(fused));
    torch::optim::Adam adam(critic->parameters(), torch::optim::AdamOptions(1e-3).betas(std::make_tuple(0.0, 0.999)));
    for (int i = 0; i < 5; ++i) {
      adam.zero_grad();
      lsd.critic_backward(*model, *critic, at::randn({32, 3}, gen), gen);
      adam.step();
    }
    return critic->parameters();
  };
  auto a = run(true), b = run(false);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::allclose(a[i], b[i], 1e-4, 1e-5)) << "parameter " << i;
}

}  // namespace
