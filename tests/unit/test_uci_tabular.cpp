// VERA's tabular benchmarks in their published formats (include/joule/data/uci_tabular.h), read
// from small files the test writes in those formats: the HEPMASS test file's extra column, HAR's
// whitespace tables and 1-based labels, CROP's single file; the repeated-value filter, the splits
// (numpy's seeded shuffle reproduced exactly) and the standardisation; errors that name the file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>

#include "joule/data/uci_tabular.h"
#include "joule/methods/data_config.h"
#include "joule/core/runtime.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using joule::data::load_uci_table;
using joule::data::numpy_legacy_shuffle;
using joule::data::UciTableOptions;
using joule::testing::error_of;
using joule::testing::TempDir;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::vector<int64_t> to_vec(const at::Tensor& t) { return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()}; }

TEST(UciTabularTest, ShuffleMatchesNumpyLegacyGenerator) {
  // Reference values from /usr/bin/python3 (numpy 1.24):
  //   np.random.seed(1234); a = np.arange(n); np.random.shuffle(a)
  EXPECT_EQ(to_vec(numpy_legacy_shuffle(10, 1234)), (std::vector<int64_t>{7, 2, 9, 1, 0, 8, 4, 5, 6, 3}));
  EXPECT_EQ(to_vec(numpy_legacy_shuffle(7, 1234)), (std::vector<int64_t>{2, 1, 6, 0, 4, 5, 3}));
  auto p = to_vec(numpy_legacy_shuffle(1000, 1234));
  EXPECT_EQ(std::vector<int64_t>(p.begin(), p.begin() + 12),
            (std::vector<int64_t>{681, 990, 155, 768, 438, 363, 688, 555, 620, 99, 756, 428}));
  EXPECT_EQ(std::vector<int64_t>(p.end() - 5, p.end()), (std::vector<int64_t>{204, 53, 294, 723, 815}));
  EXPECT_EQ(numpy_legacy_shuffle(0, 1).numel(), 0);
  EXPECT_EQ(to_vec(numpy_legacy_shuffle(1, 1)), std::vector<int64_t>{0});
}

// HEPMASS: header "# label,f0,..", labels written as 0.0 / 1.0, the test file one column wider.
// Feature f2's smallest value (−9) occurs 8 times in training: the filter (> 5) drops it.
TEST(UciTabularTest, HepmassFilterSplitAndExtraTestColumn) {
  TempDir dir;
  std::ostringstream tr, te;
  tr << "# label,f0,f1,f2,f3\n";
  for (int i = 0; i < 40; ++i) {
    tr << (i % 2) << ".0," << i << "," << (i * 7 % 11) << "," << (i < 8 ? -9 : i) << "," << std::sin(i) << "\n";
  }
  te << "# label,f0,f1,f2,f3,mass\n";
  for (int i = 0; i < 10; ++i) te << (i % 2) << "," << 100 + i << "," << i << "," << i << "," << i << ",1000\n";
  write(fs::path(dir.path()) / "1000_train.csv", tr.str());
  write(fs::path(dir.path()) / "1000_test.csv", te.str());

  auto t = load_uci_table("hepmass", dir.path(), UciTableOptions().standardize(false));
  EXPECT_EQ(t.raw_features, 4);
  EXPECT_EQ(t.dropped_features, 1);
  ASSERT_EQ(t.train.x.sizes(), (std::vector<int64_t>{36, 3}));
  ASSERT_EQ(t.valid.x.sizes(), (std::vector<int64_t>{4, 3}));
  ASSERT_EQ(t.test.x.sizes(), (std::vector<int64_t>{10, 3}));
  // No shuffle: validation is the file's last 4 rows (f0 = row index); the test file's mass is gone.
  EXPECT_TRUE(torch::equal(t.valid.x.select(1, 0), torch::tensor({36.f, 37.f, 38.f, 39.f})));
  EXPECT_TRUE(torch::equal(t.train.x.select(1, 0), torch::arange(36, torch::kFloat)));
  EXPECT_TRUE(torch::equal(t.test.x.select(1, 0), torch::arange(100, 110, torch::kFloat)));
  EXPECT_TRUE(torch::equal(t.test.x.select(1, 2), torch::arange(10, torch::kFloat)));  // f3, not the mass
  EXPECT_TRUE(torch::equal(t.train.y, torch::arange(36, torch::kLong).remainder(2)));
  EXPECT_EQ(t.label_names, (std::vector<std::string>{"background", "signal"}));

  // Standardised with the training mean and population standard deviation (numpy's std).
  auto s = load_uci_table("hepmass", dir.path());
  EXPECT_LT(s.train.x.mean(0).abs().max().item<double>(), 1e-5);
  EXPECT_LT((s.train.x.std(0, /*unbiased=*/false) - 1).abs().max().item<double>(), 1e-5);
  auto raw = t.train.x.select(1, 0);
  const double mean = raw.mean().item<double>(), sd = raw.std(false).item<double>();
  EXPECT_NEAR(s.valid.x[0][0].item<double>(), (36 - mean) / sd, 1e-5);

  // drop_repeated = 0 keeps every feature; a test file of another width is an error naming it.
  EXPECT_EQ(load_uci_table("hepmass", dir.path(), UciTableOptions().drop_repeated(0)).train.x.size(1), 4);
  write(fs::path(dir.path()) / "1000_test.csv", "# label,f0,f1\n1,2,3\n");
  auto msg = error_of([&] { load_uci_table("hepmass", dir.path()); });
  EXPECT_NE(msg.find("1000_test.csv: 2 feature columns, expected 5"), std::string::npos) << msg;
}

