// Goodness-of-fit tests of a model's score against a sample (docs/methods/goodness_of_fit.md):
// the KSD test (fixed kernel, bootstrap) and the LSD test (a learned critic, held-out z-test), on
// the LSD paper's Gaussian-Bernoulli RBM benchmark: p is an RBM, q the same RBM with its weights
// perturbed by sigma. The results also go to <run folder>/results.csv.
#include <joule/joule.h>

#include <filesystem>
#include <fstream>

#include "example_args.h"

int main(int argc, char** argv) {
  // "steps" here are the LSD critic's training iterations (the paper: 1000).
  const auto args = example_args(argc, argv, 1000, "goodness_of_fit");
  auto gen = joule::make_generator(2);
  std::filesystem::create_directories(args.out);
  std::ofstream csv(args.out + "/results.csv");
  csv << "sigma,test,statistic,p_value,reject\n";

  for (const double sigma : {0.0, 0.04}) {
    auto bench = joule::eval::make_rbm_benchmark(joule::eval::RbmBenchmarkOptions().sigma(sigma), gen);
    const at::Tensor x = joule::eval::sample_rbm_benchmark(bench, 1000, 2000, gen);  // 1000 samples of p
    const auto q_score = joule::eval::model_score(*bench.q);              // the model under test

    const auto ksd = joule::eval::ksd_test(q_score, x, joule::eval::KsdTestOptions(), gen);
    const auto lsd = joule::eval::lsd_test(q_score, x, joule::eval::LsdTestOptions().iterations(args.steps), gen);
    std::cout << "sigma " << sigma << ": KSD n*KSD^2 = " << ksd.statistic << ", p = " << ksd.p_value
              << (ksd.reject ? " (reject)" : " (accept)") << "; LSD z = " << lsd.statistic << ", p = " << lsd.p_value
              << (lsd.reject ? " (reject)" : " (accept)") << "\n";
    for (const auto* r : {&ksd, &lsd})
      csv << sigma << "," << r->test << "," << r->statistic << "," << r->p_value << "," << r->reject << "\n";
  }
}
