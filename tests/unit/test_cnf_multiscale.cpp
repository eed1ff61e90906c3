// FFJORD's multiscale image flow (include/joule/models/cnf_multiscale.h): the squeeze's layout
// and inverse, the convolutional field's Jacobian-vector products against finite differences,
// the whole flow's log-density against a brute-force change of variables (log|det ∂z/∂x| from a
// finite-difference Jacobian of the full map, logit, squeezes and factored channels included),
// the reverse map, bits/dim, and errors.
#include <gtest/gtest.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/models/cnf_multiscale.h"
#include "support/test_support.h"

namespace {

using joule::ConvOdeNet;
using joule::ConvOdeNetOptions;
using joule::Divergence;
using joule::MultiscaleFlow;
using joule::MultiscaleFlowOptions;

TEST(CnfMultiscaleTest, SqueezeMovesEach2x2PatchIntoChannelsAndBack) {
  auto x = at::arange(2 * 3 * 4 * 6, at::kDouble).reshape({2, 3, 4, 6});
  auto y = joule::squeeze2x2(x);
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{2, 12, 2, 3}));
  // Channel 4c + 2i + j at (r, s) holds x[c, 2r + i, 2s + j] (FFJORD's view/permute order).
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 2; ++j)
        EXPECT_EQ(y[1][4 * c + 2 * i + j][1][2].item<double>(), x[1][c][2 + i][4 + j].item<double>());
  EXPECT_TRUE(joule::unsqueeze2x2(y).equal(x));
}

TEST(CnfMultiscaleTest, ConvFieldTangentsAreJacobianVectorProducts) {
  ConvOdeNet net(ConvOdeNetOptions(2, 5, 4).hidden({6, 5}));
  net->reset_parameters(joule::make_generator(3));
  net->to(at::kDouble);
  auto gen = joule::make_generator(4);
  const int64_t b = 3, d = 2 * 5 * 4;
  auto z = at::randn({b, d}, gen, at::kDouble);
  auto v = at::randn({2, b, d}, gen, at::kDouble);
  auto t = at::full({}, 0.3, at::kDouble);
  auto [f, jv] = net->forward_with_tangents(t, z, v);
  EXPECT_TRUE(at::allclose(f, net->forward(t, z), 1e-12, 1e-12));
  const double eps = 1e-6;
  for (int64_t k = 0; k < 2; ++k) {
    auto fd = (net->forward(t, z + eps * v[k]) - net->forward(t, z - eps * v[k])) / (2 * eps);
    EXPECT_LT((fd - jv[k]).abs().max().item<double>(), 1e-7) << "tangent " << k;
  }
  // The exact trace from D unit tangents against the finite-difference Jacobian's trace.
  auto eye = at::eye(d, at::kDouble).unsqueeze(1).expand({d, b, d}).contiguous();
  auto trace = net->forward_with_tangents(t, z, eye).second.diagonal(0, 0, 2).sum(1);  // [B]
  for (int64_t r = 0; r < b; ++r) {
    double fd_trace = 0;
    for (int64_t i = 0; i < d; ++i) {
      auto e = at::zeros({1, d}, at::kDouble);
      e[0][i] = eps;
      fd_trace += ((net->forward(t, z[r].unsqueeze(0) + e) - net->forward(t, z[r].unsqueeze(0) - e))[0][i] / (2 * eps))
                      .item<double>();
    }
    EXPECT_NEAR(trace[r].item<double>(), fd_trace, 1e-6);
  }
}

MultiscaleFlow tiny_flow() {
  // 1×8×8 images: scale 0 (CNF, squeeze to 4×4×4, CNF, factor out 2 channels), scale 1 (CNF).
  auto tight = joule::ode::SolverOptions().atol(1e-10).rtol(1e-10);
  MultiscaleFlow flow(MultiscaleFlowOptions(1, 8, 8)
                          .hidden({4})
                          .blocks(1)
                          .logit_alpha(0.05)
                          .end_time(0.4)
                          .eval_divergence(Divergence::kExact)
                          .solver(tight)
                          .eval_solver(tight));
  flow->reset_parameters(joule::make_generator(5));
  flow->to(at::kDouble);
  return flow;
}

