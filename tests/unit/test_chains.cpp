// PersistentChains: draw, transition, sample, write back; class buckets; every chain in order;
// the graph of the last steps; checkpoints with the sampler's own state (parallel tempering).
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/models/analytic.h"
#include "joule/models/rbm.h"
#include "joule/objectives/contrastive_divergence.h"
#include "joule/samplers/chains.h"
#include "joule/samplers/langevin.h"
#include "joule/samplers/parallel_tempering.h"
#include "support/test_support.h"

namespace {

// A deterministic "sampler": x -> x + 1 (and it counts its calls).
class PlusOne : public joule::Sampler {
 public:
  torch::Tensor sample(joule::EnergyModel&, const torch::Tensor& x0, c10::optional<at::Generator>) override {
    ++calls;
    return x0 + 1.0;
  }
  std::string name() const override { return "plus-one"; }
  std::unique_ptr<joule::Sampler> with_steps(int64_t) const override { return std::make_unique<PlusOne>(); }
  int64_t steps() const override { return 1; }
  int calls = 0;
};

auto make_chains(int64_t capacity, int64_t classes = 0) {
  auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(capacity).reinit_prob(0.0),
                                                      std::vector<int64_t>{2});
  return std::make_shared<joule::PersistentChains>(std::make_shared<PlusOne>(), buffer,
                                                   joule::PersistentChainsOptions().num_classes(classes));
}

joule::GaussianEnergy gaussian() { return joule::GaussianEnergy(torch::zeros({2}), torch::ones({2})); }

TEST(PersistentChainsTest, AdvanceWritesTheSampledStatesBackToTheirSlots) {
  auto chains = make_chains(50);
  auto model = gaussian();
  auto gen = joule::make_generator(3);
  chains->initialize(torch::arange(100, torch::kFloat32).reshape({50, 2}));
  auto before = chains->states().clone();
  auto step = chains->advance(*model, 8, gen, joule::ChainRunOptions());
  ASSERT_EQ(step.indices.size(0), 8);
  EXPECT_EQ(std::get<0>(at::_unique(step.indices)).size(0), 8) << "distinct slots";
  EXPECT_TRUE(torch::equal(step.x, before.index_select(0, step.indices) + 1.0));
  EXPECT_TRUE(torch::equal(chains->states().index_select(0, step.indices), step.x));
  // Every other slot is untouched.
  auto mask = torch::ones({50}, torch::kBool);
  mask.index_fill_(0, step.indices, false);
  EXPECT_TRUE(torch::equal(chains->states().index({mask}), before.index({mask})));
}

TEST(PersistentChainsTest, TransitionsApplyToDrawnStatesBeforeSampling) {
  auto chains = make_chains(20);
  auto model = gaussian();
  auto gen = joule::make_generator(1);
  chains->initialize(torch::ones({20, 2}));
  chains->set_transition([](const torch::Tensor& x, at::Generator&) { return x * 10.0; });
  auto x = chains->advance(*model, 5, gen);
  EXPECT_TRUE(torch::equal(x, torch::full({5, 2}, 11.0)));  // transition, then the sampler
  chains->set_transition([](const torch::Tensor& x, at::Generator&) { return x.slice(0, 1); });
  const auto msg = joule::testing::error_of([&] { chains->advance(*model, 5, gen); });
  EXPECT_NE(msg.find("changed the states' shape"), std::string::npos) << msg;
}

TEST(PersistentChainsTest, ConditionalChainsStayInTheirClassBuckets) {
  auto chains = make_chains(30, 3);
  auto model = gaussian();
  auto gen = joule::make_generator(2);
  chains->initialize(torch::zeros({30, 2}));
  auto y = torch::tensor({0, 2, 2, 1, 0}, torch::kLong);
  chains->advance_conditional(*model, y, gen);
  // Exactly five chains moved: two in bucket 0, one in bucket 1, two in bucket 2.
  auto moved = chains->states().select(1, 0).gt(0);
  EXPECT_EQ(moved.slice(0, 0, 10).sum().item<int64_t>(), 2);
  EXPECT_EQ(moved.slice(0, 10, 20).sum().item<int64_t>(), 1);
  EXPECT_EQ(moved.slice(0, 20, 30).sum().item<int64_t>(), 2);
  EXPECT_THROW(make_chains(31, 3), c10::Error);  // buckets need a multiple of the classes
  EXPECT_THROW(make_chains(30)->advance_conditional(*model, y, gen), c10::Error);
}

