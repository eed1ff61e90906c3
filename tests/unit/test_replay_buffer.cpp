// ReplayBuffer: reinitialisation rate, distinct draws, in-place write-back, init kinds,
// checkpoint round trip and clear errors; FIFO and reservoir policies, 8-bit storage, the
// old checkpoint format and the unchanged random draws of the default policy; update counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/samplers/chains.h"
#include "joule/samplers/langevin.h"
#include "joule/samplers/replay_buffer.h"

namespace {

using joule::BufferInit;
using joule::BufferPolicy;
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

// ---------------------------------------------------------------- policies and 8-bit storage

// Serialises a buffer and loads it into another (or returns the archive bytes).
std::string saved(const ReplayBuffer& b) {
  torch::serialize::OutputArchive out;
  b.save(out);
  std::ostringstream os;
  out.save_to(os);
  return os.str();
}

void load_into(ReplayBuffer& b, const std::string& bytes) {
  torch::serialize::InputArchive in;
  std::istringstream is(bytes);
  in.load_from(is);
  b.load(in);
}

// The stored values of a [n, 1] buffer, sorted.
std::vector<float> stored_values(const ReplayBuffer& b) {
  auto v = b.states().reshape({-1}).contiguous();
  std::vector<float> out(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
  std::sort(out.begin(), out.end());
  return out;
}

torch::Tensor column(float from, int64_t n) { return torch::arange(from, from + n, torch::kFloat32).view({n, 1}); }

torch::Tensor covariance(const torch::Tensor& x) {
  auto c = x - x.mean(0);
  return c.t().matmul(c) / static_cast<double>(x.size(0) - 1);
}

TEST(ReplayBufferTest, ClassGaussianInitDrawsClassesAlikeEachWithItsDataMeanAndCovariance) {
  // Two classes in 3-D, far apart along the first axis, class 1 three times as frequent in the
  // data and correlated; class 0's third coordinate is constant, so its covariance is singular.
  auto gen = joule::make_generator(12);
  const int64_t n0 = 2000, n1 = 6000;
  auto a = torch::randn({n0, 3}, gen) * torch::tensor({1.0f, 0.5f, 0.0f}) + torch::tensor({-10.0f, 1.0f, 0.5f});
  auto mix = torch::tensor({{2.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 0.0f}, {0.0f, -0.5f, 0.3f}});
  auto b = torch::randn({n1, 3}, gen).matmul(mix.t()) + torch::tensor({10.0f, -2.0f, 0.0f});
  auto data = torch::cat({a, b});
  auto labels = torch::cat({torch::zeros({n0}, torch::kLong), torch::ones({n1}, torch::kLong)});
  ReplayBuffer buffer(ReplayBufferOptions(10).init(BufferInit::kClassGaussian).init_low(-100).init_high(100), {3});
  EXPECT_THROW(buffer.init_samples(3, gen), c10::Error);  // not fitted yet
  buffer.fit_class_gaussians(data, labels);
  auto x = buffer.init_samples(40000, gen);
  auto in1 = x.select(1, 0).gt(0);
  EXPECT_NEAR(in1.to(torch::kDouble).mean().item<double>(), 0.5, 0.01);  // classes drawn alike; SD 0.0025
  auto x0 = x.index_select(0, in1.logical_not().nonzero().view({-1}));
  auto x1 = x.index_select(0, in1.nonzero().view({-1}));
  // Against the data's own class moments (what was fitted), 2·10⁴ draws each: SD of a mean
  // ≤ 2/√(2·10⁴) = 0.014, of a covariance entry ≤ √2·4/√(2·10⁴) = 0.04.
  EXPECT_LT((x1.mean(0) - b.mean(0)).abs().max().item<double>(), 0.06);
  EXPECT_LT((covariance(x1) - covariance(b)).abs().max().item<double>(), 0.2);
  EXPECT_LT((x0.mean(0) - a.mean(0)).abs().max().item<double>(), 0.06);
  EXPECT_LT((covariance(x0) - covariance(a)).abs().max().item<double>(), 0.1);
  // The constant coordinate stays put up to the jitter (ε = 10⁻⁴ of the mean variance, std < 0.01).
  EXPECT_LT((x0.select(1, 2) - 0.5).abs().max().item<double>(), 0.05);

  // Clamped to the init range, e.g. JEM's [−1, 1].
  ReplayBuffer clamped(ReplayBufferOptions(10).init(BufferInit::kClassGaussian).init_low(-1).init_high(1), {3});
  clamped.fit_class_gaussians(data, labels);
  auto c = clamped.init_samples(1000, gen);
  EXPECT_GE(c.min().item<double>(), -1.0);
  EXPECT_LE(c.max().item<double>(), 1.0);
  EXPECT_EQ(c.eq(-1.0).any().item<bool>(), true);

  // Event shapes are kept; bad input is refused with what was wrong.
  ReplayBuffer images(ReplayBufferOptions(10).init(BufferInit::kClassGaussian), {1, 2, 2});
  images.fit_class_gaussians(torch::rand({50, 1, 2, 2}, gen), torch::arange(50, torch::kLong).remainder(5));
  EXPECT_EQ(images.init_samples(7, gen).sizes(), (std::vector<int64_t>{7, 1, 2, 2}));
  EXPECT_THROW(images.fit_class_gaussians(torch::rand({50, 1, 2, 2}), torch::zeros({49}, torch::kLong)), c10::Error);
  EXPECT_THROW(images.fit_class_gaussians(torch::rand({50, 4}), torch::zeros({50}, torch::kLong)), c10::Error);
  EXPECT_THROW(images.fit_class_gaussians(torch::full({50, 1, 2, 2}, NAN), torch::zeros({50}, torch::kLong)), c10::Error);
  EXPECT_EQ(joule::parse_buffer_init("class_gaussian"), BufferInit::kClassGaussian);
  EXPECT_EQ(joule::to_string(BufferInit::kClassGaussian), "class_gaussian");
}

TEST(ReplayBufferTest, ClassGaussianInitForGivenClassesStartsEachChainAtItsOwnClass) {
  // Class-conditional chains: the chain for class c starts at class c's Gaussian, not a random one.
  auto gen = joule::make_generator(13);
  auto a = torch::randn({3000, 2}, gen) * 0.5 + torch::tensor({-5.0f, 0.0f});
  auto b = torch::randn({3000, 2}, gen) * torch::tensor({1.0f, 2.0f}) + torch::tensor({5.0f, 3.0f});
  auto data = torch::cat({a, b});
  auto labels = torch::cat({torch::zeros({3000}, torch::kLong), torch::ones({3000}, torch::kLong)});
  ReplayBuffer buffer(ReplayBufferOptions(10).init(BufferInit::kClassGaussian).init_low(-100).init_high(100), {2});
  EXPECT_THROW(buffer.init_samples(torch::zeros({4}, torch::kLong), gen), c10::Error);  // not fitted yet
  buffer.fit_class_gaussians(data, labels);
  const int64_t m = 20000;
  auto classes = torch::arange(m, torch::kLong).remainder(2);
  auto x = buffer.init_samples(classes, gen);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{m, 2}));
  // Every chain on its own class's side of x = 0 (the classes are 10 standard deviations apart).
  EXPECT_TRUE(x.select(1, 0).gt(0).eq(classes.eq(1)).all().item<bool>());
  auto x1 = x.index_select(0, classes.eq(1).nonzero().view({-1}));
  auto x0 = x.index_select(0, classes.eq(0).nonzero().view({-1}));
  // 10⁴ draws each: SD of a mean ≤ 2/√10⁴ = 0.02, of a covariance entry ≤ √2·4/√10⁴ = 0.06.
  EXPECT_LT((x1.mean(0) - b.mean(0)).abs().max().item<double>(), 0.08);
  EXPECT_LT((covariance(x1) - covariance(b)).abs().max().item<double>(), 0.25);
  EXPECT_LT((x0.mean(0) - a.mean(0)).abs().max().item<double>(), 0.03);
  EXPECT_LT((covariance(x0) - covariance(a)).abs().max().item<double>(), 0.05);
  // Classes outside the fit, or with no examples in it, are refused; so is a bad shape.
  EXPECT_THROW(buffer.init_samples(torch::full({3}, 2, torch::kLong), gen), c10::Error);
  EXPECT_THROW(buffer.init_samples(torch::full({3}, -1, torch::kLong), gen), c10::Error);
  EXPECT_THROW(buffer.init_samples(torch::zeros({3, 1}, torch::kLong), gen), c10::Error);
  ReplayBuffer gap(ReplayBufferOptions(10).init(BufferInit::kClassGaussian), {2});
  gap.fit_class_gaussians(data, labels * 2);  // classes 0 and 2; class 1 has no examples
  EXPECT_NO_THROW(gap.init_samples(torch::full({3}, 2, torch::kLong), gen));
  EXPECT_THROW(gap.init_samples(torch::ones({3}, torch::kLong), gen), c10::Error);

