// Continuous normalising flows against closed forms (FFJORD's validation table: Hutchinson moments,
// linear and rotation fields, adjoint against back-propagation) and against autograd.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/estimators/trace.h"
#include "joule/models/cnf.h"

namespace {

using joule::CnfSolveOptions;
using joule::Divergence;
using joule::ProbeKind;

// f(z) = A z with J·v = A v (an autonomous linear field).
joule::CnfField linear_field(const torch::Tensor& a) {
  return [a](const torch::Tensor&, const torch::Tensor& z, const torch::Tensor& v) {
    return std::make_pair(z.matmul(a.t()), v.defined() ? v.matmul(a.t()) : torch::Tensor());
  };
}

torch::Tensor scalar(double value) { return torch::full({}, value, torch::kFloat64); }

CnfSolveOptions tight() {
  return CnfSolveOptions().solver(joule::ode::SolverOptions().rtol(1e-9).atol(1e-10));
}

TEST(CnfTest, OdeNetTangentsAreJacobianVectorProducts) {
  for (auto layer : {joule::OdeLayer::kConcatSquash, joule::OdeLayer::kConcat, joule::OdeLayer::kIgnore}) {
    for (auto act : {joule::Activation::kTanh, joule::Activation::kSoftplus, joule::Activation::kSiLU}) {
      joule::OdeNet net(joule::OdeNetOptions(3).hidden({16, 8}).layer(layer).activation(act));
      net->reset_parameters(joule::make_generator(1));
      net->to(torch::kFloat64);
      auto gen = joule::make_generator(2);
      auto z = torch::randn({5, 3}, gen, torch::kFloat64).requires_grad_(true);
      auto v = torch::randn({2, 5, 3}, gen, torch::kFloat64);
      auto t = scalar(0.37);
      auto [f, jv] = net->forward_with_tangents(t, z, v);
      ASSERT_TRUE(torch::allclose(f, net->forward(t, z)));
      for (int64_t k = 0; k < 2; ++k) {
        // (J v)_i = Σ_j ∂f_i/∂z_j v_j, row by row of J from autograd.
        for (int64_t i = 0; i < 3; ++i) {
          auto row = torch::autograd::grad({f.select(1, i).sum()}, {z}, {}, true)[0];  // [B, D] = ∂f_i/∂z
          auto expected = (row * v[k]).sum(1);
          EXPECT_TRUE(torch::allclose(jv[k].select(1, i), expected, 1e-10, 1e-12))
              << joule::to_string(layer) << " " << joule::to_string(act);
        }
      }
      // The exact trace from tangents e_1..e_D equals autograd's.
      auto eye = torch::eye(3, torch::kFloat64).unsqueeze(1).expand({3, 5, 3});
      auto trace = (net->forward_with_tangents(t, z, eye).second * eye).sum(torch::IntArrayRef{0, 2});
      EXPECT_TRUE(torch::allclose(trace, joule::jacobian_trace_exact(f, z, false), 1e-10, 1e-12));
    }
  }
}

// The fused evaluation (one autograd node, hand-written backward) against the same computation
// operation by operation: values and first-order gradients in z and every parameter.
TEST(CnfTest, FusedEvaluationMatchesAutograd) {
  for (auto layer : {joule::OdeLayer::kConcatSquash, joule::OdeLayer::kConcat, joule::OdeLayer::kIgnore}) {
    for (auto act : {joule::Activation::kTanh, joule::Activation::kSoftplus, joule::Activation::kSiLU,
                     joule::Activation::kELU, joule::Activation::kLeakyReLU}) {
      for (int64_t k : {0, 2, 3}) {
        joule::OdeNet net(joule::OdeNetOptions(3).hidden({8, 5}).layer(layer).activation(act));
        net->reset_parameters(joule::make_generator(12));
        net->to(torch::kFloat64);
        auto gen = joule::make_generator(13);
        auto z = torch::randn({4, 3}, gen, torch::kFloat64).requires_grad_(true);
        auto v = k > 0 ? torch::randn({k, 4, 3}, gen, torch::kFloat64) : torch::Tensor();
        auto r1 = torch::randn({4, 3}, gen, torch::kFloat64);
        auto r2 = k > 0 ? torch::randn({k, 4, 3}, gen, torch::kFloat64) : torch::Tensor();
        auto t = scalar(0.61);
        std::vector<torch::Tensor> wrt{z};
        for (const auto& p : net->parameters()) wrt.push_back(p);
        auto objective = [&](std::pair<torch::Tensor, torch::Tensor> out) {
          auto l = (out.first * r1).sum();
          if (k > 0) l = l + (out.second * r2).sum();
          return l;
        };
        auto fused_out = net->forward_with_tangents(t, z, v);
        auto ref_out = net->forward_reference(t, z, v);
        ASSERT_TRUE(torch::allclose(fused_out.first, ref_out.first, 1e-12, 1e-12));
        if (k > 0) ASSERT_TRUE(torch::allclose(fused_out.second, ref_out.second, 1e-12, 1e-12));
        auto fused = torch::autograd::grad({objective(fused_out)}, wrt);
        auto ref = torch::autograd::grad({objective(ref_out)}, wrt);
        for (size_t i = 0; i < wrt.size(); ++i) {
          EXPECT_TRUE(torch::allclose(fused[i], ref[i], 1e-10, 1e-12))
              << joule::to_string(layer) << " " << joule::to_string(act) << " K=" << k << " input " << i << "\n"
              << fused[i] << "\n" << ref[i];
        }
      }
    }
  }
}

// V1: on f = A z with A = [[1, 2], [3, 4]] (a constant Jacobian, z = 0 stays 0), the integrated
// Hutchinson divergence over T = 1 is εᵀAε itself: mean tr A = 5, variance 2‖A_s‖²_F = 59
// (Gaussian) and 2(‖A_s‖²_F − Σ A_ii²) = 25 (Rademacher).
TEST(CnfTest, HutchinsonMomentsOnAFixedMatrix) {
  auto a = torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kFloat64);
  const int64_t n = 400000;
  auto x = torch::zeros({n, 2}, torch::kFloat64);
  for (auto [probe, variance] : {std::make_pair(ProbeKind::kGaussian, 59.0), std::make_pair(ProbeKind::kRademacher, 25.0)}) {
    auto gen = joule::make_generator(3);
    auto sol = joule::integrate_cnf(linear_field(a), x, scalar(1.0), {},
                                    tight().divergence(Divergence::kHutchinson).probe(probe), gen);
    const double mean = sol.log_det.mean().item<double>(), var = sol.log_det.var().item<double>();
    // Standard errors: sqrt(59/n) = 0.012 for the mean; the sample variance within 3%.
    EXPECT_NEAR(mean, 5.0, 0.05) << joule::to_string(probe);
    EXPECT_NEAR(var, variance, 0.03 * variance) << joule::to_string(probe);
  }
  // The exact trace has no variance.
  auto gen = joule::make_generator(3);
  auto exact = joule::integrate_cnf(linear_field(a), x.slice(0, 0, 10), scalar(1.0), {}, tight(), gen);
  EXPECT_TRUE(torch::allclose(exact.log_det, torch::full({10}, 5.0, torch::kFloat64)));
}

