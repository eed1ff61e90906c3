// Sampler::run and the step API: a Langevin chain that keeps the autograd graph through its last
// k steps gives the exact derivative of the final state with respect to the model parameters
// (and the start), checked against central finite differences in double precision; graph-free
// runs reproduce sample(); non-differentiable samplers refuse a graph with a clear error.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/models/analytic.h"
#include "joule/models/mlp_energy.h"
#include "joule/samplers/langevin.h"
#include "joule/samplers/mala.h"
#include "support/test_support.h"

namespace {

// A small double-precision MLP energy and a fixed readout w of the final states.
struct ChainCase {
  joule::MlpEnergy model{nullptr};
  at::Tensor x0, w;
  ChainCase() {
    auto gen = joule::make_generator(11);
    model = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(8).depth(2));
    model->reset_parameters(gen);
    model->to(at::kDouble);
    x0 = at::randn({5, 2}, gen, at::kDouble);
    w = at::randn({5, 2}, gen, at::kDouble);
  }
};

// f = Σ w ⊙ x_K for a chain from x0 whose first `plain` steps run graph-free (from `seed`) and
// whose remaining `graph` steps keep the graph.
at::Tensor readout(joule::Langevin& sampler, joule::EnergyModel& model, const at::Tensor& x0, const at::Tensor& w,
                   int64_t plain, int64_t graph, uint64_t seed) {
  auto gen = joule::make_generator(seed);
  auto chain = joule::Langevin(joule::LangevinOptions(sampler.options).steps(plain + graph));
  auto r = chain.run(model, x0, gen, joule::ChainRunOptions().keep_graph_last(graph));
  return (r.x * w).sum();
}

TEST(SamplerRunTest, GraphThroughEveryStepMatchesFiniteDifferencesInTheParameters) {
  ChainCase s;
  joule::Langevin sampler(joule::LangevinOptions(4).step_size(0.05).noise(0.1).grad_clip(50.0));
  auto f = readout(sampler, *s.model, s.x0, s.w, 0, 4, 3);
  auto params = s.model->parameters();
  // The output bias does not change ∇ₓE, so nothing depends on it (allow_unused: zero).
  auto grads = torch::autograd::grad({f}, params, {}, c10::nullopt, false, /*allow_unused=*/true);
  const double h = 1e-6;
  for (size_t i = 0; i < params.size(); ++i) {
    auto p = params[i];
    for (int64_t j : {int64_t(0), p.numel() / 2, p.numel() - 1}) {
      double saved;
      {
        torch::NoGradGuard ng;
        saved = p.view(-1)[j].item<double>();
        p.view(-1)[j].fill_(saved + h);
      }
      const double up = readout(sampler, *s.model, s.x0, s.w, 0, 4, 3).item<double>();
      {
        torch::NoGradGuard ng;
        p.view(-1)[j].fill_(saved - h);
      }
      const double down = readout(sampler, *s.model, s.x0, s.w, 0, 4, 3).item<double>();
      {
        torch::NoGradGuard ng;
        p.view(-1)[j].fill_(saved);
      }
      const double fd = (up - down) / (2 * h);
      const double ad = grads[i].defined() ? grads[i].view(-1)[j].item<double>() : 0.0;
      EXPECT_NEAR(ad, fd, 1e-6 * std::max(1.0, std::abs(fd))) << "parameter " << i << " element " << j;
    }
  }
}

TEST(SamplerRunTest, GraphThroughEveryStepMatchesFiniteDifferencesInTheStart) {
  ChainCase s;
  joule::Langevin sampler(joule::LangevinOptions(3).step_size(0.05).noise(0.1));
  auto x0 = s.x0.clone().requires_grad_(true);
  auto f = readout(sampler, *s.model, x0, s.w, 0, 3, 5);
  auto g = torch::autograd::grad({f}, {x0})[0];
  const double h = 1e-6;
  for (int64_t j = 0; j < x0.numel(); ++j) {
    auto up = s.x0.clone(), down = s.x0.clone();
    up.view(-1)[j] += h;
    down.view(-1)[j] -= h;
    const double fd = (readout(sampler, *s.model, up, s.w, 0, 3, 5).item<double>() -
                       readout(sampler, *s.model, down, s.w, 0, 3, 5).item<double>()) /
                      (2 * h);
    EXPECT_NEAR(g.view(-1)[j].item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd))) << "element " << j;
  }
}