  // Other inits ignore the classes and draw what init_samples(n) draws.
  ReplayBuffer uniform(ReplayBufferOptions(10), {2});
  auto g1 = joule::make_generator(5), g2 = joule::make_generator(5);
  EXPECT_TRUE(torch::equal(uniform.init_samples(torch::ones({6}, torch::kLong), g1), uniform.init_samples(6, g2)));
}

TEST(ReplayBufferTest, ClassBucketsOfPersistentChainsStartAndRestartAtTheirOwnClass) {
  // JEM's p(x|y) chains live in class buckets; with class Gaussians each bucket's chains start,
  // and restart, at their bucket's class (10 standard deviations from the other).
  auto gen = joule::make_generator(17);
  auto data = torch::cat({torch::randn({500, 2}, gen) * 0.5 - 5.0, torch::randn({500, 2}, gen) * 0.5 + 5.0});
  auto labels = torch::cat({torch::zeros({500}, torch::kLong), torch::ones({500}, torch::kLong)});
  auto buffer = std::make_shared<ReplayBuffer>(
      ReplayBufferOptions(40).init(BufferInit::kClassGaussian).init_low(-100).init_high(100).reinit_prob(1.0), std::vector<int64_t>{2});
  buffer->fit_class_gaussians(data, labels);
  joule::PersistentChains chains(std::make_shared<joule::Langevin>(joule::LangevinOptions(0)), buffer,
                                 joule::PersistentChainsOptions().num_classes(2));
  ASSERT_TRUE(buffer->slot_classes().defined());
  const auto bucket_of = torch::arange(40, torch::kLong).div(20, "floor");
  EXPECT_TRUE(torch::equal(buffer->slot_classes(), bucket_of));
  // The first fill: slots 0..19 hold class 0, 20..39 class 1.
  auto first = buffer->sample_at(torch::tensor({0}, torch::kLong), gen);  // fills, then restarts slot 0
  EXPECT_TRUE(buffer->storage().select(1, 0).gt(0).eq(bucket_of.eq(1)).all().item<bool>());
  // Restarts (reinit_prob 1) in each bucket, through sample_at and sample.
  auto y = torch::tensor({1, 1, 0, 1, 0, 0, 1, 1}, torch::kLong);
  auto slots = joule::class_bucket_slots(y, 40, 2, gen);
  auto draw = buffer->sample_at(slots, gen);
  ASSERT_TRUE(draw.reinit.all().item<bool>());
  EXPECT_TRUE(draw.x.select(1, 0).gt(0).eq(y.eq(1)).all().item<bool>()) << draw.x;
  auto any = buffer->sample(30, gen);
  EXPECT_TRUE(any.x.select(1, 0).gt(0).eq(bucket_of.index_select(0, any.indices).eq(1)).all().item<bool>());
  EXPECT_TRUE(first.x.select(1, 0).lt(0).all().item<bool>());
  // Other inits draw exactly what they draw without slot classes.
  ReplayBuffer plain(ReplayBufferOptions(40).reinit_prob(0.5), {2}), classed(ReplayBufferOptions(40).reinit_prob(0.5), {2});
  classed.set_slot_classes(bucket_of);
  auto g1 = joule::make_generator(3), g2 = joule::make_generator(3);
  auto d1 = plain.sample(16, g1), d2 = classed.sample(16, g2);
  EXPECT_TRUE(torch::equal(d1.x, d2.x));
  EXPECT_TRUE(torch::equal(plain.storage(), classed.storage()));
  // One class per slot, in-place buffers only.
  EXPECT_THROW(classed.set_slot_classes(torch::zeros({39}, torch::kLong)), c10::Error);
  ReplayBuffer fifo(ReplayBufferOptions(40).policy(BufferPolicy::kFifo), {2});
  EXPECT_THROW(fifo.set_slot_classes(bucket_of), c10::Error);
}

