// Tests for joule/io/png.h: PNG encoding is checked by an independent decoder written here
// (own CRC, zlib inflate, all five filters), image grids against hand-computed layouts.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "joule/io/png.h"

namespace {

using joule::io::Color;
using joule::io::Image;

// Bitwise CRC-32 (polynomial 0xEDB88320), independent of the zlib crc32 the encoder uses.
uint32_t reference_crc(const uint8_t* data, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t read_u32(const std::vector<uint8_t>& b, size_t at) {
  if (at + 4 > b.size()) throw std::runtime_error("truncated PNG");
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) |
         b[at + 3];
}

struct Decoded {
  Image image;
  std::vector<std::string> chunk_types;
};

// A strict decoder for what encode_png promises: 8-bit RGB, no interlace. Throws on any defect.
Decoded decode_png(const std::vector<uint8_t>& b) {
  const uint8_t signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  if (b.size() < 8 || !std::equal(signature, signature + 8, b.begin()))
    throw std::runtime_error("bad signature");
  Decoded out;
  std::vector<uint8_t> idat;
  size_t pos = 8;
  while (pos < b.size()) {
    const uint32_t len = read_u32(b, pos);
    if (pos + 12 + len > b.size()) throw std::runtime_error("chunk runs past the end");
    const std::string type(b.begin() + pos + 4, b.begin() + pos + 8);
    const uint8_t* data = b.data() + pos + 8;
    if (read_u32(b, pos + 8 + len) != reference_crc(b.data() + pos + 4, len + 4)) {
      throw std::runtime_error("bad CRC in chunk " + type);
    }
    if (out.chunk_types.empty() && type != "IHDR") throw std::runtime_error("IHDR is not first");
    if (type == "IHDR") {
      if (len != 13) throw std::runtime_error("IHDR length");
      std::vector<uint8_t> d(data, data + 13);
      out.image.width = read_u32(d, 0), out.image.height = read_u32(d, 4);
      if (d[8] != 8 || d[9] != 2 || d[10] != 0 || d[11] != 0 || d[12] != 0) {
        throw std::runtime_error("IHDR: expected depth 8, RGB, deflate, filter 0, no interlace");
      }
    } else if (type == "IDAT") {
      idat.insert(idat.end(), data, data + len);
    }
    out.chunk_types.push_back(type);
    pos += 12 + len;
    if (type == "IEND" && pos != b.size()) throw std::runtime_error("bytes after IEND");
  }
  if (out.chunk_types.empty() || out.chunk_types.back() != "IEND")
    throw std::runtime_error("no IEND");

  const int64_t h = out.image.height, w = out.image.width;
  const size_t stride = size_t(w) * 3;
  std::vector<uint8_t> raw(size_t(h) * (stride + 1) + 1);  // +1 detects excess data
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, idat.data(), idat.size()) != Z_OK)
    throw std::runtime_error("inflate failed");
  if (raw_len != size_t(h) * (stride + 1)) throw std::runtime_error("wrong inflated size");

  out.image.rgb.assign(size_t(h) * stride, 0);
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t filter = raw[size_t(y) * (stride + 1)];
    const uint8_t* src = raw.data() + size_t(y) * (stride + 1) + 1;
    uint8_t* cur = out.image.rgb.data() + size_t(y) * stride;
    const uint8_t* prev = y > 0 ? cur - stride : nullptr;
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= 3 ? cur[i - 3] : 0, up = prev ? prev[i] : 0,
                c = (prev && i >= 3) ? prev[i - 3] : 0;
      const int p = a + up - c, pa = std::abs(p - a), pb = std::abs(p - up), pc = std::abs(p - c);
      int pred = 0;
      switch (filter) {
        case 0: break;
        case 1: pred = a; break;
        case 2: pred = up; break;
        case 3: pred = (a + up) / 2; break;
        case 4: pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? up : c); break;
        default: throw std::runtime_error("unknown filter type " + std::to_string(filter));
      }
      cur[i] = uint8_t(src[i] + pred);
    }
  }
  return out;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Smooth gradients (which favour Sub/Up/Average/Paeth filters) plus a noisy band (which
// favours None) so every filter path of the encoder is likely exercised.
Image test_pattern(int64_t h, int64_t w, uint32_t seed) {
  std::mt19937 rng(seed);
  Image im(h, w);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const bool noisy = y % 16 >= 8;
      im.set(y, x,
             noisy ? Color{uint8_t(rng()), uint8_t(rng()), uint8_t(rng())}
                   : Color{uint8_t(x * 3), uint8_t(y * 2), uint8_t((x + y) * 5)});
    }
  }
  return im;
}

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "joule_png_test_" + name;
}

}  // namespace

