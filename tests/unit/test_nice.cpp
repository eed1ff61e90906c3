// NICE (arXiv:1410.8516): the log-determinant against brute-force Jacobians, the inverse, the
// normalisation of log p on a grid, and maximum likelihood recovering a Gaussian.
#include <gtest/gtest.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/data/dataset.h"
#include "joule/models/nice.h"
#include "joule/objectives/maximum_likelihood.h"
#include "joule/train/trainer.h"

namespace {

// A NICE in double precision whose couplings and scaling are not the identity.
joule::Nice random_nice(int64_t d, const std::string& base, uint64_t seed) {
  auto gen = joule::make_generator(seed);
  joule::Nice flow(joule::NiceOptions(d).hidden(8).depth(2).couplings(4).base(base));
  flow->reset_parameters(gen);
  flow->to(at::kDouble);
  torch::NoGradGuard ng;
  for (auto& p : flow->parameters()) p.add_(at::randn(p.sizes(), gen, at::kDouble) * 0.5);
  return flow;
}

TEST(NiceTest, LogDetIsTheBruteForceJacobianAndInverseUndoesTheFlow) {
  for (int64_t d : {2, 5}) {
    auto flow = random_nice(d, "gaussian", 1 + d);
    auto gen = joule::make_generator(9);
    auto x = at::randn({6, d}, gen, at::kDouble).requires_grad_();
    auto [z, logdet] = flow->forward(x);
    // J[b, j, :] = ∂z_j/∂x for each sample (samples are independent, so one grad per output).
    std::vector<at::Tensor> rows;
    for (int64_t j = 0; j < d; ++j) {
      rows.push_back(torch::autograd::grad({z.select(1, j).sum()}, {x}, {}, /*retain_graph=*/true)[0]);
    }
    auto jac = at::stack(rows, 1);
    auto brute = std::get<1>(at::linalg_slogdet(jac));
    EXPECT_LT((brute - logdet).abs().max().item<double>(), 1e-10) << "d = " << d;
    EXPECT_LT((flow->inverse(z) - x).abs().max().item<double>(), 1e-10) << "d = " << d;
  }
}

TEST(NiceTest, LogProbIsNormalisedForBothBases) {
  for (const char* base : {"gaussian", "logistic"}) {
    auto flow = random_nice(2, base, 3);
    // Riemann sum of exp(log p) on [-L, L]² (logistic tails are heavier: a wider box).
    const double l = std::string(base) == "gaussian" ? 12.0 : 40.0;
    const int64_t n = 1200;
    auto t = at::linspace(-l, l, n, at::kDouble);
    auto grid = at::stack({t.repeat_interleave(n), t.repeat({n})}, 1);
    torch::NoGradGuard ng;
    const double cell = std::pow(2 * l / (n - 1), 2);
    const double mass = (flow->log_prob(grid).exp().sum() * cell).item<double>();
    EXPECT_NEAR(mass, 1.0, 2e-3) << base;
    // Samples come from the same density: their mean log p matches a grid estimate of −H.
    auto gen = joule::make_generator(4);
    const double mc = flow->log_prob(flow->sample(200000, gen)).mean().item<double>();
    auto lp = flow->log_prob(grid);
    const double exact = ((lp.exp() * lp).sum() * cell).item<double>();
    EXPECT_NEAR(mc, exact, 0.02) << base;
  }
}

TEST(NiceTest, MaximumLikelihoodRecoversAGaussian) {
  torch::manual_seed(0);
  auto gen = joule::make_generator(5);
  const int64_t d = 3;
  auto a = at::tensor({1.0, 0.0, 0.0, 0.5, 0.8, 0.0, -0.3, 0.4, 0.6}, at::kFloat).reshape({d, d});
  auto mu = at::tensor({1.0, -2.0, 0.5}, at::kFloat);
  auto cov = at::matmul(a, a.t());
  auto data = at::randn({20000, d}, gen).matmul(a.t()) + mu;
  joule::Nice flow(joule::NiceOptions(d).hidden(32).depth(2).couplings(4));
  flow->reset_parameters(gen);
  joule::train::Trainer trainer(flow.ptr(), std::make_shared<joule::MaximumLikelihood>(),
                                std::make_shared<joule::data::TensorDataset>(data),
                                joule::train::TrainerOptions().steps(3000).batch_size(200).seed(1),
                                joule::train::OptimizerOptions().lr(3e-3));
  trainer.train();
  torch::NoGradGuard ng;
  auto s = flow->sample(50000, gen);
  auto s_mean = s.mean(0);
  auto centred = s - s_mean;
  auto s_cov = at::matmul(centred.t(), centred) / (s.size(0) - 1);
  EXPECT_LT((s_mean - mu).abs().max().item<double>(), 0.05) << s_mean;
  EXPECT_LT((s_cov - cov).abs().max().item<double>(), 0.08) << s_cov;
  // The exact test log-likelihood reaches the true model's (the Gaussian's −entropy).
  auto test = at::randn({5000, d}, gen).matmul(a.t()) + mu;
  const double true_ll = -0.5 * d * (1 + std::log(2 * M_PI)) - 0.5 * std::log(at::det(cov).item<double>());
  EXPECT_NEAR(flow->log_prob(test).mean().item<double>(), true_ll, 0.05);
}

TEST(NiceTest, RejectsBadOptions) {
  EXPECT_THROW(joule::Nice(joule::NiceOptions(1)), c10::Error);
  EXPECT_THROW(joule::Nice(joule::NiceOptions(4).base("cauchy")), c10::Error);
  joule::Nice flow(joule::NiceOptions(4).hidden(4).depth(1));
  EXPECT_THROW(flow->log_prob(at::zeros({2, 3})), c10::Error);
}

}  // namespace