// V3: A = diag(a, b): z(T) = (e^{aT} x₁, e^{bT} x₂), ∫tr = (a + b)T, exactly for the exact trace
// and for every Rademacher draw (εᵢ² = 1); the kinetic penalty ∫½‖Az‖²/D dt and the Jacobian
// penalty ∫‖A‖²_F/D dt in closed form.
TEST(CnfTest, DiagonalLinearFieldHasClosedForms) {
  const double a = 0.7, b = -1.3, T = 0.8;
  auto A = torch::tensor({{a, 0.0}, {0.0, b}}, torch::kFloat64);
  auto gen = joule::make_generator(4);
  auto x = torch::randn({6, 2}, gen, torch::kFloat64);
  auto z_true = torch::stack({x.select(1, 0) * std::exp(a * T), x.select(1, 1) * std::exp(b * T)}, 1);
  auto x1 = x.select(1, 0), x2 = x.select(1, 1);
  auto kinetic_true = (0.5 * a * x1.pow(2) * (std::exp(2 * a * T) - 1) + 0.5 * b * x2.pow(2) * (std::exp(2 * b * T) - 1)) / (2 * 2);
  for (auto div : {Divergence::kExact, Divergence::kHutchinson}) {
    auto sol = joule::integrate_cnf(linear_field(A), x, scalar(T), {},
                                    tight().divergence(div).probe(ProbeKind::kRademacher).penalties(true), gen);
    EXPECT_TRUE(torch::allclose(sol.z, z_true, 1e-7, 1e-9));
    EXPECT_TRUE(torch::allclose(sol.log_det, torch::full({6}, (a + b) * T, torch::kFloat64), 1e-8, 1e-9));
    EXPECT_TRUE(torch::allclose(sol.kinetic, kinetic_true, 1e-6, 1e-8));
    // Exact: ‖A‖²_F = a² + b²; Rademacher: ‖Aε‖² = a² + b² for every draw.
    EXPECT_TRUE(torch::allclose(sol.jacobian, torch::full({6}, (a * a + b * b) / 2 * T, torch::kFloat64), 1e-8, 1e-9));
  }
}

