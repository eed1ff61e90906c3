#include "joule/io/png.h"

#include <png.h>

#include <csetjmp>

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

// libpng reports errors through a callback that must not return: it records the message and
// jumps back to write_rows(), whose locals are all trivially destructible.
struct PngSink {
  std::vector<uint8_t>* out;
  char error[256];
};

void sink_write(png_structp png, png_bytep data, png_size_t n) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  sink->out->insert(sink->out->end(), data, data + n);
}

void sink_flush(png_structp) {}

[[noreturn]] void sink_error(png_structp png, png_const_charp message) {
  auto* sink = static_cast<PngSink*>(png_get_error_ptr(png));
  std::snprintf(sink->error, sizeof sink->error, "%s", message);
  longjmp(png_jmpbuf(png), 1);
}

void sink_warning(png_structp, png_const_charp) {}

bool write_rows(png_bytep* rows, png_uint_32 width, png_uint_32 height, PngSink* sink) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, sink_error, sink_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, sink, sink_write, sink_flush);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  // Every row filter, chosen per row by libpng's heuristic (smallest sum of residuals).
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_ALL_FILTERS);
  png_set_compression_level(png, 6);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& image) {
  const int64_t h = image.height, w = image.width;
  TORCH_CHECK(h > 0 && w > 0, "encode_png: image is empty (", h, "x", w, ")");
  TORCH_CHECK(h <= std::numeric_limits<int32_t>::max() && w <= std::numeric_limits<int32_t>::max(),
              "encode_png: image too large (", h, "x", w, ")");
  TORCH_CHECK(image.rgb.size() == static_cast<size_t>(h * w * 3), "encode_png: rgb holds ",
              image.rgb.size(), " bytes, expected ", h * w * 3, " for ", h, "x", w);
  std::vector<png_bytep> rows(static_cast<size_t>(h));
  for (int64_t y = 0; y < h; ++y) rows[static_cast<size_t>(y)] = const_cast<png_bytep>(image.at(y, 0));
  std::vector<uint8_t> out;
  PngSink sink{&out, {0}};
  const bool ok = write_rows(rows.data(), static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), &sink);
  TORCH_CHECK(ok, "encode_png: libpng failed", sink.error[0] ? std::string(": ") + sink.error : std::string());
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
