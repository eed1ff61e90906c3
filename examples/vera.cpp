// VERA: an energy trained without MCMC against a generator with an entropy estimate
// (Grathwohl et al., arXiv:2010.04230; docs/methods/vera.md). Three parameter groups — energy,
// generator, posterior scale — under one trainer.
#include <joule/joule.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 4000, "vera");

  joule::methods::VeraMethod vera;
  vera.configure(joule::config::preset("vera_8gaussians"));
  vera.config().data.dataset = "rings";
  vera.config().train.steps = args.steps;
  vera.config().eval.n_samples = 1000;
  vera.build();
  const auto result = joule::methods::train_run(vera, args.out);
  result.report.print(std::cout);

  // The generator's samples, raw and refined by 50 MALA steps on the trained energy.
  auto gen = joule::make_generator(11);
  const at::Tensor raw = vera.generate(500, 0, gen);
  const at::Tensor refined = vera.generate(500, 50, gen);
  joule::methods::save_samples(raw, args.out + "/example-generator");
  joule::methods::save_samples(refined, args.out + "/example-generator-mala");
  std::cout << "generator sample mean radius " << raw.norm(2, 1).mean().item<double>() << ", after MALA "
            << refined.norm(2, 1).mean().item<double>() << "\n";
}
