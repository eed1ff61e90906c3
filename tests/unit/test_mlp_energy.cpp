// MlpEnergy: the hand-written input gradient equals autograd for every activation (with and
// without spectral norm), second derivatives work, and bad inputs are rejected clearly.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include "joule/core/runtime.h"
#include "joule/models/mlp_energy.h"

namespace {

using joule::Activation;

struct Case {
  Activation act;
  bool spectral_norm;
};

class MlpEnergyGradTest : public ::testing::TestWithParam<Case> {};

TEST_P(MlpEnergyGradTest, AnalyticInputGradientMatchesAutograd) {
  const auto c = GetParam();
  auto gen = joule::make_generator(11);
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(5).width(32).depth(3).activation(c.act).spectral_norm(c.spectral_norm));
  model->reset_parameters(gen);
  model->to(torch::kFloat64);
  if (c.spectral_norm) {
    // A few training-mode passes so that the power-iteration vectors are not at their init.
    for (int i = 0; i < 3; ++i) model->energy(torch::randn({4, 5}, gen, torch::kFloat64));
  }
  model->eval();  // as samplers run it: no power-iteration update inside the reference pass
  auto x = torch::randn({64, 5}, gen, torch::kFloat64) * 2.0;
  auto fast = model->energy_and_grad(x);
  auto ref = joule::energy_and_grad_autograd(*model, x);
  // Same arithmetic in a different order: agreement to double rounding.
  EXPECT_TRUE(torch::allclose(fast.energy, ref.energy, 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(fast.grad, ref.grad, 1e-10, 1e-12)) << (fast.grad - ref.grad).abs().max();
}

INSTANTIATE_TEST_SUITE_P(Activations, MlpEnergyGradTest,
                         ::testing::Values(Case{Activation::kSiLU, false}, Case{Activation::kLeakyReLU, false},
                                           Case{Activation::kELU, false}, Case{Activation::kSoftplus, false},
                                           Case{Activation::kSiLU, true}, Case{Activation::kLeakyReLU, true}));

TEST(MlpEnergyTest, EnergyIsOneScalarPerSampleAndFlattensEvents) {
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(12).width(8).depth(2).event_shape({3, 4}));
  auto e = model->energy(torch::randn({7, 3, 4}));
  EXPECT_EQ(e.sizes(), torch::IntArrayRef({7}));
  auto eg = model->energy_and_grad(torch::randn({7, 3, 4}));
  EXPECT_EQ(eg.grad.sizes(), torch::IntArrayRef({7, 3, 4}));
  EXPECT_EQ(model->event_shape(), std::vector<int64_t>({3, 4}));
}

TEST(MlpEnergyTest, SecondDerivativeMatchesFiniteDifferences) {
  // d/dθ of ‖∇ₓE‖² needs double backward through the network (score matching, LSD, ICD).
  auto gen = joule::make_generator(3);
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(3).width(16).depth(2).activation(Activation::kSiLU));
  model->reset_parameters(gen);
  model->to(torch::kFloat64);
  auto x = torch::randn({5, 3}, gen, torch::kFloat64).requires_grad_(true);
  auto objective = [&]() {
    auto e = model->energy(x);
    auto g = torch::autograd::grad({e.sum()}, {x}, {}, true, true)[0];
    return g.pow(2).sum();
  };
  auto w = model->weights[1];
  auto analytic = torch::autograd::grad({objective()}, {w})[0];
  auto set = [&](int64_t idx, double v) {
    torch::NoGradGuard no_grad;
    w.view(-1)[idx].fill_(v);
  };
  const double h = 1e-6;
  for (int64_t idx : {0, 7, 100, 255}) {
    const double orig = w.view(-1)[idx].item<double>();
    set(idx, orig + h);
    const double up = objective().item<double>();
    set(idx, orig - h);
    const double down = objective().item<double>();
    set(idx, orig);
    const double fd = (up - down) / (2 * h);
    EXPECT_NEAR(analytic.view(-1)[idx].item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd)));
  }
}

