// Uses the installed library through its umbrella header only: trains nothing, but samples a
// Gaussian energy with MALA and checks the sample mean, and builds a PCD trainer.
#include <joule/joule.h>

#include <cmath>
#include <iostream>

int main() {
  auto gen = joule::make_generator(7);
  auto model = joule::GaussianEnergy(torch::tensor({1.0f, -2.0f}), torch::tensor({1.0f, 0.5f}));
  joule::Mala mala(joule::MalaOptions(200).step_size(0.1));
  auto x = mala.sample(*model, torch::zeros({2000, 2}), gen);
  auto mean = x.mean(0);
  const bool ok = std::abs(mean[0].item<double>() - 1.0) < 0.1 && std::abs(mean[1].item<double>() + 2.0) < 0.1;

  auto mlp = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(16).depth(2));
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::ula(0.01, 5));
  auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(100), std::vector<int64_t>{2});
  auto pcd = std::make_shared<joule::ContrastiveDivergence>(joule::ContrastiveDivergenceOptions(), sampler, buffer);
  auto data = std::make_shared<joule::data::TensorDataset>(joule::data::sample_toy("8gaussians", 500, gen));
  joule::train::Trainer trainer(mlp.ptr(), pcd, data, joule::train::TrainerOptions().steps(3).batch_size(32));
  trainer.train();
  const bool trained = trainer.step_count() == 3;

  // An RBM through the same header: with zero weights and biases log Z = (V + H) log 2.
  joule::Rbm rbm(joule::RbmOptions(6, 4));
  {
    torch::NoGradGuard no_grad;
    rbm->weight.zero_();
  }
  const double log_z = joule::eval::log_partition_exact(*rbm);
  const bool rbm_ok = std::abs(log_z - 10 * std::log(2.0)) < 1e-6;

  std::cout << (ok && trained && rbm_ok ? "consumer ok" : "consumer FAILED") << " mean=" << mean[0].item<double>() << ","
            << mean[1].item<double>() << " acceptance=" << mala.stats().acceptance_rate << " rbm_log_z=" << log_z << "\n";
  return ok && trained && rbm_ok ? 0 : 1;
}
