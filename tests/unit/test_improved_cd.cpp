// Improved contrastive divergence (arXiv:2012.01316): the KL term's gradient against finite
// differences, the stop-gradient on the energy's own parameters, plain CD when both extra terms
// are off, and the entropy term's value.
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/nn/utils/clip_grad.h>

#include "joule/core/runtime.h"
#include "joule/eval/entropy.h"
#include "joule/models/mlp_energy.h"
#include "joule/objectives/improved_cd.h"
#include "joule/samplers/chains.h"
#include "joule/samplers/langevin.h"

namespace {

// Double precision for finite differences; float32 where a replay buffer (float32 states) feeds it.
joule::MlpEnergy tiny_mlp(uint64_t seed, torch::Dtype dtype = torch::kFloat64) {
  auto m = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(5).depth(2).activation(joule::Activation::kSiLU));
  m->reset_parameters(joule::make_generator(seed));
  m->to(dtype);
  return m;
}

std::vector<torch::Tensor> grads_of(torch::nn::Module& m) {
  std::vector<torch::Tensor> g;
  for (auto& p : m.parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return g;
}

void zero_grads(torch::nn::Module& m) {
  for (auto& p : m.parameters())
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

// A noise-free one-step "Langevin" chain from the data: x⁻ = x_kl = x − a∇E_θ(x), so the whole
// loss is a deterministic function of θ that finite differences can check:
//   F(θ) = mean E_θ(x⁺) − mean E_θ(stop(x⁻)) + w · mean E_θ0(x_kl(θ)).
TEST(ImprovedCdTest, KlTermGradientMatchesFiniteDifferences) {
  auto model = tiny_mlp(1);
  auto gen = joule::make_generator(2);
  auto x_pos = torch::randn({6, 2}, gen, torch::kFloat64);
  const double a = 0.3, w = 0.7;
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions(1).step_size(a).noise(0.0));
  joule::ImprovedContrastiveDivergence icd(
      joule::ImprovedCdOptions().l2_energy(0.0).kl_weight(w).kl_steps(1).entropy_weight(0.0), sampler);
  auto out = icd.compute(*model, {x_pos, {}}, gen);
  zero_grads(*model);
  out.loss.backward();
  auto analytic = grads_of(*model);

  // θ0: a frozen copy for E_θ̄ and for the negatives' value (they carry no gradient).
  auto frozen = tiny_mlp(1);
  auto x_neg0 = (x_pos - a * frozen->energy_and_grad(x_pos).grad).detach();
  auto F = [&](joule::MlpEnergyImpl& m) {
    torch::NoGradGuard no_grad;
    auto x_kl = x_pos - a * m.energy_and_grad(x_pos).grad;
    return (m.energy(x_pos).mean() - m.energy(x_neg0).mean() + w * frozen->energy(x_kl).mean()).item<double>();
  };
  auto params = model->parameters();
  const double eps = 1e-6;
  double max_rel = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    auto flat = params[i].detach().view({-1});
    auto g = analytic[i].view({-1});
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double v = flat[j].item<double>();
      flat[j].fill_(v + eps);
      const double fp = F(*model);
      flat[j].fill_(v - eps);
      const double fm = F(*model);
      flat[j].fill_(v);
      const double fd = (fp - fm) / (2 * eps);
      const double ad = g[j].item<double>();
      max_rel = std::max(max_rel, std::abs(fd - ad) / std::max(1e-3, std::abs(fd)));
    }
  }
  // Central differences in double precision: truncation O(eps²) and rounding O(1e-16/eps).
  EXPECT_LT(max_rel, 1e-6);
}

// E = wᵀh(x) + c: ∇ₓE does not depend on the output bias c, so a KL term that reaches θ only
// through x_kl gives c no gradient; without the freeze it would add kl_weight to ∂/∂c.
TEST(ImprovedCdTest, KlTermReachesTheParametersOnlyThroughTheSamples) {
  auto gen_a = joule::make_generator(3);
  auto gen_b = joule::make_generator(3);
  auto x_pos = torch::randn({8, 2}, joule::make_generator(4), torch::kFloat64);
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions(3).step_size(0.1).noise(0.05));
  auto with_kl = tiny_mlp(5), without = tiny_mlp(5);
  joule::ImprovedContrastiveDivergence icd(joule::ImprovedCdOptions().l2_energy(0.0).kl_weight(1.0).entropy_weight(0.0),
                                           sampler);
  joule::ContrastiveDivergence cd(joule::ContrastiveDivergenceOptions(), sampler);
  auto out_a = icd.compute(*with_kl, {x_pos, {}}, gen_a);
  out_a.loss.backward();
  auto out_b = cd.compute(*without, {x_pos, {}}, gen_b);
  out_b.loss.backward();
  auto& bias_a = with_kl->biases.back();
  auto& bias_b = without->biases.back();
  // The CD part gives c exactly zero too (mean ∂E⁺/∂c − mean ∂E⁻/∂c = 1 − 1), so the two match.
  EXPECT_NEAR(bias_a.grad().item<double>(), bias_b.grad().item<double>(), 1e-12);
  // ... while the hidden weights do get a KL gradient.
  EXPECT_GT((with_kl->weights[0].grad() - without->weights[0].grad()).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(std::isfinite(out_a.metrics.back().second));
}

