// Your own energy, trained by Joule's shared parts without a Method: a user-defined EnergyModel,
// persistent Langevin chains over a replay buffer, the contrastive-divergence objective and the
// trainer (with its divergence guard and checkpoints). Then the exact log-likelihood on a grid.
#include <joule/joule.h>
#include <torch/torch.h>  // torch::nn layers for the energy below

#include <filesystem>

#include "example_args.h"

// E(x) = an MLP of x ∈ R². Anything differentiable in x and its parameters works: the samplers
// need ∇ₓE, the objective needs ∂E/∂θ.
class MyEnergyImpl : public joule::EnergyModel {
 public:
  MyEnergyImpl() {
    net_ = register_module("net", torch::nn::Sequential(torch::nn::Linear(2, 64), torch::nn::SiLU(),
                                                        torch::nn::Linear(64, 64), torch::nn::SiLU(),
                                                        torch::nn::Linear(64, 1)));
  }
  torch::Tensor energy(const torch::Tensor& x) override { return net_->forward(x).squeeze(-1); }
  std::vector<int64_t> event_shape() const override { return {2}; }

 private:
  torch::nn::Sequential net_{nullptr};
};
TORCH_MODULE(MyEnergy);

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 3000, "custom_energy");
  std::filesystem::create_directories(args.out);
  auto gen = joule::make_generator(0);

  auto train = joule::data::sample_toy("rings", 20000, gen);
  auto test = joule::data::sample_toy("rings", 2000, gen);
  auto data = std::make_shared<joule::data::TensorDataset>(train);

  // PCD: 10 000 chains in a buffer on [−4, 4]², 20 ULA steps per training step, 5% restarted.
  auto chains = std::make_shared<joule::PersistentChains>(
      std::make_shared<joule::Langevin>(joule::LangevinOptions::ula(0.01, 20)),
      std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(10000).init_low(-4).init_high(4),
                                            std::vector<int64_t>{2}));
  auto objective = std::make_shared<joule::ContrastiveDivergence>(
      joule::ContrastiveDivergenceOptions().l2_energy(0.1), chains);

  MyEnergy model;
  joule::train::Trainer trainer(model.ptr(), objective, data,
                                joule::train::TrainerOptions().steps(args.steps).batch_size(256).seed(1),
                                joule::train::OptimizerOptions().lr(1e-3));
  trainer.train();  // a loop of trainer.step(); a diverging update is refused, not applied
  trainer.save(args.out + "/checkpoint.pt");  // full state: model, optimizer, chains, data order

  // The exact normalised density on a 256² grid over the data's box: test NLL in nats.
  const auto box = joule::eval::Box::square(4.0);
  const double log_z = joule::eval::grid_log_partition(*model, box);
  std::cout << "after " << trainer.step_count() << " steps: test NLL "
            << joule::eval::negative_log_likelihood(*model, test, log_z) << " nats\n";
}