TEST(ReplayBufferTest, PolicyNamesRoundTrip) {
  for (auto p : {BufferPolicy::kInPlace, BufferPolicy::kFifo, BufferPolicy::kReservoir}) {
    EXPECT_EQ(joule::parse_buffer_policy(joule::to_string(p)), p);
  }
  EXPECT_EQ(joule::to_string(BufferPolicy::kInPlace), "in_place");
  EXPECT_EQ(joule::to_string(BufferPolicy::kFifo), "fifo");
  EXPECT_EQ(joule::to_string(BufferPolicy::kReservoir), "reservoir");
  EXPECT_THROW(joule::parse_buffer_policy("lifo"), c10::Error);
  EXPECT_EQ(ReplayBufferOptions().policy(), BufferPolicy::kInPlace);
  EXPECT_EQ(ReplayBufferOptions().storage_bits(), 32);
}

TEST(ReplayBufferTest, DefaultPolicyDrawsAreUnchanged) {
  // The in-place 32-bit buffer must draw exactly what it drew before policies existed (resumed
  // runs continue bit for bit): fill U(−1, 1) [capacity, 2], randperm(capacity), one uniform per
  // draw for reinit, then n fresh states, in that order.
  ReplayBuffer buffer(ReplayBufferOptions(50).reinit_prob(0.3), {2});
  auto g1 = joule::make_generator(7), g2 = joule::make_generator(7);
  auto d = buffer.sample(20, g1);
  auto fill = torch::empty({50, 2}).uniform_(-1.0, 1.0, g2);
  auto idx = torch::randperm(50, g2, torch::TensorOptions().dtype(torch::kLong)).slice(0, 0, 20);
  auto reinit = torch::empty({20}).uniform_(0.0, 1.0, g2).lt(0.3);
  auto fresh = torch::empty({20, 2}).uniform_(-1.0, 1.0, g2);
  EXPECT_TRUE(torch::equal(buffer.storage(), fill));
  EXPECT_TRUE(torch::equal(d.indices, idx));
  EXPECT_TRUE(torch::equal(d.reinit, reinit));
  EXPECT_TRUE(torch::equal(d.x, torch::where(reinit.view({20, 1}), fresh, fill.index_select(0, idx))));
  EXPECT_EQ(buffer.storage().scalar_type(), torch::kFloat32);
  EXPECT_EQ(buffer.size(), 50);
  // The next draw continues the same stream.
  auto d2 = buffer.sample(5, g1);
  EXPECT_TRUE(torch::equal(d2.indices, torch::randperm(50, g2, torch::TensorOptions().dtype(torch::kLong)).slice(0, 0, 5)));
}

