// Linear ICA with a known truth, trained by LSD (a critic as a second parameter group); the exact
// test NLL of the model against the truth's (LSD paper §6.3; docs/methods/score_matching_lsd.md).
#include <joule/joule.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 2000, "ica");

  joule::methods::IcaMethod ica;
  ica.configure(joule::config::preset("ica_lsd"));
  ica.config().train.steps = args.steps;
  ica.config().data.n_train = 20000;
  ica.config().data.n_test = 5000;
  ica.build();
  const auto result = joule::methods::train_run(ica, args.out);
  result.report.print(std::cout);
  std::cout << "exact test NLL " << ica.test_nll() << " against the truth's " << ica.true_nll() << "\n";
}
