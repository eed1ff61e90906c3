// FFJORD: a continuous normalizing flow on Joule's own ODE solvers, trained by exact maximum
// likelihood (Grathwohl et al., arXiv:1810.01367; docs/methods/ffjord.md, docs/methods/ode_solvers.md).
#include <joule/joule.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 2000, "ffjord");

  joule::methods::FfjordMethod ffjord;
  ffjord.configure(joule::config::preset("ffjord_toy"));
  ffjord.config().data.dataset = "pinwheel";
  ffjord.config().train.steps = args.steps;
  ffjord.config().train.eval_every = 0;
  ffjord.build();
  const auto result = joule::methods::train_run(ffjord, args.out);
  result.report.print(std::cout);

  // An exact density: log p(x) of any batch by solving the flow's ODE with its trace.
  torch::NoGradGuard no_grad;
  const at::Tensor x = ffjord.data().test.slice(0, 0, 5);
  std::cout << "log p(x) of five test points: " << ffjord.density().log_prob(x) << "\n";
  const auto [nll, nfe] = ffjord.test_nll();
  std::cout << "test NLL " << nll << " nats (" << nfe << " function evaluations per solve)\n";
}
