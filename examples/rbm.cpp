// A Bernoulli RBM on Fashion-MNIST trained by PCD, with its exact and AIS log-partition function
// (docs/methods/rbm.md). Needs the Fashion-MNIST files (Debian's dataset-fashion-mnist).
#include <joule/joule.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 5000, "rbm");

  joule::methods::RbmMethod rbm;
  rbm.configure(joule::config::preset("rbm_exact_fashion"));  // 20 hidden units: log Z by enumeration
  auto& config = rbm.config();
  config.rbm.epochs = 0;  // train.steps, not epochs, sets the length
  config.train.steps = args.steps;
  config.rbm.n_train = 5000;
  config.rbm.n_test = 1000;
  config.rbm.validation = 1000;
  config.eval.ais_runs = 32;
  rbm.build();
  const auto result = joule::methods::train_run(rbm, args.out);
  result.report.print(std::cout);  // pseudo-likelihood, exact and AIS log Z, test log-likelihood

  // The trained RBM itself: free energies of test images, and fresh Gibbs samples.
  torch::NoGradGuard no_grad;
  const at::Tensor v = rbm.test_data().slice(0, 0, 8);
  std::cout << "free energies of 8 test images: " << rbm.rbm().energy(v) << "\n";
  joule::methods::save_samples(rbm.sample(), args.out + "/example-samples");
}