TEST(MlpEnergyTest, WrongFeatureCountIsAClearError) {
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(2));
  try {
    model->energy(torch::randn({4, 3}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expects 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(joule::MlpEnergy(joule::MlpEnergyOptions(2).depth(0)), c10::Error);
  EXPECT_THROW(joule::MlpEnergy(joule::MlpEnergyOptions(6).event_shape({2, 2})), c10::Error);
}

TEST(MlpEnergyTest, SpectralNormBoundsEachLayerToUnitNorm) {
  auto gen = joule::make_generator(5);
  auto model = joule::MlpEnergy(joule::MlpEnergyOptions(4).width(20).depth(2).spectral_norm(true));
  model->reset_parameters(gen);
  // Power iteration converges over training-mode passes.
  for (int i = 0; i < 50; ++i) model->energy(torch::randn({2, 4}, gen));
  for (size_t i = 0; i < model->weights.size(); ++i) {
    auto w = model->effective_weight(i, false).detach();
    const double top = at::linalg_svdvals(w)[0].item<double>();
    EXPECT_NEAR(top, 1.0, 1e-3) << "layer " << i;
  }
}

TEST(MlpEnergyTest, ResetParametersIsReproducibleFromTheGenerator) {
  auto a = joule::MlpEnergy(joule::MlpEnergyOptions(2));
  auto b = joule::MlpEnergy(joule::MlpEnergyOptions(2));
  auto g1 = joule::make_generator(42), g2 = joule::make_generator(42);
  a->reset_parameters(g1);
  b->reset_parameters(g2);
  for (size_t i = 0; i < a->weights.size(); ++i) EXPECT_TRUE(torch::equal(a->weights[i], b->weights[i]));
}

}  // namespace

namespace {

TEST(MlpEnergyTest, Float32FastPathMatchesAutograd) {
  // float32 takes the fused SiLU kernel and the oneDNN sgemm; compare with autograd in float64
  // (relative error of float32 arithmetic through three layers: ~1e-6).
  auto gen = joule::make_generator(21);
  for (auto act : {joule::Activation::kSiLU, joule::Activation::kSoftplus}) {
    auto model = joule::MlpEnergy(joule::MlpEnergyOptions(3).width(64).depth(3).activation(act));
    model->reset_parameters(gen);
    model->eval();
    auto x = torch::randn({300, 3}, gen);
    auto fast = model->energy_and_grad(x);
    model->to(torch::kFloat64);
    auto ref = joule::energy_and_grad_autograd(*model, x.to(torch::kFloat64));
    EXPECT_TRUE(torch::allclose(fast.grad.to(torch::kFloat64), ref.grad, 1e-4, 1e-5))
        << (fast.grad.to(torch::kFloat64) - ref.grad).abs().max();
    EXPECT_TRUE(torch::allclose(fast.energy.to(torch::kFloat64), ref.energy, 1e-4, 1e-5));
  }
}

TEST(ActivationTest, FusedValueAndDerivativeMatchTheGenericOnes) {
  auto z = torch::linspace(-30, 30, 10001);
  for (auto act : {joule::Activation::kSiLU, joule::Activation::kLeakyReLU, joule::Activation::kELU,
                   joule::Activation::kSoftplus}) {
    auto both = joule::apply_activation_with_derivative(act, z);
    auto h = joule::apply_activation(act, z);
    EXPECT_TRUE(torch::allclose(both.value, h, 1e-6, 1e-6)) << joule::to_string(act);
    EXPECT_TRUE(torch::allclose(both.derivative, joule::activation_derivative(act, z, h), 1e-6, 1e-6));
    // And the derivative is right: central differences in float64.
    auto zd = z.to(torch::kFloat64);
    auto fd = (joule::apply_activation(act, zd + 1e-6) - joule::apply_activation(act, zd - 1e-6)) / 2e-6;
    auto away_from_kink = zd.abs() > 1e-3;  // LeakyReLU/ELU are not differentiable at 0
    EXPECT_TRUE(torch::allclose(both.derivative.to(torch::kFloat64).masked_select(away_from_kink),
                                fd.masked_select(away_from_kink), 1e-5, 1e-5))
        << joule::to_string(act);
  }
}

}  // namespace
