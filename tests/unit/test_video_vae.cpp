// The video VAE's sequence priors against closed forms and brute force (the slow-feature prior of
// arXiv:1612.04440: Σ = 11ᵀ + ε·diag(0, 1, …, 1)), and the model's shapes, swaps, bounds and errors.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <string>

#include "joule/core/runtime.h"
#include "joule/models/video_vae.h"

namespace {

using joule::SequencePrior;
using joule::SequencePriorKind;
using joule::VideoVae;
using joule::VideoVaeOptions;

std::vector<SequencePrior> all_priors() {
  return {SequencePrior{SequencePriorKind::kIndependent, 0.01, 0.9}, SequencePrior{SequencePriorKind::kSlow, 0.01, 0.9},
          SequencePrior{SequencePriorKind::kSlow, 0.3, 0.9}, SequencePrior{SequencePriorKind::kMarkov, 0.01, 0.9},
          SequencePrior{SequencePriorKind::kMarkov, 0.01, -0.5}};
}

TEST(SequencePrior, SlowLogDeterminantIsSevenLogEpsilonAtEightFrames) {
  const SequencePrior slow{SequencePriorKind::kSlow, 0.01, 0.9};
  EXPECT_NEAR(slow.log_det(8), 7 * std::log(0.01), 1e-12);
  EXPECT_NEAR(slow.log_det(8), -32.2362, 1e-4);
  // The dense covariance's own determinant agrees (z_1 has variance 1, seven increments 0.01).
  const auto cov = slow.covariance(8);
  EXPECT_NEAR(std::get<1>(at::linalg_slogdet(cov)).item<double>(), -32.2362, 1e-4);
  EXPECT_TRUE(at::allclose(cov, at::ones({8, 8}, at::kDouble) + 0.01 * at::diag(at::cat({at::zeros({1}), at::ones({7})}).to(at::kDouble))));
}

TEST(SequencePrior, LogDeterminantMatchesDenseForEveryKind) {
  for (const auto& p : all_priors()) {
    for (int64_t t : {1, 2, 5, 12}) {
      EXPECT_NEAR(p.log_det(t), std::get<1>(at::linalg_slogdet(p.covariance(t))).item<double>(), 1e-9)
          << joule::to_string(p.kind) << " T=" << t;
    }
  }
}

TEST(SequencePrior, PrecisionOfTheSlowPriorInClosedForm) {
  // Λ = Σ⁻¹: Λ_11 = 1 + (T − 1)/ε, Λ_1t = −1/ε, Λ_tt = 1/ε (t > 1), 0 elsewhere.
  const double eps = 0.01;
  const int64_t t = 8;
  const auto inv = at::inverse(SequencePrior{SequencePriorKind::kSlow, eps, 0}.covariance(t));
  auto expected = at::zeros({t, t}, at::kDouble);
  expected[0][0] = 1 + (t - 1) / eps;
  for (int64_t i = 1; i < t; ++i) {
    expected[0][i] = expected[i][0] = -1 / eps;
    expected[i][i] = 1 / eps;
  }
  EXPECT_TRUE(at::allclose(inv, expected, 1e-8, 1e-6)) << inv;
}

TEST(SequencePrior, ClosedFormKlMatchesBruteForceGaussianKl) {
  auto gen = joule::make_generator(3);
  for (const auto& p : all_priors()) {
    for (int64_t t : {1, 2, 3, 8}) {
      const int64_t b = 5, k = 3;
      const auto mu = at::randn({b, t, k}, gen, at::kDouble);
      const auto logvar = 0.5 * at::randn({b, t, k}, gen, at::kDouble) - 2.0;
      const auto closed = p.kl(mu, logvar);
      auto dense = at::zeros({b}, at::kDouble);
      const auto cov = p.covariance(t);
      for (int64_t c = 0; c < k; ++c) dense += joule::gaussian_kl_dense(mu.select(2, c), logvar.select(2, c), cov);
      EXPECT_TRUE(at::allclose(closed, dense, 1e-9, 1e-7))
          << joule::to_string(p.kind) << " T=" << t << "\n" << closed << "\n" << dense;
    }
  }
}

TEST(SequencePrior, LogDensityMatchesTheDenseGaussian) {
  auto gen = joule::make_generator(6);
  for (const auto& p : all_priors()) {
    for (int64_t t : {1, 2, 7}) {
      const auto z = at::randn({4, t, 3}, gen, at::kDouble);
      const auto cov = p.covariance(t);
      const auto prec = at::inverse(cov);
      const auto zc = z.transpose(1, 2);  // [B, K, T]
      const auto quad = (at::matmul(zc, prec) * zc).sum({1, 2});
      const auto dense = -0.5 * quad - 1.5 * (t * std::log(2 * M_PI) + std::get<1>(at::linalg_slogdet(cov)).item<double>());
      EXPECT_TRUE(at::allclose(p.log_prob(z), dense, 1e-9, 1e-8)) << joule::to_string(p.kind) << " T=" << t;
    }
  }
}

TEST(SequencePrior, KlGradientsMatchTheDenseFormula) {
  auto gen = joule::make_generator(4);
  const SequencePrior slow{SequencePriorKind::kSlow, 0.05, 0};
  auto mu = at::randn({2, 6, 2}, gen, at::kDouble).requires_grad_();
  auto logvar = (0.3 * at::randn({2, 6, 2}, gen, at::kDouble) - 1).requires_grad_();
  const auto g1 = torch::autograd::grad({slow.kl(mu, logvar).sum()}, {mu, logvar});
  const auto cov = slow.covariance(6);
  const auto dense = joule::gaussian_kl_dense(mu.select(2, 0), logvar.select(2, 0), cov).sum() +
                     joule::gaussian_kl_dense(mu.select(2, 1), logvar.select(2, 1), cov).sum();
  const auto g2 = torch::autograd::grad({dense}, {mu, logvar});
  EXPECT_TRUE(at::allclose(g1[0], g2[0], 1e-8, 1e-6));
  EXPECT_TRUE(at::allclose(g1[1], g2[1], 1e-8, 1e-6));
}

TEST(SequencePrior, StaticSequenceCostsLessThanAVaryingOne) {
  // Same values, same posterior widths: constant over time vs the same values shuffled in time.
  const SequencePrior slow{SequencePriorKind::kSlow, 0.01, 0};
  const auto logvar = at::full({1, 8, 1}, std::log(0.005), at::kDouble);
  const auto still = at::full({1, 8, 1}, 0.7, at::kDouble);
  const auto moving = at::linspace(-1.0, 1.0, 8, at::kDouble).reshape({1, 8, 1});
  const double kl_still = slow.kl(still, logvar).item<double>();
  const double kl_moving = slow.kl(moving, logvar).item<double>();
  EXPECT_LT(kl_still, kl_moving);
  EXPECT_GT(kl_moving - kl_still, 100.0);  // (Σ (μ_t − μ_1)²)/2ε is large for ε = 0.01
  // The independent prior does not care about order: a shuffled version costs the same.
  const SequencePrior iid{SequencePriorKind::kIndependent, 0, 0};
  const auto shuffled = moving.index_select(1, at::tensor({3, 7, 0, 5, 1, 6, 2, 4}, at::kLong));
  EXPECT_NEAR(iid.kl(moving, logvar).item<double>(), iid.kl(shuffled, logvar).item<double>(), 1e-12);
  EXPECT_GT(slow.kl(shuffled, logvar).item<double>(), kl_still);
}

TEST(SequencePrior, SamplesHaveTheCovariance) {
  auto gen = joule::make_generator(5);
  for (const auto& p : all_priors()) {
    const auto z = p.sample(200000, 5, 1, gen, at::kDouble).squeeze(2);  // [n, T]
    const auto emp = at::matmul(z.t(), z) / static_cast<double>(z.size(0));
    // Each entry's Monte Carlo standard error is ≤ √(2/n) ≈ 0.0032 for unit variances.
    EXPECT_LT((emp - p.covariance(5)).abs().max().item<double>(), 0.02) << joule::to_string(p.kind);
  }
}

TEST(SequencePrior, RejectsBadParameters) {
  try {
    SequencePrior{SequencePriorKind::kSlow, 0.0, 0}.log_det(3);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("eps"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SequencePrior({SequencePriorKind::kMarkov, 0.01, 1.0}).covariance(3), c10::Error);
  EXPECT_THROW(joule::parse_sequence_prior("slowest"), c10::Error);
}

VideoVae small_model(bool factored, const std::string& likelihood = "bernoulli") {
  auto opts = VideoVaeOptions(3, 16, 12, 4).identity_dim(3).pose_dim(2).filters(4).hidden(16).likelihood(likelihood);
  if (!factored) opts.identity_prior(SequencePrior{});
  VideoVae m(opts);
  m->reset_parameters(joule::make_generator(7));
  return m;
}

TEST(VideoVae, ShapesOfEncodeDecodeSampleAndSwap) {
  auto m = small_model(true);
  auto gen = joule::make_generator(1);
  const auto x = at::rand({2, 4, 3, 16, 12}, gen);
  const auto [mu, logvar] = m->encode(x);
  EXPECT_EQ(mu.sizes(), (at::IntArrayRef{2, 4, 5}));
  EXPECT_EQ(logvar.sizes(), mu.sizes());
  EXPECT_EQ(m->decode(mu).sizes(), x.sizes());
  const auto s = m->sample(3, gen);
  EXPECT_EQ(s.sizes(), (at::IntArrayRef{3, 4, 3, 16, 12}));
  EXPECT_GE(s.min().item<double>(), 0.0);
  EXPECT_LE(s.max().item<double>(), 1.0);
  const auto a = at::randn({2, 4, 5}, gen), b = at::randn({2, 4, 5}, gen);
  const auto z = m->swap(a, b);
  EXPECT_TRUE(at::equal(m->identity_part(z), m->identity_part(a)));
  EXPECT_TRUE(at::equal(m->pose_part(z), m->pose_part(b)));
}

TEST(VideoVae, ElboTermsUseTheExactKlOfEachChannelGroup) {
  auto m = small_model(true);
  auto gen = joule::make_generator(2);
  const auto x = at::rand({3, 4, 3, 16, 12}, gen);
  const auto [mu, logvar] = m->encode(x);
  const SequencePrior slow{SequencePriorKind::kSlow, 0.01, 0}, iid{};
  const auto expected = slow.kl(mu.narrow(2, 0, 3), logvar.narrow(2, 0, 3)) + iid.kl(mu.narrow(2, 3, 2), logvar.narrow(2, 3, 2));
  auto g = joule::make_generator(9);
  const auto terms = m->elbo_terms(x, g);
  EXPECT_TRUE(at::allclose(terms.kl, expected, 1e-5, 1e-5));
  // The plain model with the same weights: every channel independent.
  auto plain = small_model(false);
  const auto expected_plain = iid.kl(mu, logvar);
  auto g2 = joule::make_generator(9);
  EXPECT_TRUE(at::allclose(plain->elbo_terms(x, g2).kl, expected_plain, 1e-5, 1e-5));
  // Gradients reach every parameter.
  const auto loss = -terms.elbo().mean();
  loss.backward();
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(at::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
}

TEST(VideoVae, BernoulliLikelihoodIsTheCrossEntropy) {
  auto m = small_model(true);
  auto gen = joule::make_generator(3);
  const auto x = at::rand({2, 4, 3, 16, 12}, gen);
  const auto z = at::randn({2, 4, 5}, gen);
  const auto p = at::sigmoid(m->decode(z)).clamp(1e-12, 1 - 1e-12);
  const auto expected = (x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1);
  EXPECT_TRUE(at::allclose(m->log_likelihood(x, z), expected, 1e-3, 1e-3));
  auto g = small_model(true, "gaussian");
  const auto mean = g->decode(z);
  const double s = 0.1;
  const auto expected_g = (-0.5 * std::log(2 * M_PI) - std::log(s) - 0.5 * (x - mean).pow(2) / (s * s)).flatten(1).sum(1);
  EXPECT_TRUE(at::allclose(g->log_likelihood(x, z), expected_g, 1e-3, 1e-3));
}

TEST(VideoVae, MonteCarloKlOfTheImportanceWeightsMatchesTheClosedForm) {
  // iwae_bound's prior density (SequencePrior::log_prob) and the closed-form KL must describe the same prior:
  // with a decoder that ignores z (zero weights), log w = log p(x|·) + log p(z) − log q(z), so
  // mean over draws of (log p(z) − log q(z)) = −KL.
  torch::manual_seed(0);
  auto m = small_model(true);
  {
    at::NoGradGuard ng;
    m->dec_fc->weight.zero_();
  }
  auto gen = joule::make_generator(4);
  const auto x = at::rand({1, 4, 3, 16, 12}, gen);
  at::NoGradGuard ng;
  const auto [mu, logvar] = m->encode(x);
  const double kl = m->kl(mu, logvar).item<double>();
  const auto z0 = at::zeros_like(mu);
  const double log_lik = m->log_likelihood(x, z0).item<double>();
  double sum = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) sum += m->iwae_bound(x, 1, gen).item<double>() - log_lik;
  EXPECT_NEAR(sum / n, -kl, 0.05 * std::max(1.0, kl)) << "kl=" << kl;
  // More importance samples can only raise the bound on average.
  auto g1 = joule::make_generator(5), g2 = joule::make_generator(5);
  m->dec_fc->weight.uniform_(-0.5, 0.5, gen);
  const auto xs = at::rand({8, 4, 3, 16, 12}, gen);
  EXPECT_GT(m->iwae_bound(xs, 64, g2).mean().item<double>(), m->iwae_bound(xs, 1, g1).mean().item<double>());
}

TEST(VideoVae, RejectsBadShapesAndOptions) {
  try {
    VideoVae bad(VideoVaeOptions(1, 18, 16, 4));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(VideoVae(VideoVaeOptions(1, 16, 16, 4).identity_dim(0).pose_dim(0)), c10::Error);
  EXPECT_THROW(VideoVae(VideoVaeOptions(1, 16, 16, 4).likelihood("poisson")), c10::Error);
  auto m = small_model(true);
  try {
    m->encode(at::rand({2, 4, 1, 16, 12}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[B, T, 3, 16, 12]"), std::string::npos) << e.what();
  }
}

}  // namespace
