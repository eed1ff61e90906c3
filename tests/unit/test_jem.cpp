// The JEM objective: the loss equals the formula of arXiv:1912.03263 Eq. 8–9 computed by hand,
// the cross-entropy baseline needs no sampler, semi-supervised batches come from the labelled
// source, class-conditional chains use their class buckets, and the state round-trips.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/io/checkpoint.h"
#include "joule/models/classifiers.h"
#include "joule/objectives/jem.h"
#include "joule/samplers/langevin.h"

namespace {

using joule::ClassifierEnergy;
using joule::Jem;
using joule::JemOptions;

ClassifierEnergy make_model(uint64_t seed) {
  auto net = joule::MlpClassifier(joule::MlpClassifierOptions(2, 3).hidden({16}));
  net->reset_parameters(joule::make_generator(seed));
  return ClassifierEnergy(net, std::vector<int64_t>{2}, 3);
}

std::shared_ptr<joule::ReplayBuffer> make_buffer(int64_t capacity, double reinit = 0.0) {
  return std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(capacity).reinit_prob(reinit), std::vector<int64_t>{2});
}

double metric(const joule::ObjectiveOutput& out, const std::string& name) {
  for (const auto& kv : out.metrics) if (kv.first == name) return kv.second;
  ADD_FAILURE() << "no metric " << name;
  return NAN;
}

TEST(JemTest, LossIsTheHybridObjectiveComputedByHand) {
  auto model = make_model(1);
  // Zero SGLD steps: the negatives are exactly the buffer draws, so the loss can be recomputed.
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions(0).step_size(1.0).noise(0.01));
  auto buffer = make_buffer(50);
  auto opts = JemOptions(3).px_weight(0.7).py_weight(1.3).l2_energy(0.1).data_noise(0.0);
  Jem jem(opts, sampler, buffer);
  auto gen = joule::make_generator(2);
  joule::Batch batch{torch::randn({8, 2}, gen), torch::randint(3, {8}, gen, torch::kLong)};

  auto gen_copy = joule::make_generator(3);
  auto gen_run = joule::make_generator(3);
  auto out = jem.compute(*model, batch, gen_run);
  // Replay the buffer draw with an identical generator on an identical buffer.
  auto replay = make_buffer(50);
  auto x_q = replay->sample(8, gen_copy).x;

  auto e_d = model->energy(batch.x), e_q = model->energy(x_q);
  auto ce = -model->log_prob_y_given_x(batch.x).gather(1, batch.y.unsqueeze(1)).mean();
  auto expected = 0.7 * (e_d.mean() - e_q.mean()) + 1.3 * ce + 0.1 * (e_d.pow(2).mean() + e_q.pow(2).mean());
  EXPECT_NEAR(out.loss.item<double>(), expected.item<double>(), 1e-5);
  EXPECT_NEAR(metric(out, "e_pos"), e_d.mean().item<double>(), 1e-5);
  EXPECT_NEAR(metric(out, "e_neg"), e_q.mean().item<double>(), 1e-5);
  EXPECT_NEAR(metric(out, "ce"), ce.item<double>(), 1e-5);
  EXPECT_TRUE(torch::equal(out.negatives, x_q));
  // The loss is differentiable in the parameters only through the energies (negatives detached).
  EXPECT_FALSE(out.negatives.requires_grad());
  out.loss.backward();
  for (const auto& p : model->parameters()) EXPECT_TRUE(p.grad().defined());
}

TEST(JemTest, SgldNegativesAreWrittenBackToTheBuffer) {
  auto model = make_model(4);
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::jem().steps(5));
  auto buffer = make_buffer(100);
  Jem jem(JemOptions(3), sampler, buffer);
  auto gen = joule::make_generator(5);
  joule::Batch batch{torch::randn({10, 2}, gen), torch::randint(3, {10}, gen, torch::kLong)};
  auto out = jem.compute(*model, batch, gen);
  // Every negative sits, bit for bit, in some buffer slot. (Not cdist: with more than 25 rows it
  // computes |a|² + |b|² − 2ab, whose float32 cancellation leaves ~1e-4 for identical rows.)
  auto d = (out.negatives.unsqueeze(1) - buffer->storage().unsqueeze(0)).abs().amax(2);
  EXPECT_EQ(std::get<0>(d.min(1)).max().item<double>(), 0.0);
  EXPECT_EQ(jem.name(), "jem");
  EXPECT_DOUBLE_EQ(jem.sampler_temperature(), 5e-5);
}

TEST(JemTest, CrossEntropyBaselineNeedsNoSamplerAndIsPlainCrossEntropy) {
  auto model = make_model(6);
  Jem jem(JemOptions(3).px_weight(0.0).data_noise(0.0), nullptr, nullptr);
  EXPECT_EQ(jem.name(), "ce");
  auto gen = joule::make_generator(7);
  joule::Batch batch{torch::randn({8, 2}, gen), torch::randint(3, {8}, gen, torch::kLong)};
  auto out = jem.compute(*model, batch, gen);
  auto ce = -model->log_prob_y_given_x(batch.x).gather(1, batch.y.unsqueeze(1)).mean();
  EXPECT_NEAR(out.loss.item<double>(), ce.item<double>(), 1e-6);
  EXPECT_FALSE(out.negatives.defined());
  // Without labels the classification term cannot be computed: a clear error.
  EXPECT_THROW(jem.compute(*model, joule::Batch{batch.x, {}}, gen), c10::Error);
  // The generative term needs a sampler and a buffer.
  EXPECT_THROW(Jem(JemOptions(3), nullptr, nullptr), c10::Error);
}

