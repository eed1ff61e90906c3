#pragma once
// A tiny raster plotting toolkit for run-folder pictures: a canvas with a built-in 5x7 bitmap
// font, and scatter plots, heatmaps and line plots rendered straight to an Image.
//
// Coordinates: Canvas methods take (x, y) = (column, row) with y growing downwards, as in
// every raster API; Image and Canvas sizes are given as (height, width), as in tensors.

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "joule/io/png.h"

namespace joule::io {

namespace colors {
inline constexpr Color white{255, 255, 255};       ///< white
inline constexpr Color black{0, 0, 0};             ///< black
inline constexpr Color gray{128, 128, 128};        ///< mid grey
inline constexpr Color light_gray{225, 225, 225};  ///< light grey (grid lines)
inline constexpr Color blue{31, 119, 180};         ///< tab10 blue
inline constexpr Color orange{255, 127, 14};       ///< tab10 orange
inline constexpr Color green{44, 160, 44};         ///< tab10 green
inline constexpr Color red{214, 39, 40};           ///< tab10 red
inline constexpr Color purple{148, 103, 189};      ///< tab10 purple
/// The colour of NaN / infinite heatmap cells: a grey that viridis never produces.
inline constexpr Color missing{190, 190, 190};
}  // namespace colors

/// The i-th colour of a 10-colour categorical palette (Tableau 10 / matplotlib "tab10");
/// cycles for i >= 10.
Color palette(int64_t i);

/// `over` composited onto `under` with opacity alpha in [0, 1].
Color blend(Color under, Color over, double alpha);

/// The viridis colormap at t in [0, 1] (clamped), interpolated linearly between ten anchors
/// sampled from matplotlib's table; perceptually uniform and readable in greyscale.
Color viridis(double t);

/// Compact number label: "0", "0.25", "1200", "-3.5", "1e-3", "2.5e6". Scientific notation is
/// used when |v| < 0.01 or |v| >= 1e4. `significant` digits at most (trailing zeros dropped).
std::string format_number(double v, int significant = 3);

/// About `target` "nice" tick values (1, 2 or 5 times a power of ten apart) inside [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int64_t target = 5);

/// An RGB drawing surface with clipping. All drawing clips to the canvas and to the clip rect.
class Canvas {
 public:
  /// A height x width canvas filled with `background`.
  Canvas(int64_t height, int64_t width, Color background = colors::white);
  /// A canvas drawing onto `image` (taken over), clipped to the whole image.
  explicit Canvas(Image image);

  int64_t height() const { return image_.height; }  ///< rows in pixels
  int64_t width() const { return image_.width; }    ///< columns in pixels
  const Image& image() const { return image_; }     ///< the picture drawn so far
  /// Moves the picture out; the canvas is empty afterwards.
  Image release() { return std::move(image_); }

  /// Restricts drawing to the rectangle [x, x + w) x [y, y + h) (intersected with the canvas).
  void set_clip(int64_t x, int64_t y, int64_t w, int64_t h);
  /// Clips to the whole canvas again.
  void reset_clip();

  /// Blends one pixel (no-op outside the clip).
  void draw_point(int64_t x, int64_t y, Color c, double alpha = 1.0);
  /// Blends every pixel of [x, x + w) x [y, y + h) with `c` at opacity `alpha` (clipped).
  void fill_rect(int64_t x, int64_t y, int64_t w, int64_t h, Color c, double alpha = 1.0);
  /// One-pixel outline of [x, x + w) x [y, y + h).
  void draw_rect(int64_t x, int64_t y, int64_t w, int64_t h, Color c);
  /// Bresenham line including both end points; `thickness` stamps a square pen, `dash` > 0
  /// alternates `dash` pixels on and off.
  void draw_line(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Color c, int64_t thickness = 1,
                 int64_t dash = 0);
  /// Connects consecutive points; a non-finite coordinate breaks the line. The dash pattern
  /// continues across segments, so dense curves still look dashed.
  void draw_polyline(const std::vector<double>& xs, const std::vector<double>& ys, Color c,
                     int64_t thickness = 1, int64_t dash = 0);
  /// Anti-aliased filled disc centred at (cx, cy) (pixel centres are at integer coordinates).
  void draw_disc(double cx, double cy, double radius, Color c, double alpha = 1.0);

