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
#include "support/test_support.h"

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

// ---------------------------------------------------------------- decoding (io::decode_png / read_png)
//
// The files below are built by hand (own chunk writer, own CRC, zlib for the IDAT stream) for
// every colour type and bit depth, so the reader is checked against the PNG specification rather
// than against libpng writing what libpng reads.

namespace {

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

void put_chunk(std::vector<uint8_t>& png, const std::string& type, const std::vector<uint8_t>& data) {
  put_u32(png, uint32_t(data.size()));
  const size_t start = png.size();
  png.insert(png.end(), type.begin(), type.end());
  png.insert(png.end(), data.begin(), data.end());
  put_u32(png, reference_crc(png.data() + start, 4 + data.size()));
}

struct Chunk {
  std::string type;
  std::vector<uint8_t> data;
};

// A PNG whose IDAT holds `scanlines` (packed samples, each given filter type 0), in transmission
// order (pass by pass when interlaced); `before_idat` are PLTE / tRNS chunks.
std::vector<uint8_t> handmade_png(uint32_t w, uint32_t h, uint8_t depth, uint8_t color_type,
                                  const std::vector<std::vector<uint8_t>>& scanlines,
                                  const std::vector<Chunk>& before_idat = {}, bool interlaced = false) {
  std::vector<uint8_t> png = {137, 80, 78, 71, 13, 10, 26, 10};
  std::vector<uint8_t> ihdr;
  put_u32(ihdr, w);
  put_u32(ihdr, h);
  ihdr.insert(ihdr.end(), {depth, color_type, 0, 0, uint8_t(interlaced ? 1 : 0)});
  put_chunk(png, "IHDR", ihdr);
  for (const Chunk& c : before_idat) put_chunk(png, c.type, c.data);
  std::vector<uint8_t> raw;
  for (const auto& line : scanlines) {
    raw.push_back(0);
    raw.insert(raw.end(), line.begin(), line.end());
  }
  std::vector<uint8_t> z(compressBound(raw.size()));
  uLongf z_len = z.size();
  if (compress(z.data(), &z_len, raw.data(), raw.size()) != Z_OK) throw std::runtime_error("compress failed");
  z.resize(z_len);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", {});
  return png;
}

// Packs samples of `depth` bits (1, 2, 4) big-endian into bytes, as PNG rows are.
std::vector<uint8_t> pack_bits(const std::vector<int>& samples, int depth) {
  std::vector<uint8_t> out((samples.size() * depth + 7) / 8, 0);
  for (size_t i = 0; i < samples.size(); ++i) {
    const size_t bit = i * depth;
    out[bit / 8] |= uint8_t(samples[i] << (8 - depth - bit % 8));
  }
  return out;
}

std::vector<uint8_t> grey_rgb(const std::vector<int>& levels) {
  std::vector<uint8_t> out;
  for (int v : levels) out.insert(out.end(), {uint8_t(v), uint8_t(v), uint8_t(v)});
  return out;
}

// The message of the c10::Error `f` throws ("" if none).
template <class F>
std::string png_error_of(F f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

}  // namespace

TEST(PngReadTest, DecodeReturnsWhatEncodeWrote) {
  const Image src = test_pattern(37, 53, 5);
  const joule::io::DecodedPng d = joule::io::decode_png(joule::io::encode_png(src));
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.image.height, 37);
  EXPECT_EQ(d.image.width, 53);
  EXPECT_EQ(d.image.rgb, src.rgb);
}

TEST(PngReadTest, GreyEncodingRoundTripsAndReportsOneChannel) {
  Image src(3, 4);
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 4; ++x) {
      const uint8_t v = uint8_t(20 * y + 50 * x);
      src.set(y, x, Color{v, v, v});
    }
  const std::vector<uint8_t> bytes = joule::io::encode_png(src, joule::io::PngColor::kGrey);
  EXPECT_EQ(bytes[8 + 8 + 9], 0);  // IHDR colour type: greyscale
  const joule::io::DecodedPng d = joule::io::decode_png(bytes);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.image.rgb, src.rgb);
  // A colour pixel cannot be stored as grey: an error naming the pixel, not a silent conversion.
  src.set(2, 1, Color{1, 2, 3});
  EXPECT_NE(png_error_of([&] { joule::io::encode_png(src, joule::io::PngColor::kGrey); }).find("pixel (2, 1)"),
            std::string::npos);
}

TEST(PngReadTest, LowBitDepthGreyIsScaledToFullRange) {
  // Depth d sample v becomes v · 255 / (2^d − 1): 1 → 255 at 1 bit, 85 per step at 2, 17 at 4.
  for (int depth : {1, 2, 4}) {
    const int top = (1 << depth) - 1;
    const std::vector<int> row0 = {0, top, top / 2, 1, 0};
    const std::vector<int> row1 = {top, 0, 1, top, 1};
    const auto png = handmade_png(5, 2, uint8_t(depth), 0, {pack_bits(row0, depth), pack_bits(row1, depth)});
    const joule::io::DecodedPng d = joule::io::decode_png(png);
    EXPECT_EQ(d.channels, 1);
    std::vector<int> expected;
    for (const auto* row : {&row0, &row1})
      for (int v : *row) expected.push_back(v * 255 / top);
    EXPECT_EQ(d.image.rgb, grey_rgb(expected)) << "depth " << depth;
  }
}

