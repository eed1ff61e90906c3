#include "joule/io/png.h"

#include <png.h>

#include <csetjmp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
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
// jumps back to the setjmp() of the function that called libpng. Those functions (write_rows,
// read_header, read_pixels) hold only trivially destructible locals, so the jump skips no
// destructor; the libpng structs and the pixel buffers are owned by their callers, whose frames
// the jump never crosses.
struct PngError {
  char message[256];
};

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* error = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(error->message, sizeof error->message, "%s", message);
  longjmp(png_jmpbuf(png), 1);
}

void on_warning(png_structp, png_const_charp) {}

struct PngSink {
  std::vector<uint8_t>* out;
  PngError error;
};

void sink_write(png_structp png, png_bytep data, png_size_t n) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  sink->out->insert(sink->out->end(), data, data + n);
}

void sink_flush(png_structp) {}

bool write_rows(png_bytep* rows, png_uint_32 width, png_uint_32 height, int color_type, PngSink* sink) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink->error, on_error, on_warning);
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
  png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
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

// ---------------------------------------------------------------- reading

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

void source_read(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "unexpected end of file (the file is truncated)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

// The libpng read structs, destroyed however decoding ends.
struct ReadStructs {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ReadStructs() = default;
  ReadStructs(const ReadStructs&) = delete;
  ReadStructs& operator=(const ReadStructs&) = delete;
  ~ReadStructs() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

struct PngHeader {
  png_uint_32 width, height;
  int bit_depth, color_type, file_channels;
  int out_channels, out_depth;
  size_t out_rowbytes;
};

// Reads the chunks up to the first IDAT and sets up the conversion to 8-bit RGB.
bool read_header(png_structp png, png_infop info, PngSource* src, PngHeader* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, src, source_read);
  png_read_info(png, info);
  int interlace = 0;
  png_get_IHDR(png, info, &h->width, &h->height, &h->bit_depth, &h->color_type, &interlace, nullptr, nullptr);
  h->file_channels = png_get_channels(png, info);
  if (h->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (h->color_type == PNG_COLOR_TYPE_GRAY && h->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (h->bit_depth == 16) png_set_scale_16(png);  // rounds v * 255 / 65535, unlike strip_16
  // Unconditional: palette_to_rgb turns a tRNS chunk into an alpha channel, which this drops too.
  png_set_strip_alpha(png);
  if (h->color_type == PNG_COLOR_TYPE_GRAY || h->color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  h->out_channels = png_get_channels(png, info);
  h->out_depth = png_get_bit_depth(png, info);
  h->out_rowbytes = png_get_rowbytes(png, info);
  return true;
}

bool read_pixels(png_structp png, png_infop info, png_bytep* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, nullptr);  // reads to IEND: a file cut after its pixel data is truncated too
  return true;
}

// `what` says which data failed: "decode_png" or "read_png: '<path>'".
DecodedPng decode(const uint8_t* data, size_t size, const std::string& what) {
  TORCH_CHECK(size > 0, what, ": the file is empty, not a PNG");
  TORCH_CHECK(size >= 8 && png_sig_cmp(data, 0, 8) == 0, what,
              ": not a PNG file (it does not start with the 8-byte PNG signature)");
  PngError error{{0}};
  ReadStructs s;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, on_error, on_warning);
  TORCH_CHECK(s.png, what, ": libpng could not allocate its read struct");
  s.info = png_create_info_struct(s.png);
  TORCH_CHECK(s.info, what, ": libpng could not allocate its info struct");
  PngSource src{data, size, 0};
  PngHeader h{};
  TORCH_CHECK(read_header(s.png, s.info, &src, &h), what, ": corrupt PNG header: ", error.message);
  // Deflate expands at most 1032:1, so a header claiming more filtered bytes than the file can
  // hold is corrupt; checking this first keeps a few bad bytes from allocating gigabytes.
  const double raw_bytes =
      double(h.height) * (1.0 + std::ceil(double(h.width) * h.file_channels * h.bit_depth / 8.0));
  TORCH_CHECK(raw_bytes <= 1032.0 * double(size) + 4096.0, what, ": the header claims ", h.width, "x", h.height,
              " pixels, more than a ", size, "-byte file can hold (corrupt or truncated)");
  TORCH_CHECK(h.out_channels == 3 && h.out_depth == 8 && h.out_rowbytes == size_t(h.width) * 3, what,
              ": cannot convert colour type ", h.color_type, " at bit depth ", h.bit_depth, " to 8-bit RGB");
  DecodedPng out;
  out.channels = (h.color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
  out.image.height = h.height;
  out.image.width = h.width;
  out.image.rgb.assign(size_t(h.height) * h.out_rowbytes, 0);
  std::vector<png_bytep> rows(h.height);
  for (png_uint_32 y = 0; y < h.height; ++y) rows[y] = out.image.rgb.data() + size_t(y) * h.out_rowbytes;
  TORCH_CHECK(read_pixels(s.png, s.info, rows.data()), what, ": corrupt or truncated PNG: ", error.message);
  return out;
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& image, PngColor color) {
  const int64_t h = image.height, w = image.width;
  TORCH_CHECK(h > 0 && w > 0, "encode_png: image is empty (", h, "x", w, ")");
  TORCH_CHECK(h <= std::numeric_limits<int32_t>::max() && w <= std::numeric_limits<int32_t>::max(),
              "encode_png: image too large (", h, "x", w, ")");
  TORCH_CHECK(image.rgb.size() == static_cast<size_t>(h * w * 3), "encode_png: rgb holds ",
              image.rgb.size(), " bytes, expected ", h * w * 3, " for ", h, "x", w);
  std::vector<uint8_t> grey;
  if (color == PngColor::kGrey) {
    grey.resize(static_cast<size_t>(h * w));
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const uint8_t* p = image.at(y, x);
        TORCH_CHECK(p[0] == p[1] && p[1] == p[2], "encode_png: a greyscale PNG needs r == g == b, but pixel (", y,
                    ", ", x, ") is (", int(p[0]), ", ", int(p[1]), ", ", int(p[2]), ")");
        grey[static_cast<size_t>(y * w + x)] = p[0];
      }
    }
  }
  std::vector<png_bytep> rows(static_cast<size_t>(h));
  for (int64_t y = 0; y < h; ++y) {
    rows[static_cast<size_t>(y)] = color == PngColor::kGrey ? grey.data() + y * w : const_cast<png_bytep>(image.at(y, 0));
  }
  std::vector<uint8_t> out;
  PngSink sink{&out, {{0}}};
  const bool ok = write_rows(rows.data(), static_cast<png_uint_32>(w), static_cast<png_uint_32>(h),
                             color == PngColor::kGrey ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, &sink);
  TORCH_CHECK(ok, "encode_png: libpng failed",
              sink.error.message[0] ? std::string(": ") + sink.error.message : std::string());
  return out;
}

DecodedPng decode_png(const std::vector<uint8_t>& bytes) { return decode(bytes.data(), bytes.size(), "decode_png"); }

DecodedPng read_png(const std::string& path) {
  std::error_code ec;
  TORCH_CHECK(!std::filesystem::is_directory(path, ec), "read_png: '", path, "' is a folder, not a PNG file");
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in.is_open(), "read_png: cannot open '", path, "' (", std::strerror(errno), ")");
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TORCH_CHECK(!in.bad(), "read_png: failed reading '", path, "'");
  return decode(bytes.data(), bytes.size(), "read_png: '" + path + "'");
}

void write_png(const std::string& path, const Image& image, PngColor color) {
  const std::vector<uint8_t> bytes = encode_png(image, color);
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

at::Tensor rows_by_class(const at::Tensor& images, const at::Tensor& labels, int64_t classes, int64_t per_class,
                         double fill) {
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "rows_by_class: ", images.size(0), " images but labels of shape ",
              labels.sizes());
  TORCH_CHECK(classes > 0 && per_class > 0, "rows_by_class: classes and per_class must be > 0, got ", classes, " and ", per_class);
  auto shape = images.sizes().vec();
  shape[0] = classes * per_class;
  auto out = at::full(shape, fill, images.options());
  const auto on_device = labels.to(images.device());
  for (int64_t c = 0; c < classes; ++c) {
    auto of_class = images.index_select(0, on_device.eq(c).nonzero().view({-1}).slice(0, 0, per_class));
    out.narrow(0, c * per_class, of_class.size(0)).copy_(of_class);
  }
  return out;
}

void save_image_grid(const at::Tensor& images, const std::string& path, int64_t nrow,
                     int64_t padding, c10::optional<std::pair<double, double>> range,
                     double pad_value) {
  write_png(path, image_grid(images, nrow, padding, range, pad_value));
}

}  // namespace joule::io
