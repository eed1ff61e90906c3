#include "joule/io/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <tuple>

namespace joule::io {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// 5x7 glyphs for ASCII 32..126: one byte per row, top row first, bit 4 = leftmost column.
// clang-format off
constexpr uint8_t kFont[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},  // ' ' !
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00}, {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A},  // " #
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04}, {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},  // $ %
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}, {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},  // & '
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},  // ( )
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}, {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},  // * +
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00},  // , -
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},  // . /
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 0 1
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},  // 2 3
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},  // 4 5
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // 6 7
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},  // 8 9
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08},  // : ;
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00},  // < =
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},  // > ?
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}, {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11},  // @ A
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E},  // B C
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F},  // D E
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F},  // F G
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // H I
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},  // J K
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11},  // L M
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // N O
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D},  // P Q
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},  // R S
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // T U
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A},  // V W
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04},  // X Y
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E},  // Z [
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E},  // \ ]
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F},  // ^ _
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F},  // ` a
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E},  // b c
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E},  // d e
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // f g
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E},  // h i
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12},  // j k
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11},  // l m
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E},  // n o
    {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}, {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01},  // p q
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E},  // r s
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D},  // t u
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A},  // v w
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // x y
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02},  // z {
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08},  // | }
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00},  // ~
};
// clang-format on

const uint8_t* glyph(char ch) {
  const int code = static_cast<unsigned char>(ch);
  return kFont[(code >= 32 && code <= 126 ? code : '?') - 32];
}

std::string strip_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Liang-Barsky: clips the segment to the rectangle; false when nothing is left. Keeps lines
// with far-away end points from walking billions of off-canvas pixels.
bool clip_segment(double& x0, double& y0, double& x1, double& y1, double xmin, double ymin,
                  double xmax, double ymax) {
  const double dx = x1 - x0, dy = y1 - y0;
  const double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0 - xmin, xmax - x0, y0 - ymin, ymax - y0};
  double t0 = 0.0, t1 = 1.0;
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0.0) {
      if (q[i] < 0.0) return false;
      continue;
    }
    const double r = q[i] / p[i];
    if (p[i] < 0.0) {
      t0 = std::max(t0, r);
    } else {
      t1 = std::min(t1, r);
    }
    if (t0 > t1) return false;
  }
  const double ox = x0, oy = y0;
  x0 = ox + t0 * dx, y0 = oy + t0 * dy, x1 = ox + t1 * dx, y1 = oy + t1 * dy;
  return true;
}

// ---------------------------------------------------------------- axes

struct Axis {
  std::vector<double> ticks;  // in axis coordinates (log10 y for a log axis)
  std::vector<std::string> labels;
};

// Enough significant digits to tell ticks `step` apart, and no more.
std::string tick_label(double t, double step) {
  if (t == 0.0 || !(step > 0.0)) return format_number(t);
  const double digits =
      std::floor(std::log10(std::abs(t))) - std::floor(std::log10(step * (1 + 1e-9)));
  return format_number(t, std::max(1, static_cast<int>(digits) + 1));
}

Axis linear_axis(double lo, double hi, int64_t target) {
  Axis a;
  a.ticks = nice_ticks(lo, hi, target);
  const double step = a.ticks.size() > 1 ? a.ticks[1] - a.ticks[0] : 0.0;
  for (double t : a.ticks) a.labels.push_back(tick_label(t, step));
  return a;
}

// A log10 axis over [lo, hi] (exponents). Two decades or more: whole decades. Less: values
// 1, 2 and 5 times a power of ten, or, when fewer than three of those fit, nice linear ticks,
// always placed at their log10.
Axis log_axis(double lo, double hi, int64_t target) {
  Axis a;
  if (hi - lo >= 2.0) {
    const double first = std::ceil(lo), last = std::floor(hi);
    const double stride =
        std::max(1.0, std::ceil((last - first + 1.0) / static_cast<double>(target)));
    for (double e = first; e <= last; e += stride) {
      a.ticks.push_back(e);
      a.labels.push_back(format_number(std::pow(10.0, e), 1));
    }
    return a;
  }
  const double vlo = std::pow(10.0, lo), vhi = std::pow(10.0, hi);
  std::vector<double> values;
  for (double e = std::floor(lo); e <= std::ceil(hi); ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, e);
      if (v >= vlo && v <= vhi) values.push_back(v);
    }
  }
  double step = 0.0;  // 0: label each 1-2-5 value with its single significant digit
  if (values.size() < 3) {
    values = nice_ticks(vlo, vhi, target);
    step = values.size() > 1 ? values[1] - values[0] : 0.0;
  }
  for (double v : values) {
    if (v <= 0.0) continue;
    a.ticks.push_back(std::log10(v));
    a.labels.push_back(step > 0.0 ? tick_label(v, step) : format_number(v, 1));
  }
  return a;
}

