// ClassifierEnergy and the classifier networks: the JEM identities E(x, y) = −f(x)[y],
// E(x) = −logsumexp f(x), p(y|x) = exp(E(x) − E(x, y)); input gradients against finite
// differences; the JEM SGLD preset's stationary variance on a Gaussian (its temperature);
// architecture sizes, norms and seeded initialisation.
#include <gtest/gtest.h>

#include <torch/nn/modules/container/any.h>

#include <cmath>

#include "joule/core/runtime.h"
#include "joule/models/classifier_energy.h"
#include "joule/models/classifiers.h"
#include "joule/samplers/langevin.h"

namespace {

using joule::ClassifierEnergy;
using joule::ClassifierEnergyImpl;

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

ClassifierEnergy tiny_mlp_model(uint64_t seed, torch::Dtype dtype = torch::kFloat32) {
  auto net = joule::MlpClassifier(joule::MlpClassifierOptions(3, 4).hidden({8, 8}).activation(joule::Activation::kSiLU));
  net->reset_parameters(joule::make_generator(seed));
  net->to(dtype);
  return ClassifierEnergy(net, std::vector<int64_t>{3}, 4);
}

TEST(ClassifierEnergyTest, EnergiesAreNegativeLogitsAndTheirLogSumExp) {
  auto model = tiny_mlp_model(1);
  auto gen = joule::make_generator(2);
  auto x = torch::randn({16, 3}, gen);
  auto y = torch::randint(4, {16}, gen, torch::kLong);
  auto f = model->logits(x);
  EXPECT_TRUE(torch::allclose(model->energy(x), -f.logsumexp(1)));
  EXPECT_TRUE(torch::allclose(model->energy(x, y), -f.gather(1, y.unsqueeze(1)).squeeze(1)));
  // p(y|x) = p(x, y) / p(x) = exp(−E(x, y)) / exp(−E(x)): the classifier's softmax.
  auto p_joint = (model->energy(x) - model->energy(x, y)).exp();
  auto p_softmax = f.softmax(1).gather(1, y.unsqueeze(1)).squeeze(1);
  EXPECT_TRUE(torch::allclose(p_joint, p_softmax, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(model->log_prob_y_given_x(x).exp().sum(1), torch::ones({16}), 1e-5, 1e-6));
  // Marginalising the joint over y gives the marginal: logsumexp_y (−E(x, y)) = −E(x).
  std::vector<torch::Tensor> joint;
  for (int64_t c = 0; c < 4; ++c) joint.push_back(-model->energy(x, torch::full({16}, c, torch::kLong)));
  EXPECT_TRUE(torch::allclose(torch::stack(joint, 1).logsumexp(1), -model->energy(x), 1e-5, 1e-6));
}

TEST(ClassifierEnergyTest, InputGradientMatchesFiniteDifferences) {
  auto model = tiny_mlp_model(3, torch::kFloat64);
  auto x = torch::randn({5, 3}, joule::make_generator(4)).to(torch::kFloat64);
  auto eg = model->energy_and_grad(x);
  const double h = 1e-6;
  for (int64_t i = 0; i < 3; ++i) {
    auto d = torch::zeros_like(x);
    d.select(1, i).fill_(h);
    auto fd = (model->energy(x + d) - model->energy(x - d)) / (2 * h);
    // Central differences in double precision: O(h²) truncation plus ~1e-10 rounding.
    EXPECT_TRUE(torch::allclose(eg.grad.select(1, i), fd, 1e-6, 1e-8)) << "coordinate " << i;
  }
}

TEST(ClassifierEnergyTest, ConditionalViewIsTheJointEnergy) {
  auto model = tiny_mlp_model(5);
  auto gen = joule::make_generator(6);
  auto x = torch::randn({7, 3}, gen);
  auto y = torch::randint(4, {7}, gen, torch::kLong);
  joule::ClassConditionalEnergy view(*model, y);
  EXPECT_TRUE(torch::equal(view.energy(x), model->energy(x, y)));
  EXPECT_EQ(view.event_shape(), std::vector<int64_t>{3});
  EXPECT_THROW(view.energy(torch::randn({6, 3})), c10::Error);
  EXPECT_THROW(joule::ClassConditionalEnergy(*model, torch::full({2}, 4, torch::kLong)), c10::Error);
}

TEST(ClassifierEnergyTest, WrongShapesAreClearErrors) {
  auto model = tiny_mlp_model(7);
  try {
    model->energy(torch::randn({2, 5}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected input [B, [3]]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model->energy(torch::randn({2, 3}), torch::zeros({3}, torch::kLong)), c10::Error);
  // A network whose output is not [B, num_classes].
  auto wrong = joule::MlpClassifier(joule::MlpClassifierOptions(3, 5));
  ClassifierEnergy bad(wrong, std::vector<int64_t>{3}, 4);
  EXPECT_THROW(bad->energy(torch::randn({2, 3})), c10::Error);
}

// A one-feature "classifier" whose two logits are both −‖x‖²/(2s²): logsumexp = −‖x‖²/(2s²) + log 2,
// so E(x) = ‖x‖²/(2s²) − log 2 and p(x) is N(0, s² I).
struct QuadraticLogitsImpl : torch::nn::Module {
  explicit QuadraticLogitsImpl(double s) : s(s) {}
  torch::Tensor forward(const torch::Tensor& x) {
    auto q = -x.pow(2).sum(1, true) / (2 * s * s);
    return torch::cat({q, q}, 1);
  }
  double s;
};
TORCH_MODULE(QuadraticLogits);

TEST(ClassifierEnergyTest, JemSgldPresetSamplesAtItsTemperature) {
  // x ← x + a ∇log p̃ + b ε on N(0, s²): x ← (1 − a/s²) x + b ε, a linear AR(1) chain with
  // stationary variance b² / (1 − (1 − a/s²)²) = b² / (2a/s² − a²/s⁴) (reference §10, V2).
  // As a → 0 this is T s² with T = b²/(2a): the chain samples exp(−E/T). JEM: a = 1, b = 0.01.
  const double s = 2.0;
  auto model = ClassifierEnergy(QuadraticLogits(s), std::vector<int64_t>{2}, 2);
  auto opts = joule::LangevinOptions::jem();
  EXPECT_DOUBLE_EQ(opts.temperature(), 5e-5);
  joule::Langevin sgld(opts.steps(200));
  auto gen = joule::make_generator(8);
  auto x = sgld.sample(*model, torch::randn({20000, 2}, gen), gen);
  const double a = opts.step_size(), b = opts.noise();
  const double exact = b * b / (2 * a / (s * s) - a * a / std::pow(s, 4));
  const double var = x.var().item<double>();
  // 40000 coordinates: the sample variance has relative SD √(2/40000) = 0.7%; 5 SD = 3.5%.
  EXPECT_NEAR(var / exact, 1.0, 0.035) << "variance " << var << ", exact " << exact;
  // The same number in temperature terms: T s² times the discretisation factor 1/(1 − a/(2s²)).
  EXPECT_NEAR(exact, opts.temperature() * s * s / (1 - a / (2 * s * s)), 1e-12);
  // And far from the model's own temperature-1 variance s² = 4.
  EXPECT_LT(var, 1e-3);
}

TEST(ClassifiersTest, WideResNet28x10HasJemsParameterCount) {
  // JEM:wideresnet.py with norm = None (conv biases on): 36,471,338 parameters ("36.5M").
  auto wrn = joule::WideResNet(joule::WideResNetOptions(3, 10).depth(28).widen(10));
  EXPECT_EQ(count_parameters(*wrn), 36471338);
  auto small = joule::WideResNet(joule::WideResNetOptions(3, 10).depth(10).widen(1));
  EXPECT_EQ(count_parameters(*small), 77706);
  auto out = small->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(small->forward(torch::randn({2, 3, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_THROW(joule::WideResNet(joule::WideResNetOptions(3, 10).depth(27)), c10::Error);
}

TEST(ClassifiersTest, SmallCnnSizesAndSeededInit) {
  auto a = joule::SmallCnn(joule::SmallCnnOptions(1, 10).channels(16));
  EXPECT_EQ(count_parameters(*a), 72586);  // 160 + 8224 + 32832 + 31370
  auto b = joule::SmallCnn(joule::SmallCnnOptions(1, 10).channels(16));
  a->reset_parameters(joule::make_generator(11));
  b->reset_parameters(joule::make_generator(11));
  auto x = torch::randn({3, 1, 28, 28});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
  b->reset_parameters(joule::make_generator(12));
  EXPECT_FALSE(torch::equal(a->forward(x), b->forward(x)));
  // PyTorch's default init bound 1/√fan_in, e.g. 1/√9 for the first 3×3 convolution.
  EXPECT_LE(a->conv1->weight.abs().max().item<double>(), 1.0 / 3.0);
  EXPECT_GT(a->conv1->weight.abs().max().item<double>(), 0.3);
  auto cifar = joule::SmallCnn(joule::SmallCnnOptions(3, 100).image_size({32, 32}));
  EXPECT_EQ(cifar->forward(torch::randn({2, 3, 32, 32})).sizes(), (std::vector<int64_t>{2, 100}));
  EXPECT_THROW(cifar->forward(torch::randn({2, 3, 28, 28})), c10::Error);
}

TEST(ClassifiersTest, NoBatchNormByDefaultAndGroupNormOnRequest) {
  auto count = [](torch::nn::Module& m, const std::string& name) {
    int64_t n = 0;
    for (const auto& sub : m.modules()) n += sub->name().find(name) != std::string::npos;
    return n;
  };
  auto plain = joule::WideResNet(joule::WideResNetOptions(3, 10).depth(10).widen(2));
  EXPECT_EQ(count(*plain, "BatchNorm"), 0);
  EXPECT_EQ(count(*plain, "GroupNorm"), 0);
  auto grouped = joule::WideResNet(joule::WideResNetOptions(3, 10).depth(10).widen(2).norm(joule::NormKind::kGroup).norm_groups(8));
  EXPECT_EQ(count(*grouped, "GroupNorm"), 7);  // 2 per block × 3 blocks + the final one
  auto cnn = joule::SmallCnn(joule::SmallCnnOptions(1, 10).channels(8).norm(joule::NormKind::kGroup).norm_groups(4));
  EXPECT_EQ(count(*cnn, "GroupNorm"), 3);
  // Per-sample normalisation: a sample's logits do not depend on the rest of the batch.
  auto x = torch::randn({4, 1, 28, 28});
  EXPECT_TRUE(torch::allclose(cnn->forward(x).slice(0, 0, 1), cnn->forward(x.slice(0, 0, 1)), 1e-5, 1e-6));
  EXPECT_THROW(joule::SmallCnn(joule::SmallCnnOptions(1, 10).channels(6).norm(joule::NormKind::kGroup).norm_groups(4)),
               c10::Error);
  EXPECT_THROW(joule::parse_norm("batch"), c10::Error);
}

TEST(ClassifiersTest, DropoutActsOnlyInTrainingMode) {
  auto net = joule::WideResNet(joule::WideResNetOptions(1, 10).depth(10).widen(1).dropout(0.5));
  auto x = torch::randn({2, 1, 28, 28});
  net->train();
  EXPECT_FALSE(torch::equal(net->forward(x), net->forward(x)));
  net->eval();
  EXPECT_TRUE(torch::equal(net->forward(x), net->forward(x)));
}

}  // namespace
