// Jacobian-trace estimators: the exact trace equals closed forms, the batched exact trace equals
// the loop, Hutchinson is unbiased with the textbook variances, and the estimates are
// differentiable (double backward) where asked.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/estimators/trace.h"

namespace {

using joule::HutchinsonOptions;
using joule::ProbeKind;

// f(x) = x Aᵀ + sin(x): ∂f/∂x = A + diag(cos x), so tr = tr A + Σ cos xᵢ.
at::Tensor field(const at::Tensor& x, const at::Tensor& a) { return x.mm(a.t()) + x.sin(); }

TEST(TraceTest, ExactTraceMatchesClosedForm) {
  auto gen = joule::make_generator(1);
  auto a = at::randn({6, 6}, gen, at::kDouble);
  auto x = at::randn({9, 6}, gen, at::kDouble).requires_grad_(true);
  auto tr = joule::jacobian_trace_exact(field(x, a), x, /*create_graph=*/false);
  auto expected = a.trace() + x.detach().cos().sum(1);
  EXPECT_TRUE(at::allclose(tr, expected, 1e-12, 1e-12)) << (tr - expected).abs().max();
}

TEST(TraceTest, BatchedExactTraceEqualsBackwardLoop) {
  auto gen = joule::make_generator(2);
  auto a = at::randn({7, 7}, gen, at::kDouble);
  auto x = at::randn({11, 7}, gen, at::kDouble);
  auto f = [&](const at::Tensor& z) { return field(z, a).tanh(); };
  auto xg = x.clone().requires_grad_(true);
  auto loop = joule::jacobian_trace_exact(f(xg), xg, false);
  // A chunk smaller than D·B forces several passes.
  auto batched = joule::jacobian_trace_exact_batched(f, x, /*chunk=*/30);
  EXPECT_TRUE(at::allclose(loop, batched, 1e-12, 1e-12)) << (loop - batched).abs().max();
}

TEST(TraceTest, HutchinsonIsUnbiasedWithKnownVariance) {
  // One fixed linear map A for every row: εᵀAε has mean tr A and variance
  //   Gaussian:   ‖A‖²_F + Σ_ij A_ij A_ji
  //   Rademacher: Σ_{i≠j} (A_ij² + A_ij A_ji)
  auto gen = joule::make_generator(3);
  const int64_t d = 5, n = 40000;
  auto a = at::randn({d, d}, gen, at::kDouble);
  auto x = at::zeros({n, d}, at::kDouble).requires_grad_(true);
  auto fx = x.mm(a.t());
  const double tr = a.trace().item<double>();
  const double fro = a.pow(2).sum().item<double>();
  const double cross = (a * a.t()).sum().item<double>();
  const double diag2 = a.diagonal().pow(2).sum().item<double>();
  for (auto kind : {ProbeKind::kGaussian, ProbeKind::kRademacher}) {
    auto est = joule::jacobian_trace_hutchinson(fx, x, HutchinsonOptions().probe(kind).create_graph(false), gen);
    const double var = kind == ProbeKind::kGaussian ? fro + cross : fro + cross - 2 * diag2;
    const double se = std::sqrt(var / n);
    // 4 standard errors: fails by chance with probability < 1e-4.
    EXPECT_NEAR(est.mean().item<double>(), tr, 4 * se) << joule::to_string(kind);
    // Sample variance of n draws: relative standard error ≈ sqrt(2/n)·(kurtosis factor) < 3%.
    EXPECT_NEAR(est.var().item<double>() / var, 1.0, 0.05) << joule::to_string(kind);
  }
}

TEST(TraceTest, MoreProbesShrinkTheVariance) {
  auto gen = joule::make_generator(4);
  const int64_t d = 4, n = 20000;
  auto a = at::randn({d, d}, gen, at::kDouble);
  auto x = at::zeros({n, d}, at::kDouble).requires_grad_(true);
  auto fx = x.mm(a.t());
  auto one = joule::jacobian_trace_hutchinson(fx, x, HutchinsonOptions().probes(1).create_graph(false), gen);
  auto eight = joule::jacobian_trace_hutchinson(fx, x, HutchinsonOptions().probes(8).create_graph(false), gen);
  EXPECT_NEAR(eight.var().item<double>() / one.var().item<double>(), 1.0 / 8.0, 0.02);
}

TEST(TraceTest, TracesAreDifferentiableWhenAsked) {
  // d/dw of tr ∂(w·x²)/∂x = d/dw (2w Σ x) = 2 Σ x, through both estimators (Rademacher probes
  // are exact for a diagonal Jacobian).
  auto gen = joule::make_generator(5);
  auto w = at::tensor(1.5, at::kDouble).requires_grad_(true);
  auto x = at::randn({3, 4}, gen, at::kDouble).requires_grad_(true);
  auto fx = w * x.pow(2);
  auto exact = joule::jacobian_trace_exact(fx, x, true).sum();
  auto hutch = joule::jacobian_trace_hutchinson(fx, x, HutchinsonOptions().probe(ProbeKind::kRademacher), gen).sum();
  const double expected = 2 * x.detach().sum().item<double>();
  EXPECT_NEAR(torch::autograd::grad({exact}, {w}, {}, true)[0].item<double>(), expected, 1e-12);
  EXPECT_NEAR(torch::autograd::grad({hutch}, {w})[0].item<double>(), expected, 1e-12);
}

TEST(TraceTest, BadInputsAreRejectedClearly) {
  auto gen = joule::make_generator(6);
  auto x = at::randn({3, 4});
  try {
    joule::jacobian_trace_exact(x * 2, x);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("require grad"), std::string::npos) << e.what();
  }
  auto xg = x.clone().requires_grad_(true);
  EXPECT_THROW(joule::jacobian_trace_hutchinson(xg.sum(1), xg, HutchinsonOptions(), gen), c10::Error);
  EXPECT_THROW(joule::jacobian_trace_hutchinson(xg * 2, xg, HutchinsonOptions().probes(0), gen), c10::Error);
  EXPECT_THROW(joule::parse_probe_kind("uniform"), c10::Error);
}

}  // namespace
