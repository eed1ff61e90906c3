// Gradients through discrete choices (docs/methods/relax.md). First the estimators on your own
// black-box f in your own loop: 24 Bernoulli switches, a cost that only counts mismatches with a
// hidden pattern (no derivative anywhere), RELAX with a learned surrogate and two optimizers. Then
// the paper's toy as a library method, written to a run folder.
#include <joule/joule.h>
#include <torch/torch.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 2000, "relax");
  namespace est = joule::estimators;
  const int64_t d = 24, batch = 16;
  auto gen = joule::make_generator(0);
  const auto target = at::bernoulli(at::full({d}, 0.5), gen);
  est::BatchFunction mismatches = [&](const at::Tensor& b) { return (b - target).abs().sum(1); };

  auto logits = torch::zeros({d}, torch::requires_grad());
  auto cv = est::ControlVariate(est::ControlVariateOptions(d).kind(est::SurrogateKind::kNeural).width(32));
  est::DiscreteGradientEstimator relax(est::DiscreteEstimatorOptions().kind(est::EstimatorKind::kRelax), cv);
  torch::optim::Adam model_opt({logits}, 0.05), cv_opt(cv->parameters(), 0.01);
  for (int64_t step = 0; step < args.steps; ++step) {
    const auto batch_logits = logits.unsqueeze(0).expand({batch, d});
    auto g = relax.estimate(batch_logits, mismatches, gen);
    auto cv_grads = torch::autograd::grad({g.variance_loss}, cv->parameters());  // φ, from this draw
    model_opt.zero_grad();
    batch_logits.backward(g.grad_logits.detach() / batch);  // θ: the mean over the batch
    model_opt.step();
    auto params = cv->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = cv_grads[i];
    cv_opt.step();
  }
  const auto p = torch::sigmoid(logits.detach());
  const double expected = (p * (1 - target) + (1 - p) * target).sum().item<double>();
  std::cout << "expected mismatches after " << args.steps << " steps: " << expected << " of " << d << "\n";

  joule::methods::RelaxToyMethod toy;  // the paper's toy, t = 0.45, toy.py's settings
  toy.config().train.steps = args.steps;
  toy.build();
  const auto result = joule::methods::train_run(toy, args.out);
  result.report.print(std::cout);
}
