// Pseudo-log-likelihood and reconstruction error (include/joule/eval/pseudo_likelihood.h):
// sklearn's one-flip definition reproduced term by term, the full PLL against brute-force
// conditionals, and the one-flip estimate averaging to the full one.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/eval/pseudo_likelihood.h"
#include "support/rbm_testing.h"

namespace {

using joule::Rbm;
using joule::RbmOptions;
namespace je = joule::eval;
namespace jt = joule::testing;

Rbm random_rbm(int64_t v, int64_t h, uint64_t seed) {
  auto gen = joule::make_generator(seed);
  Rbm rbm(RbmOptions(v, h));
  rbm->to(torch::kFloat64);
  torch::NoGradGuard ng;
  rbm->weight.normal_(0, 1.0, gen);
  rbm->visible_bias.normal_(0, 0.5, gen);
  rbm->hidden_bias.normal_(0, 0.5, gen);
  return rbm;
}

TEST(PseudoLikelihoodTest, MatchesSklearnScoreSamplesDefinition) {
  // sklearn: ind = rng.randint(0, V, N); v_[ind] = 1 − v[ind];
  //          score = V · log_logistic(F(v_) − F(v)).
  auto rbm = random_rbm(9, 4, 1);
  auto gen = joule::make_generator(2);
  auto v = torch::bernoulli(torch::full({50, 9}, 0.5, torch::kFloat64), gen);
  auto g1 = joule::make_generator(3), g2 = joule::make_generator(3);
  auto pl = je::pseudo_log_likelihood(*rbm, v, g1);
  auto idx = torch::randint(9, {50}, g2, torch::kLong);  // the same draws
  for (int64_t n = 0; n < 50; ++n) {
    auto flipped = v[n].clone();
    const int64_t i = idx[n].item<int64_t>();
    flipped[i] = 1.0 - flipped[i].item<double>();
    const double diff = rbm->energy(flipped.unsqueeze(0)).item<double>() - rbm->energy(v[n].unsqueeze(0)).item<double>();
    const double expected = 9.0 * -std::log1p(std::exp(-diff));
    EXPECT_NEAR(pl[n].item<double>(), expected, 1e-10);
  }
}

TEST(PseudoLikelihoodTest, FullPseudoLikelihoodEqualsSumOfExactConditionals) {
  auto rbm = random_rbm(5, 3, 4);
  auto vs = jt::all_binary_states(5);
  auto logp = torch::log_softmax(-rbm->energy(vs), 0);  // exact log p(v) over all states
  auto full = je::pseudo_log_likelihood_exact(*rbm, vs);
  for (int64_t r = 0; r < vs.size(0); ++r) {
    double expected = 0;
    for (int64_t i = 0; i < 5; ++i) {
      const int64_t other = r ^ (int64_t(1) << i);  // the state with unit i flipped
      expected += logp[r].item<double>() - torch::logaddexp(logp[r], logp[other]).item<double>();
    }
    EXPECT_NEAR(full[r].item<double>(), expected, 1e-10);
  }
}

TEST(PseudoLikelihoodTest, OneFlipEstimateAveragesToFullPseudoLikelihood) {
  auto rbm = random_rbm(12, 6, 5);
  auto gen = joule::make_generator(6);
  auto v = torch::bernoulli(torch::full({1, 12}, 0.5, torch::kFloat64), gen).expand({40000, 12});
  const double full = je::pseudo_log_likelihood_exact(*rbm, v.slice(0, 0, 1)).item<double>();
  auto est = je::pseudo_log_likelihood(*rbm, v, gen);
  // Unbiased: the mean of 40000 one-flip estimates lies within 4 standard errors.
  const double se = est.std().item<double>() / std::sqrt(40000.0);
  EXPECT_NEAR(est.mean().item<double>(), full, 4 * se);
}

TEST(PseudoLikelihoodTest, ReconstructionErrorOfAnUncoupledRbmIsClosedForm) {
  // W = 0: E[v | h] = sigmoid(b) whatever h is, so the error is mean((v − sigmoid(b))²).
  Rbm rbm(RbmOptions(4, 3).init_std(0.0));
  {
    torch::NoGradGuard ng;
    rbm->visible_bias.copy_(torch::tensor({0.0, 1.0, -2.0, 0.5}));
  }
  auto v = torch::tensor({{1.0, 0.0, 1.0, 0.0}, {0.0, 1.0, 1.0, 1.0}});
  const double expected = (v - torch::sigmoid(rbm->visible_bias.detach())).pow(2).mean().item<double>();
  EXPECT_NEAR(je::reconstruction_error(*rbm, v), expected, 1e-6);
}

TEST(PseudoLikelihoodTest, RejectsGaussianRbmsAndNonBinaryData) {
  auto gen = joule::make_generator(7);
  Rbm gauss(RbmOptions(3, 2).visible_type(joule::RbmVisible::kGaussian));
  EXPECT_THROW(je::pseudo_log_likelihood(*gauss, torch::zeros({2, 3}), gen), c10::Error);
  Rbm bern(RbmOptions(3, 2));
  try {
    je::pseudo_log_likelihood(*bern, torch::full({2, 3}, 0.5), gen);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("binary"), std::string::npos) << e.what();
  }
}

}  // namespace