TEST(SamplerRunTest, GraphOfTheLastKStepsIsTheDerivativeThroughThoseStepsOnly) {
  // K = 5 steps, the last k = 2 with a graph: the gradient is that of the last two steps from
  // the (fixed) state after three, which finite differences reproduce by perturbing θ only there.
  ChainCase s;
  joule::Langevin sampler(joule::LangevinOptions(5).step_size(0.05).noise(0.1));
  auto f = readout(sampler, *s.model, s.x0, s.w, 3, 2, 9);
  auto p = s.model->parameters()[0];
  auto g = torch::autograd::grad({f}, {p})[0];
  // The state after 3 graph-free steps and the generator state the last 2 steps start from.
  auto gen = joule::make_generator(9);
  auto x3 = joule::Langevin(joule::LangevinOptions(sampler.options).steps(3)).sample(*s.model, s.x0, gen);
  const auto state = gen.get_state();
  auto last_two = [&] {
    auto g2 = joule::make_generator(0);
    g2.set_state(state);
    auto x = joule::Langevin(joule::LangevinOptions(sampler.options).steps(2)).sample(*s.model, x3, g2);
    return (x * s.w).sum().item<double>();
  };
  const double h = 1e-6;
  for (int64_t j : {int64_t(0), p.numel() - 1}) {
    torch::NoGradGuard ng;
    const double saved = p.view(-1)[j].item<double>();
    p.view(-1)[j].fill_(saved + h);
    const double up = last_two();
    p.view(-1)[j].fill_(saved - h);
    const double down = last_two();
    p.view(-1)[j].fill_(saved);
    EXPECT_NEAR(g.view(-1)[j].item<double>(), (up - down) / (2 * h), 1e-6) << "element " << j;
  }
  // And the value is the graph-free chain's, up to rounding of the analytic vs autograd gradient.
  auto gen_full = joule::make_generator(9);
  auto x5 = sampler.sample(*s.model, s.x0, gen_full);
  EXPECT_NEAR(f.item<double>(), (x5 * s.w).sum().item<double>(), 1e-10);
}

TEST(SamplerRunTest, GraphFreeRunsReproduceSampleAndRecordTrajectories) {
  auto model = joule::GaussianEnergy(torch::tensor({1.0f, -1.0f}), torch::tensor({1.0f, 0.5f}));
  joule::Langevin sampler(joule::LangevinOptions::ula(0.01, 12));
  auto x0 = torch::zeros({7, 2});
  auto g1 = joule::make_generator(4), g2 = joule::make_generator(4), g3 = joule::make_generator(4);
  auto a = sampler.sample(*model, x0, g1);
  auto b = sampler.run(*model, x0, g2).x;
  EXPECT_TRUE(torch::equal(a, b));
  auto r = sampler.run(*model, x0, g3, joule::ChainRunOptions().record_every(4));
  ASSERT_EQ(r.trajectory.size(), 3u);  // after steps 4, 8, 12
  EXPECT_TRUE(torch::allclose(r.trajectory.back(), a, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(r.x, a, 1e-6, 1e-6));
  EXPECT_FALSE(r.x.requires_grad());
  EXPECT_EQ(sampler.steps(), 12);
}

TEST(SamplerRunTest, NonDifferentiableSamplersRefuseAGraph) {
  auto model = joule::GaussianEnergy(torch::tensor({0.0f}), torch::tensor({1.0f}));
  joule::Mala mala(joule::MalaOptions(5));
  auto gen = joule::make_generator(1);
  const auto msg = joule::testing::error_of(
      [&] { mala.run(*model, torch::zeros({3, 1}), gen, joule::ChainRunOptions().keep_graph_last(1)); });
  EXPECT_NE(msg.find("mala sampler cannot keep an autograd graph"), std::string::npos) << msg;
  // Without a graph, step() is one transition of the sampler.
  auto x = mala.step(*model, torch::zeros({3, 1}), gen);
  EXPECT_EQ(x.sizes(), torch::IntArrayRef({3, 1}));
  EXPECT_EQ(mala.stats().steps, 1);
}

}  // namespace
