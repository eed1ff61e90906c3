#pragma once
// RGB images, PNG encoding and decoding (libpng) and torchvision-style image grids for run folders.
//
// `io` is a leaf component: it depends on ATen, libpng and zlib, nothing else in Joule.

#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace joule::io {

/// An 8-bit RGB colour. Named colours and a categorical palette live in joule/io/plot.h.
struct Color {
  ///@{
  /// Red, green and blue intensities, 0..255.
  uint8_t r = 0, g = 0, b = 0;
  ///@}
  /// True when all three channels are equal.
  bool operator==(const Color& o) const { return r == o.r && g == o.g && b == o.b; }
  /// True when any channel differs.
  bool operator!=(const Color& o) const { return !(*this == o); }
};

/// A row-major RGB8 raster: pixel (y, x) occupies rgb[3 * (y * width + x) + {0, 1, 2}].
struct Image {
  ///@{
  /// Size in pixels (rows, columns).
  int64_t height = 0, width = 0;
  ///@}
  std::vector<uint8_t> rgb;  ///< size height * width * 3

  Image() = default;
  /// A height x width image filled with `fill` (white by default).
  Image(int64_t height, int64_t width, Color fill = Color{255, 255, 255});

  /// True when the image has no pixels.
  bool empty() const { return height == 0 || width == 0; }
  /// The three bytes of pixel (y, x); unchecked, like operator[].
  uint8_t* at(int64_t y, int64_t x) { return rgb.data() + 3 * (y * width + x); }
  /// The three bytes of pixel (y, x), read-only; unchecked.
  const uint8_t* at(int64_t y, int64_t x) const { return rgb.data() + 3 * (y * width + x); }
  /// The colour of pixel (y, x); unchecked.
  Color pixel(int64_t y, int64_t x) const {
    const uint8_t* p = at(y, x);
    return {p[0], p[1], p[2]};
  }
  /// Sets pixel (y, x) to `c`; unchecked.
  void set(int64_t y, int64_t x, Color c) {
    uint8_t* p = at(y, x);
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
};

/// The colour type encode_png() stores.
enum class PngColor {
  kRgb,   ///< 8-bit RGB (colour type 2)
  kGrey,  ///< 8-bit greyscale (colour type 0); every pixel must have r == g == b
};

/// Encodes `image` as an 8-bit RGB (or, with PngColor::kGrey, greyscale), non-interlaced PNG
/// (the whole file, signature included) with libpng: IHDR, IDAT and IEND chunks only, every row
/// filter allowed (libpng picks one per row). kGrey on a pixel whose channels differ is an error
/// naming the pixel, never a silent conversion.
std::vector<uint8_t> encode_png(const Image& image, PngColor color = PngColor::kRgb);

/// Writes `image` to `path` as PNG. The bytes go to `path + ".tmp"` first and are then renamed,
/// so a reader never sees a half-written file. Throws c10::Error naming the path on failure.
void write_png(const std::string& path, const Image& image, PngColor color = PngColor::kRgb);

/// A decoded PNG: its pixels as 8-bit RGB and whether the file stored colour.
struct DecodedPng {
  Image image;       ///< the pixels, always 8-bit RGB (grey files have r == g == b)
  int channels = 3;  ///< 1 when the file is greyscale (colour types 0 and 4), else 3
};

/// Decodes a whole PNG file held in memory with libpng. Every colour type and bit depth is
/// converted to 8-bit RGB: palettes are expanded, grey is replicated into r, g and b, 1/2/4-bit
/// grey is scaled to 0..255, 16-bit samples are rounded to 8 bits, interlaced files are
/// de-interlaced. An alpha channel (and a tRNS transparency chunk) is dropped: the colour values
/// are kept as stored, not composited onto a background. Gamma and colour-profile chunks are
/// ignored. A file that is not a PNG, is truncated, fails a CRC or a zlib check, or whose header
/// claims more pixels than its size can hold is a c10::Error that says what is wrong.
DecodedPng decode_png(const std::vector<uint8_t>& bytes);

/// decode_png() on the contents of `path`; every error (missing file, corrupt data) names it.
DecodedPng read_png(const std::string& path);

/// Tiles a batch of images into one picture, like torchvision.utils.make_grid.
///
/// `images` is [N, C, H, W] with C = 1 or 3, or [N, H, W] (grey), of any dtype and device.
/// Values are mapped linearly from `range` (default: the min and max of the finite values) to
/// [0, 255] and clamped; NaN becomes 0. `nrow` images per row, `padding` pixels between and
/// around them, filled with `pad_value` (given on the output [0, 1] scale: 1 = white).
Image image_grid(const at::Tensor& images, int64_t nrow = 8, int64_t padding = 2,
                 c10::optional<std::pair<double, double>> range = c10::nullopt,
                 double pad_value = 1.0);

/// Images laid out one class per row for image_grid(…, nrow = per_class): row c holds the first
/// `per_class` images whose label is c (labels [N], 0 ≤ c < classes), in their order, and a class
/// with fewer keeps the rest of its row filled with `fill` (on the images' own scale), so a
/// missing class shows as a blank row rather than shifting the others up.
at::Tensor rows_by_class(const at::Tensor& images, const at::Tensor& labels, int64_t classes, int64_t per_class,
                         double fill);

/// write_png(path, image_grid(images, nrow, padding, range, pad_value)).
void save_image_grid(const at::Tensor& images, const std::string& path, int64_t nrow = 8,
                     int64_t padding = 2,
                     c10::optional<std::pair<double, double>> range = c10::nullopt,
                     double pad_value = 1.0);

}  // namespace joule::io
