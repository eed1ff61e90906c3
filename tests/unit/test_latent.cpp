// Models that are not energies: the latent-variable interface and the ELBO objective, checked on
// the linear-Gaussian VAE whose likelihood is exact (probabilistic PCA), and exact-density models
// trained by maximum likelihood through the trainer.
#include <gtest/gtest.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/models/linear_gaussian_vae.h"
#include "joule/objectives/elbo.h"
#include "joule/train/trainer.h"
#include "support/test_support.h"

namespace {

using joule::LinearGaussianVae;
using joule::LinearGaussianVaeOptions;

// E_q[ELBO] in closed form for the linear-Gaussian model (the expectation of the reconstruction
// term over q(z|x) = N(Ax + c, diag s²) has a closed form).
at::Tensor analytic_elbo(joule::LinearGaussianVaeImpl& m, const at::Tensor& x) {
  const double d = double(m.options.dim());
  auto mu = at::addmm(m.enc_bias, x, m.enc_weight.t());
  auto s2 = m.enc_log_var.exp();
  auto resid = x - at::addmm(m.bias, mu, m.weight.t());
  auto trace = (m.weight.pow(2) * s2.unsqueeze(0)).sum();  // tr(W diag(s²) Wᵀ)
  auto sigma2 = m.log_var.exp();
  auto recon = -0.5 * d * (std::log(2 * M_PI) + m.log_var) - 0.5 * (resid.pow(2).sum(1) + trace) / sigma2;
  auto kl = 0.5 * (s2 + mu.pow(2) - 1.0 - m.enc_log_var).sum(1);
  return recon - kl;
}

TEST(LatentTest, ElboBoundsTheExactLikelihoodAndIsTightAtTheTruePosterior) {
  auto gen = joule::make_generator(3);
  LinearGaussianVae m(LinearGaussianVaeOptions(4, 2));
  m->to(at::kDouble);
  torch::NoGradGuard ng;
  // W with orthogonal columns, so the true posterior N(M⁻¹Wᵀ(x − b), σ²M⁻¹), M = WᵀW + σ²I, is diagonal.
  auto q = std::get<0>(at::linalg_qr(at::randn({4, 2}, gen, at::kDouble)));
  m->weight.copy_(q * at::tensor({1.5, 0.7}, at::kDouble));
  m->bias.copy_(at::randn({4}, gen, at::kDouble));
  m->log_var.fill_(std::log(0.3));
  auto x = at::randn({50, 4}, gen, at::kDouble);
  // An arbitrary encoder: the ELBO is below log p(x) for every sample.
  m->enc_weight.normal_(0.0, 0.5, gen);
  m->enc_log_var.fill_(-1.0);
  EXPECT_TRUE((analytic_elbo(*m, x) <= m->log_marginal(x) + 1e-10).all().item<bool>());
  // The exact posterior: equality.
  auto mm = at::matmul(m->weight.t(), m->weight) + m->log_var.exp() * at::eye(2, at::kDouble);
  auto minv = at::linalg_inv(mm);
  m->enc_weight.copy_(at::matmul(minv, m->weight.t()));
  m->enc_bias.copy_(-at::matmul(m->enc_weight, m->bias));
  m->enc_log_var.copy_((m->log_var.exp() * minv.diagonal()).log());
  EXPECT_TRUE(at::allclose(analytic_elbo(*m, x), m->log_marginal(x), 1e-9, 1e-9));
  // The Monte Carlo terms are unbiased for it.
  auto mc = at::zeros({50}, at::kDouble);
  for (int i = 0; i < 4000; ++i) mc += m->elbo_terms(x, gen).elbo();
  EXPECT_LT((mc / 4000 - m->log_marginal(x)).abs().max().item<double>(), 0.05);
}

TEST(LatentTest, ElboTrainingReachesTheProbabilisticPcaMaximumLikelihood) {
  joule::testing::OneThread one_thread;
  // Data from a 2-factor model in 5-D; the ELBO optimum of the linear VAE is PPCA's ML solution
  // (Lucas et al. 2019), whose log-likelihood has a closed form (Tipping & Bishop 1999, eq. 4, 7).
  auto gen = joule::make_generator(17);
  const int64_t n = 4000, d = 5, k = 2;
  auto w_true = at::randn({d, k}, gen, at::kDouble) * 1.5;
  auto x = (at::matmul(at::randn({n, k}, gen, at::kDouble), w_true.t()) + 0.4 * at::randn({n, d}, gen, at::kDouble) +
            at::tensor({1.0, -1.0, 0.5, 0.0, 2.0}, at::kDouble))
               .to(at::kFloat);
  auto xd = x.to(at::kDouble);
  auto xc = xd - xd.mean(0);
  auto s = at::matmul(xc.t(), xc) / double(n);
  auto evals = std::get<0>(at::linalg_eigh(s)).flip(0);  // descending
  const double sigma2 = evals.slice(0, k).mean().item<double>();
  const double ml = -0.5 * (double(d) * std::log(2 * M_PI) + evals.slice(0, 0, k).log().sum().item<double>() +
                            double(d - k) * std::log(sigma2) + double(d));

  LinearGaussianVae m(LinearGaussianVaeOptions(d, k));
  m->reset_parameters(joule::make_generator(2));
  auto data = std::make_shared<joule::data::TensorDataset>(x);
  joule::train::Trainer trainer(m.ptr(), std::make_shared<joule::Elbo>(), data,
                                joule::train::TrainerOptions().steps(6000).batch_size(200).seed(1),
                                joule::train::OptimizerOptions().lr(1e-2).beta1(0.9).lr_schedule(joule::train::LrSchedule::kCosine));
  trainer.train();
  torch::NoGradGuard ng;
  const double ll = m->log_marginal(x).mean().item<double>();
  // 0.01 nats per sample: the optimiser's residual at the end of a decayed schedule, far below
  // the likelihood's scale (6.6 nats per sample).
  EXPECT_NEAR(ll, ml, 0.01) << "ML " << ml;
  EXPECT_NEAR(analytic_elbo(*m, x).mean().item<double>(), ll, 0.01);
}

}  // namespace