// With both extra terms off the update is PCD's, bit for bit, over several steps with Adam.
TEST(ImprovedCdTest, WithBothTermsOffTheUpdateIsPlainPcd) {
  auto run = [](bool improved) {
    auto model = tiny_mlp(6, torch::kFloat32);
    auto gen = joule::make_generator(7);
    auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::ula(0.05, 5));
    auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(64), std::vector<int64_t>{2});
    std::shared_ptr<joule::ContrastiveDivergence> objective;
    if (improved) {
      objective = std::make_shared<joule::ImprovedContrastiveDivergence>(
          joule::ImprovedCdOptions().l2_energy(0.1).kl_weight(0.0).entropy_weight(0.0), sampler, buffer);
    } else {
      objective = std::make_shared<joule::ContrastiveDivergence>(joule::ContrastiveDivergenceOptions().l2_energy(0.1),
                                                                 sampler, buffer);
    }
    torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-2));
    auto data = torch::randn({16, 2}, joule::make_generator(8));
    for (int s = 0; s < 4; ++s) {
      adam.zero_grad();
      objective->compute(*model, {data, {}}, gen).loss.backward();
      adam.step();
    }
    return model->parameters();
  };
  auto a = run(true), b = run(false);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
}

// The entropy term adds −w · mean log d(x_kl, reference) and nothing else; it starts only once
// the buffer holds entropy_min_buffer states.
TEST(ImprovedCdTest, EntropyTermAddsMinusWeightTimesMeanLogDistance) {
  auto loss_of = [](double weight, int64_t min_buffer) {
    auto model = tiny_mlp(9, torch::kFloat32);
    auto gen = joule::make_generator(10);
    auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::ula(0.05, 4));
    auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(200), std::vector<int64_t>{2});
    joule::ImprovedContrastiveDivergence icd(joule::ImprovedCdOptions()
                                                 .kl_weight(0.5)
                                                 .entropy_weight(weight)
                                                 .entropy_reference(50)
                                                 .entropy_min_buffer(min_buffer),
                                             sampler, buffer);
    auto data = torch::randn({32, 2}, joule::make_generator(11));
    return icd.compute(*model, {data, {}}, gen);
  };
  auto off = loss_of(0.0, 0), on = loss_of(0.3, 0), waiting = loss_of(0.3, 1000);
  double log_d = std::nan("");
  for (const auto& [k, v] : on.metrics)
    if (k == "nn_log_dist") log_d = v;
  ASSERT_TRUE(std::isfinite(log_d));
  // float32 losses of magnitude ~1: agreement to a few ulps.
  EXPECT_NEAR(on.loss.item<double>() - off.loss.item<double>(), -0.3 * log_d, 1e-5);
  // Below entropy_min_buffer (the buffer holds 200) there is no entropy term yet.
  EXPECT_NEAR(waiting.loss.item<double>(), off.loss.item<double>(), 1e-12);
}

TEST(ImprovedCdTest, RefusesSamplersItCannotDifferentiateAndBadOptions) {
  EXPECT_THROW(joule::ImprovedCdOptions().kl_steps(0).validate(), c10::Error);
  EXPECT_THROW(joule::ImprovedCdOptions().entropy_weight(-1).validate(), c10::Error);
  auto model = tiny_mlp(12);
  auto gen = joule::make_generator(13);
  class NotDifferentiable : public joule::Langevin {
   public:
    using joule::Langevin::Langevin;
    bool differentiable() const override { return false; }
  };
  auto sampler = std::make_shared<NotDifferentiable>(joule::LangevinOptions(2));
  joule::ImprovedContrastiveDivergence icd(joule::ImprovedCdOptions(), sampler);
  auto x = torch::randn({4, 2}, gen, torch::kFloat64);
  try {
    icd.compute(*model, {x, {}}, gen);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("langevin"), std::string::npos) << e.what();
  }
}

}  // namespace
