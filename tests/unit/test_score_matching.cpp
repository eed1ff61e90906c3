// Score matching: on Gaussians the objectives equal the Fisher divergence up to the known
// constant, and the gradients of every double-backward path match finite differences (double).
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/models/analytic.h"
#include "joule/models/mlp_energy.h"
#include "joule/objectives/score_matching.h"

namespace {

using joule::ProbeKind;

// Model N(μ, diag σ²) against data p = N(0, I_D):
//   ½E_p‖s_θ − s_p‖² = ½ Σ_i [ (1 − 1/σᵢ²)² + μᵢ²/σᵢ⁴ ],   ½E_p‖s_p‖² = D/2.
double fisher(const at::Tensor& mu, const at::Tensor& sd) {
  auto inv2 = sd.pow(-2);
  return 0.5 * ((1 - inv2).pow(2) + mu.pow(2) * inv2.pow(2)).sum().item<double>();
}

struct GaussianCase {
  at::Tensor mu, sd, x;
};

GaussianCase gaussian_case(int64_t n) {
  auto gen = joule::make_generator(10);
  GaussianCase c;
  c.mu = at::tensor({0.5, -1.0, 0.25}, at::kDouble);
  c.sd = at::tensor({0.8, 1.3, 1.0}, at::kDouble);
  c.x = at::randn({n, 3}, gen, at::kDouble);
  return c;
}

// |mean − expected| within 4 standard errors of the per-sample losses.
void expect_mean_near(const at::Tensor& per_sample, double expected, const char* what) {
  const double mean = per_sample.mean().item<double>();
  const double se = per_sample.std().item<double>() / std::sqrt(double(per_sample.size(0)));
  EXPECT_NEAR(mean, expected, 4 * se) << what << ": mean " << mean << ", se " << se;
}

TEST(ScoreMatchingTest, ExactObjectiveIsFisherDivergenceMinusConstant) {
  auto c = gaussian_case(40000);
  auto model = joule::GaussianEnergy(c.mu, c.sd);
  auto loss = joule::exact_score_matching_loss(*model, c.x);
  // Per sample the loss is ½‖(x − μ)/σ²‖² − Σ 1/σ²: check it exactly, then its mean.
  auto expected = ((c.x - c.mu) / c.sd.pow(2)).pow(2).sum(1).mul(0.5) - c.sd.pow(-2).sum();
  EXPECT_TRUE(at::allclose(loss, expected, 1e-10, 1e-10));
  expect_mean_near(loss, fisher(c.mu, c.sd) - 1.5, "exact SM");
}

TEST(ScoreMatchingTest, SlicedObjectiveIsFisherDivergenceMinusConstant) {
  auto c = gaussian_case(40000);
  auto model = joule::GaussianEnergy(c.mu, c.sd);
  auto gen = joule::make_generator(11);
  // The Gaussian's Hessian is diagonal, so Rademacher slices (vᵢ² = 1) are exact per sample.
  auto exact = joule::exact_score_matching_loss(*model, c.x);
  auto rad = joule::sliced_score_matching_loss(*model, c.x, ProbeKind::kRademacher, 1, true, gen);
  EXPECT_TRUE(at::allclose(rad, exact, 1e-10, 1e-10));
  for (bool vr : {true, false}) {
    auto g = joule::sliced_score_matching_loss(*model, c.x, ProbeKind::kGaussian, 2, vr, gen);
    expect_mean_near(g, fisher(c.mu, c.sd) - 1.5, vr ? "SSM-VR gaussian" : "SSM gaussian");
  }
}

TEST(ScoreMatchingTest, DenoisingObjectiveIsNoisyFisherDivergencePlusConstant) {
  // p_σ = N(0, (1 + σ²)I), s_{p_σ} = −x/(1 + σ²). With v = 1 + σ²:
  //   ½E‖s_θ − s_{p_σ}‖² = ½ Σ [ v(1/σᵢ² − 1/v)² + μᵢ²/σᵢ⁴ ],  constant D/(2σ²) − D/(2v).
  auto c = gaussian_case(60000);
  auto model = joule::GaussianEnergy(c.mu, c.sd);
  auto gen = joule::make_generator(12);
  const double sigma = 0.5, v = 1 + sigma * sigma;
  auto loss = joule::denoising_score_matching_loss(*model, c.x, sigma, gen);
  auto inv2 = c.sd.pow(-2);
  const double noisy_fisher = 0.5 * (v * (inv2 - 1 / v).pow(2) + c.mu.pow(2) * inv2.pow(2)).sum().item<double>();
  expect_mean_near(loss, noisy_fisher + 3 / (2 * sigma * sigma) - 3 / (2 * v), "DSM");
}

TEST(ScoreMatchingTest, TemperatureScalesTheScore) {
  // At temperature T the model is N(μ, Tσ²): the objective must use s = −∇E/T.
  auto c = gaussian_case(1000);
  auto model = joule::GaussianEnergy(c.mu, c.sd);
  model->set_temperature(2.0);
  auto loss = joule::exact_score_matching_loss(*model, c.x);
  auto var = c.sd.pow(2) * 2.0;
  auto expected = ((c.x - c.mu) / var).pow(2).sum(1).mul(0.5) - var.reciprocal().sum();
  EXPECT_TRUE(at::allclose(loss, expected, 1e-10, 1e-10));
}

// ---- finite-difference checks of the θ-gradients (double backward through the MLP)

double central_difference(at::Tensor p, int64_t k, const std::function<double()>& f, double h = 1e-6) {
  auto set = [&](double v) {
    torch::NoGradGuard no_grad;
    p.view({-1})[k] = v;
  };
  const double old = p.view({-1})[k].item<double>();
  set(old + h);
  const double up = f();
  set(old - h);
  const double down = f();
  set(old);
  return (up - down) / (2 * h);
}

void check_gradients(const std::function<at::Tensor(uint64_t)>& loss_fn, torch::nn::Module& model) {
  // The same probe/noise seed for the analytic gradient and every perturbed evaluation.
  const uint64_t seed = 77;
  auto loss = loss_fn(seed);
  auto params = model.parameters();
  // allow_unused: the output bias of an energy never reaches its score.
  auto grads = torch::autograd::grad({loss}, params, {}, c10::nullopt, false, /*allow_unused=*/true);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) grads[i] = at::zeros_like(params[i]);
    const int64_t n = params[i].numel();
    for (int64_t k : {int64_t{0}, n / 2, n - 1}) {
      const double fd = central_difference(params[i], k, [&] { return loss_fn(seed).item<double>(); });
      const double an = grads[i].view({-1})[k].item<double>();
      // Central differences in double: error O(h²) + rounding ~1e-9; relative 1e-5 is ample.
      EXPECT_NEAR(an, fd, 1e-5 * std::max(1.0, std::abs(fd))) << "parameter " << i << " entry " << k;
    }
  }
}