// V4: a rotation keeps the norm and the volume; the reverse solve returns to x.
TEST(CnfTest, RotationPreservesVolumeAndTheReverseSolveInverts) {
  auto A = torch::tensor({{0.0, -1.0}, {1.0, 0.0}}, torch::kFloat64);
  auto gen = joule::make_generator(5);
  auto x = torch::randn({8, 2}, gen, torch::kFloat64);
  auto opts = CnfSolveOptions().solver(joule::ode::SolverOptions().rtol(1e-6).atol(1e-8));
  auto fwd = joule::integrate_cnf(linear_field(A), x, scalar(2.0), {}, opts, gen);
  EXPECT_TRUE(torch::allclose(fwd.log_det, torch::zeros({8}, torch::kFloat64), 0, 1e-12));
  EXPECT_TRUE(torch::allclose(fwd.z.norm(2, 1), x.norm(2, 1), 1e-5, 1e-6));
  auto back = joule::integrate_cnf(linear_field(A), fwd.z, scalar(2.0), {}, opts.reverse(true).log_det(false), gen);
  EXPECT_LT((back.z - x).abs().max().item<double>(), 1e-4);
  EXPECT_FALSE(back.log_det.defined());
}

joule::ContinuousFlow small_flow(int64_t blocks, double end_time = 0.5) {
  joule::ContinuousFlow flow(joule::ContinuousFlowOptions(2)
                                 .net(joule::OdeNetOptions(2).hidden({16, 16}))
                                 .blocks(blocks)
                                 .end_time(end_time)
                                 .solver(joule::ode::SolverOptions().rtol(1e-8).atol(1e-8))
                                 .eval_solver(joule::ode::SolverOptions().rtol(1e-8).atol(1e-8)));
  flow->reset_parameters(joule::make_generator(6));
  flow->to(torch::kFloat64);
  return flow;
}

std::vector<torch::Tensor> loss_gradients(joule::ContinuousFlow& flow, const torch::Tensor& x) {
  auto gen = joule::make_generator(7);
  auto terms = flow->training_terms(x, gen);
  auto loss = -terms.log_prob.mean();
  for (const auto& [name, p] : terms.penalties) loss = loss + p;
  return torch::autograd::grad({loss}, flow->parameters());
}