// HUMAN (UCI HAR): whitespace tables with C exponents, labels 1–6 in y files; training rows shuffled
// by numpy's generator with seed 1234 before the last 10% validate.
TEST(UciTabularTest, HumanWhitespaceFilesShuffleAndLabels) {
  TempDir dir;
  const fs::path root(dir.path());
  auto table = [](int n, int offset) {
    std::ostringstream x, y;
    x << std::scientific << std::setprecision(7);
    for (int i = 0; i < n; ++i) {
      x << "  " << double(offset + i) << " " << -0.5 * i << "  " << (i % 3) * 0.25 << "\n";
      y << (i % 6) + 1 << "\n";
    }
    return std::make_pair(x.str(), y.str());
  };
  auto [xtr, ytr] = table(20, 0);
  auto [xte, yte] = table(6, 500);
  write(root / "train" / "X_train.txt", xtr);
  write(root / "train" / "y_train.txt", ytr);
  write(root / "test" / "X_test.txt", xte);
  write(root / "test" / "y_test.txt", yte);

  auto t = load_uci_table("human", dir.path(), UciTableOptions().standardize(false).drop_repeated(0));
  ASSERT_EQ(t.train.x.sizes(), (std::vector<int64_t>{18, 3}));
  ASSERT_EQ(t.valid.size(), 2);
  ASSERT_EQ(t.test.size(), 6);
  auto perm = numpy_legacy_shuffle(20, 1234);  // the row order of np.random.shuffle (checked above)
  EXPECT_TRUE(torch::equal(t.train.x.select(1, 0).to(torch::kLong), perm.slice(0, 0, 18)));
  EXPECT_TRUE(torch::equal(t.valid.x.select(1, 0).to(torch::kLong), perm.slice(0, 18)));
  EXPECT_TRUE(torch::equal(t.train.y, perm.slice(0, 0, 18).remainder(6)));  // labels 1–6 read as 0–5, moved with their rows
  EXPECT_TRUE(torch::equal(t.test.x.select(1, 0), torch::arange(500, 506, torch::kFloat)));  // test rows keep their order
  EXPECT_EQ(t.label_names.size(), 6u);

  // The default filter (5) drops column 2, whose smallest value (0) occurs 7 times in training.
  EXPECT_EQ(load_uci_table("human", dir.path()).dropped_features, 1);

  write(root / "test" / "y_test.txt", "1\n2\n7\n1\n1\n1\n");
  auto msg = error_of([&] { load_uci_table("human", dir.path()); });
  EXPECT_NE(msg.find("y_test.txt: labels must lie in 1..6, found 1..7"), std::string::npos) << msg;
  write(root / "test" / "y_test.txt", "1\n2\n");
  msg = error_of([&] { load_uci_table("human", dir.path()); });
  EXPECT_NE(msg.find("y_test.txt has 2 labels for the 6 rows"), std::string::npos) << msg;
  fs::remove(root / "train" / "X_train.txt");
  msg = error_of([&] { load_uci_table("human", dir.path()); });
  EXPECT_NE(msg.find((root / "train" / "X_train.txt").string()), std::string::npos) << msg;
}