TEST(ReplayBufferTest, FifoOverwritesTheOldestFirst) {
  ReplayBuffer buffer(ReplayBufferOptions(5).policy(BufferPolicy::kFifo).reinit_prob(0.0), {1});
  EXPECT_EQ(buffer.size(), 0);
  EXPECT_FALSE(buffer.storage().defined());
  buffer.update(torch::Tensor(), column(1, 3));  // indices are ignored
  EXPECT_EQ(buffer.size(), 3);
  EXPECT_EQ(stored_values(buffer), (std::vector<float>{1, 2, 3}));
  buffer.update(torch::Tensor(), column(4, 4));  // 4, 5 fill up; 6, 7 replace 1, 2
  EXPECT_EQ(buffer.size(), 5);
  EXPECT_EQ(stored_values(buffer), (std::vector<float>{3, 4, 5, 6, 7}));
  buffer.update(torch::Tensor(), column(8, 1));  // replaces 3, the oldest
  EXPECT_EQ(stored_values(buffer), (std::vector<float>{4, 5, 6, 7, 8}));
  buffer.update(torch::Tensor(), column(10, 12));  // more rows than capacity: the last 5 stay
  EXPECT_EQ(stored_values(buffer), (std::vector<float>{17, 18, 19, 20, 21}));
  EXPECT_EQ(buffer.size(), 5);
  EXPECT_EQ(buffer.seen(), 20);
  // The ring keeps its order: after 20 offers to 5 slots the next write goes to slot 0 (value 17).
  buffer.update(torch::Tensor(), column(30, 1));
  EXPECT_EQ(stored_values(buffer), (std::vector<float>{18, 19, 20, 21, 30}));
}

TEST(ReplayBufferTest, ReservoirInclusionProbabilitiesAreUniform) {
  // Algorithm R keeps each of the N items offered with probability capacity/N = 10/40 = 0.25.
  // Per item, the count over 4000 repetitions is Binomial(4000, 0.25): sd 27.4, i.e. 0.0068 in
  // the frequency; 0.031 is 4.5 sd (chance that any of the 40 items exceeds it: ~3e-4).
  // Groups: the first and the last 10 items' mean frequency has sd 0.0019 (per repetition the
  // group's count is hypergeometric, variance 10·¼·¾·30/39 = 1.44); 0.01 is ~5 sd. An off-by-one
  // in the acceptance probability (capacity/(i + 1)) keeps the first items with 11/41 = 0.268.
  constexpr int64_t kCapacity = 10, kItems = 40, kReps = 4000;
  auto gen = joule::make_generator(11);
  std::vector<int64_t> count(kItems + 1, 0);
  for (int64_t rep = 0; rep < kReps; ++rep) {
    ReplayBuffer buffer(ReplayBufferOptions(kCapacity).policy(BufferPolicy::kReservoir), {1});
    for (int64_t i = 1; i <= kItems; ++i) buffer.update(torch::Tensor(), torch::full({1, 1}, float(i)), gen);
    ASSERT_EQ(buffer.size(), kCapacity);
    ASSERT_EQ(buffer.seen(), kItems);
    auto v = stored_values(buffer);
    ASSERT_EQ(std::set<float>(v.begin(), v.end()).size(), static_cast<size_t>(kCapacity));
    for (float f : v) ++count[static_cast<int64_t>(f)];
  }
  double first = 0, last = 0;
  for (int64_t i = 1; i <= kItems; ++i) {
    const double freq = double(count[i]) / kReps;
    EXPECT_NEAR(freq, 0.25, 0.031) << "item " << i;
    if (i <= 10) first += freq / 10;
    if (i > kItems - 10) last += freq / 10;
  }
  EXPECT_NEAR(first, 0.25, 0.01);
  EXPECT_NEAR(last, 0.25, 0.01);
}

