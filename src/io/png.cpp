#include "joule/io/png.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

namespace joule::io {

Image::Image(int64_t h, int64_t w, Color fill) : height(h), width(w) {
  TORCH_CHECK(h >= 0 && w >= 0, "Image: size must be non-negative, got ", h, "x", w);
  rgb.resize(static_cast<size_t>(h * w * 3));
  for (size_t i = 0; i < rgb.size(); i += 3)
    rgb[i] = fill.r, rgb[i + 1] = fill.g, rgb[i + 2] = fill.b;
}

namespace {

constexpr uint8_t kSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
constexpr size_t kBytesPerPixel = 3;
// IDAT is split so that no chunk nears the 2^31 length limit and readers can stream.
constexpr size_t kMaxIdatChunk = size_t(1) << 16;

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void put_chunk(std::vector<uint8_t>& out, const char* type, const uint8_t* data, size_t n) {
  put_u32(out, static_cast<uint32_t>(n));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data, data + n);
  // The CRC covers the chunk type and data, not the length.
  put_u32(out, static_cast<uint32_t>(crc32(0L, out.data() + start, static_cast<uInt>(n + 4))));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

// Applies PNG filter `type` to one row; `prev` is the previous unfiltered row (zeros for row 0).
void filter_row(int type, const uint8_t* cur, const uint8_t* prev, size_t n, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const int a = i >= kBytesPerPixel ? cur[i - kBytesPerPixel] : 0;
    const int b = prev[i];
    const int c = i >= kBytesPerPixel ? prev[i - kBytesPerPixel] : 0;
    int pred = 0;
    switch (type) {
      case 1: pred = a; break;
      case 2: pred = b; break;
      case 3: pred = (a + b) / 2; break;
      case 4: pred = paeth(a, b, c); break;
      default: break;
    }
    out[i] = static_cast<uint8_t>(cur[i] - pred);
  }
}

// The usual heuristic (libpng's): residuals read as signed bytes compress better the closer
// they are to zero, so pick the filter minimising their absolute sum.
uint64_t residual_cost(const uint8_t* row, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i)
    sum += static_cast<uint64_t>(std::abs(static_cast<int8_t>(row[i])));
  return sum;
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& image) {
  const int64_t h = image.height, w = image.width;
  TORCH_CHECK(h > 0 && w > 0, "encode_png: image is empty (", h, "x", w, ")");
  TORCH_CHECK(h <= std::numeric_limits<int32_t>::max() && w <= std::numeric_limits<int32_t>::max(),
              "encode_png: image too large (", h, "x", w, ")");
  TORCH_CHECK(image.rgb.size() == static_cast<size_t>(h * w * 3), "encode_png: rgb holds ",
              image.rgb.size(), " bytes, expected ", h * w * 3, " for ", h, "x", w);

  const size_t stride = static_cast<size_t>(w) * kBytesPerPixel;
  std::vector<uint8_t> raw(static_cast<size_t>(h) * (stride + 1));
  std::vector<uint8_t> zeros(stride, 0), trial(stride);
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* cur = image.at(y, 0);
    const uint8_t* prev = y > 0 ? image.at(y - 1, 0) : zeros.data();
    uint8_t* dst = raw.data() + static_cast<size_t>(y) * (stride + 1);
    uint64_t best = std::numeric_limits<uint64_t>::max();
    for (int type = 0; type <= 4; ++type) {
      filter_row(type, cur, prev, stride, trial.data());
      const uint64_t cost = residual_cost(trial.data(), stride);
      if (cost < best) {
        best = cost;
        dst[0] = static_cast<uint8_t>(type);
        std::copy(trial.begin(), trial.end(), dst + 1);
      }
    }
  }

  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> z(zlen);
  const int rc = compress2(z.data(), &zlen, raw.data(), static_cast<uLong>(raw.size()), 6);
  TORCH_CHECK(rc == Z_OK, "encode_png: zlib compress2 failed with code ", rc);
  z.resize(zlen);

  std::vector<uint8_t> out(kSignature, kSignature + 8);
  std::vector<uint8_t> ihdr;
  put_u32(ihdr, static_cast<uint32_t>(w));
  put_u32(ihdr, static_cast<uint32_t>(h));
  // bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace
  for (uint8_t v : {8, 2, 0, 0, 0}) ihdr.push_back(v);
  put_chunk(out, "IHDR", ihdr.data(), ihdr.size());
  for (size_t off = 0; off < z.size(); off += kMaxIdatChunk) {
    put_chunk(out, "IDAT", z.data() + off, std::min(kMaxIdatChunk, z.size() - off));
  }
  put_chunk(out, "IEND", nullptr, 0);
  return out;
}

