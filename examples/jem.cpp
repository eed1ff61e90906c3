// JEM: a classifier trained as an energy model (docs/methods/jem.md). Accuracy, calibration and
// out-of-distribution scores from the method's protocol; class-conditional samples.
// Needs the Fashion-MNIST files (Debian's dataset-fashion-mnist).
#include <joule/joule.h>

#include <joule/methods/compose.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 2000, "jem");

  joule::methods::JemMethod jem;
  jem.configure(joule::config::preset("jem_fashion_cnn"));
  auto& config = jem.config();
  config.train.steps = args.steps;
  config.train.optimizer.warmup_steps = std::min<int64_t>(config.train.optimizer.warmup_steps, args.steps / 2);
  config.data.n_train = 10000;
  config.data.n_test = 2000;
  jem.build();
  const auto result = joule::methods::train_run(jem, args.out);
  result.report.print(std::cout);

  // The classifier: logits, and log p̃(x) = logsumexp of the logits.
  {
    auto* classifier = jem.classifier();
    classifier->eval();
    torch::NoGradGuard no_grad;  // only here: the samplers below need gradients in x
    const at::Tensor x = jem.data().test.x.slice(0, 0, 8);
    const at::Tensor logits = classifier->logits(x);
    std::cout << "predicted: " << logits.argmax(1) << "\ntrue:      " << jem.data().test.y.slice(0, 0, 8) << "\n";
  }

  // Composition (docs/methods/improved_cd.md, "Composition"): E(x, sneaker) OR E(x, sandal) of this run, sampled by
  // Langevin chains and scored by the same classifier.
  joule::methods::ComposeConfig compose;
  compose.op = "or";
  compose.parts = {{args.out, 7}, {args.out, 5}};
  compose.score.run = args.out;
  compose.score.classes = {5, 7};
  compose.sample.n = 16;
  compose.sample.steps = 20;
  compose.sample.out = args.out + "/example-sneaker-or-sandal";
  auto composition = joule::methods::build_composition(compose);
  const auto composed = joule::methods::sample_composition(composition, compose);
  composed.report.print(std::cout);
}
