// Block Gibbs sampling of RBMs (include/joule/samplers/gibbs.h): chains converge to the exact
// distribution of tiny RBMs (chi-square over all visible states; exact moments for Gaussian
// visibles), and non-RBM models are rejected.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/models/analytic.h"
#include "joule/samplers/gibbs.h"
#include "support/rbm_testing.h"

namespace {

using joule::Rbm;
using joule::RbmOptions;
using joule::RbmVisible;
namespace jt = joule::testing;

TEST(BlockGibbsTest, ChainsConvergeToExactDistributionChiSquare) {
  auto gen = joule::make_generator(1);
  Rbm rbm(RbmOptions(5, 3));
  rbm->to(torch::kFloat64);
  {
    torch::NoGradGuard ng;
    rbm->weight.normal_(0, 1.5, gen);  // strong couplings: a multimodal p(v)
    rbm->visible_bias.normal_(0, 0.5, gen);
    rbm->hidden_bias.normal_(0, 0.5, gen);
  }
  auto p = jt::exact_visible_distribution(*rbm);
  // 20000 independent chains from all-zeros, 200 sweeps (the chain's mixing time here is a
  // few sweeps): the final states are i.i.d. draws, so Pearson's statistic is χ²(df).
  joule::BlockGibbs gibbs(joule::BlockGibbsOptions(200));
  auto v = gibbs.sample(*rbm, torch::zeros({20000, 5}, torch::kFloat64), gen);
  auto chi = jt::chi_square(jt::state_index(v), p);
  // Critical value at p = 0.001: a correct sampler fails this 1 time in 1000 (fixed seed).
  EXPECT_LT(chi.first, jt::chi_square_critical_999(chi.second)) << "df " << chi.second;

  // Control: a chain that has not mixed (1 sweep from zeros) is rejected by the same test.
  auto v1 = gibbs.with_steps(1)->sample(*rbm, torch::zeros({20000, 5}, torch::kFloat64), gen);
  EXPECT_GT(jt::chi_square(jt::state_index(v1), p).first, jt::chi_square_critical_999(chi.second));
}

TEST(BlockGibbsTest, GaussianVisibleChainsMatchExactMoments) {
  auto gen = joule::make_generator(2);
  Rbm rbm(RbmOptions(3, 3).visible_type(RbmVisible::kGaussian).sigma(0.8));
  rbm->to(torch::kFloat64);
  {
    torch::NoGradGuard ng;
    rbm->weight.normal_(0, 1.0, gen);
    rbm->visible_bias.normal_(0, 0.5, gen);
    rbm->hidden_bias.normal_(0, 0.5, gen);
  }
  // Exact: p(v) is a mixture over h of N(b + Wᵀh, σ²) with weights p(h).
  auto exact = jt::exact_rbm_samples(*rbm, 400000, gen);  // i.i.d. reference draws
  auto v = joule::BlockGibbs(joule::BlockGibbsOptions(100)).sample(*rbm, torch::zeros({20000, 3}, torch::kFloat64), gen);
  auto se = v.std(0) / std::sqrt(20000.0);
  // Means within 4 standard errors; second moments within 4 SE of the squared values.
  EXPECT_TRUE((v.mean(0) - exact.mean(0)).abs().lt(4 * se).all().item<bool>()) << v.mean(0) << exact.mean(0);
  auto se2 = v.pow(2).std(0) / std::sqrt(20000.0);
  EXPECT_TRUE((v.pow(2).mean(0) - exact.pow(2).mean(0)).abs().lt(4 * se2).all().item<bool>());
}

TEST(BlockGibbsTest, RejectsModelsThatAreNotRbms) {
  joule::GaussianEnergy g(torch::zeros({2}), torch::ones({2}));
  joule::BlockGibbs gibbs(joule::BlockGibbsOptions(1));
  try {
    gibbs.sample(*g, torch::zeros({3, 2}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs a joule::Rbm"), std::string::npos) << e.what();
  }
}

}  // namespace
