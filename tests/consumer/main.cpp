// Uses the installed library through its public headers only: samples a Gaussian energy with
// MALA and checks the sample mean.
#include <joule/models/analytic.h>
#include <joule/samplers/mala.h>
#include <joule/core/runtime.h>

#include <cmath>
#include <iostream>

int main() {
  auto gen = joule::make_generator(7);
  auto model = joule::GaussianEnergy(torch::tensor({1.0f, -2.0f}), torch::tensor({1.0f, 0.5f}));
  joule::Mala mala(joule::MalaOptions(200).step_size(0.1));
  auto x = mala.sample(*model, torch::zeros({2000, 2}), gen);
  auto mean = x.mean(0);
  const bool ok = std::abs(mean[0].item<double>() - 1.0) < 0.1 && std::abs(mean[1].item<double>() + 2.0) < 0.1;
  std::cout << (ok ? "consumer ok" : "consumer FAILED") << " mean=" << mean[0].item<double>() << ","
            << mean[1].item<double>() << " acceptance=" << mala.stats().acceptance_rate << "\n";
  return ok ? 0 : 1;
}
