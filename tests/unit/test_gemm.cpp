// joule::gemm equals LibTorch's matmul for every transpose combination and falls back for
// other dtypes; the fast backend is actually used on this machine.
#include <gtest/gtest.h>

#include "joule/core/gemm.h"
#include "joule/core/runtime.h"

#include <torch/autograd.h>
#include <torch/version.h>

namespace {

TEST(GemmTest, MatchesTorchForAllTransposesAndOddShapes) {
  auto gen = joule::make_generator(1);
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 13, 5}, {256, 2, 128}, {65, 300, 33}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        auto a = ta ? torch::randn({k, m}, gen) : torch::randn({m, k}, gen);
        auto b = tb ? torch::randn({n, k}, gen) : torch::randn({k, n}, gen);
        auto ref = at::mm(ta ? a.t() : a, tb ? b.t() : b);
        auto c = joule::fast_matmul(a, b, ta, tb);
        // float32 sums of k products in a different order: relative error ~ k · 6e-8.
        EXPECT_TRUE(torch::allclose(c, ref, 1e-4, 1e-4)) << m << "x" << k << "x" << n << " " << ta << tb;
        auto acc = torch::ones({m, n});
        joule::gemm(a, ta, b, tb, acc, 2.0, 0.5);
        EXPECT_TRUE(torch::allclose(acc, 2.0 * ref + 0.5, 1e-4, 1e-4));
      }
    }
  }
}

TEST(GemmTest, LinearAddsTheBiasAndDoublesFallBack) {
  auto gen = joule::make_generator(2);
  auto x = torch::randn({9, 4}, gen), w = torch::randn({3, 4}, gen), b = torch::randn({3}, gen);
  EXPECT_TRUE(torch::allclose(joule::fast_linear(x, w, b), at::linear(x, w, b), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(joule::fast_linear(x, w, {}), at::linear(x, w), 1e-5, 1e-5));
  auto xd = x.to(torch::kFloat64), wd = w.to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(joule::fast_matmul(xd, wd, false, true), at::mm(xd, wd.t())));
  auto nc = torch::randn({4, 9}, gen).t();  // non-contiguous input: fallback path
  EXPECT_TRUE(torch::allclose(joule::fast_matmul(nc, w, false, true), at::mm(nc, w.t()), 1e-5, 1e-5));
  auto bad = torch::empty({9, 2});
  EXPECT_THROW(joule::gemm(x, false, w, true, bad), c10::Error);
}

TEST(GemmTest, AddmmMatchesTorchAndKeepsTheGraphWhenOneIsNeeded) {
  auto gen = joule::make_generator(3);
  auto a = torch::randn({6, 5}, gen), b = torch::randn({4, 5}, gen), bias = torch::randn({4}, gen);
  EXPECT_TRUE(torch::allclose(joule::fast_addmm(bias, a, b, false, true), at::addmm(bias, a, b.t()), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(joule::fast_addmm({}, a.t().contiguous(), b.t().contiguous(), true, false), at::mm(a, b.t()), 1e-5, 1e-5));
  EXPECT_FALSE(joule::fast_addmm(bias, a, b, false, true).requires_grad());
  // An operand that requires a gradient: the result is differentiable and its gradient right.
  auto w = b.clone().requires_grad_(true);
  auto y = joule::fast_addmm(bias, a, w, false, true);
  ASSERT_TRUE(y.requires_grad());
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), a.sum(0).expand({4, 5}), 1e-5, 1e-5));
  {
    torch::NoGradGuard no_grad;  // no graph wanted: the fast path even for such operands
    EXPECT_FALSE(joule::fast_addmm(bias, a, w, false, true).requires_grad());
  }
}

TEST(GemmTest, DebianLibTorchExportsTheFastSgemm) {
#if TORCH_VERSION_MAJOR < 2
  // Debian's libtorch links oneDNN dynamically; if this fails the fast path silently turned
  // off and docs/benchmarks.md no longer describes what runs.
  EXPECT_EQ(joule::gemm_backend(), "onednn");
#else
  // pip's LibTorch 2.x (CI's second build) links oneDNN statically with hidden symbols, so
  // joule::gemm is LibTorch's own matmul there.
  EXPECT_EQ(joule::gemm_backend(), "torch");
#endif
}

}  // namespace
