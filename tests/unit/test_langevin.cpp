// Langevin dynamics against closed forms (the stationary variance of ULA on a Gaussian, Roberts & Tweedie 1996).
//
// On a 1-D Gaussian with variance s², x ← x − a x/s² + b ε is an AR(1) process with stationary
// variance b² / (1 − (1 − a/s²)²) = b² / (2a/s² − a²/s⁴). With b = √(2a) and s = 1 this is
// 1/(1 − a/2): 1.005025 for a = 0.01 — ULA's O(a) bias, which MALA removes.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/models/analytic.h"
#include "joule/samplers/langevin.h"

namespace {

joule::GaussianEnergy standard_normal_1d() {
  return joule::GaussianEnergy(torch::zeros({1}), torch::ones({1}));
}

// Stationary variance estimated over `chains` chains, averaging the across-chain variance of
// every 10th state after burn-in.
double stationary_variance(joule::Langevin& sampler, joule::EnergyModel& model, int64_t chains, int64_t burn_in,
                           int64_t rounds, at::Generator& gen) {
  auto x = torch::randn({chains, 1}, gen, torch::kFloat64);
  model.to(torch::kFloat64);
  auto burn = sampler.with_steps(burn_in);
  x = burn->sample(model, x, gen);
  auto step = sampler.with_steps(10);
  double acc = 0;
  for (int64_t r = 0; r < rounds; ++r) {
    x = step->sample(model, x, gen);
    acc += x.pow(2).mean().item<double>();
  }
  return acc / rounds;
}

TEST(LangevinTest, UlaStationaryVarianceMatchesTheory) {
  auto gen = joule::make_generator(2024);
  auto model = standard_normal_1d();
  joule::Langevin ula(joule::LangevinOptions::ula(0.01, 1));
  EXPECT_DOUBLE_EQ(ula.temperature(), 1.0);
  // 200k chains x 150 rounds spaced by 10 steps. Between rounds x is AR(1) with coefficient
  // 0.99^10 = 0.904, so x² has autocorrelation 0.817 and the 150 rounds are worth ~15
  // independent ones: 3e6 effective samples, relative standard error of the variance
  // sqrt(2/3e6) ≈ 0.08%. The tolerance 0.3% is ~4 SE and below the 0.5% bias checked for.
  const double v = stationary_variance(ula, *model, 200000, 600, 150, gen);
  const double theory = 1.0 / (1.0 - 0.01 / 2.0);
  EXPECT_NEAR(v, theory, 0.003 * theory);
  EXPECT_GT(v, 1.0 + 0.002) << "the O(a) bias of ULA must be visible";
}

TEST(LangevinTest, LargeStepBiasFollowsTheFormula) {
  // a = 0.2: theory 1/(1 − 0.1) = 1.1111; a 11% effect, checked to 1%.
  auto gen = joule::make_generator(7);
  auto model = standard_normal_1d();
  joule::Langevin ula(joule::LangevinOptions::ula(0.2, 1));
  const double v = stationary_variance(ula, *model, 50000, 100, 100, gen);
  EXPECT_NEAR(v, 1.0 / 0.9, 0.01);
}

TEST(LangevinTest, JemPresetSamplesAtItsTinyTemperature) {
  // a = 1, b = 0.01 on N(0, 1): variance b²/(2a − a²) = 1e-4, i.e. temperature b²/(2a) = 5e-5
  // up to the discretisation (V2).
  auto opts = joule::LangevinOptions::jem();
  EXPECT_EQ(opts.steps(), 20);
  EXPECT_DOUBLE_EQ(opts.temperature(), 5e-5);
  auto gen = joule::make_generator(3);
  auto model = standard_normal_1d();
  joule::Langevin jem(opts);
  const double v = stationary_variance(jem, *model, 100000, 50, 20, gen);
  EXPECT_NEAR(v, 1e-4, 3e-6);  // SE ≈ 1e-4·sqrt(2/1e6·…) ≪ 3e-6
}

TEST(LangevinTest, DecoupledStepSamplesTheReportedTemperature) {
  // a = 5e-5, b = 0.01: T = 1, the VERA-JEM baseline (arXiv:2010.04230 §5); variance ≈ 1.
  auto opts = joule::LangevinOptions(1).step_size(5e-5).noise(0.01);
  EXPECT_NEAR(opts.temperature(), 1.0, 1e-12);
  auto gen = joule::make_generator(4);
  auto model = standard_normal_1d();
  joule::Langevin s(opts);
  // Mixing takes ~1/a = 2e4 steps: start at the stationary law and check it is kept.
  const double v = stationary_variance(s, *model, 100000, 100, 20, gen);
  EXPECT_NEAR(v, 1.0, 0.02);
}

TEST(LangevinTest, ModelTemperatureScalesTheTarget) {
  // With T_model = 4, exp(−E/T) is N(0, 4): ULA (small a) must sample variance ≈ 4.
  auto gen = joule::make_generator(5);
  auto model = standard_normal_1d();
  model->set_temperature(4.0);
  joule::Langevin ula(joule::LangevinOptions::ula(0.01, 1));
  const double v = stationary_variance(ula, *model, 50000, 3000, 60, gen);
  EXPECT_NEAR(v, 4.0 / (1.0 - 0.01 / 8.0), 0.06);
}

TEST(LangevinTest, ClampKeepsStatesInRangeAndClipBoundsTheDrift) {
  auto gen = joule::make_generator(9);
  auto model = joule::GaussianEnergy(torch::full({2}, 10.0), torch::full({2}, 0.1));
  // Noise-free, clipped to 0.01 per element: 50 steps of size 1 move at most 0.5.
  joule::Langevin clipped(joule::LangevinOptions(50).step_size(1.0).noise(0.0).grad_clip(0.01));
  auto x = clipped.sample(*model, torch::zeros({8, 2}), gen);
  EXPECT_NEAR(x.max().item<double>(), 0.5, 1e-5);
  joule::Langevin clamped(joule::LangevinOptions(50).step_size(0.001).noise(0.1).clamp(std::make_pair(-1.0, 1.0)));
  auto y = clamped.sample(*model, torch::zeros({256, 2}), gen);
  EXPECT_LE(y.max().item<double>(), 1.0);
  EXPECT_GE(y.min().item<double>(), -1.0);
}

TEST(LangevinTest, SameGeneratorStateReproducesTheChain) {
  auto model = joule::GaussianEnergy(torch::zeros({3}), torch::ones({3}));
  joule::Langevin s(joule::LangevinOptions::ula(0.05, 30));
  auto g1 = joule::make_generator(77), g2 = joule::make_generator(77), g3 = joule::make_generator(78);
  auto x0 = torch::zeros({16, 3});
  auto a = s.sample(*model, x0, g1);
  auto b = s.sample(*model, x0, g2);
  auto c = s.sample(*model, x0, g3);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_TRUE(torch::equal(x0, torch::zeros({16, 3}))) << "the input must not be modified";
}

TEST(LangevinTest, InvalidOptionsAreRejected) {
  EXPECT_THROW(joule::Langevin(joule::LangevinOptions(10).step_size(0.0)), c10::Error);
  EXPECT_THROW(joule::Langevin(joule::LangevinOptions(10).noise(-1.0)), c10::Error);
  EXPECT_THROW(joule::Langevin(joule::LangevinOptions(-1)), c10::Error);
  EXPECT_THROW(joule::Langevin(joule::LangevinOptions(1).clamp(std::make_pair(1.0, 0.0))), c10::Error);
}

}  // namespace
