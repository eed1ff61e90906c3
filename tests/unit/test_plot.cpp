// Tests for joule/io/plot.h: the bitmap font, canvas primitives, number formatting and the
// three plot kinds (size, where the ink lands, robustness to NaN / inf).

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "joule/io/plot.h"

namespace {

namespace io = joule::io;
using io::Canvas;
using io::Color;
using io::Image;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

int64_t count_color(const Image& im, Color c) {
  int64_t n = 0;
  for (int64_t y = 0; y < im.height; ++y) {
    for (int64_t x = 0; x < im.width; ++x) n += im.pixel(y, x) == c;
  }
  return n;
}

// Bounding box and centroid of the pixels where `pred(colour)` holds.
struct Ink {
  int64_t n = 0, x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
  double cx = 0, cy = 0;
};
template <class Pred>
Ink ink(const Image& im, Pred pred) {
  Ink k;
  for (int64_t y = 0; y < im.height; ++y) {
    for (int64_t x = 0; x < im.width; ++x) {
      if (!pred(im.pixel(y, x), y, x)) continue;
      ++k.n, k.cx += x, k.cy += y;
      k.x0 = std::min(k.x0, x), k.x1 = std::max(k.x1, x), k.y0 = std::min(k.y0, y),
      k.y1 = std::max(k.y1, y);
    }
  }
  if (k.n > 0) k.cx /= k.n, k.cy /= k.n;
  return k;
}
Ink ink_not(const Image& im, Color bg) {
  return ink(im, [bg](Color c, int64_t, int64_t) { return c != bg; });
}
Ink ink_diff(const Image& a, const Image& b) {
  return ink(a, [&b](Color c, int64_t y, int64_t x) { return c != b.pixel(y, x); });
}

Image text_image(const std::string& s, int64_t scale = 1) {
  Canvas cv(7 * scale + 4, Canvas::text_width(s, scale) + 4);
  cv.draw_text(2, 2, s, io::colors::black, scale);
  return cv.release();
}

}  // namespace

TEST(FontTest, EveryPrintableGlyphButSpaceSetsPixels) {
  EXPECT_EQ(ink_not(text_image(" "), io::colors::white).n, 0);
  for (char c = 33; c <= 126; ++c) {
    EXPECT_GT(ink_not(text_image(std::string(1, c)), io::colors::white).n, 0)
        << "glyph '" << c << "'";
  }
}

TEST(FontTest, GlyphsArePairwiseDistinct) {
  std::set<std::vector<uint8_t>> seen;
  for (char c = 32; c <= 126; ++c) {
    EXPECT_TRUE(seen.insert(text_image(std::string(1, c)).rgb).second)
        << "glyph '" << c << "' repeats";
  }
}

TEST(CanvasTest, TextInkFillsExactlyTextWidthAndHeight) {
  // 'M' and 'H' touch the left and right glyph columns and the top and bottom rows.
  const std::string s = "M=0.5e-3 (x/y_2) +7% :H";
  for (int64_t scale : {1, 3}) {
    Canvas cv(40, 500);
    cv.draw_text(10, 5, s, io::colors::black, scale);
    const Ink k = ink_not(cv.image(), io::colors::white);
    EXPECT_EQ(Canvas::text_width(s, scale), (6 * int64_t(s.size()) - 1) * scale);
    EXPECT_EQ(k.x0, 10);
    EXPECT_EQ(k.x1, 10 + Canvas::text_width(s, scale) - 1);
    EXPECT_EQ(k.y0, 5);
    EXPECT_EQ(k.y1, 5 + Canvas::text_height(scale) - 1);
  }
  EXPECT_EQ(Canvas::text_width(""), 0);
}

TEST(CanvasTest, VerticalTextOccupiesTheRotatedBox) {
  const std::string s = "Loss (nats)";
  Canvas cv(100, 30);
  cv.draw_text_vertical(3, 4, s, io::colors::black, 1);
  const Ink k = ink_not(cv.image(), io::colors::white);
  EXPECT_EQ(k.x0, 3);
  EXPECT_EQ(k.x1, 3 + Canvas::text_height() - 1);
  EXPECT_GE(k.y0, 4);
  EXPECT_EQ(k.y1, 4 + Canvas::text_width(s) - 1);  // reads upwards: 'L' sits at the bottom
}

TEST(CanvasTest, UnprintableCharactersDrawAsQuestionMark) {
  EXPECT_EQ(text_image("a\x01\xC3").rgb, text_image("a??").rgb);
}

