// data::split_rows: the one train/validation/test split every method uses.
#include <gtest/gtest.h>

#include "joule/core/runtime.h"
#include "joule/data/split.h"

namespace {

TEST(SplitTest, IsAPermutationAndKeepsLabelsAligned) {
  auto gen = joule::make_generator(2);
  auto x = torch::arange(100, torch::kFloat32).unsqueeze(1) * torch::ones({1, 3});
  auto y = torch::arange(100, torch::kLong);
  auto s = joule::data::split_rows({x, y}, 20, 10, gen);
  EXPECT_EQ(s.train.size(), 70);
  EXPECT_EQ(s.valid.size(), 20);
  EXPECT_EQ(s.test.size(), 10);
  for (const auto* part : {&s.train, &s.valid, &s.test}) {
    EXPECT_TRUE(torch::equal(part->x.select(1, 0).to(torch::kLong), part->y));
  }
  auto all = std::get<0>(torch::sort(torch::cat({s.train.y, s.valid.y, s.test.y})));
  EXPECT_TRUE(torch::equal(all, y));
}

TEST(SplitTest, TestRowsComeFirstSoValidationRowsDoNotDependOnTheTestSize) {
  // One permutation: test = its first n_test rows, validation the next n_valid. With no test rows
  // the validation rows are the permutation's first ones, as every method's split had them.
  auto x = torch::arange(50, torch::kFloat32).unsqueeze(1);
  auto g1 = joule::make_generator(5), g2 = joule::make_generator(5);
  auto a = joule::data::split_rows({x, {}}, 10, 0, g1);
  auto b = joule::data::split_rows({x, {}}, 10, 5, g2);
  EXPECT_TRUE(torch::equal(a.valid.x.slice(0, 0, 5), b.test.x));
  EXPECT_TRUE(torch::equal(a.valid.x.slice(0, 5), b.valid.x.slice(0, 0, 5)));
  EXPECT_FALSE(a.train.y.defined());
}

TEST(SplitTest, TooFewRowsIsAClearError) {
  auto gen = joule::make_generator(1);
  auto x = torch::zeros({10, 2});
  try {
    joule::data::split_rows({x, {}}, 4, 5, gen, 2);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("too few for 5 test and 4 validation rows"), std::string::npos);
  }
  EXPECT_NO_THROW(joule::data::split_rows({x, {}}, 3, 5, gen, 2));
}

}  // namespace
