// Composed energies (AND / OR / NOT) against closed forms, their gradients against autograd,
// sampling from a composition, and multi-scale image energies.
#include <gtest/gtest.h>

#include <torch/autograd.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/eval/gof.h"
#include "joule/eval/sample_stats.h"
#include "joule/models/analytic.h"
#include "joule/models/compose.h"
#include "joule/models/conv_energy.h"
#include "joule/samplers/mala.h"

namespace {

using joule::ComposedEnergy;
using joule::CompositionOp;
using joule::EnergyPart;

std::shared_ptr<joule::GaussianEnergyImpl> gaussian(std::vector<double> mean, std::vector<double> std) {
  return std::make_shared<joule::GaussianEnergyImpl>(torch::tensor(mean, torch::kFloat64), torch::tensor(std, torch::kFloat64));
}

// A 2-D grid over [−L, L]² and the grid-normalised log-density of an energy on it.
struct Grid {
  torch::Tensor points;
  double cell;
};
Grid make_grid(double half_width, int64_t n) {
  auto axis = torch::linspace(-half_width, half_width, n, torch::kFloat64);
  auto mesh = torch::meshgrid({axis, axis}, "ij");
  return {torch::stack({mesh[0].reshape(-1), mesh[1].reshape(-1)}, 1), std::pow(2 * half_width / (n - 1), 2)};
}
torch::Tensor grid_log_density(joule::EnergyModel& e, const Grid& g) {
  torch::NoGradGuard no_grad;
  auto neg = -e.energy(g.points);
  return neg - (torch::logsumexp(neg, 0) + std::log(g.cell));
}
// log N(x; m, diag(s²)) for each row of x.
torch::Tensor log_normal(const torch::Tensor& x, std::vector<double> m, std::vector<double> s) {
  auto mt = torch::tensor(m, torch::kFloat64), st = torch::tensor(s, torch::kFloat64);
  return (-0.5 * ((x - mt) / st).pow(2) - st.log() - 0.5 * std::log(2 * M_PI)).sum(1);
}

// AND: N(μ₁, s₁²) · N(μ₂, s₂²) ∝ N(μ, s²) per coordinate with 1/s² = 1/s₁² + 1/s₂² and
// μ = s²(μ₁/s₁² + μ₂/s₂²). Grid quadrature on 400² points over [−8, 8]² is accurate to ~1e-6 here.
TEST(ComposeTest, SumIsTheNormalisedProductOfExperts) {
  auto a = gaussian({1.0, -1.0}, {1.0, 0.5});
  auto b = gaussian({-0.5, 0.5}, {0.8, 1.5});
  ComposedEnergy both(CompositionOp::kSum, {EnergyPart(a), EnergyPart(b)});
  std::vector<double> m(2), s(2);
  const double ma[] = {1.0, -1.0}, sa[] = {1.0, 0.5}, mb[] = {-0.5, 0.5}, sb[] = {0.8, 1.5};
  for (int i = 0; i < 2; ++i) {
    const double p = 1 / (sa[i] * sa[i]) + 1 / (sb[i] * sb[i]);
    s[i] = 1 / std::sqrt(p);
    m[i] = (ma[i] / (sa[i] * sa[i]) + mb[i] / (sb[i] * sb[i])) / p;
  }
  auto g = make_grid(8.0, 400);
  auto diff = (grid_log_density(both, g) - log_normal(g.points, m, s)).abs();
  // Compare where the density is not negligible (the log of a 1e-300 tail is rounding).
  auto mask = log_normal(g.points, m, s) > -20;
  EXPECT_LT(diff.masked_select(mask).max().item<double>(), 1e-4);
}

// OR with each part's log-weight log π_i − log Z_i is the normalised mixture Σ π_i N_i.
TEST(ComposeTest, LogSumExpWithLogWeightsIsTheMixture) {
  auto a = gaussian({2.0, 0.0}, {0.5, 0.5});
  auto b = gaussian({-2.0, 1.0}, {1.0, 0.7});
  const double pa = 0.3, pb = 0.7;
  ComposedEnergy either(CompositionOp::kLogSumExp,
                        {EnergyPart(a).log_weight(std::log(pa) - a->log_partition()),
                         EnergyPart(b).log_weight(std::log(pb) - b->log_partition())});
  auto g = make_grid(8.0, 400);
  auto exact = torch::logsumexp(torch::stack({std::log(pa) + log_normal(g.points, {2.0, 0.0}, {0.5, 0.5}),
                                              std::log(pb) + log_normal(g.points, {-2.0, 1.0}, {1.0, 0.7})},
                                             1),
                                1);
  auto mask = exact > -20;
  // The composed energy is exactly −log of the normalised mixture: no grid needed for its value.
  torch::NoGradGuard no_grad;
  EXPECT_LT((-either.energy(g.points) - exact).abs().masked_select(mask).max().item<double>(), 1e-10);
  EXPECT_LT((grid_log_density(either, g) - exact).abs().masked_select(mask).max().item<double>(), 1e-4);
}

// NOT: a negative weight divides by a power of the part: N(0, 1)/N(0, 2²)^{1/2} ∝ N(0, s²) with
// 1/s² = 1 − ½·¼ = 7/8. Part temperatures scale the same way: E/T is the power 1/T.
TEST(ComposeTest, NegativeWeightAndTemperatureArePowersOfTheDensity) {
  auto a = gaussian({0.0, 0.0}, {1.0, 1.0});
  auto b = gaussian({0.0, 0.0}, {2.0, 2.0});
  ComposedEnergy a_not_b(CompositionOp::kSum, {EnergyPart(a), EnergyPart(b).weight(-0.5)});
  const double s = std::sqrt(8.0 / 7.0);
  auto g = make_grid(10.0, 400);
  auto exact = log_normal(g.points, {0, 0}, {s, s});
  auto mask = exact > -20;
  EXPECT_LT((grid_log_density(a_not_b, g) - exact).abs().masked_select(mask).max().item<double>(), 1e-4);
  // Temperature 4 on N(0, 1): exp(−E/4) is N(0, 4) = N(0, 2²).
  ComposedEnergy hot(CompositionOp::kSum, {EnergyPart(a).temperature(4.0)});
  auto exact_hot = log_normal(g.points, {0, 0}, {2.0, 2.0});
  auto mask_hot = exact_hot > -20;
  EXPECT_LT((grid_log_density(hot, g) - exact_hot).abs().masked_select(mask_hot).max().item<double>(), 1e-4);
}

TEST(ComposeTest, FastGradientMatchesAutograd) {
  auto a = gaussian({1.0, 0.0, -1.0}, {1.0, 0.5, 2.0});
  auto b = gaussian({0.0, 1.0, 1.0}, {0.7, 1.0, 1.0});
  auto x = torch::randn({9, 3}, joule::make_generator(1), torch::kFloat64) * 2;
  for (auto op : {CompositionOp::kSum, CompositionOp::kLogSumExp}) {
    ComposedEnergy e(op, {EnergyPart(a).weight(1.5).temperature(0.5), EnergyPart(b).weight(-0.3).log_weight(0.7)});
    auto fast = e.energy_and_grad(x);
    auto ref = joule::energy_and_grad_autograd(e, x);
    EXPECT_TRUE(torch::allclose(fast.energy, ref.energy, 1e-12, 1e-12)) << joule::to_string(op);
    EXPECT_TRUE(torch::allclose(fast.grad, ref.grad, 1e-10, 1e-12)) << joule::to_string(op);
  }
}

// Samples of the composition with a sampler from the library: MALA chains on the product of two
// Gaussians have the product's moments, and their MMD to exact samples is at the noise level.
TEST(ComposeTest, MalaSamplesTheProductOfExperts) {
  auto a = gaussian({1.0, -1.0}, {1.0, 0.5});
  auto b = gaussian({-1.0, 1.0}, {1.0, 0.5});
  ComposedEnergy both(CompositionOp::kSum, {EnergyPart(a), EnergyPart(b)});
  // Product: mean 0, s = (1/√2, 0.5/√2).
  auto gen = joule::make_generator(2);
  joule::Mala mala(joule::MalaOptions(300).step_size(0.05));
  auto x = mala.sample(both, torch::randn({4000, 2}, gen, torch::kFloat64), gen);
  auto exact = torch::randn({4000, 2}, gen, torch::kFloat64) * torch::tensor({1 / std::sqrt(2.0), 0.5 / std::sqrt(2.0)},
                                                                           torch::kFloat64);
  // SE of a mean: s/√4000 ≤ 0.012; of a std: s/√8000 ≤ 0.008. Tolerances ~4 SE.
  EXPECT_LT(x.mean(0).abs().max().item<double>(), 0.05);
  EXPECT_NEAR(x.std(0)[0].item<double>(), 1 / std::sqrt(2.0), 0.03);
  EXPECT_NEAR(x.std(0)[1].item<double>(), 0.5 / std::sqrt(2.0), 0.02);
  const double h = joule::eval::median_bandwidth(x, exact);
  // Under H0 the unbiased MMD² of 4000 vs 4000 points has SD of order 1e-4; a wrong component
  // (e.g. the OR mixture) gives ~1e-1.
  EXPECT_LT(joule::eval::mmd2_gaussian(x, exact, h), 1e-3);
  // The kernel Stein discrepancy test against the composed energy's own score does not reject the
  // chains (1000 of them: the level-0.05 test's power is ample against a wrong component, below).
  auto ksd = joule::eval::ksd_test(joule::eval::model_score(both), x.slice(0, 0, 1000), joule::eval::KsdTestOptions(),
                                   joule::make_generator(3));
  EXPECT_FALSE(ksd.reject) << "p = " << ksd.p_value;
  // ... and rejects samples of one part alone.
  auto wrong = torch::randn({1000, 2}, gen, torch::kFloat64) * torch::tensor({1.0, 0.5}, torch::kFloat64) +
               torch::tensor({1.0, -1.0}, torch::kFloat64);
  EXPECT_TRUE(joule::eval::ksd_test(joule::eval::model_score(both), wrong, joule::eval::KsdTestOptions(),
                                    joule::make_generator(4))
                  .reject);
}

TEST(ComposeTest, ClearErrors) {
  auto a = gaussian({0.0, 0.0}, {1.0, 1.0});
  auto c = gaussian({0.0, 0.0, 0.0}, {1.0, 1.0, 1.0});
  EXPECT_THROW(ComposedEnergy(CompositionOp::kSum, {}), c10::Error);
  EXPECT_THROW(ComposedEnergy(CompositionOp::kSum, {EnergyPart(a), EnergyPart(c)}), c10::Error);
  EXPECT_THROW(ComposedEnergy(CompositionOp::kSum, {EnergyPart(a).weight(0.0)}), c10::Error);
  EXPECT_THROW(ComposedEnergy(CompositionOp::kSum, {EnergyPart(a).temperature(-1.0)}), c10::Error);
  EXPECT_THROW(joule::parse_composition_op("xor"), c10::Error);
  EXPECT_EQ(joule::parse_composition_op("and"), CompositionOp::kSum);
  EXPECT_EQ(joule::parse_composition_op("or"), CompositionOp::kLogSumExp);
}

TEST(MultiScaleEnergyTest, SumsTheScalesOfTheDownsampledImage) {
  auto gen = joule::make_generator(3);
  auto full = joule::ConvEnergy(joule::ConvEnergyOptions(1).channels(4).blocks(2));
  auto half = joule::ConvEnergy(joule::ConvEnergyOptions(1).channels(4).blocks(1));
  full->reset_parameters(gen);
  half->reset_parameters(gen);
  joule::MultiScaleEnergy ms({full.ptr(), half.ptr(), half.ptr()}, {1, 28, 28});
  auto x = torch::rand({3, 1, 28, 28}, gen);
  auto x14 = joule::downsample2x(x);
  auto x7 = joule::downsample2x(x14);
  EXPECT_EQ(x14.sizes(), (std::vector<int64_t>{3, 1, 14, 14}));
  EXPECT_EQ(x7.sizes(), (std::vector<int64_t>{3, 1, 7, 7}));
  auto expected = full->energy(x) + half->energy(x14) + half->energy(x7);
  EXPECT_TRUE(torch::allclose(ms.energy(x), expected, 1e-5, 1e-6));
  // The shared network is registered once.
  EXPECT_EQ(ms.parameters().size(), full->parameters().size() + half->parameters().size());
}

// Double backward through the convolutional energy: ∂/∂θ ‖∇ₓE‖² against finite differences.
TEST(ConvEnergyTest, SecondOrderGradientMatchesFiniteDifferences) {
  auto gen = joule::make_generator(4);
  auto e = joule::ConvEnergy(joule::ConvEnergyOptions(1).channels(2).blocks(2).event_shape({1, 8, 8}));
  e->reset_parameters(gen);
  e->to(torch::kFloat64);
  auto x = torch::rand({2, 1, 8, 8}, gen, torch::kFloat64);
  auto objective = [&]() {
    auto xg = x.clone().requires_grad_(true);
    auto g = torch::autograd::grad({e->energy(xg).sum()}, {xg}, {}, true, true)[0];
    return g.pow(2).sum();
  };
  auto head_w = e->head->weight;
  auto stem_w = e->stem->weight;
  auto f = objective();
  auto grads = torch::autograd::grad({f}, {head_w, stem_w});
  const double eps = 1e-6;
  for (int which = 0; which < 2; ++which) {
    auto p = (which == 0 ? head_w : stem_w).detach().view({-1});
    for (int64_t j = 0; j < std::min<int64_t>(p.numel(), 5); ++j) {
      const double v = p[j].item<double>();
      p[j].fill_(v + eps);
      const double fp = objective().item<double>();
      p[j].fill_(v - eps);
      const double fm = objective().item<double>();
      p[j].fill_(v);
      const double fd = (fp - fm) / (2 * eps);
      EXPECT_NEAR(grads[which].view({-1})[j].item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd)));
    }
  }
  // Any image size works (global pooling); the wrong channel count is a clear error.
  EXPECT_EQ(e->energy(torch::rand({2, 1, 13, 9}, gen, torch::kFloat64)).sizes(), (std::vector<int64_t>{2}));
  EXPECT_THROW(e->energy(torch::rand({2, 3, 8, 8}, gen, torch::kFloat64)), c10::Error);
}

}  // namespace