TEST(JemTest, SemiSupervisedLabelsComeFromTheLabelledSource) {
  auto model = make_model(8);
  Jem jem(JemOptions(3).px_weight(0.0).data_noise(0.0), nullptr, nullptr);
  auto lx = torch::randn({20, 2}, joule::make_generator(9));
  auto ly = torch::arange(20, torch::kLong).remainder(3);
  auto labelled = std::make_shared<joule::data::TensorDataset>(lx, ly);
  jem.set_labelled(labelled);
  auto gen = joule::make_generator(10), gen_copy = joule::make_generator(10);
  joule::Batch unlabelled{torch::randn({4, 2}), {}};
  auto out = jem.compute(*model, unlabelled, gen);
  joule::data::TensorDataset replay(lx, ly);
  auto lb = replay.next(4, gen_copy);
  auto ce = -model->log_prob_y_given_x(lb.x).gather(1, lb.y.unsqueeze(1)).mean();
  EXPECT_NEAR(out.loss.item<double>(), ce.item<double>(), 1e-6);

  // The labelled source's position is part of the objective's state: a restored objective
  // draws the same next labelled batch as the original.
  torch::serialize::OutputArchive archive;
  jem.save(archive);
  torch::serialize::InputArchive in;
  joule::io::load_archive_from_bytes(in, joule::io::archive_to_bytes(archive));
  Jem restored(JemOptions(3).px_weight(0.0).data_noise(0.0), nullptr, nullptr);
  restored.set_labelled(std::make_shared<joule::data::TensorDataset>(lx, ly));
  restored.load(in);
  auto gen_a = joule::make_generator(20), gen_b = joule::make_generator(20);
  const double original = jem.compute(*model, unlabelled, gen_a).loss.item<double>();
  EXPECT_EQ(restored.compute(*model, unlabelled, gen_b).loss.item<double>(), original);
  // A fresh (not restored) objective starts from another position: the check above can fail.
  Jem fresh(JemOptions(3).px_weight(0.0).data_noise(0.0), nullptr, nullptr);
  fresh.set_labelled(std::make_shared<joule::data::TensorDataset>(lx, ly));
  auto gen_c = joule::make_generator(20);
  EXPECT_NE(fresh.compute(*model, unlabelled, gen_c).loss.item<double>(), original);
}

TEST(JemTest, ClassBucketSlotsAreDistinctAndInTheirBucket) {
  auto gen = joule::make_generator(11);
  auto y = torch::tensor({0, 2, 2, 1, 0, 2, 1, 1, 1}, torch::kLong);
  auto slots = joule::class_bucket_slots(y, 30, 3, gen);
  for (int64_t i = 0; i < y.size(0); ++i) {
    const int64_t s = slots[i].item<int64_t>(), c = y[i].item<int64_t>();
    EXPECT_GE(s, c * 10);
    EXPECT_LT(s, (c + 1) * 10);
  }
  EXPECT_EQ(std::get<0>(at::_unique(slots)).size(0), y.size(0));
  EXPECT_THROW(joule::class_bucket_slots(y, 31, 3, gen), c10::Error);                          // not a multiple
  EXPECT_THROW(joule::class_bucket_slots(torch::zeros({4}, torch::kLong), 9, 3, gen), c10::Error);  // bucket too small
  EXPECT_THROW(joule::class_bucket_slots(torch::full({1}, 3, torch::kLong), 9, 3, gen), c10::Error);
}

TEST(JemTest, ConditionalTermSamplesWithinClassBuckets) {
  auto model = make_model(12);
  auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::jem().steps(3));
  auto buffer = make_buffer(30);
  Jem jem(JemOptions(3).px_weight(0.0).pxy_weight(1.0), sampler, buffer);
  auto gen = joule::make_generator(13);
  auto before = [&] {
    buffer->sample(1, gen);  // fills the buffer
    return buffer->storage().clone();
  }();
  joule::Batch batch{torch::randn({6, 2}, gen), torch::tensor({1, 1, 1, 1, 1, 1}, torch::kLong)};
  auto out = jem.compute(*model, batch, gen);
  auto changed = (buffer->storage() - before).abs().sum(1).gt(0);
  // Only slots of class 1's bucket [10, 20) were rewritten, six of them.
  EXPECT_EQ(changed.slice(0, 0, 10).sum().item<int64_t>(), 0);
  EXPECT_EQ(changed.slice(0, 20).sum().item<int64_t>(), 0);
  EXPECT_EQ(changed.slice(0, 10, 20).sum().item<int64_t>(), 6);
  EXPECT_TRUE(std::isfinite(metric(out, "e_neg_y")));
  EXPECT_THROW(Jem(JemOptions(3).pxy_weight(1.0), sampler, make_buffer(31)), c10::Error);
}

TEST(JemTest, RejectsModelsThatAreNotClassifiers) {
  struct Plain : joule::EnergyModel {
    torch::Tensor energy(const torch::Tensor& x) override { return x.pow(2).sum(1); }
    std::vector<int64_t> event_shape() const override { return {2}; }
  } plain;
  Jem jem(JemOptions(3).px_weight(0.0), nullptr, nullptr);
  auto gen = joule::make_generator(14);
  try {
    jem.compute(plain, joule::Batch{torch::randn({2, 2}), torch::zeros({2}, torch::kLong)}, gen);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ClassifierEnergy"), std::string::npos);
  }
}

}  // namespace