int64_t max_label_width(const Axis& a) {
  int64_t w = 0;
  for (const auto& s : a.labels) w = std::max(w, Canvas::text_width(s));
  return w;
}

// The plot area in pixels and the data rectangle it shows.
struct Frame {
  int64_t left = 0, top = 0, w = 0, h = 0;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * static_cast<double>(w - 1); }
  double py(double y) const { return top + (y1 - y) / (y1 - y0) * static_cast<double>(h - 1); }
};

// Margins leave room for tick labels, axis labels and title; `extra_right` for a colorbar.
Frame layout(int64_t height, int64_t width, const Axis& xa, const Axis& ya, bool title, bool xlabel,
             bool ylabel, int64_t extra_right) {
  Frame f;
  f.left = 4 + (ylabel ? 12 : 0) + max_label_width(ya) + 8;
  f.top = title ? 30 : 12;
  const int64_t bottom = 22 + (xlabel ? 12 : 0);
  const int64_t last_label = xa.labels.empty() ? 0 : Canvas::text_width(xa.labels.back());
  const int64_t right = std::max<int64_t>(12, last_label / 2 + 4) + extra_right;
  f.w = width - f.left - right, f.h = height - f.top - bottom;
  TORCH_CHECK(f.w >= 16 && f.h >= 16, "plot: a ", height, "x", width,
              " image leaves no room for the plot area; make it larger");
  return f;
}

// Scatter plots and heatmaps show 2-D boxes: a square plot area keeps circles round.
void make_square(Frame& f) {
  const int64_t side = std::min(f.w, f.h);
  f.left += (f.w - side) / 2, f.top += (f.h - side) / 2, f.w = side, f.h = side;
}

// Grid, frame, ticks, tick labels, axis labels and title. Data is drawn afterwards, clipped
// to the plot area, so it never covers the frame.
void draw_axes(Canvas& cv, const Frame& f, const Axis& xa, const Axis& ya, const std::string& title,
               const std::string& xlabel, const std::string& ylabel, bool grid) {
  const int64_t bottom = f.top + f.h, right = f.left + f.w;
  for (size_t i = 0; i < xa.ticks.size(); ++i) {
    const auto x = static_cast<int64_t>(std::lround(f.px(xa.ticks[i])));
    if (grid) cv.draw_line(x, f.top, x, bottom - 1, colors::light_gray);
    cv.draw_line(x, bottom, x, bottom + 3, colors::black);
    cv.draw_text(x - Canvas::text_width(xa.labels[i]) / 2, bottom + 6, xa.labels[i], colors::black);
  }
  for (size_t i = 0; i < ya.ticks.size(); ++i) {
    const auto y = static_cast<int64_t>(std::lround(f.py(ya.ticks[i])));
    if (grid) cv.draw_line(f.left, y, right - 1, y, colors::light_gray);
    cv.draw_line(f.left - 4, y, f.left - 1, y, colors::black);
    cv.draw_text(f.left - 7 - Canvas::text_width(ya.labels[i]), y - 3, ya.labels[i], colors::black);
  }
  cv.draw_rect(f.left - 1, f.top - 1, f.w + 2, f.h + 2, colors::black);
  if (!title.empty()) {
    const int64_t scale = Canvas::text_width(title, 2) <= cv.width() - 8 ? 2 : 1;
    const int64_t x = f.left + (f.w - Canvas::text_width(title, scale)) / 2;
    cv.draw_text(std::max<int64_t>(x, 4), f.top - 8 - Canvas::text_height(scale), title,
                 colors::black, scale);
  }
  if (!xlabel.empty()) {
    cv.draw_text(f.left + (f.w - Canvas::text_width(xlabel)) / 2, bottom + 19, xlabel,
                 colors::black);
  }
  if (!ylabel.empty()) {
    cv.draw_text_vertical(4, f.top + (f.h - Canvas::text_width(ylabel)) / 2, ylabel, colors::black);
  }
}