TEST(PngReadTest, SixteenBitSamplesAreRoundedToEightBits) {
  // v → round(v · 255 / 65535), grey and RGB alike.
  const std::vector<int> v = {0, 65535, 32768, 1000, 40000, 257};
  std::vector<uint8_t> grey_row, rgb_row;
  for (int x : v) grey_row.insert(grey_row.end(), {uint8_t(x >> 8), uint8_t(x)});
  for (size_t i = 0; i < v.size(); ++i) {
    for (size_t c = 0; c < 3; ++c) {
      const int x = v[(i + c) % v.size()];
      rgb_row.insert(rgb_row.end(), {uint8_t(x >> 8), uint8_t(x)});
    }
  }
  auto scaled = [](int x) { return uint8_t(std::lround(x * 255.0 / 65535.0)); };
  const joule::io::DecodedPng g = joule::io::decode_png(handmade_png(6, 1, 16, 0, {grey_row}));
  EXPECT_EQ(g.channels, 1);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(g.image.rgb[3 * i], scaled(v[i])) << v[i];
  const joule::io::DecodedPng c = joule::io::decode_png(handmade_png(6, 1, 16, 2, {rgb_row}));
  EXPECT_EQ(c.channels, 3);
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(c.image.rgb[3 * i + k], scaled(v[(i + k) % v.size()]));
}

TEST(PngReadTest, AlphaAndTransparencyAreDroppedNotComposited) {
  // Grey + alpha: the grey level is kept whatever the alpha.
  const auto ga = handmade_png(3, 1, 8, 4, {{10, 0, 128, 255, 250, 7}});
  const joule::io::DecodedPng g = joule::io::decode_png(ga);
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.image.rgb, grey_rgb({10, 128, 250}));
  // RGBA.
  const auto rgba = handmade_png(2, 1, 8, 6, {{1, 2, 3, 0, 200, 100, 50, 99}});
  const joule::io::DecodedPng c = joule::io::decode_png(rgba);
  EXPECT_EQ(c.channels, 3);
  EXPECT_EQ(c.image.rgb, (std::vector<uint8_t>{1, 2, 3, 200, 100, 50}));
  // Grey with a tRNS colour key.
  const auto key = handmade_png(2, 1, 8, 0, {{5, 6}}, {{"tRNS", {0, 5}}});
  EXPECT_EQ(joule::io::decode_png(key).image.rgb, grey_rgb({5, 6}));
}

TEST(PngReadTest, PalettesAreExpandedWithTheirTransparencyIgnored) {
  const std::vector<uint8_t> plte = {10, 20, 30, 200, 100, 50, 0, 255, 0};
  const std::vector<Chunk> chunks = {{"PLTE", plte}, {"tRNS", {0, 128}}};
  const std::vector<uint8_t> expected = {0, 255, 0, 10, 20, 30, 200, 100, 50, 200, 100, 50};
  // 8-bit indices, then the same picture with 2-bit indices packed four to a byte.
  const joule::io::DecodedPng d8 = joule::io::decode_png(handmade_png(2, 2, 8, 3, {{2, 0}, {1, 1}}, chunks));
  EXPECT_EQ(d8.channels, 3);
  EXPECT_EQ(d8.image.rgb, expected);
  const joule::io::DecodedPng d2 =
      joule::io::decode_png(handmade_png(2, 2, 2, 3, {pack_bits({2, 0}, 2), pack_bits({1, 1}, 2)}, chunks));
  EXPECT_EQ(d2.image.rgb, expected);
}