TEST(ReplayBufferTest, ReservoirBatchesFillThenSample) {
  // A batch that crosses the fill boundary: its first rows fill the buffer, the rest go through
  // algorithm R; the count of offers is kept exactly.
  ReplayBuffer buffer(ReplayBufferOptions(8).policy(BufferPolicy::kReservoir), {1});
  auto gen = joule::make_generator(12);
  buffer.update(torch::Tensor(), column(0, 5), gen);
  EXPECT_EQ(stored_values(buffer), (std::vector<float>{0, 1, 2, 3, 4}));
  buffer.update(torch::Tensor(), column(5, 10), gen);
  EXPECT_EQ(buffer.size(), 8);
  EXPECT_EQ(buffer.seen(), 15);
  auto v = stored_values(buffer);
  EXPECT_EQ(std::set<float>(v.begin(), v.end()).size(), 8u);
  EXPECT_LE(v.back(), 14.0f);
  // Without a generator the default one is used.
  buffer.update(torch::Tensor(), column(100, 3));
  EXPECT_EQ(buffer.seen(), 18);
}

TEST(ReplayBufferTest, FifoAndReservoirSampleFreshStatesUntilABatchIsStored) {
  for (auto policy : {BufferPolicy::kFifo, BufferPolicy::kReservoir}) {
    ReplayBuffer buffer(ReplayBufferOptions(100).policy(policy).reinit_prob(0.0).init_low(5).init_high(6), {3});
    auto g1 = joule::make_generator(13), g2 = joule::make_generator(13);
    auto d = buffer.sample(20, g1);
    // Only the init distribution is drawn from.
    EXPECT_TRUE(torch::equal(d.x, buffer.init_samples(20, g2)));
    EXPECT_TRUE(d.reinit.all().item<bool>());
    EXPECT_TRUE(d.indices.eq(-1).all().item<bool>());
    buffer.update(d.indices, torch::full({10, 3}, -7.0), g1);
    EXPECT_EQ(buffer.size(), 10);
    auto again = buffer.sample(20, g1);  // 10 < 20 stored: still all fresh
    EXPECT_TRUE(again.reinit.all().item<bool>());
    EXPECT_GE(again.x.min().item<double>(), 5.0);
    auto stored = buffer.sample(10, g1);  // now from the buffer, reinit_prob = 0
    EXPECT_FALSE(stored.reinit.any().item<bool>());
    EXPECT_TRUE(stored.x.eq(-7.0).all().item<bool>());
    EXPECT_EQ(std::get<0>(at::_unique(stored.indices)).size(0), 10);
    auto picked = buffer.sample_at(torch::tensor({3, 9}), g1);
    EXPECT_TRUE(picked.x.eq(-7.0).all().item<bool>());
    EXPECT_THROW(buffer.sample_at(torch::tensor({10}), g1), c10::Error);  // beyond size()
  }
}

TEST(ReplayBufferTest, StoredReturnsDistinctStatesWithoutReinitialisation) {
  auto gen = joule::make_generator(14);
  ReplayBuffer fifo(ReplayBufferOptions(50).policy(BufferPolicy::kFifo).reinit_prob(1.0), {1});
  EXPECT_THROW(fifo.stored(1, gen), c10::Error);  // empty
  fifo.update(torch::Tensor(), column(0, 30));
  auto s = fifo.stored(30, gen);
  EXPECT_TRUE(torch::equal(std::get<0>(s.reshape({-1}).sort()), torch::arange(30, torch::kFloat32)));
  EXPECT_EQ(fifo.stored(7, gen).size(0), 7);
  EXPECT_THROW(fifo.stored(31, gen), c10::Error);
  ReplayBuffer in_place(ReplayBufferOptions(20), {2});
  EXPECT_EQ(in_place.size(), 0);
  EXPECT_THROW(in_place.stored(1, gen), c10::Error);  // not filled before the first sample()
  in_place.sample(4, gen);
  EXPECT_EQ(in_place.size(), 20);
  EXPECT_EQ(in_place.stored(20, gen).size(0), 20);
}

// Writes x [rows, 4] into a fresh 8-bit buffer (slots 0..rows−1 in order) and returns it.
ReplayBuffer eight_bit_buffer(BufferPolicy policy, double lo, double hi, const torch::Tensor& x, at::Generator& gen) {
  ReplayBuffer b(ReplayBufferOptions(x.size(0)).policy(policy).storage_bits(8).quantize_low(lo).quantize_high(hi)
                     .reinit_prob(0.0).init_low(lo).init_high(hi),
                 {4});
  if (policy == BufferPolicy::kInPlace) {
    b.sample(1, gen);
    b.update(torch::arange(x.size(0)), x);
  } else {
    b.update(torch::Tensor(), x, gen);
  }
  return b;
}