void check_box(const PlotBox& b, const char* who) {
  TORCH_CHECK(std::isfinite(b.xmin) && std::isfinite(b.xmax) && std::isfinite(b.ymin) &&
                  std::isfinite(b.ymax) && b.xmax > b.xmin && b.ymax > b.ymin,
              who, ": PlotBox must be finite with xmin < xmax and ymin < ymax, got x [", b.xmin,
              ", ", b.xmax, "], y [", b.ymin, ", ", b.ymax, "]");
}

// Widens [lo, hi] by `frac` of its span on each side; an empty range becomes [0, 1] and a
// single value gets a 10% band so it sits mid-axis.
std::pair<double, double> padded(double lo, double hi, double frac) {
  if (lo > hi) return {0.0, 1.0};
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(lo))) {
    const double d = lo == 0.0 ? 0.5 : std::abs(lo) * 0.1;
    return {lo - d, hi + d};
  }
  const double d = (hi - lo) * frac;
  return {lo - d, hi + d};
}

}  // namespace

// ---------------------------------------------------------------- colours and numbers

Color palette(int64_t i) {
  // clang-format off
  static constexpr std::array<Color, 10> kTab10 = {{{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                                    {214, 39, 40}, {148, 103, 189}, {140, 86, 75},
                                                    {227, 119, 194}, {127, 127, 127},
                                                    {188, 189, 34}, {23, 190, 207}}};
  // clang-format on
  return kTab10[static_cast<size_t>(((i % 10) + 10) % 10)];
}

Color blend(Color under, Color over, double alpha) {
  alpha = std::clamp(alpha, 0.0, 1.0);
  auto mix = [alpha](uint8_t u, uint8_t o) {
    return static_cast<uint8_t>(std::lround(u + (static_cast<double>(o) - u) * alpha));
  };
  return {mix(under.r, over.r), mix(under.g, over.g), mix(under.b, over.b)};
}

Color viridis(double t) {
  // matplotlib's viridis at t = 0, 1/9, ..., 1.
  // clang-format off
  static constexpr std::array<Color, 10> kAnchors = {{{68, 1, 84}, {72, 40, 120}, {62, 73, 137},
                                                      {49, 104, 142}, {38, 130, 142}, {31, 158, 137},
                                                      {53, 183, 121}, {110, 206, 88},
                                                      {181, 222, 43}, {253, 231, 37}}};
  // clang-format on
  if (std::isnan(t)) return colors::missing;
  const double s = std::clamp(t, 0.0, 1.0) * 9.0;
  const auto i = std::min<size_t>(static_cast<size_t>(s), 8);
  return blend(kAnchors[i], kAnchors[i + 1], s - static_cast<double>(i));
}

std::string format_number(double v, int significant) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0.0) return "0";
  significant = std::clamp(significant, 1, 17);
  char buf[64];
  const double a = std::abs(v);
  if (a < 1e-2 || a >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.*e", significant - 1, v);
    const std::string s(buf);
    const size_t e = s.find('e');
    return strip_zeros(s.substr(0, e)) + "e" + std::to_string(std::stoi(s.substr(e + 1)));
  }
  const int decimals = std::max(0, significant - 1 - static_cast<int>(std::floor(std::log10(a))));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return strip_zeros(buf);
}

std::vector<double> nice_ticks(double lo, double hi, int64_t target) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo) return {};
  if (hi == lo) return {lo};
  const double raw = (hi - lo) / static_cast<double>(std::max<int64_t>(target, 1));
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
  std::vector<double> ticks;
  // Integer multiples of the step, so 0 is exactly 0; the tolerance keeps the end points.
  const double first = std::ceil(lo / step - 1e-9), last = std::floor(hi / step + 1e-9);
  for (double k = first; k <= last; ++k) ticks.push_back(std::clamp(k * step, lo, hi));
  return ticks;
}

// ---------------------------------------------------------------- Canvas

Canvas::Canvas(int64_t height, int64_t width, Color background)
    : Canvas(Image(height, width, background)) {}

