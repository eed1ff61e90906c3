// The RBM goodness-of-fit benchmark: Joule's Gaussian–Bernoulli RBM built from the papers'
// ±1-hidden parameters has the papers' score, which is the gradient of the exact marginal
// (hidden units summed out by enumeration), and its Gibbs samples pass the KSD test.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include "joule/core/runtime.h"
#include "joule/eval/gof.h"
#include "joule/eval/gof_benchmarks.h"

namespace {

// log Σ_{s ∈ {±1}^H} exp(½ xᵀBs + bᵀx + cᵀs − ½‖x‖²) by enumeration (H small), [N].
at::Tensor log_marginal_pm1(const at::Tensor& x, const at::Tensor& B, const at::Tensor& b, const at::Tensor& c) {
  const int64_t h = B.size(1);
  std::vector<at::Tensor> terms;
  for (int64_t code = 0; code < (int64_t{1} << h); ++code) {
    auto s = at::empty({h}, x.options().requires_grad(false));
    for (int64_t j = 0; j < h; ++j) s[j] = (code >> j) & 1 ? 1.0 : -1.0;
    terms.push_back(0.5 * x.mv(B.mv(s)) + x.mv(b) + c.dot(s) - 0.5 * x.pow(2).sum(1));
  }
  return at::logsumexp(at::stack(terms, 1), 1);
}

TEST(RbmGofBenchmarkTest, ScoreMatchesPaperFormulaAndExactMarginal) {
  auto gen = joule::make_generator(61);
  auto bench = joule::eval::make_rbm_benchmark(joule::eval::RbmBenchmarkOptions().visible(5).hidden(6).sigma(0.3), gen);
  auto x = at::randn({32, 5}, gen) * 2;
  for (auto* which : {&bench.p, &bench.q}) {
    auto& rbm = *which;
    const auto& B = which == &bench.p ? bench.B : bench.B_q;
    auto s = joule::score(*rbm, x);
    auto ref = joule::eval::pm1_rbm_score(x, B, bench.b, bench.c);
    EXPECT_TRUE(at::allclose(s, ref, 1e-4, 1e-5)) << (s - ref).abs().max();
    // Autograd of the enumerated marginal, in double.
    auto xd = x.to(at::kDouble).requires_grad_(true);
    auto lp = log_marginal_pm1(xd, B.to(at::kDouble), bench.b.to(at::kDouble), bench.c.to(at::kDouble));
    auto g = torch::autograd::grad({lp.sum()}, {xd})[0];
    EXPECT_TRUE(at::allclose(s.to(at::kDouble), g, 1e-4, 1e-5)) << (s.to(at::kDouble) - g).abs().max();
    // The free energies differ from −log marginal by one constant (the normalisers).
    auto diff = -rbm->energy(x).to(at::kDouble) - lp.detach();
    EXPECT_LT((diff - diff.mean()).abs().max().item<double>(), 1e-4);
  }
}

TEST(RbmGofBenchmarkTest, GibbsSamplesFitTheirOwnModel) {
  // KSD (n = 400) of p's Gibbs samples against p itself should not reject at a small level,
  // while against q with σ = 1 it should (a large perturbation).
  auto gen = joule::make_generator(62);
  auto bench = joule::eval::make_rbm_benchmark(joule::eval::RbmBenchmarkOptions().visible(10).hidden(8).sigma(1.0), gen);
  auto x = joule::eval::sample_rbm_benchmark(bench, 400, 500, gen);
  auto own = joule::eval::ksd_test(joule::eval::model_score(*bench.p), x, joule::eval::KsdTestOptions().bootstrap(500), gen);
  auto off = joule::eval::ksd_test(joule::eval::model_score(*bench.q), x, joule::eval::KsdTestOptions().bootstrap(500), gen);
  EXPECT_GT(own.p_value, 0.01);  // fails by chance with probability ≈ 0.01
  EXPECT_LT(off.p_value, 0.01) << "statistic " << off.statistic;
}

}  // namespace
