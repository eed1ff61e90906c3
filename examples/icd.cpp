// Improved contrastive divergence on images (Du, Li, Tenenbaum, Mordatch, arXiv:2012.01316;
// docs/methods/improved_cd.md): the KL term through the last Langevin step, the nearest-neighbour
// entropy, augmented persistent chains and an EMA of the weights for sampling.
// Needs the Fashion-MNIST files (Debian's dataset-fashion-mnist).
#include <joule/joule.h>
#include <joule/methods/icd.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 2000, "icd");

  joule::methods::IcdMethod icd;
  icd.configure(joule::config::preset("icd_fashion"));
  auto& config = icd.config();
  config.train.steps = args.steps;
  config.data.n_train = 10000;
  config.data.n_test = 1000;
  config.eval.quality_n = 200;
  config.eval.ood_n = 200;
  icd.build();
  const auto result = joule::methods::train_run(icd, args.out);
  result.report.print(std::cout);

  // Chains from noise on the averaged energy, augmented every 10 steps as the paper samples.
  auto gen = joule::make_generator(3);
  const at::Tensor x0 = at::rand({16, 1, 28, 28}, gen) * 2 - 1;
  const at::Tensor x = icd.run_chains(x0, 60, 10, gen);
  joule::methods::save_samples(x, args.out + "/example-chains");
  std::cout << "mean energy of the chains: " << icd.sampling_energy().energy(x).mean().item<double>() << "\n";
}