Canvas::Canvas(Image image) : image_(std::move(image)) { reset_clip(); }

void Canvas::set_clip(int64_t x, int64_t y, int64_t w, int64_t h) {
  clip_x0_ = std::clamp<int64_t>(x, 0, width());
  clip_x1_ = std::clamp<int64_t>(x + w, 0, width());
  clip_y0_ = std::clamp<int64_t>(y, 0, height());
  clip_y1_ = std::clamp<int64_t>(y + h, 0, height());
}

void Canvas::reset_clip() { set_clip(0, 0, width(), height()); }

void Canvas::draw_point(int64_t x, int64_t y, Color c, double alpha) {
  if (x < clip_x0_ || x >= clip_x1_ || y < clip_y0_ || y >= clip_y1_) return;
  image_.set(y, x, alpha >= 1.0 ? c : blend(image_.pixel(y, x), c, alpha));
}

void Canvas::fill_rect(int64_t x, int64_t y, int64_t w, int64_t h, Color c, double alpha) {
  const int64_t x0 = std::max(x, clip_x0_), x1 = std::min(x + w, clip_x1_);
  const int64_t y0 = std::max(y, clip_y0_), y1 = std::min(y + h, clip_y1_);
  for (int64_t yy = y0; yy < y1; ++yy) {
    for (int64_t xx = x0; xx < x1; ++xx) draw_point(xx, yy, c, alpha);
  }
}

void Canvas::draw_rect(int64_t x, int64_t y, int64_t w, int64_t h, Color c) {
  if (w <= 0 || h <= 0) return;
  fill_rect(x, y, w, 1, c);
  fill_rect(x, y + h - 1, w, 1, c);
  fill_rect(x, y, 1, h, c);
  fill_rect(x + w - 1, y, 1, h, c);
}

void Canvas::line(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Color c, int64_t thickness,
                  int64_t dash, int64_t& phase) {
  const int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int64_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  const int64_t pen = std::max<int64_t>(thickness, 1), half = (pen - 1) / 2;
  int64_t err = dx + dy;
  while (true) {
    if (dash <= 0 || (phase / dash) % 2 == 0) fill_rect(x0 - half, y0 - half, pen, pen, c);
    ++phase;
    if (x0 == x1 && y0 == y1) break;
    const int64_t e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void Canvas::draw_line(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Color c, int64_t thickness,
                       int64_t dash) {
  draw_polyline({static_cast<double>(x0), static_cast<double>(x1)},
                {static_cast<double>(y0), static_cast<double>(y1)}, c, thickness, dash);
}

void Canvas::draw_polyline(const std::vector<double>& xs, const std::vector<double>& ys, Color c,
                           int64_t thickness, int64_t dash) {
  TORCH_CHECK(xs.size() == ys.size(), "draw_polyline: ", xs.size(), " x but ", ys.size(), " y");
  const double m = static_cast<double>(thickness) + 1.0;  // keep pen stamps that reach inside
  const double bx0 = clip_x0_ - m, by0 = clip_y0_ - m, bx1 = clip_x1_ + m, by1 = clip_y1_ + m;
  int64_t phase = 0;
  bool have_prev = false;
  double px = 0, py = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) {
      have_prev = false;
      continue;
    }
    // A run's first point is drawn by its first segment, or alone when it is isolated.
    const bool next = i + 1 < xs.size() && std::isfinite(xs[i + 1]) && std::isfinite(ys[i + 1]);
    double ax = have_prev ? px : xs[i], ay = have_prev ? py : ys[i], bx = xs[i], by = ys[i];
    if ((have_prev || !next) && clip_segment(ax, ay, bx, by, bx0, by0, bx1, by1)) {
      line(std::llround(ax), std::llround(ay), std::llround(bx), std::llround(by), c, thickness,
           dash, phase);
    }
    px = xs[i], py = ys[i], have_prev = true;
  }
}

