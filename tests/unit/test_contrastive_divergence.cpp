// Contrastive divergence: with an exact sampler its gradient is the maximum-likelihood
// gradient, negatives carry no gradient, and PCD writes its chains back to the buffer.
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include "joule/core/runtime.h"
#include "joule/objectives/contrastive_divergence.h"
#include "joule/samplers/mala.h"

namespace {

// E(x) = ½‖x − μ‖² with a learnable μ: p = N(μ, I), and ∇_μ NLL = μ − mean(x_data).
class ShiftedGaussian : public joule::EnergyModel {
 public:
  explicit ShiftedGaussian(torch::Tensor mu0) { mu = register_parameter("mu", mu0.clone()); }
  torch::Tensor energy(const torch::Tensor& x) override { return 0.5 * (x - mu).pow(2).sum(1); }
  std::vector<int64_t> event_shape() const override { return {mu.size(0)}; }
  torch::Tensor mu;
};

TEST(ContrastiveDivergenceTest, GradientWithExactSamplerIsTheLikelihoodGradient) {
  auto gen = joule::make_generator(1);
  ShiftedGaussian model(torch::tensor({0.5, -1.0}, torch::kFloat64));
  auto data = torch::randn({20000, 2}, gen, torch::kFloat64) + torch::tensor({2.0, 1.0}, torch::kFloat64);
  auto sampler = std::make_shared<joule::Mala>(joule::MalaOptions(200).step_size(0.5));
  joule::ContrastiveDivergence cd(joule::ContrastiveDivergenceOptions(), sampler);  // CD-k from the data
  auto out = cd.compute(model, {data, {}}, gen);
  out.loss.backward();
  auto exact = model.mu.detach() - data.mean(0);
  // Negatives are 20k exact samples of N(μ, I) after 200 MALA steps: the estimate of E[x⁻]
  // has SE 1/sqrt(20000) = 0.007 per coordinate; tolerance 4 SE.
  EXPECT_TRUE(torch::allclose(model.mu.grad(), exact, 0, 0.03)) << model.mu.grad() << exact;
  EXPECT_FALSE(out.negatives.requires_grad());
}

TEST(ContrastiveDivergenceTest, L2PenaltyAddsItsGradient) {
  auto gen = joule::make_generator(2);
  ShiftedGaussian model(torch::tensor({0.0, 0.0}, torch::kFloat64));
  auto data = torch::ones({4, 2}, torch::kFloat64);
  // A sampler with zero steps returns its input: negatives = data, the CD term cancels and
  // only α ∂/∂μ [mean E⁺² + mean E⁻²] = α · 2 · 2 · mean(E (μ − x)) remains.
  auto sampler = std::make_shared<joule::Mala>(joule::MalaOptions(0));
  joule::ContrastiveDivergence cd(joule::ContrastiveDivergenceOptions().l2_energy(0.5), sampler);
  auto out = cd.compute(model, {data, {}}, gen);
  out.loss.backward();
  // E = ½·2 = 1 for every point, ∂E/∂μ = μ − x = −1: gradient = 0.5 · 2 · 2 · (1 · −1) = −2.
  EXPECT_TRUE(torch::allclose(model.mu.grad(), torch::full({2}, -2.0, torch::kFloat64)));
}

TEST(ContrastiveDivergenceTest, PersistentChainsAreWrittenBackToTheBuffer) {
  auto gen = joule::make_generator(3);
  ShiftedGaussian model(torch::tensor({3.0f, 3.0f}));
  auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(16).reinit_prob(0.0), std::vector<int64_t>{2});
  auto sampler = std::make_shared<joule::Mala>(joule::MalaOptions(100).step_size(0.5));
  joule::ContrastiveDivergence pcd(joule::ContrastiveDivergenceOptions(), sampler, buffer);
  EXPECT_EQ(pcd.name(), "pcd");
  pcd.compute(model, {torch::zeros({16, 2}), {}}, gen);
  // All 16 chains moved from U(−1, 1) towards N((3, 3), I) and were stored.
  EXPECT_GT(buffer->storage().mean().item<double>(), 2.0);
}

}  // namespace