TEST(PngTest, RoundTripPreservesEveryPixel) {
  // 300x260 with noise compresses to more than one 64 KiB IDAT chunk, so chunk splitting is
  // covered too.
  const Image src = test_pattern(260, 300, 7);
  const Decoded d = decode_png(joule::io::encode_png(src));
  EXPECT_EQ(d.image.height, 260);
  EXPECT_EQ(d.image.width, 300);
  EXPECT_EQ(d.image.rgb, src.rgb);
  EXPECT_GT(std::count(d.chunk_types.begin(), d.chunk_types.end(), "IDAT"), 1);
}

TEST(PngTest, RoundTripOfOnePixelAndOneRowImages) {
  for (auto [h, w] : {std::pair<int64_t, int64_t>{1, 1}, {1, 17}, {13, 1}}) {
    const Image src = test_pattern(h, w, 3);
    EXPECT_EQ(decode_png(joule::io::encode_png(src)).image.rgb, src.rgb) << h << "x" << w;
  }
}

TEST(PngTest, ChunksAreIhdrIdatIendWithValidCrcs) {
  const Decoded d = decode_png(joule::io::encode_png(Image(4, 5, Color{10, 20, 30})));
  ASSERT_EQ(d.chunk_types.size(), 3u);
  EXPECT_EQ(d.chunk_types[0], "IHDR");
  EXPECT_EQ(d.chunk_types[1], "IDAT");
  EXPECT_EQ(d.chunk_types[2], "IEND");
  EXPECT_EQ(d.image.pixel(3, 4), (Color{10, 20, 30}));
}

TEST(PngTest, EncodeRejectsEmptyAndInconsistentImages) {
  EXPECT_THROW(joule::io::encode_png(Image()), c10::Error);
  Image bad(2, 2);
  bad.rgb.pop_back();
  EXPECT_THROW(joule::io::encode_png(bad), c10::Error);
}

TEST(PngTest, WritePngWritesDecodableFileAndNoTempFile) {
  const std::string path = temp_path("write.png");
  const Image src = test_pattern(20, 30, 11);
  joule::io::write_png(path, src);
  EXPECT_EQ(decode_png(read_file(path)).image.rgb, src.rgb);
  EXPECT_FALSE(std::ifstream(path + ".tmp").good());
  // Overwriting an existing file works (rename replaces it).
  joule::io::write_png(path, Image(2, 2));
  EXPECT_EQ(decode_png(read_file(path)).image.height, 2);
  std::remove(path.c_str());
}