void Canvas::draw_disc(double cx, double cy, double radius, Color c, double alpha) {
  if (!std::isfinite(cx) || !std::isfinite(cy) || !(radius > 0.0)) return;
  // Clamp in floating point first: casting a huge coordinate to int64 is undefined.
  auto bound = [](double v, int64_t lo, int64_t hi) {
    return static_cast<int64_t>(std::clamp(v, static_cast<double>(lo), static_cast<double>(hi)));
  };
  const double reach = radius + 1.0;
  const int64_t x0 = bound(std::floor(cx - reach), clip_x0_, clip_x1_);
  const int64_t x1 = bound(std::ceil(cx + reach) + 1, clip_x0_, clip_x1_);
  const int64_t y0 = bound(std::floor(cy - reach), clip_y0_, clip_y1_);
  const int64_t y1 = bound(std::ceil(cy + reach) + 1, clip_y0_, clip_y1_);
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x = x0; x < x1; ++x) {
      // Approximate pixel coverage by the distance of the pixel centre to the rim.
      const double d = std::hypot(static_cast<double>(x) - cx, static_cast<double>(y) - cy);
      const double coverage = std::clamp(radius + 0.5 - d, 0.0, 1.0);
      if (coverage > 0.0) draw_point(x, y, c, alpha * coverage);
    }
  }
}

int64_t Canvas::text_width(const std::string& text, int64_t scale) {
  return text.empty() ? 0 : (6 * static_cast<int64_t>(text.size()) - 1) * scale;
}

void Canvas::draw_text(int64_t x, int64_t y, const std::string& text, Color c, int64_t scale) {
  TORCH_CHECK(scale >= 1, "draw_text: scale must be >= 1, got ", scale);
  for (size_t k = 0; k < text.size(); ++k) {
    const uint8_t* g = glyph(text[k]);
    const int64_t ox = x + 6 * scale * static_cast<int64_t>(k);
    for (int64_t row = 0; row < 7; ++row) {
      for (int64_t col = 0; col < 5; ++col) {
        if (g[row] & (0x10 >> col)) fill_rect(ox + col * scale, y + row * scale, scale, scale, c);
      }
    }
  }
}

void Canvas::draw_text_vertical(int64_t x, int64_t y, const std::string& text, Color c,
                                int64_t scale) {
  TORCH_CHECK(scale >= 1, "draw_text_vertical: scale must be >= 1, got ", scale);
  // Rotating 90 degrees counter-clockwise maps text pixel (u, v) to (x + v, y + width - 1 - u).
  const int64_t w = text_width(text, scale);
  for (size_t k = 0; k < text.size(); ++k) {
    const uint8_t* g = glyph(text[k]);
    for (int64_t row = 0; row < 7; ++row) {
      for (int64_t col = 0; col < 5; ++col) {
        if (!(g[row] & (0x10 >> col))) continue;
        const int64_t u = (6 * static_cast<int64_t>(k) + col) * scale;
        fill_rect(x + row * scale, y + w - u - scale, scale, scale, c);
      }
    }
  }
}

void Canvas::blit(const Image& src, int64_t x, int64_t y) {
  for (int64_t r = std::max<int64_t>(0, clip_y0_ - y); r < src.height && y + r < clip_y1_; ++r) {
    for (int64_t q = std::max<int64_t>(0, clip_x0_ - x); q < src.width && x + q < clip_x1_; ++q) {
      image_.set(y + r, x + q, src.pixel(r, q));
    }
  }
}

// ---------------------------------------------------------------- plots

Image scatter_plot(const at::Tensor& points, const PlotBox& box, const std::string& title,
                   int64_t size, Color color, double alpha) {
  TORCH_CHECK(points.defined() && points.dim() == 2 && points.size(1) == 2,
              "scatter_plot: points must be [N, 2], got ",
              points.defined() ? points.sizes() : at::IntArrayRef{});
  check_box(box, "scatter_plot");
  const int64_t target = std::max<int64_t>(2, size / 90);
  const Axis xa = linear_axis(box.xmin, box.xmax, target);
  const Axis ya = linear_axis(box.ymin, box.ymax, target);
  Frame f = layout(size, size, xa, ya, !title.empty(), false, false, 0);
  make_square(f);
  f.x0 = box.xmin, f.x1 = box.xmax, f.y0 = box.ymin, f.y1 = box.ymax;
  Canvas cv(size, size);
  draw_axes(cv, f, xa, ya, title, "", "", true);

  const at::Tensor p = points.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* d = p.data_ptr<double>();
  const double radius = std::max(1.0, static_cast<double>(size) / 250.0);
  cv.set_clip(f.left, f.top, f.w, f.h);
  for (int64_t i = 0; i < p.size(0); ++i) {
    const double x = d[2 * i], y = d[2 * i + 1];
    // NaN fails every comparison, so it is skipped with the points outside the box.
    if (!(x >= box.xmin && x <= box.xmax && y >= box.ymin && y <= box.ymax)) continue;
    cv.draw_disc(f.px(x), f.py(y), radius, color, alpha);
  }
  return cv.release();
}

