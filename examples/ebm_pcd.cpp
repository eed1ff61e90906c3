// Persistent contrastive divergence on a 2-D density, set up through the typed options
// (docs/methods/contrastive_divergence.md). The same run as
//   joule train data.dataset=2spirals train.steps=STEPS run.out=OUT
#include <joule/joule.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 4000, "ebm_pcd");

  joule::methods::EbmMethod ebm;  // the built-in default job: MLP energy, PCD with MALA chains
  auto& config = ebm.config();
  config.data.dataset = "2spirals";
  config.train.steps = args.steps;
  config.run.seed = 1;
  config.eval.n_samples = 1000;  // the evaluation's chains
  ebm.build();

  // Trains into a run folder (config.toml, metrics.jsonl, checkpoint.pt, eval.json, pictures);
  // the report is the method's evaluation protocol (exact grid log-likelihood, chain quality).
  const auto result = joule::methods::train_run(ebm, args.out);
  result.report.print(std::cout);

  // The trained energy is an ordinary module: energies and scores of any batch.
  auto& energy = ebm.trainer().modules().get<joule::EnergyModel>("model");
  const at::Tensor x = ebm.test_data().slice(0, 0, 4);
  const at::Tensor score = joule::eval::model_score(energy)(x);  // ∇ₓ log p̃(x)
  std::cout << "E(x) of four test points: " << energy.energy(x).detach() << "\nscore: " << score << "\n";

  // Samples as the [sample] options say, written as CSV, .pt and a PNG scatter.
  const at::Tensor samples = ebm.sample();
  joule::methods::save_samples(samples, args.out + "/example-samples");
  std::cout << "test NLL " << result.report.value("nll_test") << " nats against the data's entropy "
            << result.report.value("entropy") << "; " << samples.size(0) << " samples in " << args.out << "\n";
}
