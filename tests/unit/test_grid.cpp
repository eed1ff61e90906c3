// Grid quadrature against closed forms: log Z and NLL of Gaussian energies.
#include <gtest/gtest.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/eval/grid.h"
#include "joule/models/analytic.h"

namespace {

TEST(GridTest, LogPartitionOfAGaussianMatchesTheAnalyticValue) {
  auto model = joule::GaussianEnergy(torch::tensor({0.5f, -0.3f}), torch::tensor({0.7f, 1.3f}));
  for (double t : {1.0, 0.25, 3.0}) {
    model->set_temperature(t);
    const double logz = joule::eval::grid_log_partition(*model, joule::eval::Box::square(12.0), 400);
    // The midpoint rule is spectrally accurate for a smooth, well-contained integrand.
    EXPECT_NEAR(logz, model->log_partition(), 1e-4) << "T = " << t;
  }
}

TEST(GridTest, NllOfGaussianSamplesIsItsEntropy) {
  auto gen = joule::make_generator(1);
  auto model = joule::GaussianEnergy(torch::zeros({2}), torch::tensor({1.0f, 0.5f}));
  auto x = torch::randn({200000, 2}, gen) * torch::tensor({1.0f, 0.5f});
  auto density = joule::eval::grid_density(*model, joule::eval::Box::square(8.0), 256);
  const double nll = joule::eval::negative_log_likelihood(*model, x, density.log_z);
  const double entropy = std::log(2 * M_PI * std::exp(1.0) * 0.5);  // ½ log det(2πe Σ)
  // NLL per sample has SD 1 (chi-square/2 with 2 dof); SE = 1/sqrt(2e5) = 0.0022; 4 SE.
  EXPECT_NEAR(nll, entropy, 0.009);
  // The normalised density integrates to one over the box.
  const double cell = 16.0 * 16.0 / (256 * 256);
  EXPECT_NEAR(density.log_density.exp().sum().item<double>() * cell, 1.0, 1e-9);
}

TEST(GridTest, HistogramAndGridSamplesAreConsistent) {
  auto model = joule::GaussianEnergy(torch::tensor({1.0f, -1.0f}), torch::tensor({0.5f, 0.5f}));
  auto density = joule::eval::grid_density(*model, joule::eval::Box::square(4.0), 128);
  auto x = joule::eval::sample_from_grid(density, 100000, joule::make_generator(2));
  EXPECT_NEAR(x.mean(0)[0].item<double>(), 1.0, 0.01);  // SE 0.5/sqrt(1e5) = 0.0016
  EXPECT_NEAR(x.mean(0)[1].item<double>(), -1.0, 0.01);
  EXPECT_NEAR(x.std(0)[0].item<double>(), 0.5, 0.01);
  auto hist = joule::eval::histogram_density(x, joule::eval::Box::square(4.0), 64);
  EXPECT_NEAR(hist.sum().item<double>() * (8.0 * 8.0 / (64 * 64)), 1.0, 1e-6);
  // Row 0 is the top: the mass sits below the centre row (y = −1) and right of centre (x = 1).
  auto rows = hist.sum(1), cols = hist.sum(0);
  EXPECT_GT(rows.slice(0, 32).sum().item<double>(), rows.slice(0, 0, 32).sum().item<double>());
  EXPECT_GT(cols.slice(0, 32).sum().item<double>(), cols.slice(0, 0, 32).sum().item<double>());
}

TEST(GridTest, BadBoxIsRejected) {
  auto model = joule::GaussianEnergy(torch::zeros({2}), torch::ones({2}));
  EXPECT_THROW(joule::eval::grid_density(*model, joule::eval::Box{1, -1, 0, 1}, 32), c10::Error);
  EXPECT_THROW(joule::eval::grid_density(*model, joule::eval::Box::square(1), 1), c10::Error);
}

}  // namespace

namespace {

TEST(GridTest, TemperatureFitRecoversTheSamplingTemperature) {
  // Samples from exp(−E/T) with T = 0.3 for a unit Gaussian energy: N(0, 0.3 I). The fit must
  // find T* ≈ 0.3 (the MLE of the variance: SE ≈ 0.3·sqrt(1/20000) ≈ 0.002), and its NLL must
  // equal the NLL computed directly at that temperature.
  auto gen = joule::make_generator(3);
  auto model = joule::GaussianEnergy(torch::zeros({2}), torch::ones({2}));
  auto x = torch::randn({20000, 2}, gen) * std::sqrt(0.3);
  const auto box = joule::eval::Box::square(6.0);
  auto fit = joule::eval::fit_temperature(*model, box, 256, x);
  EXPECT_NEAR(fit.temperature, 0.3, 0.01);
  model->set_temperature(fit.temperature);
  const double direct = joule::eval::negative_log_likelihood(*model, x, joule::eval::grid_log_partition(*model, box, 256));
  EXPECT_NEAR(fit.nll, direct, 1e-6);
}

}  // namespace