TEST(CanvasTest, LineCoversBothEndpointsWithOnePixelPerStep) {
  Canvas cv(20, 30);
  cv.draw_line(2, 3, 27, 12, io::colors::black);
  EXPECT_EQ(cv.image().pixel(3, 2), io::colors::black);
  EXPECT_EQ(cv.image().pixel(12, 27), io::colors::black);
  EXPECT_EQ(count_color(cv.image(), io::colors::black), 26);  // max(|dx|, |dy|) + 1
}

TEST(CanvasTest, DashedLineAlternatesOnAndOff) {
  Canvas cv(5, 40);
  cv.draw_line(0, 2, 29, 2, io::colors::black, 1, /*dash=*/3);
  for (int64_t x = 0; x < 30; ++x) {
    EXPECT_EQ(cv.image().pixel(2, x) == io::colors::black, (x / 3) % 2 == 0) << "x = " << x;
  }
}

TEST(CanvasTest, DiscBlendsWithAlphaAndFadesAtTheRim) {
  Canvas cv(21, 21);
  cv.draw_disc(10, 10, 4.0, io::colors::black, 0.5);
  EXPECT_EQ(cv.image().pixel(10, 10), (Color{128, 128, 128}));  // 255 * (1 - 0.5), rounded
  EXPECT_EQ(cv.image().pixel(10, 14), (Color{191, 191, 191}));  // half covered: 255 * (1 - 0.25)
  EXPECT_EQ(cv.image().pixel(10, 16), io::colors::white);       // outside
  EXPECT_EQ(cv.image().pixel(0, 0), io::colors::white);
}

TEST(CanvasTest, FarAwayCoordinatesAreClippedNotWalked) {
  Canvas cv(10, 10);
  // A naive Bresenham would step 2e12 times here.
  cv.draw_line(-1000000000000LL, 5, 1000000000000LL, 5, io::colors::black);
  cv.draw_disc(1e15, -1e15, 3.0, io::colors::red);
  cv.fill_rect(-100, -100, 50, 50, io::colors::red);
  cv.draw_text(-1000, 50, "outside", io::colors::red);
  EXPECT_EQ(count_color(cv.image(), io::colors::black), 10);
  EXPECT_EQ(count_color(cv.image(), io::colors::red), 0);
}

TEST(CanvasTest, ClipRectConfinesDrawing) {
  Canvas cv(10, 10);
  cv.set_clip(2, 3, 4, 5);
  cv.fill_rect(0, 0, 10, 10, io::colors::black);
  const Ink k = ink_not(cv.image(), io::colors::white);
  EXPECT_EQ(k.n, 20);
  EXPECT_EQ(k.x0, 2);
  EXPECT_EQ(k.y0, 3);
  cv.reset_clip();
  cv.draw_point(0, 0, io::colors::black);
  EXPECT_EQ(cv.image().pixel(0, 0), io::colors::black);
}

TEST(CanvasTest, BlitCopiesPixelsAndClipsAtTheBorder) {
  Image src(3, 4, io::colors::red);
  src.set(0, 0, io::colors::blue);
  Canvas cv(5, 5);
  cv.blit(src, 3, 1);  // only the left 2 columns fit
  EXPECT_EQ(cv.image().pixel(1, 3), io::colors::blue);
  EXPECT_EQ(count_color(cv.image(), io::colors::red), 5);
}

TEST(FormatTest, NumbersAreCompact) {
  EXPECT_EQ(io::format_number(0.0), "0");
  EXPECT_EQ(io::format_number(0.25), "0.25");
  EXPECT_EQ(io::format_number(1200), "1200");
  EXPECT_EQ(io::format_number(-2.5), "-2.5");
  EXPECT_EQ(io::format_number(1e-3), "1e-3");
  EXPECT_EQ(io::format_number(1.5e-7), "1.5e-7");
  EXPECT_EQ(io::format_number(2.5e6), "2.5e6");
  EXPECT_EQ(io::format_number(0.1 + 0.2), "0.3");
  EXPECT_EQ(io::format_number(3.14159), "3.14");
  EXPECT_EQ(io::format_number(3.14159, 5), "3.1416");
  EXPECT_EQ(io::format_number(kNaN), "nan");
  EXPECT_EQ(io::format_number(-kInf), "-inf");
}

