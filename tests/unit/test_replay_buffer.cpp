// ReplayBuffer: reinitialisation rate, distinct draws, in-place write-back, init kinds,
// checkpoint round trip and clear errors.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/samplers/replay_buffer.h"

namespace {

using joule::BufferInit;
using joule::ReplayBuffer;
using joule::ReplayBufferOptions;

TEST(ReplayBufferTest, ReinitFractionMatchesTheProbability) {
  ReplayBuffer buffer(ReplayBufferOptions(10000).reinit_prob(0.05), {2});
  auto gen = joule::make_generator(1);
  int64_t reinit = 0, total = 0;
  for (int i = 0; i < 200; ++i) {
    auto d = buffer.sample(500, gen);
    reinit += d.reinit.sum().item<int64_t>();
    total += 500;
  }
  // Binomial(1e5, 0.05): SD = sqrt(1e5·0.05·0.95) = 69, i.e. 0.0007 in the fraction; 4 SD.
  EXPECT_NEAR(double(reinit) / total, 0.05, 0.0028);
}

TEST(ReplayBufferTest, ReinitializedChainsComeFromTheInitDistribution) {
  ReplayBuffer buffer(ReplayBufferOptions(100).reinit_prob(1.0).init_low(5.0).init_high(6.0), {3});
  auto gen = joule::make_generator(2);
  auto d = buffer.sample(50, gen);
  buffer.update(d.indices, torch::full({50, 3}, -7.0));
  auto again = buffer.sample(100, gen);
  // Every drawn chain is replaced, so none of the written −7 values may come back.
  EXPECT_GE(again.x.min().item<double>(), 5.0);
  EXPECT_LE(again.x.max().item<double>(), 6.0);
}

TEST(ReplayBufferTest, DrawsAreDistinctAndWriteBackIsInPlace) {
  ReplayBuffer buffer(ReplayBufferOptions(64).reinit_prob(0.0), {2});
  auto gen = joule::make_generator(3);
  auto d = buffer.sample(64, gen);
  EXPECT_EQ(std::get<0>(at::_unique(d.indices)).size(0), 64);
  auto states = torch::arange(128, torch::kFloat32).view({64, 2});
  buffer.update(d.indices, states);
  auto stored = buffer.storage().index_select(0, d.indices);
  EXPECT_TRUE(torch::equal(stored, states));
}

TEST(ReplayBufferTest, InitKindsHaveTheirMoments) {
  auto gen = joule::make_generator(4);
  ReplayBuffer uni(ReplayBufferOptions(10).init(BufferInit::kUniform).init_low(-1).init_high(1), {1});
  auto u = uni.init_samples(40000, gen);
  EXPECT_NEAR(u.mean().item<double>(), 0.0, 0.012);        // SD of mean = 0.577/200 = 0.003
  EXPECT_NEAR(u.var().item<double>(), 1.0 / 3.0, 0.01);
  ReplayBuffer gauss(ReplayBufferOptions(10).init(BufferInit::kGaussian).init_mean(2).init_std(3), {1});
  auto g = gauss.init_samples(40000, gen);
  EXPECT_NEAR(g.mean().item<double>(), 2.0, 0.06);         // SD of mean = 3/200 = 0.015
  EXPECT_NEAR(g.std().item<double>(), 3.0, 0.06);
  ReplayBuffer data(ReplayBufferOptions(10).init(BufferInit::kData).data_noise(0.0), {2});
  auto points = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});
  data.set_data(points);
  auto x = data.init_samples(100, gen);
  auto is_row0 = (x == points[0]).all(1), is_row1 = (x == points[1]).all(1);
  EXPECT_TRUE((is_row0 | is_row1).all().item<bool>());
  EXPECT_THROW(ReplayBuffer(ReplayBufferOptions(10).init(BufferInit::kData), {2}).init_samples(3, gen), c10::Error);
}

TEST(ReplayBufferTest, SaveLoadRoundTripRestoresTheChains) {
  auto gen = joule::make_generator(5);
  ReplayBuffer a(ReplayBufferOptions(32), {2});
  a.sample(8, gen);
  torch::serialize::OutputArchive out;
  a.save(out);
  std::ostringstream os;
  out.save_to(os);
  ReplayBuffer b(ReplayBufferOptions(32), {2});
  torch::serialize::InputArchive in;
  std::istringstream is(os.str());
  in.load_from(is);
  b.load(in);
  EXPECT_TRUE(torch::equal(a.storage(), b.storage()));
  ReplayBuffer wrong(ReplayBufferOptions(16), {2});
  std::istringstream is2(os.str());
  torch::serialize::InputArchive in2;
  in2.load_from(is2);
  EXPECT_THROW(wrong.load(in2), c10::Error);
}

TEST(ReplayBufferTest, BadArgumentsAreRejected) {
  EXPECT_THROW(ReplayBuffer(ReplayBufferOptions(0), {2}), c10::Error);
  EXPECT_THROW(ReplayBuffer(ReplayBufferOptions(10).reinit_prob(1.5), {2}), c10::Error);
  ReplayBuffer b(ReplayBufferOptions(10), {2});
  EXPECT_THROW(b.sample(11), c10::Error);
  EXPECT_THROW(b.set_data(torch::zeros({5, 3})), c10::Error);
}

}  // namespace
