// TensorDataset: epoch shuffling covers every row, the position checkpoints, NaN is refused.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/data/dataset.h"

namespace {

TEST(TensorDatasetTest, EachEpochVisitsEveryRowOnce) {
  auto x = torch::arange(20, torch::kFloat32).view({10, 2});
  joule::data::TensorDataset ds(x, torch::arange(10));
  auto gen = joule::make_generator(1);
  std::vector<int64_t> seen;
  for (int i = 0; i < 5; ++i) {
    auto b = ds.next(2, gen);
    EXPECT_TRUE(torch::equal(b.x.select(1, 0), (b.y * 2).to(torch::kFloat32)));  // labels follow rows
    for (int64_t j = 0; j < 2; ++j) seen.push_back(b.y[j].item<int64_t>());
  }
  std::sort(seen.begin(), seen.end());
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_EQ(ds.epoch(), 0);
  ds.next(2, gen);
  EXPECT_EQ(ds.epoch(), 1);
}

TEST(TensorDatasetTest, SaveLoadContinuesTheSameOrder) {
  auto x = torch::randn({50, 3});
  joule::data::TensorDataset a(x), b(x);
  auto g1 = joule::make_generator(5);
  a.next(8, g1);
  torch::serialize::OutputArchive out;
  a.save(out);
  std::ostringstream os;
  out.save_to(os);
  torch::serialize::InputArchive in;
  std::istringstream is(os.str());
  in.load_from(is);
  b.load(in);
  auto g2 = g1.clone();
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(torch::equal(a.next(8, g1).x, b.next(8, g2).x));
}

TEST(TensorDatasetTest, NonFiniteDataIsRejectedNamingTheRow) {
  auto x = torch::randn({6, 2});
  x[4][1] = std::numeric_limits<float>::quiet_NaN();
  try {
    joule::data::TensorDataset ds(x);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("first bad row: 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(joule::data::TensorDataset(torch::zeros({0, 2})), c10::Error);
  EXPECT_THROW(joule::data::TensorDataset(torch::zeros({4, 2}), torch::zeros({3})), c10::Error);
  joule::data::TensorDataset ok(torch::zeros({4, 2}));
  auto gen = joule::make_generator(0);
  EXPECT_THROW(ok.next(5, gen), c10::Error);
}

}  // namespace