TEST(PersistentChainsTest, AdvanceAllMovesEveryChainInSlotOrderWithoutRandomDraws) {
  auto chains = make_chains(6);
  auto model = gaussian();
  auto gen = joule::make_generator(5);
  EXPECT_THROW(chains->advance_all(*model, gen), c10::Error);  // not initialised
  chains->initialize(torch::zeros({6, 2}));
  const auto state = gen.get_state();
  auto x = chains->advance_all(*model, gen);
  EXPECT_TRUE(torch::equal(x, torch::ones({6, 2})));
  EXPECT_TRUE(torch::equal(gen.get_state(), state));
  EXPECT_THROW(chains->initialize(torch::zeros({5, 2})), c10::Error);  // capacity 6
}

TEST(PersistentChainsTest, KeepsTheGraphOfTheLastStepsAndWritesBackDetachedStates) {
  auto model = joule::GaussianEnergy(torch::zeros({2}), torch::ones({2}));
  model->mean.requires_grad_(true);  // a "parameter" the last step depends on
  auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(16), std::vector<int64_t>{2});
  joule::PersistentChains chains(std::make_shared<joule::Langevin>(joule::LangevinOptions::ula(0.1, 3)), buffer);
  auto gen = joule::make_generator(8);
  auto step = chains.advance(*model, 4, gen, joule::ChainRunOptions().keep_graph_last(1));
  ASSERT_TRUE(step.x_graph.defined());
  EXPECT_TRUE(step.x_graph.requires_grad());
  EXPECT_FALSE(step.x.requires_grad());
  EXPECT_FALSE(buffer->storage().requires_grad());
  // d x_K / d mean through the last step: x_K = x + a (mean − x) + noise for N(mean, I), so a per element.
  auto g = torch::autograd::grad({step.x_graph.sum()}, {model->mean})[0];
  EXPECT_TRUE(torch::allclose(g, torch::full({2}, 4 * 0.1))) << g;
}

TEST(PersistentChainsTest, PcdThroughTheChainsEqualsPcdThroughSamplerAndBuffer) {
  auto run = [](bool via_chains) {
    auto model = joule::GaussianEnergy(torch::tensor({0.5f, -0.5f}), torch::ones({2}));
    auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::ula(0.05, 5));
    auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(64), std::vector<int64_t>{2});
    auto cd = via_chains ? std::make_shared<joule::ContrastiveDivergence>(
                               joule::ContrastiveDivergenceOptions(), std::make_shared<joule::PersistentChains>(sampler, buffer))
                         : std::make_shared<joule::ContrastiveDivergence>(joule::ContrastiveDivergenceOptions(), sampler, buffer);
    auto gen = joule::make_generator(6);
    joule::Batch batch{torch::randn({16, 2}, gen), {}};
    for (int i = 0; i < 3; ++i) cd->compute(*model, batch, gen);
    return buffer->storage().clone();
  };
  EXPECT_TRUE(torch::equal(run(true), run(false)));
}

TEST(PersistentChainsTest, ParallelTemperingAsASamplerIsPersistentPtAndCheckpointsItsReplicas) {
  auto gen0 = joule::make_generator(4);
  joule::Rbm rbm(joule::RbmOptions(6, 4));
  rbm->reset_parameters(gen0);
  {
    torch::NoGradGuard ng;
    rbm->weight.normal_(0.0, 1.0, gen0);
  }
  auto v0 = torch::bernoulli(torch::full({5, 6}, 0.5), gen0);
  auto opts = joule::ParallelTemperingOptions(4).rounds(2);
  // Direct PT vs the sampler called repeatedly on its own output (as PersistentChains does).
  joule::ParallelTempering pt(opts);
  auto g1 = joule::make_generator(9);
  pt.init(*rbm, v0);
  std::vector<torch::Tensor> direct;
  for (int i = 0; i < 3; ++i) direct.push_back(pt.step(*rbm, g1).clone());
  auto sampler = std::make_shared<joule::ParallelTemperingSampler>(opts);
  auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(5).reinit_prob(0.0), std::vector<int64_t>{6});
  joule::PersistentChains chains(sampler, buffer);
  chains.initialize(v0);
  auto g2 = joule::make_generator(9);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(chains.advance_all(*rbm, g2), direct[i])) << "round " << i;
  // A checkpoint of the chains (states, hotter replicas, swap counts) continues identically.
  torch::serialize::OutputArchive out;
  chains.save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  auto sampler2 = std::make_shared<joule::ParallelTemperingSampler>(opts);
  joule::PersistentChains restored(
      sampler2, std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(5).reinit_prob(0.0), std::vector<int64_t>{6}));
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  restored.load(in);
  EXPECT_TRUE(torch::equal(restored.advance_all(*rbm, g2), direct[2]));
  EXPECT_EQ(sampler2->tempering().swap_attempts(), pt.swap_attempts());
  EXPECT_EQ(sampler->name(), "pt");
}

}  // namespace