TEST(TicksTest, NiceTicksAreRoundStepsInsideTheRange) {
  const auto unit = io::nice_ticks(0.0, 1.0, 5);
  ASSERT_EQ(unit.size(), 6u);
  for (size_t i = 0; i < unit.size(); ++i) EXPECT_NEAR(unit[i], 0.2 * double(i), 1e-12);
  EXPECT_EQ(unit.front(), 0.0);  // exact, so it is labelled "0"
  for (auto [lo, hi] :
       {std::pair<double, double>{-3.7, 12.2}, {1e-4, 3e-4}, {995, 1013}, {-1e6, 0}}) {
    const auto t = io::nice_ticks(lo, hi, 5);
    ASSERT_GE(t.size(), 2u) << lo << " " << hi;
    EXPECT_LE(t.size(), 11u);
    const double step = t[1] - t[0], mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
    EXPECT_TRUE(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 ||
                std::abs(mantissa - 5) < 1e-6)
        << "step " << step;
    for (double v : t) EXPECT_TRUE(v >= lo && v <= hi) << v;
  }
  EXPECT_TRUE(io::nice_ticks(kNaN, 1.0).empty());
}

TEST(ColorTest, ViridisEndsAndPaletteAreDistinct) {
  EXPECT_EQ(io::viridis(0.0), (Color{68, 1, 84}));
  EXPECT_EQ(io::viridis(1.0), (Color{253, 231, 37}));
  EXPECT_EQ(io::viridis(2.0), io::viridis(1.0));  // clamped
  std::set<std::tuple<int, int, int>> seen;
  for (int i = 0; i < 10; ++i) seen.insert({io::palette(i).r, io::palette(i).g, io::palette(i).b});
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(io::palette(10), io::palette(0));
  EXPECT_EQ(io::blend(io::colors::white, io::colors::black, 0.25), (Color{191, 191, 191}));
}

TEST(PlotTest, ScatterHasRequestedSizeAndPutsPointsWhereTheyBelong) {
  const io::PlotBox box{-1.0, 1.0, -1.0, 1.0};
  const Image empty = io::scatter_plot(at::zeros({0, 2}), box, "samples", 300);
  EXPECT_EQ(empty.height, 300);
  EXPECT_EQ(empty.width, 300);
  // Upper-left point (x < 0, y > 0) vs lower-right point: y grows upwards on screen.
  const Ink a = ink_diff(
      io::scatter_plot(at::tensor({-0.5, 0.5}).reshape({1, 2}), box, "samples", 300), empty);
  const Ink b = ink_diff(
      io::scatter_plot(at::tensor({0.5, -0.5}).reshape({1, 2}), box, "samples", 300), empty);
  ASSERT_GT(a.n, 0);
  ASSERT_GT(b.n, 0);
  EXPECT_LT(a.cx, b.cx);
  EXPECT_LT(a.cy, b.cy);
}

TEST(PlotTest, ScatterSkipsPointsOutsideTheBoxAndNonFinitePoints) {
  const io::PlotBox box{0.0, 1.0, 0.0, 1.0};
  const at::Tensor outside =
      at::tensor({2.0, 0.5, 0.5, -0.1, kNaN, 0.5, 0.5, kInf}).reshape({4, 2});
  EXPECT_EQ(io::scatter_plot(outside, box, "t").rgb,
            io::scatter_plot(at::zeros({0, 2}), box, "t").rgb);
  EXPECT_THROW(io::scatter_plot(at::zeros({3, 3}), box, "t"), c10::Error);
  EXPECT_THROW(io::scatter_plot(at::zeros({3, 2}), io::PlotBox{1.0, 0.0, 0.0, 1.0}, "t"),
               c10::Error);
}

TEST(PlotTest, HeatmapPutsRowZeroOnTopAndDrawsNonFiniteCellsNeutral) {
  // Top row: max value and NaN; bottom row: min value and -inf.
  const at::Tensor v = at::tensor({1.0, kNaN, 0.0, -kInf}).reshape({2, 2});
  const Image im = io::heatmap(v, io::PlotBox{}, "density", 240, /*colorbar=*/false);
  EXPECT_EQ(im.height, 240);
  EXPECT_EQ(im.width, 240);
  const Ink high = ink(im, [](Color c, int64_t, int64_t) { return c == io::viridis(1.0); });
  const Ink low = ink(im, [](Color c, int64_t, int64_t) { return c == io::viridis(0.0); });
  const Ink missing = ink(im, [](Color c, int64_t, int64_t) { return c == io::colors::missing; });
  ASSERT_GT(high.n, 1000);
  ASSERT_GT(low.n, 1000);
  ASSERT_GT(missing.n, 2000);
  EXPECT_LT(high.cy, low.cy);
  EXPECT_LT(high.cx, missing.cx);
  EXPECT_NEAR(high.n, low.n, high.n / 10);  // equal cells
}

