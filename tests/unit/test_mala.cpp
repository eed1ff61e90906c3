// MALA and HMC are exact: they sample the target without ULA's step-size bias.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/models/analytic.h"
#include "joule/samplers/langevin.h"
#include "joule/samplers/mala.h"

namespace {

joule::GaussianEnergy target() {
  return joule::GaussianEnergy(torch::tensor({1.0, -2.0}, torch::kFloat64), torch::tensor({1.0, 0.5}, torch::kFloat64));
}

void expect_moments(const torch::Tensor& x, double tol_mean, double tol_var) {
  auto mean = x.mean(0), var = x.var(0);
  EXPECT_NEAR(mean[0].item<double>(), 1.0, tol_mean);
  EXPECT_NEAR(mean[1].item<double>(), -2.0, tol_mean);
  EXPECT_NEAR(var[0].item<double>(), 1.0, tol_var);
  EXPECT_NEAR(var[1].item<double>(), 0.25, tol_var);
}

TEST(MalaTest, SamplesAGaussianWithTheRightMeanAndVariance) {
  auto gen = joule::make_generator(1);
  auto model = target();
  // Step 0.2 is large for σ = 0.5 (ULA would inflate that variance by 1/(1 − 0.2/(2·0.25)) =
  // 1.67); the Metropolis test removes the bias.
  joule::Mala mala(joule::MalaOptions(300).step_size(0.2));
  auto x = mala.sample(*model, torch::zeros({20000, 2}, torch::kFloat64), gen);
  // 20k independent chains: SE of the mean ≤ 1/sqrt(20000) = 0.007, of the variance
  // ≤ sqrt(2/20000) = 0.01 (relative). Tolerances are 4 SE.
  expect_moments(x, 0.03, 0.04);
  const double acc = mala.stats().acceptance_rate;
  EXPECT_GT(acc, 0.3);
  EXPECT_LT(acc, 1.0);
}

TEST(MalaTest, UlaAtTheSameStepIsBiasedWhereMalaIsNot) {
  auto gen = joule::make_generator(2);
  auto model = target();
  joule::Langevin ula(joule::LangevinOptions::ula(0.2, 300));
  auto x = ula.sample(*model, torch::zeros({20000, 2}, torch::kFloat64), gen);
  EXPECT_GT(x.var(0)[1].item<double>(), 0.25 * 1.4) << "ULA's bias should show at this step size";
}

TEST(MalaTest, TinyStepAcceptsAlmostEverything) {
  auto gen = joule::make_generator(3);
  auto model = target();
  joule::Mala mala(joule::MalaOptions(20).step_size(1e-6));
  mala.sample(*model, torch::zeros({1000, 2}, torch::kFloat64), gen);
  EXPECT_GT(mala.stats().acceptance_rate, 0.999);
}

TEST(HmcTest, SamplesAGaussianWithTheRightMeanAndVariance) {
  auto gen = joule::make_generator(4);
  auto model = target();
  joule::Hmc hmc(joule::HmcOptions(100).step_size(0.2).leapfrog_steps(5));
  auto x = hmc.sample(*model, torch::zeros({20000, 2}, torch::kFloat64), gen);
  expect_moments(x, 0.03, 0.04);
  EXPECT_GT(hmc.stats().acceptance_rate, 0.5);
}

TEST(HmcTest, InvalidOptionsAreRejected) {
  EXPECT_THROW(joule::Hmc(joule::HmcOptions(1).leapfrog_steps(0)), c10::Error);
  EXPECT_THROW(joule::Mala(joule::MalaOptions(1).step_size(-1)), c10::Error);
}

}  // namespace