// V5: the adjoint's gradients (net weights and the learnable end time) agree with
// back-propagation through dopri5, with and without penalties, for one and two blocks.
TEST(CnfTest, AdjointGradientsMatchBackpropagation) {
  auto gen = joule::make_generator(8);
  auto x = torch::randn({16, 2}, gen, torch::kFloat64);
  for (int64_t blocks : {1, 2}) {
    for (double lambda : {0.0, 0.1}) {
      auto flow = small_flow(blocks);
      flow->options.kinetic(lambda).jacobian(lambda);
      auto direct = loss_gradients(flow, x);
      flow->options.adjoint(true);
      auto adjoint = loss_gradients(flow, x);
      EXPECT_GT(flow->last_backward_nfe(), 0);
      ASSERT_EQ(direct.size(), adjoint.size());
      // Relative to the whole gradient: single parameters' gradients can be ~1e-5 of it.
      std::vector<torch::Tensor> flat, flat_direct;
      for (size_t i = 0; i < direct.size(); ++i) {
        flat.push_back((direct[i] - adjoint[i]).flatten());
        flat_direct.push_back(direct[i].flatten());
      }
      const double scale = torch::cat(flat_direct).norm().item<double>();
      EXPECT_LT(torch::cat(flat).norm().item<double>() / scale, 1e-4) << "blocks " << blocks << " lambda " << lambda;
      for (size_t i = 0; i < direct.size(); ++i) {
        EXPECT_LT((direct[i] - adjoint[i]).norm().item<double>(), 1e-4 * scale)
            << "blocks " << blocks << " lambda " << lambda << " parameter " << i;
      }
    }
  }
}

// The end time's gradient (through the rescaled time u = t/T) against central differences.
TEST(CnfTest, EndTimeGradientMatchesFiniteDifferences) {
  auto gen = joule::make_generator(9);
  auto x = torch::randn({16, 2}, gen, torch::kFloat64);
  auto flow = small_flow(1);
  auto& s = flow->sqrt_end_times[0];
  auto mean_log_p = [&]() { return flow->log_prob(x).mean(); };
  auto g = torch::autograd::grad({mean_log_p()}, {s})[0].item<double>();
  const double h = 1e-4, s0 = s.item<double>();
  torch::NoGradGuard no_grad;
  s.fill_(s0 + h);
  const double up = mean_log_p().item<double>();
  s.fill_(s0 - h);
  const double down = mean_log_p().item<double>();
  s.fill_(s0);
  EXPECT_NEAR(g, (up - down) / (2 * h), 1e-5 * std::max(1.0, std::abs(g)));
}

// log p integrates to one, and Hutchinson's training estimate is unbiased for it.
TEST(CnfTest, DensityIsNormalisedAndTheEstimateUnbiased) {
  auto flow = small_flow(2, 1.0);
  torch::NoGradGuard no_grad;
  const int64_t n = 241;
  const double e = 6.0, h = 2 * e / (n - 1);
  auto axis = torch::linspace(-e, e, n, torch::kFloat64);
  auto grid = torch::stack(torch::meshgrid({axis, axis}, "ij"), -1).reshape({-1, 2});
  const double mass = flow->log_prob(grid).exp().sum().item<double>() * h * h;
  EXPECT_NEAR(mass, 1.0, 5e-3);

  auto gen = joule::make_generator(10);
  auto x = torch::randn({4, 2}, gen, torch::kFloat64);
  auto exact = flow->log_prob(x);
  flow->options.divergence(Divergence::kHutchinson).probe(ProbeKind::kGaussian);
  auto xs = x.repeat({5000, 1});
  auto estimate = flow->training_terms(xs, gen).log_prob.view({5000, 4});
  auto se = estimate.std(0) / std::sqrt(5000.0);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(estimate.mean(0)[i].item<double>(), exact[i].item<double>(), 4 * se[i].item<double>() + 1e-6);
  }
  // The exact training path equals log_prob.
  flow->options.divergence(Divergence::kExact);
  EXPECT_TRUE(torch::allclose(flow->training_terms(x, gen).log_prob, exact, 1e-9, 1e-9));
}