TEST(PngTest, WriteToMissingDirectoryThrowsNamingThePath) {
  const std::string path = temp_path("no_such_dir/sub/picture.png");
  try {
    joule::io::write_png(path, Image(2, 2));
    FAIL() << "write_png did not throw";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(ImageGridTest, LayoutAndValuesMatchMakeGrid) {
  // 3 grey 2x2 images, 2 per row, padding 1: a 2x2 grid of 3x3 cells plus a 1-pixel border.
  const at::Tensor x = at::arange(12, at::kFloat).reshape({3, 1, 2, 2}) / 11.0;
  const Image g =
      joule::io::image_grid(x, /*nrow=*/2, /*padding=*/1, std::make_pair(0.0, 1.0), 0.0);
  ASSERT_EQ(g.height, 7);
  ASSERT_EQ(g.width, 7);
  for (int64_t y = 0; y < 7; ++y) {
    for (int64_t xx = 0; xx < 7; ++xx) {
      const int64_t cy = (y - 1) / 3, cx = (xx - 1) / 3, k = cy * 2 + cx;
      const bool inside = y % 3 != 0 && xx % 3 != 0 && k < 3;
      const int64_t v =
          inside ? std::lround((k * 4 + ((y - 1) % 3) * 2 + (xx - 1) % 3) / 11.0 * 255.0) : 0;
      const uint8_t e = static_cast<uint8_t>(v);
      EXPECT_EQ(g.pixel(y, xx), (Color{e, e, e})) << "pixel (" << y << ", " << xx << ")";
    }
  }
}

TEST(ImageGridTest, DefaultRangeMapsFiniteMinToBlackAndMaxToWhite) {
  at::Tensor x = at::zeros({1, 3, 1, 3});
  x.index_put_({0, at::indexing::Slice(), 0, 0}, -3.0);  // global min -> black
  x.index_put_({0, at::indexing::Slice(), 0, 1}, 5.0);   // global max -> white
  x.index_put_({0, 0, 0, 2}, 5.0);           // red at the max; blue stays 0 -> 3/8 of the range
  x.index_put_({0, 1, 0, 2}, std::nan(""));  // NaN is ignored by the range and drawn as 0
  const Image g = joule::io::image_grid(x, 8, 0);
  ASSERT_EQ(g.height, 1);
  ASSERT_EQ(g.width, 3);
  EXPECT_EQ(g.pixel(0, 0), (Color{0, 0, 0}));
  EXPECT_EQ(g.pixel(0, 1), (Color{255, 255, 255}));
  EXPECT_EQ(g.pixel(0, 2), (Color{255, 0, 96}));  // round(3/8 * 255) = 96
}

TEST(ImageGridTest, ValuesOutsideTheRangeAreClamped) {
  const at::Tensor x = at::tensor({-1.0, 0.5, 2.0}).reshape({1, 1, 1, 3});
  const Image g = joule::io::image_grid(x, 8, 0, std::make_pair(0.0, 1.0));
  EXPECT_EQ(g.pixel(0, 0).r, 0);
  EXPECT_EQ(g.pixel(0, 1).r, 128);
  EXPECT_EQ(g.pixel(0, 2).r, 255);
}

TEST(ImageGridTest, NhwDoubleInputMatchesNchwFloat) {
  const at::Tensor x = at::arange(60, at::kDouble).sin().reshape({5, 4, 3});
  const Image a = joule::io::image_grid(x, 2, 3);
  const Image b = joule::io::image_grid(x.to(at::kFloat).unsqueeze(1), 2, 3);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.rgb, b.rgb);
  EXPECT_EQ(a.height, 3 * (4 + 3) + 3);  // ceil(5 / 2) = 3 rows of H = 4
  EXPECT_EQ(a.width, 2 * (3 + 3) + 3);
  EXPECT_EQ(a.pixel(0, 0), (Color{255, 255, 255}));  // pad_value 1 = white
}

TEST(ImageGridTest, RejectsBadShapesAndArguments) {
  using joule::io::image_grid;
  EXPECT_THROW(image_grid(at::zeros({2, 2, 4, 4})), c10::Error);  // 2 channels
  EXPECT_THROW(image_grid(at::zeros({4, 4})), c10::Error);
  EXPECT_THROW(image_grid(at::zeros({1, 1, 1, 4, 4})), c10::Error);
  EXPECT_THROW(image_grid(at::zeros({0, 1, 4, 4})), c10::Error);
  EXPECT_THROW(image_grid(at::zeros({1, 1, 4, 4}), 0), c10::Error);
  EXPECT_THROW(image_grid(at::zeros({1, 1, 4, 4}), 8, -1), c10::Error);
  EXPECT_THROW(image_grid(at::zeros({1, 1, 4, 4}), 8, 2, std::make_pair(1.0, 1.0)), c10::Error);
  EXPECT_THROW(image_grid(at::Tensor()), c10::Error);
}

TEST(ImageGridTest, SaveImageGridWritesTheGrid) {
  const std::string path = temp_path("grid.png");
  const at::Tensor x = at::arange(450, at::kFloat).cos().reshape({6, 3, 5, 5});
  joule::io::save_image_grid(x, path, 3);
  EXPECT_EQ(decode_png(read_file(path)).image.rgb, joule::io::image_grid(x, 3).rgb);
  std::remove(path.c_str());
}