  /// Draws `text` with its top-left corner at (x, y) in the built-in 5x7 font, each font pixel
  /// a scale x scale block. Characters outside printable ASCII (32..126) draw as '?'.
  void draw_text(int64_t x, int64_t y, const std::string& text, Color c, int64_t scale = 1);
  /// The same text rotated 90 degrees counter-clockwise (reads bottom to top); (x, y) is the
  /// top-left corner of its text_height() x text_width() bounding box.
  void draw_text_vertical(int64_t x, int64_t y, const std::string& text, Color c,
                          int64_t scale = 1);
  /// Width and height in pixels of draw_text's output: 6 * scale per character (5 + 1 gap)
  /// minus the trailing gap, and 7 * scale.
  static int64_t text_width(const std::string& text, int64_t scale = 1);
  /// Height in pixels of draw_text's output: 7 * scale.
  static int64_t text_height(int64_t scale = 1) { return 7 * scale; }

  /// Copies `src` with its top-left corner at (x, y), clipped.
  void blit(const Image& src, int64_t x, int64_t y);

 private:
  void line(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Color c, int64_t thickness,
            int64_t dash, int64_t& phase);
  Image image_;
  int64_t clip_x0_ = 0, clip_y0_ = 0, clip_x1_ = 0, clip_y1_ = 0;  // half-open
};

/// The data rectangle a plot shows.
struct PlotBox {
  ///@{
  /// The x range [xmin, xmax] and y range [ymin, ymax] in data units.
  double xmin = 0.0, xmax = 1.0, ymin = 0.0, ymax = 1.0;
  ///@}
};

/// A size x size scatter plot of `points` [N, 2] (any dtype/device) over `box`, with a frame,
/// tick labels and title. Points outside the box or with non-finite coordinates are skipped.
Image scatter_plot(const at::Tensor& points, const PlotBox& box, const std::string& title,
                   int64_t size = 400, Color color = colors::blue, double alpha = 0.3);

/// A size x size heatmap of `values` [H, W] covering `box`; row 0 is the top (largest y), as
/// for a density evaluated on a grid and flipped for display. Colours are viridis from the
/// finite min to max; NaN and +-inf cells are colors::missing. The colorbar is labelled with
/// the finite min and max.
Image heatmap(const at::Tensor& values, const PlotBox& box, const std::string& title,
              int64_t size = 400, bool colorbar = true);

/// One curve of a line plot. x and y have the same length; non-finite points break the curve
/// (and with log_y, y <= 0 does too).
struct Series {
  std::string name;  ///< legend label
  ///@{
  /// The points' coordinates (same length).
  std::vector<double> x, y;
  ///@}
  Color color = colors::blue;  ///< line colour
  bool dashed = false;         ///< draw the curve dashed
};

/// A horizontal reference line across a line plot (e.g. the exact log Z, a target loss).
/// Drawn dashed and listed in the legend when it has a name.
struct RefLine {
  std::string name;  ///< legend label; empty = not in the legend
  double y = 0.0;    ///< height of the line in data units
  Color color = colors::gray;  ///< line colour
};

/// A width x height line plot. Axis ranges cover every finite point and reference line; ticks
/// are nice_ticks() labelled with format_number(). The legend appears when there is more than
/// one curve or any named reference line. With log_y the y axis is log10 (ticks at powers of
/// ten when it spans more than a decade).
Image line_plot(const std::vector<Series>& series, const std::string& title,
                const std::string& xlabel, const std::string& ylabel, int64_t width = 600,
                int64_t height = 400, bool log_y = false, const std::vector<RefLine>& hlines = {});

/// Images side by side, top-aligned, `padding` pixels between and around them, on `bg`.
Image hstack(const std::vector<Image>& images, int64_t padding = 8, Color bg = colors::white);
/// Images stacked vertically, left-aligned, like hstack.
Image vstack(const std::vector<Image>& images, int64_t padding = 8, Color bg = colors::white);

}  // namespace joule::io