TEST(CnfTest, SamplesInvertTheForwardFlow) {
  auto flow = small_flow(2, 1.0);
  torch::NoGradGuard no_grad;
  auto gen = joule::make_generator(11);
  auto x = flow->sample(64, gen);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{64, 2}));
  // Forward again: the base point the sample came from.
  auto gen2 = joule::make_generator(11);
  auto z = torch::randn({64, 2}, gen2, torch::kFloat64);
  auto zero = torch::zeros({64}, torch::kFloat64);
  at::Tensor y = x;
  auto g = joule::make_generator(0);
  for (size_t b = 0; b < flow->nets.size(); ++b) {
    auto net = flow->nets[b];
    joule::CnfField field = [net](const torch::Tensor& t, const torch::Tensor& zz, const torch::Tensor& v) mutable {
      return net->forward_with_tangents(t, zz, v);
    };
    y = joule::integrate_cnf(field, y, flow->sqrt_end_times[b].pow(2), {},
                             CnfSolveOptions().log_det(false).solver(flow->options.eval_solver()), g)
            .z;
  }
  EXPECT_LT((y - z).abs().max().item<double>(), 1e-5);
  EXPECT_GT(flow->last_nfe(), 0);
}

// Per-sample step control in evaluation: the same log p and samples as the joint solve (within
// the tolerances), the Hutchinson probe travelling with its row, and no more rows evaluated.
TEST(CnfTest, PerSampleStepControlAgreesWithTheJointSolve) {
  auto flow = small_flow(2, 1.0);
  flow->options.eval_solver(joule::ode::SolverOptions().rtol(1e-6).atol(1e-6));
  torch::NoGradGuard no_grad;
  auto gen = joule::make_generator(14);
  auto x = torch::randn({300, 2}, gen, torch::kFloat64) * 2;
  auto joint = flow->log_prob(x);
  const int64_t joint_rows = flow->last_row_evaluations();
  flow->options.per_sample(true);
  auto each = flow->log_prob(x);
  EXPECT_TRUE(torch::allclose(each, joint, 1e-4, 1e-4)) << (each - joint).abs().max();
  EXPECT_LE(flow->last_row_evaluations(), joint_rows);  // (savings on a mixed batch: OdeTest.PerSampleStepControl...)
  auto z = torch::randn({50, 2}, gen, torch::kFloat64);
  auto s_each = flow->inverse(z);
  flow->options.per_sample(false);
  EXPECT_TRUE(torch::allclose(s_each, flow->inverse(z), 1e-4, 1e-4));
  // Hutchinson with the probe in the state: the per-row estimate equals the joint one for the same probe.
  auto net = flow->nets[0];
  joule::CnfField field = [net](const torch::Tensor& t, const torch::Tensor& zz, const torch::Tensor& v) mutable {
    return net->forward_with_tangents(t, zz, v);
  };
  auto opts = CnfSolveOptions().divergence(Divergence::kHutchinson).solver(joule::ode::SolverOptions().rtol(1e-7).atol(1e-7));
  auto g1 = joule::make_generator(15), g2 = joule::make_generator(15);
  auto a = joule::integrate_cnf(field, x, scalar(0.7), {}, opts, g1);
  auto b = joule::integrate_cnf(field, x, scalar(0.7), {}, opts.per_sample(true), g2);
  EXPECT_TRUE(torch::allclose(a.log_det, b.log_det, 1e-4, 1e-5));
  EXPECT_GT(b.per_sample.row_evaluations, 0);
}

TEST(CnfTest, BadInputGetsAClearError) {
  auto flow = small_flow(1);
  auto x = torch::zeros({3, 2}, torch::kFloat64);
  x[1][0] = std::nan("");
  try {
    flow->log_prob(x);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
  EXPECT_THROW(flow->log_prob(torch::zeros({3, 3}, torch::kFloat64)), c10::Error);
  EXPECT_THROW(joule::ContinuousFlow(joule::ContinuousFlowOptions(2).end_time(0)), c10::Error);
  EXPECT_THROW(joule::parse_divergence("brute"), c10::Error);
}

}  // namespace