TEST(CnfMultiscaleTest, LogDensityMatchesBruteForceChangeOfVariables) {
  auto flow = tiny_flow();
  ASSERT_EQ(flow->scales(), 2);
  ASSERT_EQ(flow->cnf_count(), 3);
  torch::NoGradGuard no_grad;
  auto gen = joule::make_generator(6);
  auto x = at::rand({1, 64}, gen, at::kDouble) * 0.8 + 0.1;
  auto [z, log_det] = flow->transform(x, Divergence::kExact, gen);
  // Central differences of the whole map x ↦ z, column by column.
  const double eps = 1e-5;
  auto jac = at::zeros({64, 64}, at::kDouble);
  for (int64_t i = 0; i < 64; ++i) {
    auto e = at::zeros({1, 64}, at::kDouble);
    e[0][i] = eps;
    auto plus = flow->transform(x + e, Divergence::kExact, gen).first;
    auto minus = flow->transform(x - e, Divergence::kExact, gen).first;
    jac.select(1, i).copy_(((plus - minus) / (2 * eps))[0]);
  }
  const double brute = std::get<1>(at::linalg_slogdet(jac)).item<double>();
  EXPECT_NEAR(log_det.item<double>(), brute, 1e-4);
  const double log_p = flow->log_prob(x).item<double>();
  EXPECT_NEAR(log_p, -0.5 * (z.pow(2).sum().item<double>() + 64 * std::log(2 * M_PI)) + brute, 1e-4);
}

TEST(CnfMultiscaleTest, InverseUndoesTheForwardMap) {
  auto flow = tiny_flow();
  torch::NoGradGuard no_grad;
  auto gen = joule::make_generator(7);
  auto x = at::rand({3, 64}, gen, at::kDouble) * 0.9 + 0.05;
  auto z = flow->transform(x, Divergence::kExact, gen).first;
  EXPECT_LT((flow->inverse(z) - x).abs().max().item<double>(), 1e-7);
  auto s = flow->sample(4, joule::make_generator(8));
  ASSERT_EQ(s.sizes(), (at::IntArrayRef{4, 64}));
  EXPECT_TRUE(s.isfinite().all().item<bool>());
}

TEST(CnfMultiscaleTest, HutchinsonTrainingTermsAreDifferentiableAndBitsPerDimIsExactForUniform) {
  MultiscaleFlow flow(MultiscaleFlowOptions(1, 8, 8).hidden({4}).blocks(1));
  auto gen = joule::make_generator(9);
  auto x = at::rand({5, 64}, gen);
  auto terms = flow->training_terms(x, gen);
  ASSERT_EQ(terms.log_prob.sizes(), (at::IntArrayRef{5}));
  (-terms.log_prob.mean()).backward();
  for (const auto& p : flow->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(p.grad().isfinite().all().item<bool>());
  }
  // The uniform density on [0, 1]^D (log p = 0) is 8 bits per 8-bit pixel.
  EXPECT_NEAR(joule::bits_per_dim(at::zeros({1}), 784).item<double>(), 8.0, 1e-6);
}

TEST(CnfMultiscaleTest, BadShapesGetClearErrors) {
  const auto odd = joule::testing::error_of([] { MultiscaleFlow f(MultiscaleFlowOptions(1, 18, 18).hidden({2})); });
  EXPECT_NE(odd.find("set max_scales = 2"), std::string::npos) << odd;
  const auto small = joule::testing::error_of([] { MultiscaleFlow f(MultiscaleFlowOptions(1, 3, 8)); });
  EXPECT_NE(small.find("too small"), std::string::npos) << small;
  MultiscaleFlow flow(MultiscaleFlowOptions(1, 8, 8).hidden({2}).blocks(1));
  const auto shape = joule::testing::error_of([&] { flow->log_prob(at::rand({2, 63})); });
  EXPECT_NE(shape.find("expected images [B, 1, 8, 8] or [B, 64]"), std::string::npos) << shape;
}

}  // namespace