// CROP: one CSV with a `label` column (1–7) first; all rows shuffled, the last 10% test, then the
// last 10% of the rest validation. No feature filter.
TEST(UciTabularTest, CropSingleFileThreeWaySplit) {
  TempDir dir;
  std::ostringstream f;
  f << "label,f1,f2,f3\n";
  for (int i = 0; i < 50; ++i) f << (i % 7) + 1 << "," << i << ",0," << i * 0.5 << "\n";
  write(fs::path(dir.path()) / "WinnipegDataset.txt", f.str());
  auto t = load_uci_table("crop", dir.path(), UciTableOptions().standardize(false));
  EXPECT_EQ(t.dropped_features, 0);  // f2 is constant, yet CROP is not filtered
  ASSERT_EQ(t.test.size(), 5);
  ASSERT_EQ(t.valid.size(), 4);  // ⌊0.1·45⌋
  ASSERT_EQ(t.train.size(), 41);
  auto perm = numpy_legacy_shuffle(50, 1234);
  EXPECT_TRUE(torch::equal(t.test.x.select(1, 0).to(torch::kLong), perm.slice(0, 45)));
  EXPECT_TRUE(torch::equal(t.valid.x.select(1, 0).to(torch::kLong), perm.slice(0, 41, 45)));
  EXPECT_TRUE(torch::equal(t.train.y, perm.slice(0, 0, 41).remainder(7)));
  // A constant column keeps scale 1 when standardised (numpy would divide by zero).
  auto s = load_uci_table("crop", dir.path());
  EXPECT_TRUE(torch::isfinite(s.train.x).all().item<bool>());

  auto msg = error_of([&] { load_uci_table("crop", (fs::path(dir.path()) / "nowhere").string()); });
  EXPECT_NE(msg.find("data.path must be the folder"), std::string::npos) << msg;
}

// The same tables through the methods' [data] family: classes fixed by the table, the filter's
// default (−1 = the table's own).
TEST(UciTabularTest, LabelledDataConfigReadsTheTables) {
  TempDir dir;
  std::ostringstream f;
  f << "label,a,b\n";
  for (int i = 0; i < 60; ++i) f << (i % 7) + 1 << "," << i << "," << (i * 13 % 17) << "\n";
  write(fs::path(dir.path()) / "WinnipegDataset.txt", f.str());
  joule::methods::LabelledDataConfig cfg;
  cfg.dataset = "crop";
  cfg.path = dir.path();
  auto gen = joule::make_generator(0);
  auto d = joule::methods::load_labelled(cfg, gen);
  EXPECT_EQ(d.classes, 7);
  EXPECT_EQ(d.train.size() + d.valid.size() + d.test.size(), 60);
  EXPECT_EQ(d.event_shape, (std::vector<int64_t>{2}));
  ASSERT_FALSE(d.notes.empty());
  EXPECT_NE(d.notes[0].find("crop with 2 of 2 features"), std::string::npos) << d.notes[0];
}

}  // namespace