joule::MlpEnergy small_mlp() {
  auto gen = joule::make_generator(13);
  auto m = joule::MlpEnergy(joule::MlpEnergyOptions(3).width(8).depth(2).activation(joule::Activation::kSiLU));
  m->reset_parameters(gen);
  m->to(at::kDouble);
  return m;
}

TEST(ScoreMatchingTest, GradientsMatchFiniteDifferences) {
  auto model = small_mlp();
  auto x = at::randn({6, 3}, joule::make_generator(14), at::kDouble);
  check_gradients([&](uint64_t) { return joule::exact_score_matching_loss(*model, x).mean(); }, *model);
  for (auto kind : {ProbeKind::kRademacher, ProbeKind::kGaussian}) {
    check_gradients(
        [&](uint64_t s) {
          auto g = joule::make_generator(s);
          return joule::sliced_score_matching_loss(*model, x, kind, 2, true, g).mean();
        },
        *model);
  }
  check_gradients(
      [&](uint64_t s) {
        auto g = joule::make_generator(s);
        return joule::denoising_score_matching_loss(*model, x, 0.3, g).mean();
      },
      *model);
}

TEST(ScoreMatchingTest, ObjectiveReportsLossAndRejectsBadOptions) {
  auto model = small_mlp();
  auto gen = joule::make_generator(15);
  joule::Batch batch{at::randn({16, 3}, gen, at::kDouble), {}};
  for (auto kind : {joule::ScoreMatchingKind::kExact, joule::ScoreMatchingKind::kSliced,
                    joule::ScoreMatchingKind::kDenoising}) {
    joule::ScoreMatching sm(joule::ScoreMatchingOptions().kind(kind));
    auto out = sm.compute(*model, batch, gen);
    EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
    EXPECT_EQ(out.metrics.front().first, sm.name() + "_loss");
    out.loss.backward();
  }
  EXPECT_THROW(joule::ScoreMatching(joule::ScoreMatchingOptions().noise(0)), c10::Error);
  EXPECT_THROW(joule::ScoreMatching(joule::ScoreMatchingOptions().projections(0)), c10::Error);
  EXPECT_THROW(joule::parse_score_matching_kind("ssm"), c10::Error);
}

}  // namespace