TEST(PngReadTest, InterlacedFilesAreDeinterlaced) {
  // Adam7 on a 5x6 RGB image: each pass's scanlines hold its pixels (x0 + k·dx, y0 + m·dy).
  const int w = 5, h = 6;
  auto color = [](int x, int y) { return std::vector<uint8_t>{uint8_t(10 * x), uint8_t(40 * y), uint8_t(x * y + 1)}; };
  const int passes[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  std::vector<std::vector<uint8_t>> lines;
  for (const auto& p : passes) {
    if (p[0] >= w) continue;  // a pass with no columns has no scanlines
    for (int y = p[1]; y < h; y += p[3]) {
      std::vector<uint8_t> line;
      for (int x = p[0]; x < w; x += p[2]) {
        const auto c = color(x, y);
        line.insert(line.end(), c.begin(), c.end());
      }
      lines.push_back(line);
    }
  }
  const joule::io::DecodedPng d = joule::io::decode_png(handmade_png(w, h, 8, 2, lines, {}, /*interlaced=*/true));
  ASSERT_EQ(d.image.height, h);
  ASSERT_EQ(d.image.width, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const auto c = color(x, y);
      EXPECT_EQ(d.image.pixel(y, x), (Color{c[0], c[1], c[2]})) << "(" << y << ", " << x << ")";
    }
}

TEST(PngReadTest, GarbageIsNotAPng) {
  std::mt19937 rng(3);
  std::vector<uint8_t> junk(200);
  for (auto& b : junk) b = uint8_t(rng());
  EXPECT_NE(png_error_of([&] { joule::io::decode_png(junk); }).find("not a PNG"), std::string::npos);
  EXPECT_NE(png_error_of([&] { joule::io::decode_png({}); }).find("empty"), std::string::npos);
}

TEST(PngReadTest, EveryTruncationIsAnErrorNeverACrash) {
  // libpng reports errors by longjmp; each of these goes through that path (header, pixel rows,
  // the chunks after them), and ASan/LSan builds check that nothing leaks on the way out.
  const std::vector<uint8_t> full = joule::io::encode_png(test_pattern(9, 11, 2));
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + long(n));
    EXPECT_THROW(joule::io::decode_png(cut), c10::Error) << "truncated to " << n << " of " << full.size() << " bytes";
  }
}

TEST(PngReadTest, CorruptDataAndImpossibleHeadersAreErrors) {
  const std::vector<uint8_t> good = joule::io::encode_png(test_pattern(9, 11, 2));
  std::vector<uint8_t> bytes = good;
  bytes[30] ^= 0x55;  // IHDR's CRC (bytes 29..32: the IHDR chunk ends at byte 33)
  EXPECT_NE(png_error_of([&] { joule::io::decode_png(bytes); }).find("CRC"), std::string::npos);
  // A flipped byte in the compressed pixels: a zlib or CRC error, whichever libpng meets first.
  for (size_t at = 41; at < 60; ++at) {
    bytes = good;
    bytes[at] ^= 0x55;
    EXPECT_THROW(joule::io::decode_png(bytes), c10::Error) << "byte " << at;
  }
  // 100000 x 100000 pixels claimed by a file of a few dozen bytes.
  const auto huge = handmade_png(100000, 100000, 8, 2, {{1, 2, 3}});
  EXPECT_NE(png_error_of([&] { joule::io::decode_png(huge); }).find("more than"), std::string::npos);
}

TEST(PngReadTest, ReadPngNamesTheFileInEveryError) {
  const std::string good = temp_path("read_good.png"), bad = temp_path("read_bad.png");
  const Image src = test_pattern(6, 7, 9);
  joule::io::write_png(good, src);
  EXPECT_EQ(joule::io::read_png(good).image.rgb, src.rgb);
  {
    std::vector<uint8_t> bytes = read_file(good);
    bytes.resize(bytes.size() / 2);
    std::ofstream(bad, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
  }
  const std::string truncated = png_error_of([&] { joule::io::read_png(bad); });
  EXPECT_NE(truncated.find(bad), std::string::npos) << truncated;
  EXPECT_NE(truncated.find("truncated"), std::string::npos) << truncated;
  const std::string missing = temp_path("no_such_file.png");
  EXPECT_NE(png_error_of([&] { joule::io::read_png(missing); }).find(missing), std::string::npos);
  EXPECT_NE(png_error_of([&] { joule::io::read_png(testing::TempDir()); }).find("folder"), std::string::npos);
  std::remove(good.c_str());
  std::remove(bad.c_str());
}

TEST(ImageGridTest, RowsByClassKeepOrderAndFillMissingClasses) {
  // Six 1×1×1 "images" valued 0..5 with labels 2, 0, 2, 1, 2, 0; three per row, classes 0..3.
  auto x = at::arange(6, at::kFloat).view({6, 1, 1, 1});
  auto y = at::tensor({2, 0, 2, 1, 2, 0}, at::kLong);
  auto rows = joule::io::rows_by_class(x, y, 4, 3, -1.0).view({-1});
  EXPECT_TRUE(at::equal(rows, at::tensor({1.f, 5.f, -1.f, 3.f, -1.f, -1.f, 0.f, 2.f, 4.f, -1.f, -1.f, -1.f})));
  // More of a class than a row holds: the first per_class, in order.
  auto two = joule::io::rows_by_class(x, y, 3, 2, 9.0).view({-1});
  EXPECT_TRUE(at::equal(two, at::tensor({1.f, 5.f, 3.f, 9.f, 0.f, 2.f})));
  EXPECT_NE(joule::testing::error_of([&] { joule::io::rows_by_class(x, y.slice(0, 0, 5), 4, 3, 0.0); }).find("labels of shape"),
            std::string::npos);
}