TEST(ReplayBufferTest, EightBitReadsStayInTheWrittenBinAndAreUnbiased) {
  auto gen = joule::make_generator(15);
  for (auto policy : {BufferPolicy::kInPlace, BufferPolicy::kFifo}) {
    for (auto range : {std::pair<double, double>{0.0, 1.0}, {-1.0, 1.0}}) {
      const double lo = range.first, hi = range.second, width = (hi - lo) / 256;
      auto x = torch::empty({1000, 4}).uniform_(lo, hi, gen);
      auto b = eight_bit_buffer(policy, lo, hi, x, gen);
      EXPECT_EQ(b.storage().scalar_type(), torch::kUInt8);
      EXPECT_EQ(b.storage().size(0), 1000);
      auto slots = torch::arange(1000);
      // Every read lands in the written value's bin.
      double err_sum = 0;
      int64_t err_count = 0;
      for (int r = 0; r < 25; ++r) {
        auto read = b.sample_at(slots, gen).x;
        EXPECT_EQ(read.scalar_type(), torch::kFloat32);
        EXPECT_LT((read - x).abs().max().item<double>(), width);
        err_sum += (read - x).sum().item<double>();
        err_count += read.numel();
      }
      // Unbiased: read − x = w(u − v), u the dequantisation noise and v x's place in its bin, both
      // ~U(0, 1) here. With 4000 values read 25 times, the mean error's sd is
      // w·sqrt((1/12)(1/4000 + 1/100000)) = 0.0047 w; 0.025 w is ~5 sd. Reading bin floors (no
      // noise) would give −w/2.
      EXPECT_NEAR(err_sum / err_count / width, 0.0, 0.025) << joule::to_string(policy) << " [" << lo << ", " << hi << "]";
      // states(): bin centres, within half a bin, no noise.
      auto centres = b.states();
      EXPECT_EQ(centres.scalar_type(), torch::kFloat32);
      EXPECT_LE((centres - x).abs().max().item<double>(), 0.5 * width + 1e-6);  // + float32 rounding
      EXPECT_TRUE(torch::equal(centres, b.states()));
      // stored() dequantises too.
      auto s = b.stored(1000, gen);
      EXPECT_GE(s.min().item<double>(), lo);
      EXPECT_LE(s.max().item<double>(), hi);
    }
  }
}

TEST(ReplayBufferTest, EightBitClampsToTheRangeAndUsesAllBins) {
  auto gen = joule::make_generator(16);
  const double width = 2.0 / 256;
  auto x = torch::tensor({-1.0f, 1.0f, -3.0f, 2.0f, -1.0f + 0.5f * float(width), 1.0f - 0.5f * float(width), 0.0f, 0.0f})
               .view({2, 4});
  auto b = eight_bit_buffer(BufferPolicy::kFifo, -1.0, 1.0, x, gen);
  auto q = b.storage().reshape({-1});
  EXPECT_TRUE(torch::equal(q, torch::tensor({0, 255, 0, 255, 0, 255, 128, 128}, torch::kUInt8)));
  auto read = b.stored(2, gen);
  EXPECT_GE(read.min().item<double>(), -1.0);
  EXPECT_LE(read.max().item<double>(), 1.0);
}

TEST(ReplayBufferTest, CheckpointRoundTripOfEachPolicyContinuesTheSameDraws) {
  for (auto policy : {BufferPolicy::kInPlace, BufferPolicy::kFifo, BufferPolicy::kReservoir}) {
    for (int64_t bits : {32, 8}) {
      auto opts = ReplayBufferOptions(16).policy(policy).storage_bits(bits).reinit_prob(0.2).quantize_low(-1);
      ReplayBuffer a(opts, {3});
      auto gen = joule::make_generator(17);
      for (int step = 0; step < 6; ++step) {  // 6 × 8 offers: the FIFO wraps, the reservoir samples
        auto d = a.sample(8, gen);
        a.update(d.indices, d.x.add(0.1), gen);
      }
      ReplayBuffer b(opts, {3});
      load_into(b, saved(a));
      const std::string what = joule::to_string(policy) + " " + std::to_string(bits);
      EXPECT_EQ(b.size(), a.size()) << what;
      EXPECT_EQ(b.seen(), a.seen()) << what;
      EXPECT_TRUE(torch::equal(a.storage(), b.storage())) << what;
      EXPECT_EQ(b.storage().scalar_type(), bits == 8 ? torch::kUInt8 : torch::kFloat32) << what;
      auto g1 = joule::make_generator(18), g2 = joule::make_generator(18);
      for (int step = 0; step < 3; ++step) {
        auto da = a.sample(8, g1), db = b.sample(8, g2);
        EXPECT_TRUE(torch::equal(da.x, db.x)) << what;
        EXPECT_TRUE(torch::equal(da.indices, db.indices)) << what;
        EXPECT_TRUE(torch::equal(da.reinit, db.reinit)) << what;
        a.update(da.indices, da.x * 0.5, g1);
        b.update(db.indices, db.x * 0.5, g2);
        EXPECT_TRUE(torch::equal(a.storage(), b.storage())) << what;
      }
      // A buffer with another policy or storage refuses the checkpoint.
      auto other = policy == BufferPolicy::kFifo ? BufferPolicy::kReservoir : BufferPolicy::kFifo;
      ReplayBuffer wrong_policy(ReplayBufferOptions(opts).policy(other), {3});
      EXPECT_THROW(load_into(wrong_policy, saved(a)), c10::Error) << what;
      ReplayBuffer wrong_bits(ReplayBufferOptions(opts).storage_bits(bits == 8 ? 32 : 8), {3});
      EXPECT_THROW(load_into(wrong_bits, saved(a)), c10::Error) << what;
      if (bits == 8) {
        ReplayBuffer wrong_range(ReplayBufferOptions(opts).quantize_high(2.0), {3});
        EXPECT_THROW(load_into(wrong_range, saved(a)), c10::Error) << what;
      }
    }
  }
  // An empty FIFO round-trips too.
  ReplayBuffer empty(ReplayBufferOptions(4).policy(BufferPolicy::kFifo), {2});
  ReplayBuffer empty2(ReplayBufferOptions(4).policy(BufferPolicy::kFifo), {2});
  load_into(empty2, saved(empty));
  EXPECT_EQ(empty2.size(), 0);
  EXPECT_FALSE(empty2.storage().defined());
}

