// RBM gradient approximations (include/joule/objectives/rbm_gradient.h): the closed-form
// gradient equals autograd through the generic ContrastiveDivergence + BlockGibbs path; with
// long chains PCD and PT converge to the exact log-likelihood gradient computed by enumeration;
// the sparsity term and checkpointed chains behave as documented.
#include <gtest/gtest.h>

#include <sstream>

#include "joule/core/runtime.h"
#include "joule/objectives/contrastive_divergence.h"
#include "joule/objectives/rbm_gradient.h"
#include "joule/samplers/gibbs.h"
#include "support/rbm_testing.h"

namespace {

using joule::Rbm;
using joule::RbmGradient;
using joule::RbmGradientKind;
using joule::RbmGradientOptions;
using joule::RbmOptions;
using joule::RbmVisible;
namespace jt = joule::testing;

Rbm random_rbm(int64_t v, int64_t h, RbmVisible type, uint64_t seed, bool learn_sigma = false) {
  auto gen = joule::make_generator(seed);
  Rbm rbm(RbmOptions(v, h).visible_type(type).learn_sigma(learn_sigma).sigma(type == RbmVisible::kGaussian ? 0.8 : 1.0));
  rbm->to(torch::kFloat64);
  torch::NoGradGuard ng;
  rbm->weight.normal_(0, 0.7, gen);
  rbm->visible_bias.normal_(0, 0.5, gen);
  rbm->hidden_bias.normal_(0, 0.5, gen);
  return rbm;
}

std::vector<torch::Tensor> grads_of(Rbm& rbm) {
  std::vector<torch::Tensor> g;
  for (auto& p : rbm->parameters()) g.push_back(p.grad().clone());
  return g;
}

void zero_grads(Rbm& rbm) {
  for (auto& p : rbm->parameters()) if (p.grad().defined()) p.mutable_grad().zero_();
}

TEST(RbmGradientTest, Float32PcdMatchesTheFloat64GradientOnItsOwnNegatives) {
  // Bernoulli float32 on the CPU takes the loop-based side statistics and oneDNN products; the
  // same update recomputed in float64 from the same data and negatives must agree to float
  // rounding, and so must the e_pos/e_neg metrics.
  auto rbm = random_rbm(30, 12, RbmVisible::kBernoulli, 11);
  auto data_gen = joule::make_generator(12);
  auto x = torch::bernoulli(torch::full({10, 30}, 0.4, torch::kFloat64), data_gen);
  rbm->to(torch::kFloat32);
  RbmGradient pcd(RbmGradientOptions().kind(RbmGradientKind::kPCD).k(1));
  auto gen = joule::make_generator(13);
  auto out = pcd.compute(*rbm, {x.to(torch::kFloat32), {}}, gen);
  ASSERT_EQ(out.gradients.size(), 3u);
  rbm->to(torch::kFloat64);
  auto ref = RbmGradient::free_energy_gradient(*rbm, x, out.negatives.to(torch::kFloat64));
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(torch::allclose(out.gradients[i].to(torch::kFloat64), ref[i], 1e-4, 1e-5)) << "parameter " << i;
  }
  auto f = [&](const torch::Tensor& v) { return rbm->energy(v).mean().item<double>(); };
  EXPECT_NEAR(out.metrics[0].second, f(x), 1e-3 * std::abs(f(x)));
  EXPECT_NEAR(out.metrics[1].second, f(out.negatives.to(torch::kFloat64)), 1e-3 * std::abs(f(x)));
}

class RbmGradientTypes : public ::testing::TestWithParam<RbmVisible> {};