TEST(PlotTest, HeatmapColorbarAndDegenerateInputsDoNotThrow) {
  const Image with_bar = io::heatmap(at::arange(256, at::kDouble).reshape({16, 16}).sin().exp(),
                                     io::PlotBox{-4, 4, -4, 4}, "p(x)");
  EXPECT_EQ(with_bar.height, 400);
  EXPECT_EQ(with_bar.width, 400);
  EXPECT_NO_THROW(io::heatmap(at::full({3, 3}, kNaN), io::PlotBox{}, "all nan"));
  EXPECT_NO_THROW(io::heatmap(at::ones({3, 5}), io::PlotBox{}, "constant"));
  EXPECT_THROW(io::heatmap(at::ones({3}), io::PlotBox{}, "1d"), c10::Error);
}

TEST(PlotTest, LinePlotDrawsEverySeriesAndALegend) {
  io::Series a{"train", {0, 1, 2, 3}, {4, 3, 2.5, 2.2}, io::palette(3)};
  io::Series b{"valid", {0, 1, 2, 3}, {4.2, 3.4, 3.1, 3.0}, io::palette(2), true};
  const Image im = io::line_plot({a, b}, "loss", "epoch", "nats", 500, 300);
  EXPECT_EQ(im.height, 300);
  EXPECT_EQ(im.width, 500);
  EXPECT_GT(count_color(im, io::palette(3)), 200);
  EXPECT_GT(count_color(im, io::palette(2)), 100);
  // One series: no legend, so the name is not drawn and fewer black pixels appear.
  const Image single = io::line_plot({a}, "loss", "epoch", "nats", 500, 300);
  EXPECT_LT(count_color(single, io::colors::black), count_color(im, io::colors::black));
}

TEST(PlotTest, LinePlotIgnoresNonFiniteValuesWhenChoosingTheRange) {
  const io::Series clean{"s", {0, 1, 2}, {0, 1, 2}, io::colors::red};
  io::Series dirty = clean;
  dirty.x.insert(dirty.x.end(), {3, 4, kNaN});
  dirty.y.insert(dirty.y.end(), {kInf, kNaN, 5});
  EXPECT_EQ(io::line_plot({dirty}, "t", "x", "y").rgb, io::line_plot({clean}, "t", "x", "y").rgb);
}

TEST(PlotTest, LogYPlotSurvivesZerosNegativesAndNaN) {
  const io::Series s{"err", {0, 1, 2, 3, 4, 5}, {1.0, 0.1, 0.0, -1.0, kNaN, 1e-4}, io::colors::red};
  const Image im = io::line_plot({s}, "error", "step", "", 400, 300, /*log_y=*/true);
  EXPECT_EQ(im.height, 300);
  EXPECT_GT(count_color(im, io::colors::red), 20);
  EXPECT_NO_THROW(io::line_plot({}, "empty", "", "", 400, 300, true));
  const io::Series mismatched{"bad", {0, 1}, {0}, io::colors::red};
  EXPECT_THROW(io::line_plot({mismatched}, "", "", ""), c10::Error);
  EXPECT_THROW(io::line_plot({s}, "", "", "", 30, 30), c10::Error);  // no room for the plot
}

TEST(PlotTest, ReferenceLineExtendsTheRangeAndIsDrawn) {
  const io::Series s{"", {0, 1}, {0, 1}, io::colors::blue};
  const Color ref_color{200, 0, 200};
  const Image im = io::line_plot({s}, "t", "", "", 400, 300, false, {{"log Z", 10.0, ref_color}});
  // The line sits near the top since 10 is the largest y; it is dashed, so about half its pixels.
  const Ink k = ink(im, [&](Color c, int64_t, int64_t) { return c == ref_color; });
  EXPECT_GT(k.n, 100);
  EXPECT_LT(k.cy, 0.3 * im.height);
}

TEST(StackTest, HstackAndVstackPlaceImagesWithPadding) {
  const Image a(10, 20, io::colors::red), b(30, 5, io::colors::blue);
  const Image h = io::hstack({a, b}, 8);
  EXPECT_EQ(h.width, 20 + 5 + 3 * 8);
  EXPECT_EQ(h.height, 30 + 2 * 8);
  EXPECT_EQ(h.pixel(8, 8), io::colors::red);
  EXPECT_EQ(h.pixel(8, 8 + 20 + 8), io::colors::blue);
  EXPECT_EQ(h.pixel(8 + 10, 8), io::colors::white);  // below the shorter image
  const Image v = io::vstack({a, b}, 2, io::colors::black);
  EXPECT_EQ(v.width, 20 + 2 * 2);
  EXPECT_EQ(v.height, 10 + 30 + 3 * 2);
  EXPECT_EQ(v.pixel(2 + 10 + 2, 2), io::colors::blue);
  EXPECT_EQ(count_color(v, io::colors::red), 200);
  EXPECT_TRUE(io::hstack({}).empty());
}