TEST(ReplayBufferTest, OldFormatCheckpointLoadsIntoAnInPlaceBuffer) {
  // What ReplayBuffer::save wrote before policies: capacity, filled, storage only.
  auto states = torch::randn({12, 2}, joule::make_generator(19));
  torch::serialize::OutputArchive out;
  out.write("capacity", torch::tensor(int64_t{12}));
  out.write("filled", torch::tensor(1));
  out.write("storage", states);
  std::ostringstream os;
  out.save_to(os);
  ReplayBuffer b(ReplayBufferOptions(12), {2});
  load_into(b, os.str());
  EXPECT_TRUE(torch::equal(b.storage(), states));
  EXPECT_EQ(b.size(), 12);
  auto d = b.sample(3, joule::make_generator(20));
  EXPECT_EQ(d.x.size(0), 3);
  ReplayBuffer fifo(ReplayBufferOptions(12).policy(BufferPolicy::kFifo), {2});
  EXPECT_THROW(load_into(fifo, os.str()), c10::Error);
  ReplayBuffer eight(ReplayBufferOptions(12).storage_bits(8), {2});
  EXPECT_THROW(load_into(eight, os.str()), c10::Error);
  // An old-format checkpoint of an unfilled buffer.
  torch::serialize::OutputArchive out2;
  out2.write("capacity", torch::tensor(int64_t{12}));
  out2.write("filled", torch::tensor(0));
  std::ostringstream os2;
  out2.save_to(os2);
  ReplayBuffer c(ReplayBufferOptions(12), {2});
  load_into(c, os2.str());
  EXPECT_FALSE(c.storage().defined());
  EXPECT_EQ(c.size(), 0);
}

TEST(ReplayBufferTest, NewInPlaceCheckpointKeepsTheOldKeys) {
  // Code from before policies reads only these three keys; an in-place 32-bit checkpoint still has them.
  ReplayBuffer a(ReplayBufferOptions(8), {2});
  a.sample(2, joule::make_generator(21));
  torch::serialize::InputArchive in;
  std::istringstream is(saved(a));
  in.load_from(is);
  torch::Tensor capacity, filled, storage;
  ASSERT_TRUE(in.try_read("capacity", capacity));
  ASSERT_TRUE(in.try_read("filled", filled));
  ASSERT_TRUE(in.try_read("storage", storage));
  EXPECT_EQ(capacity.item<int64_t>(), 8);
  EXPECT_EQ(filled.item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(storage, a.storage()));
}