TEST_P(RbmGradientTypes, EqualsAutogradOfGenericCdWithBlockGibbs) {
  const bool gaussian = GetParam() == RbmVisible::kGaussian;
  auto rbm = random_rbm(7, 5, GetParam(), 1, /*learn_sigma=*/gaussian);
  auto data_gen = joule::make_generator(2);
  auto x = gaussian ? torch::randn({16, 7}, data_gen, torch::kFloat64)
                    : torch::bernoulli(torch::full({16, 7}, 0.4, torch::kFloat64), data_gen);
  // Same seed: both paths draw the same negatives (3 Gibbs sweeps from the data).
  auto g1 = joule::make_generator(3), g2 = joule::make_generator(3);
  RbmGradient fast(RbmGradientOptions().kind(RbmGradientKind::kCD).k(3));
  auto out = fast.compute(*rbm, {x, {}}, g1);
  out.loss.backward();
  auto fast_grads = grads_of(rbm);
  // The closed-form gradients the trainer installs are the ones backward() delivers.
  ASSERT_EQ(out.gradients.size(), fast_grads.size());
  for (size_t i = 0; i < fast_grads.size(); ++i) EXPECT_TRUE(torch::equal(out.gradients[i], fast_grads[i])) << i;
  zero_grads(rbm);
  joule::ContrastiveDivergence generic({}, std::make_shared<joule::BlockGibbs>(joule::BlockGibbsOptions(3)));
  auto ref = generic.compute(*rbm, {x, {}}, g2);
  ref.loss.backward();
  auto ref_grads = grads_of(rbm);
  ASSERT_EQ(fast_grads.size(), gaussian ? 4u : 3u);
  for (size_t i = 0; i < fast_grads.size(); ++i) {
    EXPECT_TRUE(torch::allclose(fast_grads[i], ref_grads[i], 1e-9, 1e-11)) << "parameter " << i;
  }
  // The loss value is the CD gap mean F(v⁺) − mean F(v⁻), like the generic objective's.
  EXPECT_NEAR(out.loss.item<double>(), ref.loss.item<double>(), 1e-10);
  EXPECT_TRUE(torch::equal(out.negatives, ref.negatives));
}

INSTANTIATE_TEST_SUITE_P(Rbm, RbmGradientTypes, ::testing::Values(RbmVisible::kBernoulli, RbmVisible::kGaussian),
                         [](const auto& info) { return joule::to_string(info.param); });

// Exact ∇θ of the negative log-likelihood mean F(data) + log Z by autograd over all 2^V states.
std::vector<torch::Tensor> exact_nll_gradient(Rbm& rbm, const torch::Tensor& data) {
  zero_grads(rbm);
  auto vs = jt::all_binary_states(rbm->num_visible());
  auto nll = rbm->energy(data).mean() + torch::logsumexp(-rbm->energy(vs), 0);
  nll.backward();
  auto g = grads_of(rbm);
  zero_grads(rbm);
  return g;
}

double max_abs_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, (a[i] - b[i]).abs().max().item<double>());
  return m;
}

TEST(RbmGradientTest, PcdAndPtWithLongChainsConvergeToExactLikelihoodGradient) {
  auto rbm = random_rbm(6, 4, RbmVisible::kBernoulli, 4);
  {
    torch::NoGradGuard ng;
    rbm->weight.mul_(2.0);  // strong enough that CD-1's bias is visible
  }
  auto gen = joule::make_generator(5);
  // Data far from the model: all-ones-heavy vectors.
  auto data = torch::bernoulli(torch::full({500, 6}, 0.85, torch::kFloat64), gen);
  auto exact = exact_nll_gradient(rbm, data);

  auto run = [&](RbmGradientOptions opts) {
    RbmGradient objective(opts);
    auto out = objective.compute(*rbm, {data, {}}, gen);
    out.loss.backward();
    auto g = grads_of(rbm);
    zero_grads(rbm);
    return max_abs_diff(g, exact);
  };
  // 10000 chains started at data rows, 100 sweeps: the model expectation E[p(h|v) vᵀ] has a
  // standard error below 0.5/√10000 = 0.005 per entry; allow 0.025 (5 SE, max over 34 entries).
  const double pcd = run(RbmGradientOptions().kind(RbmGradientKind::kPCD).k(100).chains(10000));
  const double pt = run(RbmGradientOptions().kind(RbmGradientKind::kPT).k(50).chains(10000)
                            .tempering(joule::ParallelTemperingOptions(3)));
  const double cd1 = run(RbmGradientOptions().kind(RbmGradientKind::kPCD).k(1).chains(10000));
  // persistent_hidden (sklearn's SML): burn the chains in with 100 sweeps, hand them and their
  // hidden samples over (through a checkpoint) to a PCD-1 objective; its one visible half-step
  // from the kept h, under unchanged parameters, is still a draw from the model.
  double sml = 0;
  {
    RbmGradient burn(RbmGradientOptions().kind(RbmGradientKind::kPCD).k(100).chains(10000).persistent_hidden(true));
    burn.compute(*rbm, {data, {}}, gen);
    zero_grads(rbm);
    torch::serialize::OutputArchive out;
    burn.save(out);
    std::ostringstream os;
    out.save_to(os);
    RbmGradient one(RbmGradientOptions().kind(RbmGradientKind::kPCD).k(1).chains(10000).persistent_hidden(true));
    torch::serialize::InputArchive in;
    std::istringstream is(os.str());
    in.load_from(is);
    one.load(in);
    one.compute(*rbm, {data, {}}, gen).loss.backward();
    sml = max_abs_diff(grads_of(rbm), exact);
    zero_grads(rbm);
  }
  EXPECT_LT(pcd, 0.025);  // measured 0.0046
  EXPECT_LT(pt, 0.025);   // measured 0.0048
  EXPECT_LT(sml, 0.025);
  // Control: a single sweep from the data is far from the exact gradient.
  EXPECT_GT(cd1, 0.08);  // measured 0.12
}

