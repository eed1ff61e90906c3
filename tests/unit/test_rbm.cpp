// The RBM model (include/joule/models/rbm.h): free energy, conditionals and score against brute
// force over the joint energy, the ±1-hidden GB-RBM mapping and the tempered family at its ends.
// Everything here is deterministic except where a seed is named; tolerances are float64 rounding.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/models/rbm.h"

namespace {

using joule::Rbm;
using joule::RbmOptions;
using joule::RbmVisible;

// All 2^n binary vectors as rows [2^n, n].
torch::Tensor all_states(int64_t n) {
  auto idx = torch::arange(int64_t(1) << n).unsqueeze(1);
  return idx.bitwise_right_shift(torch::arange(n).unsqueeze(0)).bitwise_and(1).to(torch::kFloat64);
}

// A small RBM in float64 with random, not-small parameters.
Rbm make_rbm(int64_t v, int64_t h, RbmVisible type, uint64_t seed, bool learn_sigma = false) {
  auto gen = joule::make_generator(seed);
  Rbm rbm(RbmOptions(v, h).visible_type(type).learn_sigma(learn_sigma).sigma(type == RbmVisible::kGaussian ? 0.7 : 1.0));
  rbm->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  rbm->weight.normal_(0, 0.8, gen);
  rbm->visible_bias.normal_(0, 0.5, gen);
  rbm->hidden_bias.normal_(0, 0.5, gen);
  if (rbm->gaussian()) rbm->log_var.uniform_(-1.0, 0.5, gen);
  return rbm;
}

torch::Tensor some_visible(const Rbm& rbm, int64_t n, uint64_t seed) {
  auto gen = joule::make_generator(seed);
  if (rbm->gaussian()) return torch::randn({n, rbm->num_visible()}, gen, torch::kFloat64);
  return torch::bernoulli(torch::full({n, rbm->num_visible()}, 0.5, torch::kFloat64), gen);
}

class RbmBothTypes : public ::testing::TestWithParam<RbmVisible> {};

TEST_P(RbmBothTypes, FreeEnergyIsLogSumOverHiddenOfJointEnergy) {
  auto rbm = make_rbm(5, 4, GetParam(), 1);
  auto v = some_visible(rbm, 7, 2);
  auto hs = all_states(4);
  for (int64_t i = 0; i < v.size(0); ++i) {
    auto vi = v[i].unsqueeze(0).expand({hs.size(0), 5});
    const double brute = -torch::logsumexp(-rbm->joint_energy(vi, hs), 0).item<double>();
    EXPECT_NEAR(rbm->energy(v[i].unsqueeze(0)).item<double>(), brute, 1e-10);
  }
}

TEST_P(RbmBothTypes, HiddenProbabilitiesMatchJointEnergyRatios) {
  auto rbm = make_rbm(5, 4, GetParam(), 3);
  auto v = some_visible(rbm, 3, 4);
  auto hs = all_states(4);
  auto p = rbm->hidden_probs(v);
  for (int64_t i = 0; i < v.size(0); ++i) {
    auto logw = -rbm->joint_energy(v[i].unsqueeze(0).expand({hs.size(0), 5}), hs);
    auto post = torch::softmax(logw, 0);
    auto brute = torch::mv(hs.t(), post);  // Σ_h p(h|v) h
    EXPECT_TRUE(torch::allclose(p[i], brute, 1e-10, 1e-12)) << p[i] << brute;
  }
}

TEST(RbmTest, BernoulliVisibleMeanMatchesJointEnergyRatio) {
  auto rbm = make_rbm(4, 3, RbmVisible::kBernoulli, 5);
  auto hs = all_states(3);
  auto vs = all_states(4);
  auto mean = rbm->visible_mean(hs);
  for (int64_t j = 0; j < hs.size(0); ++j) {
    auto logw = -rbm->joint_energy(vs, hs[j].unsqueeze(0).expand({vs.size(0), 3}));
    auto brute = torch::mv(vs.t(), torch::softmax(logw, 0));
    EXPECT_TRUE(torch::allclose(mean[j], brute, 1e-10, 1e-12));
  }
}

TEST(RbmTest, GaussianConditionalIsNormalWithMeanBPlusWthAndVarianceSigma2) {
  // E(v, h) is quadratic in v, so ∂E/∂v = 0 at the conditional mean and ∂²E/∂v² = 1/σ².
  auto rbm = make_rbm(4, 3, RbmVisible::kGaussian, 6);
  auto h = all_states(3);
  auto m = rbm->visible_mean(h).detach().requires_grad_(true);
  auto e = rbm->joint_energy(m, h).sum();
  auto g = torch::autograd::grad({e}, {m}, {}, true, true)[0];
  EXPECT_LT(g.abs().max().item<double>(), 1e-10);
  auto gg = torch::autograd::grad({g.select(1, 2).sum()}, {m})[0];
  EXPECT_TRUE(torch::allclose(gg.select(1, 2), torch::exp(-rbm->log_var[2]).expand({8})));
  EXPECT_TRUE(torch::allclose(m, rbm->visible_bias + torch::mm(h, rbm->weight)));
}

TEST_P(RbmBothTypes, AnalyticScoreMatchesAutograd) {
  auto rbm = make_rbm(6, 5, GetParam(), 7, GetParam() == RbmVisible::kGaussian);
  auto v = some_visible(rbm, 9, 8);
  auto fast = rbm->energy_and_grad(v);
  auto ref = joule::energy_and_grad_autograd(*rbm, v);
  EXPECT_TRUE(torch::allclose(fast.energy, ref.energy, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(fast.grad, ref.grad, 1e-10, 1e-12));
}

TEST_P(RbmBothTypes, GibbsKeepsShapeAndProducesValidStates) {
  auto rbm = make_rbm(6, 5, GetParam(), 9);
  auto gen = joule::make_generator(10);
  auto v = some_visible(rbm, 8, 11).reshape({8, 1, 2, 3});
  auto out = rbm->gibbs(v, 3, gen);
  EXPECT_EQ(out.sizes(), v.sizes());
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  if (GetParam() == RbmVisible::kBernoulli) EXPECT_TRUE(out.eq(0).logical_or(out.eq(1)).all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(Rbm, RbmBothTypes, ::testing::Values(RbmVisible::kBernoulli, RbmVisible::kGaussian),
                         [](const auto& info) { return joule::to_string(info.param); });

TEST(RbmTest, Pm1HiddenMappingGivesTheSameDensity) {
  // p(x) ∝ Σ_{s ∈ {±1}^H} exp(½ xᵀB s + bᵀx + cᵀs − ½‖x‖²): log-density differences must agree.
  auto gen = joule::make_generator(12);
  const int64_t nv = 5, nh = 3;
  auto B = torch::randn({nv, nh}, gen, torch::kFloat64);
  auto b = torch::randn({nv}, gen, torch::kFloat64);
  auto c = torch::randn({nh}, gen, torch::kFloat64);
  auto rbm = joule::gaussian_rbm_from_pm1_hidden(B, b, c);
  auto x = torch::randn({6, nv}, gen, torch::kFloat64);
  auto s = 2 * all_states(nh) - 1;  // [8, H]
  auto logp = torch::logsumexp(0.5 * torch::mm(torch::mm(x, B), s.t()) + torch::mv(s, c).unsqueeze(0), 1) +
              torch::mv(x, b) - 0.5 * x.pow(2).sum(1);
  auto ours = -rbm->energy(x);
  EXPECT_TRUE(torch::allclose(ours - ours[0], logp - logp[0], 1e-10, 1e-10));
}

TEST_P(RbmBothTypes, TemperedFamilyIsTheRbmAtBetaOneAndTheBaseAtBetaZero) {
  auto rbm = make_rbm(5, 4, GetParam(), 13);
  auto v = some_visible(rbm, 6, 14);
  auto gen = joule::make_generator(15);
  joule::RbmBase base;
  base.bias = torch::randn({5}, gen, torch::kFloat64);
  if (rbm->gaussian()) base.log_var = torch::randn({5}, gen, torch::kFloat64) * 0.3;
  joule::TemperedRbm t(*rbm, base);
  auto ones = torch::ones({6}, torch::kFloat64), zeros = torch::zeros({6}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(t.free_energy(v, ones), rbm->energy(v), 1e-12, 1e-12));
  // β = 0: F_0(v) = E_A(v) − H log 2.
  torch::Tensor ea = rbm->gaussian() ? 0.5 * ((v - base.bias).pow(2) * torch::exp(-base.log_var)).sum(1)
                                     : -torch::mv(v, base.bias);
  EXPECT_TRUE(torch::allclose(t.free_energy(v, zeros), ea - 4 * std::log(2.0), 1e-12, 1e-12));
  // The interaction energy is E − E_A, and β-scaled conditionals reduce to the RBM's at β = 1.
  auto h = torch::bernoulli(torch::full({6, 4}, 0.5, torch::kFloat64), gen);
  EXPECT_TRUE(torch::allclose(t.interaction_energy(v, h), rbm->joint_energy(v, h) - ea, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(t.hidden_probs(v, ones), rbm->hidden_probs(v)));
}

TEST(RbmTest, TemperedBaseLogPartitionIsExact) {
  // Bernoulli base: Z_0 = 2^H Π (1 + e^{b_A}); brute force over v and h for a 3×2 model.
  auto rbm = make_rbm(3, 2, RbmVisible::kBernoulli, 16);
  joule::RbmBase base;
  base.bias = torch::tensor({0.3, -1.0, 2.0}, torch::kFloat64);
  joule::TemperedRbm t(*rbm, base);
  auto vs = all_states(3);
  const double brute = torch::logsumexp(-t.free_energy(vs, torch::zeros({8}, torch::kFloat64)), 0).item<double>();
  EXPECT_NEAR(t.log_z_base(), brute, 1e-12);
}

TEST(RbmTest, FloatBernoulliDrawsHaveTheRightRatesAndAreIndependent) {
  // The float32 CPU path of sample_bernoulli (counter-based, keyed by the generator) against its
  // definition: per-entry rates, no correlation between neighbouring entries or between calls,
  // and the same draws from the same seed. n = 200 000 per check: binomial sd ≤ 0.0012.
  const int64_t n = 200000;
  auto p = torch::rand({n}, joule::make_generator(1));
  auto gen = joule::make_generator(2);
  auto a = joule::sample_bernoulli(p, gen), b = joule::sample_bernoulli(p, gen);
  ASSERT_EQ(a.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::all((a == 0) | (a == 1)).item<bool>());
  // E[x − p] = 0 with sd √(Σ p(1 − p))/n ≈ 0.0009.
  EXPECT_NEAR((a - p).mean().item<double>(), 0.0, 0.004);
  for (double level : {0.01, 0.5, 0.97}) {
    auto x = joule::sample_bernoulli(torch::full({n}, level), gen);
    EXPECT_NEAR(x.mean().item<double>(), level, 4 * std::sqrt(level * (1 - level) / n)) << level;
  }
  // Centred products: neighbours within a call, and the same entry across calls.
  auto ca = a - p, cb = b - p;
  EXPECT_NEAR((ca.slice(0, 1) * ca.slice(0, 0, n - 1)).mean().item<double>(), 0.0, 0.003);
  EXPECT_NEAR((ca * cb).mean().item<double>(), 0.0, 0.003);
  auto g1 = joule::make_generator(5), g2 = joule::make_generator(5);
  EXPECT_TRUE(torch::equal(joule::sample_bernoulli(p, g1), joule::sample_bernoulli(p, g2)));
  // Double precision takes torch::rand: rates hold there too.
  auto d = joule::sample_bernoulli(torch::full({n}, 0.3, torch::kFloat64), gen);
  EXPECT_NEAR(d.mean().item<double>(), 0.3, 4 * std::sqrt(0.21 / n));
}

TEST(RbmTest, BadInputsAreClearErrors) {
  EXPECT_THROW(Rbm(RbmOptions(0, 3)), c10::Error);
  EXPECT_THROW(Rbm(RbmOptions(4, 3).learn_sigma(true)), c10::Error);  // Bernoulli visibles have no σ
  EXPECT_THROW(Rbm(RbmOptions(4, 3).event_shape({1, 2, 3})), c10::Error);
  Rbm rbm(RbmOptions(4, 3));
  try {
    rbm->energy(torch::zeros({2, 5}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 4 visible values"), std::string::npos) << e.what();
  }
}

}  // namespace
