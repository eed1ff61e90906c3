// ICA model: the normaliser −log|det B| is right (grid quadrature in 2-D), the analytic score
// equals autograd, samples follow the model, and maximum likelihood recovers the truth.
#include <gtest/gtest.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/data/dataset.h"
#include "joule/eval/grid.h"
#include "joule/models/ica.h"
#include "joule/objectives/maximum_likelihood.h"
#include "joule/train/trainer.h"

namespace {

TEST(IcaTest, LogPartitionMatchesQuadrature) {
  auto gen = joule::make_generator(51);
  auto ica = joule::Ica(2);  // float32: the grid evaluator feeds float points
  ica->reset_parameters(gen);
  // Logistic tails decay like e^{−|s|}: a box of half-width 40/σ_min(B) holds all but ~e^{−40}.
  const double smin = at::linalg_svdvals(ica->unmixing.detach()).min().item<double>();
  const double log_z = joule::eval::grid_log_partition(*ica, joule::eval::Box::square(40.0 / smin), 2048);
  EXPECT_NEAR(log_z, ica->log_partition().item<double>(), 2e-3);
}

TEST(IcaTest, AnalyticScoreMatchesAutograd) {
  auto gen = joule::make_generator(52);
  auto ica = joule::Ica(4);
  ica->reset_parameters(gen);
  ica->to(at::kDouble);
  auto x = at::randn({20, 4}, gen, at::kDouble) * 3;
  auto fast = ica->energy_and_grad(x);
  auto ref = joule::energy_and_grad_autograd(*ica, x);
  EXPECT_TRUE(at::allclose(fast.grad, ref.grad, 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(fast.energy, ref.energy, 1e-12, 1e-12));
}

TEST(IcaTest, SamplesHaveLogisticSources) {
  auto gen = joule::make_generator(53);
  auto ica = joule::Ica(3);
  ica->reset_parameters(gen);
  ica->to(at::kDouble);
  auto x = ica->sample(100000, gen);
  auto s = at::matmul(x, ica->unmixing.detach());
  // Standard logistic: mean 0, variance π²/3 ≈ 3.29 (sd of the sample variance ≈ 0.02 here).
  EXPECT_LT(s.mean(0).abs().max().item<double>(), 0.03);
  EXPECT_LT((s.var(0) - M_PI * M_PI / 3).abs().max().item<double>(), 0.1);
  // Independent sources: off-diagonal correlations ~ N(0, 1/n).
  auto c = at::corrcoef(s.t());
  EXPECT_LT((c - at::eye(3, at::kDouble)).abs().max().item<double>(), 0.015);
}

TEST(IcaTest, MaximumLikelihoodApproachesTrueNll) {
  auto gen = joule::make_generator(54);
  auto truth = joule::Ica(2);
  truth->reset_parameters(gen);
  auto train_x = truth->sample(20000, gen);
  auto test_x = truth->sample(20000, gen);
  const double true_nll = -truth->log_prob(test_x).mean().item<double>();
  auto model = std::make_shared<joule::IcaImpl>(2);
  model->reset_parameters(gen);
  auto mle = std::make_shared<joule::MaximumLikelihood>();
  auto data = std::make_shared<joule::data::TensorDataset>(train_x);
  joule::train::Trainer trainer(model, mle, data, joule::train::TrainerOptions().steps(1500).batch_size(500).seed(2),
                                joule::train::OptimizerOptions().lr(1e-2).beta1(0.5));
  trainer.train();
  const double nll = -model->log_prob(test_x).mean().item<double>();
  // The MLE from 20000 points is within O(D²/n) nats of the truth; 0.01 nats is generous.
  EXPECT_NEAR(nll, true_nll, 0.01) << "true NLL " << true_nll;
}

}  // namespace