void write_png(const std::string& path, const Image& image) {
  const std::vector<uint8_t> bytes = encode_png(image);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    TORCH_CHECK(out.is_open(), "write_png: cannot open '", tmp, "' for writing (",
                std::strerror(errno), "); does the folder of '", path, "' exist?");
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (out.fail()) {
      std::remove(tmp.c_str());
      TORCH_CHECK(false, "write_png: failed writing '", tmp, "' (for '", path, "')");
    }
  }
  // rename() replaces the target atomically on POSIX, so readers see the old or the new file.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    TORCH_CHECK(false, "write_png: cannot rename '", tmp, "' to '", path, "' (", reason, ")");
  }
}

Image image_grid(const at::Tensor& images, int64_t nrow, int64_t padding,
                 c10::optional<std::pair<double, double>> range, double pad_value) {
  TORCH_CHECK(images.defined(), "image_grid: images is an undefined tensor");
  TORCH_CHECK(images.dim() == 3 || images.dim() == 4,
              "image_grid: expected [N, C, H, W] or [N, H, W], got shape ", images.sizes());
  at::Tensor x = images.detach().to(at::kCPU, at::kFloat);
  if (x.dim() == 3) x = x.unsqueeze(1);
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  TORCH_CHECK(c == 1 || c == 3, "image_grid: expected 1 or 3 channels, got ", c, " (shape ",
              images.sizes(), ")");
  TORCH_CHECK(n > 0 && h > 0 && w > 0, "image_grid: empty batch or image, shape ", images.sizes());
  TORCH_CHECK(nrow > 0, "image_grid: nrow must be > 0, got ", nrow);
  TORCH_CHECK(padding >= 0, "image_grid: padding must be >= 0, got ", padding);
  TORCH_CHECK(std::isfinite(pad_value), "image_grid: pad_value must be finite");

  double lo = 0.0, hi = 1.0;
  if (range) {
    lo = range->first, hi = range->second;
    TORCH_CHECK(std::isfinite(lo) && std::isfinite(hi) && hi > lo,
                "image_grid: range must be finite with first < second, got (", lo, ", ", hi, ")");
  } else {
    const at::Tensor finite = x.masked_select(x.isfinite());
    if (finite.numel() > 0) lo = finite.min().item<double>(), hi = finite.max().item<double>();
  }
  // As in torchvision, a constant batch must not divide by zero.
  const double span = std::max(hi - lo, 1e-5);
  const at::Tensor bytes = ((x - lo) / span)
                               .nan_to_num(0.0, 1.0, 0.0)
                               .clamp(0.0, 1.0)
                               .mul(255.0)
                               .round()
                               .to(at::kByte)
                               .expand({n, 3, h, w})  // grey -> RGB
                               .permute({0, 2, 3, 1})
                               .contiguous();  // [N, H, W, 3]

  const int64_t cols = std::min(nrow, n), rows = (n + cols - 1) / cols;
  const int64_t cell_h = h + padding, cell_w = w + padding;
  const auto pad = static_cast<uint8_t>(std::lround(std::clamp(pad_value, 0.0, 1.0) * 255.0));
  Image grid(rows * cell_h + padding, cols * cell_w + padding, Color{pad, pad, pad});
  const uint8_t* src = bytes.data_ptr<uint8_t>();
  for (int64_t k = 0; k < n; ++k) {
    const int64_t y0 = (k / cols) * cell_h + padding, x0 = (k % cols) * cell_w + padding;
    for (int64_t r = 0; r < h; ++r) {
      std::memcpy(grid.at(y0 + r, x0), src + ((k * h + r) * w) * 3, static_cast<size_t>(w * 3));
    }
  }
  return grid;
}

void save_image_grid(const at::Tensor& images, const std::string& path, int64_t nrow,
                     int64_t padding, c10::optional<std::pair<double, double>> range,
                     double pad_value) {
  write_png(path, image_grid(images, nrow, padding, range, pad_value));
}

}  // namespace joule::io
