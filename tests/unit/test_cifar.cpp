// CIFAR-10/100 binary reader on files written in the exact format, and its errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "joule/core/runtime.h"
#include "joule/data/cifar.h"
#include "support/test_support.h"

namespace {

using joule::data::CifarKind;

// Writes raw records by hand (independently of write_cifar_file) so the layout is checked.
void write_raw(const std::string& path, const std::vector<std::vector<uint8_t>>& records) {
  std::ofstream f(path, std::ios::binary);
  for (const auto& r : records) f.write(reinterpret_cast<const char*>(r.data()), static_cast<std::streamsize>(r.size()));
}

std::vector<uint8_t> record10(uint8_t label, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> rec{label};
  for (uint8_t v : {r, g, b}) rec.insert(rec.end(), 1024, v);
  rec[1 + 5] = 255;  // red plane, row 0, column 5
  return rec;
}

TEST(CifarTest, ReadsTheChannelPlanesAndLabels) {
  joule::testing::TempDir dir;
  write_raw(dir / "b.bin", {record10(3, 10, 20, 30), record10(9, 0, 255, 0)});
  auto s = joule::data::read_cifar_file(dir / "b.bin", CifarKind::kCifar10);
  ASSERT_EQ(s.images.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_EQ(s.labels[0].item<int64_t>(), 3);
  EXPECT_EQ(s.labels[1].item<int64_t>(), 9);
  EXPECT_NEAR(s.images[0][0][0][0].item<double>(), 10.0 / 255, 1e-7);
  EXPECT_NEAR(s.images[0][1][31][31].item<double>(), 20.0 / 255, 1e-7);
  EXPECT_NEAR(s.images[0][2][16][3].item<double>(), 30.0 / 255, 1e-7);
  EXPECT_NEAR(s.images[0][0][0][5].item<double>(), 1.0, 1e-7);  // red plane, row-major
  EXPECT_NEAR(s.images[1][1][7][7].item<double>(), 1.0, 1e-7);
}

TEST(CifarTest, Cifar100FineAndCoarseLabels) {
  joule::testing::TempDir dir;
  auto gen = joule::make_generator(1);
  auto images = torch::rand({5, 3, 32, 32}, gen);
  auto fine = torch::tensor({0, 99, 42, 7, 63}, torch::kLong);
  auto coarse = torch::tensor({0, 19, 5, 1, 12}, torch::kLong);
  joule::data::write_cifar_file(dir / "train.bin", CifarKind::kCifar100, images, fine, coarse);
  EXPECT_EQ(std::filesystem::file_size(dir / "train.bin"), 5u * 3074u);
  auto s = joule::data::read_cifar_file(dir / "train.bin", CifarKind::kCifar100);
  EXPECT_TRUE(torch::equal(s.labels, fine));
  EXPECT_TRUE(torch::equal(joule::data::read_cifar_file(dir / "train.bin", CifarKind::kCifar100, true).labels, coarse));
  // 8-bit quantisation: within half a level.
  EXPECT_LE((s.images - images).abs().max().item<double>(), 0.5 / 255 + 1e-6);
}

TEST(CifarTest, LoadsSplitsFromTheFolderOrItsParent) {
  joule::testing::TempDir dir;
  std::filesystem::create_directories(dir / "cifar-10-batches-bin");
  for (int i = 1; i <= 5; ++i) {
    write_raw(dir / ("cifar-10-batches-bin/data_batch_" + std::to_string(i) + ".bin"),
              {record10(uint8_t(i), 1, 2, 3), record10(0, 4, 5, 6)});
  }
  write_raw(dir / "cifar-10-batches-bin/test_batch.bin", {record10(7, 0, 0, 0)});
  auto train = joule::data::load_cifar_split(dir.path(), CifarKind::kCifar10, "train");
  EXPECT_EQ(train.images.size(0), 10);
  EXPECT_EQ(train.labels[8].item<int64_t>(), 5);
  auto test = joule::data::load_cifar_split(dir / "cifar-10-batches-bin", CifarKind::kCifar10, "test");
  EXPECT_EQ(test.labels.size(0), 1);
  EXPECT_THROW(joule::data::load_cifar_split(dir.path(), CifarKind::kCifar100, "train"), c10::Error);
  EXPECT_THROW(joule::data::load_cifar_split(dir.path(), CifarKind::kCifar10, "valid"), c10::Error);
}

TEST(CifarTest, TruncatedCorruptOrMissingFilesAreClearErrors) {
  joule::testing::TempDir dir;
  auto rec = record10(1, 0, 0, 0);
  auto truncated = rec;
  truncated.resize(1000);
  write_raw(dir / "t.bin", {rec, truncated});
  try {
    joule::data::read_cifar_file(dir / "t.bin", CifarKind::kCifar10);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  write_raw(dir / "bad.bin", {record10(10, 0, 0, 0)});  // label 10 in CIFAR-10
  try {
    joule::data::read_cifar_file(dir / "bad.bin", CifarKind::kCifar10);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("record 0 has label 10"), std::string::npos) << e.what();
  }
  // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
  write_raw(dir / "ten.bin", {record10(1, 0, 0, 0), record10(2, 0, 0, 0)});
  EXPECT_THROW(joule::data::read_cifar_file(dir / "ten.bin", CifarKind::kCifar100), c10::Error);
  EXPECT_THROW(joule::data::read_cifar_file(dir / "missing.bin", CifarKind::kCifar10), c10::Error);
  write_raw(dir / "empty.bin", {});
  EXPECT_THROW(joule::data::read_cifar_file(dir / "empty.bin", CifarKind::kCifar10), c10::Error);
}

}  // namespace
