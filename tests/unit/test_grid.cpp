// Grid quadrature against closed forms: log Z and NLL of Gaussian energies.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

TEST(GridTest, TotalVariationToGridMatchesClosedFormsAndItsNoiseFloor) {
  namespace ev = joule::eval;
  auto gen = joule::make_generator(3);
  // Exact samples of the density itself: only binning noise, ≈ 0.4·sqrt(cells/N) = 0.026 here
  // (256 cells, 1e5 samples; the unit Gaussian occupies far fewer cells, so it is below that).
  auto model = joule::GaussianEnergy(torch::zeros({2}), torch::ones({2}));
  auto density = ev::grid_density(*model, ev::Box::square(5.0), 256);
  auto own = ev::sample_from_grid(density, 100000, gen);
  EXPECT_LT(ev::total_variation_to_grid(density, own, 16), 0.026);
  // N(0, I) against N((1, 0), I): TV = 2Φ(1/2) − 1 = 0.3829. Binning into 32 cells of width
  // 0.31 can only lower it (by ~0.005 here); the sampling noise is ~0.01.
  auto shifted = torch::randn({100000, 2}, gen) + torch::tensor({1.0f, 0.0f});
  EXPECT_NEAR(ev::total_variation_to_grid(density, shifted, 32), 0.3829, 0.02);
  // Samples outside the box (or NaN) are mass the model does not have.
  auto half_out = torch::cat({own.slice(0, 0, 50000), torch::full({25000, 2}, 9.0f),
                              torch::full({25000, 2}, std::numeric_limits<float>::quiet_NaN())});
  EXPECT_NEAR(ev::total_variation_to_grid(density, half_out, 16), 0.5, 0.02);
  // A uniform density against samples on its left half: TV = 1/2 exactly in expectation.
  ev::GridDensity flat;
  flat.box = ev::Box::square(2.0);
  flat.resolution = 64;
  flat.log_density = torch::full({64, 64}, -std::log(16.0), torch::kFloat64);
  auto left = torch::rand({100000, 2}, gen) * torch::tensor({2.0f, 4.0f}) - torch::tensor({2.0f, 2.0f});
  EXPECT_NEAR(ev::total_variation_to_grid(flat, left, 8), 0.5, 0.01);
  // The coarse cells must tile the grid.
  EXPECT_THROW(ev::total_variation_to_grid(flat, left, 10), c10::Error);
  EXPECT_THROW(ev::total_variation_to_grid(flat, torch::zeros({5, 3}), 8), c10::Error);
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
