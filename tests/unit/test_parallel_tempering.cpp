// Parallel tempering for RBMs (include/joule/samplers/parallel_tempering.h): the swap
// acceptance rate equals its Metropolis formula, the β = 1 chain samples the exact
// distribution of a tiny bimodal RBM, and the state survives save/load.
#include <gtest/gtest.h>

#include <sstream>

#include "joule/core/runtime.h"
#include "joule/samplers/parallel_tempering.h"
#include "support/rbm_testing.h"

namespace {

using joule::ParallelTempering;
using joule::ParallelTemperingOptions;
using joule::Rbm;
using joule::RbmOptions;
namespace jt = joule::testing;

Rbm bimodal_rbm(uint64_t seed, double scale) {
  auto gen = joule::make_generator(seed);
  Rbm rbm(RbmOptions(6, 2));
  rbm->to(torch::kFloat64);
  torch::NoGradGuard ng;
  // Two hidden units with opposite filters and biases: p(v) has two well-separated modes (all
  // ones with h = (1, 0), all zeros with h = (0, 1)) that plain Gibbs crosses rarely.
  rbm->weight.copy_(torch::cat({torch::ones({1, 6}), -torch::ones({1, 6})}) * scale);
  rbm->visible_bias.fill_(0.0);
  rbm->hidden_bias.copy_(torch::tensor({-3.0 * scale, 3.0 * scale}, torch::kFloat64));
  rbm->weight.add_(torch::randn({2, 6}, gen, torch::kFloat64) * 0.1);
  return rbm;
}

TEST(ParallelTemperingTest, SwapAcceptanceMatchesMetropolisFormula) {
  auto gen = joule::make_generator(1);
  auto rbm = bimodal_rbm(2, 0.7);
  ParallelTempering pt(ParallelTemperingOptions().betas({1.0, 0.7, 0.4, 0.1}));
  const int64_t n = 40000;
  auto v = torch::bernoulli(torch::full({4, n, 6}, 0.5, torch::kFloat64), gen);
  auto h = torch::bernoulli(torch::full({4, n, 2}, 0.5, torch::kFloat64), gen);
  pt.set_state(v, h);
  joule::TemperedRbm t(*rbm, joule::RbmBase::of_model(*rbm));
  pt.swap(t, /*parity=*/0, gen);  // pairs (0,1) and (2,3)
  pt.swap(t, /*parity=*/1, gen);  // pair (1,2), on the states after the first pass

  // Recompute the formula independently for the first pass: E_I = E(v, h) − E_A(v) = −cᵀh − hᵀWv
  // (base = the model's own visible bias), accept with min(1, exp((β_a − β_b)(E_I(a) − E_I(b)))).
  auto ei = [&](int64_t k) {
    return -(torch::mv(h[k], rbm->hidden_bias) + (torch::mm(h[k], rbm->weight) * v[k]).sum(1)).detach();
  };
  const std::vector<double> betas{1.0, 0.7, 0.4, 0.1};
  auto acc = pt.swap_accepts();
  auto att = pt.swap_attempts();
  for (int64_t a : {0, 2}) {
    auto prob = torch::exp((betas[a] - betas[a + 1]) * (ei(a) - ei(a + 1))).clamp_max(1.0);
    const double expected = prob.sum().item<double>();
    const double sd = (prob * (1 - prob)).sum().sqrt().item<double>();
    EXPECT_EQ(att[a], n);
    // Accepted swaps are a sum of independent Bernoulli(prob): within 4 standard deviations.
    EXPECT_NEAR(double(acc[a]), expected, 4 * sd) << "pair " << a;
    EXPECT_GT(expected, 0.05 * n);  // the test would be vacuous if nothing could swap...
    EXPECT_LT(expected, 0.95 * n);  // ...or everything always did
  }
  EXPECT_EQ(att[1], n);
  // Accepted swaps exchange whole joint states: the multiset of (v, h) rows is unchanged.
  auto before = torch::cat({v, h}, 2).sum(0);
  auto after = torch::cat({pt.visible(), pt.hidden()}, 2).sum(0);
  EXPECT_TRUE(torch::allclose(before, after));
}

TEST(ParallelTemperingTest, BetaOneChainSamplesExactDistribution) {
  auto gen = joule::make_generator(3);
  auto rbm = bimodal_rbm(4, 3.0);
  auto p = jt::exact_visible_distribution(*rbm);
  ParallelTempering pt(ParallelTemperingOptions(6).min_beta(0.0).rounds(200));
  // All chains start in one mode; 4000 independent replica sets, 200 rounds.
  const auto start = torch::ones({4000, 6}, torch::kFloat64);
  pt.init(*rbm, start);
  auto v = pt.step(*rbm, gen);
  auto chi = jt::chi_square(jt::state_index(v), p);
  EXPECT_LT(chi.first, jt::chi_square_critical_999(chi.second)) << "df " << chi.second;
  for (double a : pt.swap_acceptance()) EXPECT_GT(a, 0.05);

  // Control: the same number of plain Gibbs sweeps stays stuck in the starting mode.
  auto g = rbm->gibbs(start, 200, gen);
  EXPECT_GT(jt::chi_square(jt::state_index(g), p).first, jt::chi_square_critical_999(chi.second));
}

TEST(ParallelTemperingTest, StateAndStatisticsSurviveSaveLoad) {
  auto gen = joule::make_generator(5);
  auto rbm = bimodal_rbm(6, 1.0);
  ParallelTempering pt(ParallelTemperingOptions(4).rounds(3));
  pt.init(*rbm, torch::zeros({8, 6}, torch::kFloat64));
  pt.step(*rbm, gen);
  torch::serialize::OutputArchive out;
  pt.save(out);
  std::ostringstream os;
  out.save_to(os);
  ParallelTempering copy(ParallelTemperingOptions(4).rounds(3));
  torch::serialize::InputArchive in;
  std::istringstream is(os.str());
  in.load_from(is);
  copy.load(in);
  EXPECT_TRUE(torch::equal(copy.visible(), pt.visible()));
  EXPECT_EQ(copy.swap_accepts(), pt.swap_accepts());
  EXPECT_EQ(copy.swap_attempts(), pt.swap_attempts());
  auto g1 = joule::make_generator(9), g2 = joule::make_generator(9);
  EXPECT_TRUE(torch::equal(pt.step(*rbm, g1), copy.step(*rbm, g2)));  // same chains, same round parity

  ParallelTempering other(ParallelTemperingOptions(5));
  torch::serialize::InputArchive in2;
  std::istringstream is2(os.str());
  in2.load_from(is2);
  EXPECT_THROW(other.load(in2), c10::Error);  // different temperatures
}

TEST(ParallelTemperingTest, OptionsAreValidated) {
  EXPECT_THROW(ParallelTempering(ParallelTemperingOptions(1)), c10::Error);
  EXPECT_THROW(ParallelTempering(ParallelTemperingOptions().betas({0.9, 0.5})), c10::Error);
  EXPECT_THROW(ParallelTempering(ParallelTemperingOptions().betas({1.0, 0.5, 0.6})), c10::Error);
  auto b = ParallelTemperingOptions(5).min_beta(0.2).resolved_betas();
  ASSERT_EQ(b.size(), 5u);
  EXPECT_DOUBLE_EQ(b.front(), 1.0);
  EXPECT_DOUBLE_EQ(b.back(), 0.2);
}

}  // namespace