TEST(RbmGradientTest, SparsityTargetAddsMovingAverageDeviationToHiddenBiasGradient) {
  auto rbm = random_rbm(5, 3, RbmVisible::kBernoulli, 6);
  auto gen = joule::make_generator(7);
  auto x = torch::bernoulli(torch::full({8, 5}, 0.5, torch::kFloat64), gen);
  auto g1 = joule::make_generator(8), g2 = joule::make_generator(8);
  RbmGradient plain(RbmGradientOptions().kind(RbmGradientKind::kCD));
  RbmGradient sparse(RbmGradientOptions().kind(RbmGradientKind::kCD).sparsity_target(0.1).sparsity_cost(0.5));
  plain.compute(*rbm, {x, {}}, g1).loss.backward();
  auto base = grads_of(rbm);
  zero_grads(rbm);
  sparse.compute(*rbm, {x, {}}, g2).loss.backward();
  auto with = grads_of(rbm);
  // First step: q = batch-mean p(h|v⁺), Δc = 0.5 (q − 0.1), ΔW = Δc ⊗ mean(v⁺).
  auto q = rbm->hidden_probs(x).mean(0).detach();
  auto delta = 0.5 * (q - 0.1);
  EXPECT_TRUE(torch::allclose(with[2] - base[2], delta, 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(with[0] - base[0], torch::outer(delta, x.mean(0)), 1e-10, 1e-12));
}

TEST(RbmGradientTest, CheckpointedChainsContinueTheSameRun) {
  for (auto kind : {RbmGradientKind::kPCD, RbmGradientKind::kPT}) {
    auto rbm = random_rbm(6, 4, RbmVisible::kBernoulli, 9);
    auto gen = joule::make_generator(10);
    auto x = torch::bernoulli(torch::full({12, 6}, 0.5, torch::kFloat64), gen);
    auto opts = RbmGradientOptions().kind(kind).k(2).tempering(joule::ParallelTemperingOptions(3));
    RbmGradient a(opts);
    a.compute(*rbm, {x, {}}, gen);
    torch::serialize::OutputArchive out;
    a.save(out);
    std::ostringstream os;
    out.save_to(os);
    RbmGradient b(opts);
    torch::serialize::InputArchive in;
    std::istringstream is(os.str());
    in.load_from(is);
    b.load(in);
    auto ga = joule::make_generator(11), gb = joule::make_generator(11);
    auto na = a.compute(*rbm, {x, {}}, ga).negatives;
    auto nb = b.compute(*rbm, {x, {}}, gb).negatives;
    EXPECT_TRUE(torch::equal(na, nb)) << joule::to_string(kind);
  }
}

TEST(RbmGradientTest, RejectsNonRbmModelsAndBadOptions) {
  EXPECT_THROW(RbmGradient(RbmGradientOptions().k(0)), c10::Error);
  EXPECT_THROW(RbmGradient(RbmGradientOptions().sparsity_target(1.5)), c10::Error);
  EXPECT_EQ(joule::parse_rbm_gradient("pt"), RbmGradientKind::kPT);
  EXPECT_THROW(joule::parse_rbm_gradient("cd1"), c10::Error);
}

}  // namespace