Image heatmap(const at::Tensor& values, const PlotBox& box, const std::string& title, int64_t size,
              bool colorbar) {
  TORCH_CHECK(values.defined() && values.dim() == 2 && values.numel() > 0,
              "heatmap: values must be a non-empty [H, W] tensor, got ",
              values.defined() ? values.sizes() : at::IntArrayRef{});
  check_box(box, "heatmap");
  const at::Tensor v = values.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t rows = v.size(0), cols = v.size(1);
  const double* d = v.data_ptr<double>();
  double lo = kInf, hi = -kInf;
  for (int64_t i = 0; i < v.numel(); ++i) {
    if (std::isfinite(d[i])) lo = std::min(lo, d[i]), hi = std::max(hi, d[i]);
  }
  const bool any = lo <= hi;
  const std::string lo_label = any ? format_number(lo) : "n/a";
  const std::string hi_label = any ? format_number(hi) : "n/a";

  const int64_t target = std::max<int64_t>(2, size / 90);
  const Axis xa = linear_axis(box.xmin, box.xmax, target);
  const Axis ya = linear_axis(box.ymin, box.ymax, target);
  constexpr int64_t kBarGap = 10, kBarWidth = 12;
  const int64_t label_w = std::max(Canvas::text_width(lo_label), Canvas::text_width(hi_label));
  const int64_t extra = colorbar ? kBarGap + kBarWidth + 6 + label_w : 0;
  Frame f = layout(size, size, xa, ya, !title.empty(), false, false, extra);
  make_square(f);
  f.x0 = box.xmin, f.x1 = box.xmax, f.y0 = box.ymin, f.y1 = box.ymax;
  Canvas cv(size, size);
  draw_axes(cv, f, xa, ya, title, "", "", false);

  // Cell (r, c) covers the pixel block whose edges are the rounded-down cell boundaries.
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t y0 = f.top + r * f.h / rows, y1 = f.top + (r + 1) * f.h / rows;
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t x0 = f.left + c * f.w / cols, x1 = f.left + (c + 1) * f.w / cols;
      const double x = d[r * cols + c];
      const Color color = !std::isfinite(x) ? colors::missing
                          : hi > lo         ? viridis((x - lo) / (hi - lo))
                                            : viridis(0.5);
      cv.fill_rect(x0, y0, x1 - x0, y1 - y0, color);
    }
  }
  if (colorbar) {
    const int64_t bx = f.left + f.w + kBarGap;
    for (int64_t i = 0; i < f.h; ++i) {
      cv.fill_rect(bx, f.top + i, kBarWidth, 1, viridis(1.0 - static_cast<double>(i) / (f.h - 1)));
    }
    cv.draw_rect(bx - 1, f.top - 1, kBarWidth + 2, f.h + 2, colors::black);
    cv.draw_text(bx + kBarWidth + 4, f.top, hi_label, colors::black);
    cv.draw_text(bx + kBarWidth + 4, f.top + f.h - 7, lo_label, colors::black);
  }
  return cv.release();
}

