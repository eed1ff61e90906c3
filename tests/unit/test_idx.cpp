// The IDX reader (include/joule/data/idx.h): plain and gzip files round-trip exactly, and every
// kind of damaged input (missing, truncated, trailing bytes, bad magic, wrong type, corrupt gzip,
// image/label count mismatch) is an error that names the file and the problem.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "joule/data/idx.h"
#include "support/test_support.h"

namespace {

using joule::testing::TempDir;

std::vector<uint8_t> be32(uint32_t v) { return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }

// An IDX byte string: magic 0x0000 08 <ndim>, big-endian dims, then the data bytes.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out{0, 0, 0x08, uint8_t(dims.size())};
  for (auto d : dims) {
    auto b = be32(d);
    out.insert(out.end(), b.begin(), b.end());
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_plain(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t((i * 37) % 256);
  return v;
}

using joule::testing::error_of;

TEST(IdxTest, PlainAndGzipImagesRoundTrip) {
  TempDir dir;
  auto data = ramp(3 * 4 * 5);
  write_plain(dir / "a.idx", idx_bytes({3, 4, 5}, data));
  write_gzip(dir / "a.idx.gz", idx_bytes({3, 4, 5}, data));
  for (const auto& name : {"a.idx", "a.idx.gz"}) {
    auto t = joule::data::read_idx(dir / name);
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 4, 5})) << name;
    EXPECT_EQ(t.scalar_type(), at::kByte);
    auto expected = at::from_blob(data.data(), {3, 4, 5}, at::kByte);
    EXPECT_TRUE(at::equal(t, expected)) << name;
  }
}

TEST(IdxTest, LoadMnistSplitScalesImagesAndChecksCounts) {
  TempDir dir;
  auto images = ramp(4 * 2 * 3);
  write_gzip(dir / "train-images-idx3-ubyte.gz", idx_bytes({4, 2, 3}, images));
  write_plain(dir / "train-labels-idx1-ubyte", idx_bytes({4}, {7, 0, 9, 3}));
  auto s = joule::data::load_mnist_split(dir.path(), "train");
  EXPECT_EQ(s.images.sizes(), (std::vector<int64_t>{4, 1, 2, 3}));
  EXPECT_EQ(s.images.scalar_type(), at::kFloat);
  EXPECT_FLOAT_EQ(s.images.flatten()[5].item<float>(), float(images[5]) / 255.0f);
  EXPECT_TRUE(at::equal(s.labels, at::tensor({7, 0, 9, 3}, at::kLong)));

  // 4 images but 3 labels in the t10k split.
  write_plain(dir / "t10k-images-idx3-ubyte", idx_bytes({4, 2, 3}, images));
  write_plain(dir / "t10k-labels-idx1-ubyte", idx_bytes({3}, {1, 2, 3}));
  auto msg = error_of([&] { joule::data::load_mnist_split(dir.path(), "t10k"); });
  EXPECT_NE(msg.find("4 images but 3 labels"), std::string::npos) << msg;
  msg = error_of([&] { joule::data::load_mnist_split(dir / "nowhere", "train"); });
  EXPECT_NE(msg.find("cannot find"), std::string::npos) << msg;
  msg = error_of([&] { joule::data::load_mnist_split(dir.path(), "test"); });
  EXPECT_NE(msg.find("'train' or 't10k'"), std::string::npos) << msg;
}

TEST(IdxTest, DamagedFilesAreClearErrors) {
  TempDir dir;
  auto good = idx_bytes({2, 3, 3}, ramp(18));
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string expect;
  };
  std::vector<Case> cases{
      {"truncated-data", std::vector<uint8_t>(good.begin(), good.end() - 5), "truncated"},
      {"trailing-data", [&] { auto b = good; b.push_back(1); return b; }(), "trailing data"},
      {"truncated-header", std::vector<uint8_t>(good.begin(), good.begin() + 9), "truncated inside its header"},
      {"tiny", {0, 0}, "truncated"},
      {"bad-magic", [&] { auto b = good; b[0] = 0x1f; return b; }(), "bad magic"},
      {"float-type", [&] { auto b = good; b[2] = 0x0D; return b; }(), "only unsigned bytes"},
      {"zero-dims", {0, 0, 8, 0}, "dimensions"},
      // Found by fuzz_idx: a dimension product beyond 64 bits must not wrap around.
      {"overflowing-dims", {0, 0, 8, 4, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 2},
       "header is corrupt"},
  };
  for (const auto& c : cases) {
    write_plain(dir / c.name, c.bytes);
    auto msg = error_of([&] { joule::data::read_idx(dir / c.name); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(dir / c.name), std::string::npos) << "the message names the file: " << msg;
  }
  auto msg = error_of([&] { joule::data::read_idx(dir / "missing.gz"); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(IdxTest, AZeroDimensionReadsAsAnEmptyTensor) {
  // Found by fuzz_idx (UBSan: memcpy from an empty tensor's null storage); fuzz/corpus/idx keeps the input.
  TempDir dir;
  write_plain(dir / "empty", idx_bytes({0, 3, 2}, {}));
  auto t = joule::data::read_idx(dir / "empty");
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{0, 3, 2}));
}

TEST(IdxTest, CorruptGzipIsAClearError) {
  TempDir dir;
  // A gzip stream cut in half, and one with its deflate payload overwritten.
  write_gzip(dir / "full.gz", idx_bytes({50, 10, 10}, ramp(5000)));
  std::ifstream in(dir / "full.gz", std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_plain(dir / "cut.gz", std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2));
  auto garbled = gz;
  for (size_t i = 20; i < garbled.size() - 8; ++i) garbled[i] = uint8_t(garbled[i] * 31 + 7);
  write_plain(dir / "garbled.gz", garbled);
  for (const auto& name : {"cut.gz", "garbled.gz"}) {
    auto msg = error_of([&] { joule::data::read_idx(dir / name); });
    EXPECT_FALSE(msg.empty()) << name << " was accepted";
    const bool clear = msg.find("corrupt") != std::string::npos || msg.find("truncated") != std::string::npos;
    EXPECT_TRUE(clear) << name << ": " << msg;
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
}

}  // namespace