TEST(ReplayBufferTest, UpdateCountsFollowWriteBacksAndRestarts) {
  // Count by hand what each slot's chain has had: +1 per write-back, 0 when a draw restarts it.
  ReplayBuffer buffer(ReplayBufferOptions(50).reinit_prob(0.3), {2});
  auto gen = joule::make_generator(31);
  std::vector<int64_t> expected(50, 0);
  for (int round = 0; round < 40; ++round) {
    auto d = buffer.sample(7, gen);
    auto idx = d.indices.contiguous();
    auto reinit = d.reinit.contiguous();
    for (int64_t i = 0; i < 7; ++i) {
      const int64_t slot = idx.data_ptr<int64_t>()[i];
      expected[slot] = reinit.data_ptr<bool>()[i] ? 0 : expected[slot];
    }
    // Every other draw is written back; a draw without write-back leaves the counts alone.
    if (round % 2 == 0) {
      buffer.update(d.indices, d.x);
      for (int64_t i = 0; i < 7; ++i) ++expected[idx.data_ptr<int64_t>()[i]];
    }
  }
  ASSERT_TRUE(buffer.updates().defined());
  EXPECT_TRUE(torch::equal(buffer.updates(), torch::tensor(expected, torch::kLong)));
  // mature_slots(k) lists exactly the slots with at least k runs, ascending.
  for (int64_t k : {0, 1, 2, 3}) {
    std::vector<int64_t> want;
    for (int64_t s = 0; s < 50; ++s) {
      if (k <= 0 || expected[s] >= k) want.push_back(s);
    }
    EXPECT_TRUE(torch::equal(buffer.mature_slots(k), torch::tensor(want, torch::kLong))) << "k = " << k;
  }
  // set_storage: advanced states add one run to every chain; new states restart all counts.
  auto before = buffer.updates().clone();
  buffer.set_storage(buffer.states().clone(), /*advanced=*/true);
  EXPECT_TRUE(torch::equal(buffer.updates(), before + 1));
  buffer.set_storage(torch::zeros({50, 2}));
  EXPECT_EQ(buffer.updates().sum().item<int64_t>(), 0);
}

TEST(ReplayBufferTest, UpdateCountsSurviveACheckpointAndOldOnesLoadUnknown) {
  ReplayBuffer a(ReplayBufferOptions(20).reinit_prob(0.0), {2});
  auto gen = joule::make_generator(32);
  for (int i = 0; i < 5; ++i) {
    auto d = a.sample(6, gen);
    a.update(d.indices, d.x);
  }
  ReplayBuffer b(ReplayBufferOptions(20), {2});
  load_into(b, saved(a));
  EXPECT_TRUE(torch::equal(b.updates(), a.updates()));
  EXPECT_EQ(b.updates().sum().item<int64_t>(), 30);
  // A checkpoint without counts (saved before they existed): unknown, so every slot counts as mature.
  torch::serialize::OutputArchive out;
  out.write("capacity", torch::tensor(int64_t{20}));
  out.write("filled", torch::tensor(1));
  out.write("storage", torch::zeros({20, 2}));
  std::ostringstream os;
  out.save_to(os);
  load_into(b, os.str());
  EXPECT_FALSE(b.updates().defined());
  EXPECT_EQ(b.mature_slots(5).size(0), 20);
  auto d = b.sample(4, gen);
  b.update(d.indices, d.x);
  EXPECT_FALSE(b.updates().defined());
  // FIFO buffers move states between slots: no counts, mature_slots lists what is stored.
  ReplayBuffer fifo(ReplayBufferOptions(10).policy(BufferPolicy::kFifo), {2});
  fifo.update(torch::Tensor(), torch::zeros({4, 2}));
  EXPECT_FALSE(fifo.updates().defined());
  EXPECT_TRUE(torch::equal(fifo.mature_slots(3), torch::arange(4, torch::kLong)));
}

TEST(ReplayBufferTest, SetStorageOfAFifoKeepsOrResetsTheRing) {
  ReplayBuffer buffer(ReplayBufferOptions(4).policy(BufferPolicy::kFifo), {1});
  buffer.update(torch::Tensor(), column(1, 6));  // slots hold 5, 6, 3, 4; next slot 2
  buffer.set_storage(buffer.states() * 10);      // same size: a rewrite, the ring position stays
  EXPECT_EQ(stored_values(buffer), (std::vector<float>{30, 40, 50, 60}));
  buffer.update(torch::Tensor(), column(7, 1));  // replaces 30, the oldest
  EXPECT_EQ(stored_values(buffer), (std::vector<float>{7, 40, 50, 60}));
  buffer.set_storage(column(0, 2));  // another size: restart with these two
  EXPECT_EQ(buffer.size(), 2);
  EXPECT_EQ(buffer.seen(), 2);
  EXPECT_THROW(buffer.set_storage(column(0, 5)), c10::Error);
  EXPECT_THROW(buffer.update(torch::Tensor(), torch::zeros({2, 3})), c10::Error);  // wrong event shape
}

TEST(ReplayBufferTest, ValidateRejectsBadStorageOptions) {
  EXPECT_THROW(ReplayBufferOptions(10).storage_bits(16).validate(), c10::Error);
  EXPECT_THROW(ReplayBufferOptions(10).storage_bits(0).validate(), c10::Error);
  EXPECT_THROW(ReplayBufferOptions(10).quantize_low(1.0).quantize_high(1.0).validate(), c10::Error);
  EXPECT_THROW(ReplayBufferOptions(10).quantize_low(2.0).quantize_high(1.0).validate(), c10::Error);
  EXPECT_THROW(ReplayBuffer(ReplayBufferOptions(10).storage_bits(16), {2}), c10::Error);
  EXPECT_NO_THROW(ReplayBufferOptions(10).storage_bits(8).quantize_low(-1).quantize_high(1).validate());
}

}  // namespace