Image line_plot(const std::vector<Series>& series, const std::string& title,
                const std::string& xlabel, const std::string& ylabel, int64_t width, int64_t height,
                bool log_y, const std::vector<RefLine>& hlines) {
  auto ty = [log_y](double y) { return !log_y ? y : (y > 0.0 ? std::log10(y) : kNaN); };
  double xlo = kInf, xhi = -kInf, ylo = kInf, yhi = -kInf;
  for (const Series& s : series) {
    TORCH_CHECK(s.x.size() == s.y.size(), "line_plot: series '", s.name, "' has ", s.x.size(),
                " x values but ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double x = s.x[i], y = ty(s.y[i]);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      xlo = std::min(xlo, x), xhi = std::max(xhi, x);
      ylo = std::min(ylo, y), yhi = std::max(yhi, y);
    }
  }
  for (const RefLine& h : hlines) {
    if (std::isfinite(ty(h.y))) ylo = std::min(ylo, ty(h.y)), yhi = std::max(yhi, ty(h.y));
  }
  std::tie(xlo, xhi) = padded(xlo, xhi, 0.0);
  std::tie(ylo, yhi) = padded(ylo, yhi, 0.05);

  const Axis xa = linear_axis(xlo, xhi, std::max<int64_t>(2, width / 100));
  const int64_t ytarget = std::max<int64_t>(2, height / 70);
  const Axis ya = log_y ? log_axis(ylo, yhi, ytarget) : linear_axis(ylo, yhi, ytarget);
  Frame f = layout(height, width, xa, ya, !title.empty(), !xlabel.empty(), !ylabel.empty(), 0);
  f.x0 = xlo, f.x1 = xhi, f.y0 = ylo, f.y1 = yhi;
  Canvas cv(height, width);
  draw_axes(cv, f, xa, ya, title, xlabel, ylabel, true);

  cv.set_clip(f.left, f.top, f.w, f.h);
  for (const RefLine& h : hlines) {
    const double y = f.py(ty(h.y));
    cv.draw_polyline({static_cast<double>(f.left), static_cast<double>(f.left + f.w - 1)}, {y, y},
                     h.color, 1, 6);
  }
  for (const Series& s : series) {
    std::vector<double> px(s.x.size()), py(s.y.size());
    for (size_t i = 0; i < s.x.size(); ++i) px[i] = f.px(s.x[i]), py[i] = f.py(ty(s.y[i]));
    cv.draw_polyline(px, py, s.color, 2, s.dashed ? 6 : 0);
  }
  cv.reset_clip();

  std::vector<std::tuple<std::string, Color, bool>> legend;
  bool named_ref = false;
  for (const Series& s : series) {
    if (!s.name.empty()) legend.emplace_back(s.name, s.color, s.dashed);
  }
  for (const RefLine& h : hlines) {
    if (!h.name.empty()) legend.emplace_back(h.name, h.color, true), named_ref = true;
  }
  if ((series.size() > 1 || named_ref) && !legend.empty()) {
    int64_t text_w = 0;
    for (const auto& e : legend) text_w = std::max(text_w, Canvas::text_width(std::get<0>(e)));
    const int64_t lw = text_w + 30, lh = static_cast<int64_t>(legend.size()) * 12 + 6;
    const int64_t lx = f.left + f.w - lw - 6, ly = f.top + 6;
    cv.fill_rect(lx, ly, lw, lh, colors::white, 0.85);
    cv.draw_rect(lx, ly, lw, lh, colors::gray);
    for (size_t i = 0; i < legend.size(); ++i) {
      const int64_t y = ly + 5 + static_cast<int64_t>(i) * 12;
      const auto& [name, color, dashed] = legend[i];
      cv.draw_line(lx + 5, y + 3, lx + 21, y + 3, color, 2, dashed ? 3 : 0);
      cv.draw_text(lx + 25, y, name, colors::black);
    }
  }
  return cv.release();
}

Image hstack(const std::vector<Image>& images, int64_t padding, Color bg) {
  TORCH_CHECK(padding >= 0, "hstack: padding must be >= 0, got ", padding);
  if (images.empty()) return {};
  int64_t w = padding, h = 0;
  for (const Image& im : images) w += im.width + padding, h = std::max(h, im.height);
  Canvas cv(h + 2 * padding, w, bg);
  int64_t x = padding;
  for (const Image& im : images) cv.blit(im, x, padding), x += im.width + padding;
  return cv.release();
}

Image vstack(const std::vector<Image>& images, int64_t padding, Color bg) {
  TORCH_CHECK(padding >= 0, "vstack: padding must be >= 0, got ", padding);
  if (images.empty()) return {};
  int64_t w = 0, h = padding;
  for (const Image& im : images) h += im.height + padding, w = std::max(w, im.width);
  Canvas cv(h, w + 2 * padding, bg);
  int64_t y = padding;
  for (const Image& im : images) cv.blit(im, padding, y), y += im.height + padding;
  return cv.release();
}

}  // namespace joule::io
