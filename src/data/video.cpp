#include "joule/data/video.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <system_error>

#include "joule/io/npy.h"
#include "joule/io/png.h"

namespace joule::data {
namespace {

namespace fs = std::filesystem;

constexpr double kPi = 3.14159265358979323846;

using Rgb = std::array<float, 3>;

// Uniform draws in [0, 1), [n, k] float64 on the CPU, from `gen` only.
at::Tensor uniforms(int64_t n, int64_t k, at::Generator& gen) {
  return at::empty({n, k}, at::kDouble).uniform_(0.0, 1.0, gen).contiguous();
}

double lerp(double a, double b, double t) { return a + (b - a) * t; }

// Straight-line motion at `velocity` per frame from `start`, reflected at lo and hi (as often as
// needed): the reflected path is the straight one folded into [lo, hi]. Positions [T] in out.
void bouncing_path(double start, double velocity, double lo, double hi, int64_t frames, double* out) {
  const double span = hi - lo;
  for (int64_t t = 0; t < frames; ++t) {
    if (span <= 0) {
      out[t] = lo;
      continue;
    }
    double u = std::fmod(start - lo + velocity * double(t), 2 * span);
    if (u < 0) u += 2 * span;
    out[t] = lo + (u <= span ? u : 2 * span - u);
  }
}

void check_common(const char* who, int64_t sequences, int64_t frames, int64_t size, int64_t min_size) {
  TORCH_CHECK(sequences > 0, who, ": sequences must be > 0, got ", sequences);
  TORCH_CHECK(frames > 0, who, ": frames must be > 0, got ", frames);
  TORCH_CHECK(size >= min_size, who, ": size must be >= ", min_size, ", got ", size);
}

void check_range(const char* who, const char* what, double lo, double hi) {
  TORCH_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo >= 0 && hi >= lo, who, ": need 0 <= ", what, "_min <= ",
              what, "_max, got ", lo, " and ", hi);
}

void check_identities(const char* who, int64_t begin, int64_t end, int64_t pool) {
  TORCH_CHECK(0 <= begin && begin < end && end <= pool, who, ": need 0 <= identity_begin < identity_end <= ", pool,
              " (the identity pool), got [", begin, ", ", end, ")");
}

void check_supersample(const char* who, int64_t ss) {
  TORCH_CHECK(ss >= 1 && ss <= 8, who, ": supersample must be in [1, 8], got ", ss);
}

// Draws per-video ids uniformly from [begin, end).
at::Tensor draw_ids(int64_t n, int64_t begin, int64_t end, at::Generator& gen) {
  return at::randint(begin, end, {n}, gen, at::kLong).contiguous();
}

// Renders every frame from its pose row; frames are independent, so the result does not depend on
// the thread count.
template <class Render>
at::Tensor render_all(const at::Tensor& ids, const at::Tensor& pose, int64_t channels, int64_t size, Render render) {
  const int64_t n = pose.size(0), t = pose.size(1), p = pose.size(2);
  at::Tensor frames = at::zeros({n, t, channels, size, size}, at::kFloat);
  const int64_t* id = ids.data_ptr<int64_t>();
  const float* pr = pose.data_ptr<float>();
  float* out = frames.data_ptr<float>();
  const int64_t frame_numel = channels * size * size;
  at::parallel_for(0, n * t, 16, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) render(id[k / t], pr + k * p, out + k * frame_numel);
  });
  return frames;
}

at::Tensor checked_pose_row(const char* who, const at::Tensor& pose_row, int64_t p) {
  TORCH_CHECK(pose_row.defined() && pose_row.dim() == 1 && pose_row.size(0) == p, who, ": pose_row must be [", p,
              "], got ", pose_row.defined() ? pose_row.sizes() : at::IntArrayRef{});
  return pose_row.to(at::kCPU, at::kFloat).contiguous();
}

// ---------------------------------------------------------------- sprites
//
// A sprite lives in local coordinates (u right, v down) in units of 0.16 · size · scale pixels,
// with the body centre at the origin: body within |u|, |v| < 0.95, legs below down to v ≈ 1.45,
// hat above up to v ≈ -1.57.

constexpr int64_t kSpriteIds = 24;
constexpr double kSpriteUnit = 0.16;  // local unit, as a share of the frame size
// Local extent used for the bounce limits and the pixel bounding box.
constexpr double kSpriteLeft = 1.0, kSpriteTop = 1.6, kSpriteBottom = 1.5;

// Colours k and k + 4 are far apart (red/cyan, green/magenta, blue/yellow, orange/white): a
// sprite's second colour is its main colour's partner, so stripes and two-tone always show.
const Rgb kSpritePalette[8] = {{0.95f, 0.25f, 0.2f}, {0.25f, 0.85f, 0.3f},  {0.3f, 0.45f, 1.0f},
                               {1.0f, 0.55f, 0.1f},  {0.2f, 0.85f, 0.9f},   {0.9f, 0.3f, 0.9f},
                               {0.95f, 0.9f, 0.2f},  {0.92f, 0.92f, 0.92f}};
const Rgb kLegColor = {0.55f, 0.55f, 0.55f};

struct SpriteLook {
  int shape, texture;
  bool hat;
  Rgb main, second, hat_color;
};

SpriteLook sprite_look(int64_t id) {
  SpriteLook s;
  s.shape = int(id % 4);
  s.texture = int(id % 3);
  s.hat = (id + id / 12) % 2 == 1;  // ids i and i + 12 share shape and texture, differ in the hat
  s.main = kSpritePalette[id % 8];
  s.second = kSpritePalette[(id + 4) % 8];
  const Rgb& h = kSpritePalette[(id + 5) % 8];
  s.hat_color = {0.8f * h[0], 0.8f * h[1], 0.8f * h[2]};
  return s;
}

double body_top(int shape) {
  static const double top[4] = {-0.85, -0.8, -0.95, -0.95};
  return top[shape];
}

bool in_body(int shape, double u, double v) {
  switch (shape) {
    case 0: return (u / 0.95) * (u / 0.95) + (v / 0.85) * (v / 0.85) <= 1.0;        // ellipse
    case 1: return std::abs(u) <= 0.8 && std::abs(v) <= 0.8;                          // box
    case 2: return v <= 0.8 && v >= -0.95 && std::abs(u) <= 0.95 * (v + 0.95) / 1.75;  // triangle
    default: return std::abs(u) + std::abs(v) <= 0.95;                               // diamond
  }
}

double segment_distance2(double u, double v, double au, double av, double bu, double bv) {
  const double du = bu - au, dv = bv - av;
  const double len2 = du * du + dv * dv;
  double t = len2 > 0 ? ((u - au) * du + (v - av) * dv) / len2 : 0.0;
  t = std::clamp(t, 0.0, 1.0);
  const double eu = au + t * du - u, ev = av + t * dv - v;
  return eu * eu + ev * ev;
}

struct Leg {
  double hip_u, hip_v, foot_u, foot_v;
};

// The walk cycle: legs swing in antiphase by ±0.5 sin φ; the leg swinging forward (cos φ of its
// sign) lifts, so both sin φ and cos φ can be read off a frame.
void sprite_legs(double phase_sin, double phase_cos, Leg legs[2]) {
  for (int k = 0; k < 2; ++k) {
    const double side = k == 0 ? -1.0 : 1.0;
    const double angle = 0.5 * phase_sin * side;
    const double length = 0.75 - 0.2 * std::max(0.0, side * phase_cos);
    legs[k] = {0.38 * side, 0.55, 0.38 * side + length * std::sin(angle), 0.55 + length * std::cos(angle)};
  }
}

// The colour at local point (u, v), or nullptr for background. Painter's order: legs, body, hat.
const Rgb* sprite_color_at(const SpriteLook& s, const Leg legs[2], double u, double v) {
  const double top = body_top(s.shape);
  if (s.hat) {
    const bool brim = std::abs(u) <= 0.7 && v >= top - 0.14 && v <= top + 0.06;
    const bool crown = std::abs(u) <= 0.42 && v >= top - 0.62 && v <= top - 0.1;
    if (brim || crown) return &s.hat_color;
  }
  if (in_body(s.shape, u, v)) {
    switch (s.texture) {
      case 0: return &s.main;
      case 1: return (int64_t(std::floor((v + 4.0) / 0.4)) % 2 == 0) ? &s.main : &s.second;
      default: return u < 0 ? &s.main : &s.second;
    }
  }
  constexpr double kLegHalfWidth = 0.16;
  for (int k = 0; k < 2; ++k) {
    if (segment_distance2(u, v, legs[k].hip_u, legs[k].hip_v, legs[k].foot_u, legs[k].foot_v) <=
        kLegHalfWidth * kLegHalfWidth) {
      return &kLegColor;
    }
  }
  return nullptr;
}

// Draws sprite `id` at pose p = (x, y, scale, sin φ, cos φ) into out [3, size, size] (zeroed).
void render_sprite_into(int64_t id, const float* p, int64_t size, int64_t ss, float* out) {
  const SpriteLook look = sprite_look(id);
  Leg legs[2];
  sprite_legs(p[3], p[4], legs);
  const double cx = double(p[0]) * size, cy = double(p[1]) * size;
  const double unit = kSpriteUnit * size * double(p[2]);
  const int64_t x0 = std::max<int64_t>(0, int64_t(std::floor(cx - kSpriteLeft * unit)));
  const int64_t x1 = std::min<int64_t>(size, int64_t(std::ceil(cx + kSpriteLeft * unit)) + 1);
  const int64_t y0 = std::max<int64_t>(0, int64_t(std::floor(cy - kSpriteTop * unit)));
  const int64_t y1 = std::min<int64_t>(size, int64_t(std::ceil(cy + kSpriteBottom * unit)) + 1);
  const double inv = 1.0 / unit, weight = 1.0 / double(ss * ss);
  const int64_t plane = size * size;
  for (int64_t i = y0; i < y1; ++i) {
    for (int64_t j = x0; j < x1; ++j) {
      double acc[3] = {0, 0, 0};
      for (int64_t a = 0; a < ss; ++a) {
        const double v = (double(i) + (double(a) + 0.5) / double(ss) - cy) * inv;
        for (int64_t b = 0; b < ss; ++b) {
          const double u = (double(j) + (double(b) + 0.5) / double(ss) - cx) * inv;
          if (const Rgb* c = sprite_color_at(look, legs, u, v)) {
            acc[0] += (*c)[0], acc[1] += (*c)[1], acc[2] += (*c)[2];
          }
        }
      }
      for (int ch = 0; ch < 3; ++ch) out[ch * plane + i * size + j] = float(acc[ch] * weight);
    }
  }
}

// ---------------------------------------------------------------- rotating objects

constexpr int64_t kObjectShapes = 7, kObjectColors = 3;
constexpr double kObjectScale = 0.42;  // object units (bounding radius <= 1) to frame sizes

struct Vec3 {
  double x, y, z;
};
Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
Vec3 operator*(double s, Vec3 a) { return {s * a.x, s * a.y, s * a.z}; }
double dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
Vec3 cross(Vec3 a, Vec3 b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
Vec3 normalized(Vec3 a) {
  const double n = std::sqrt(dot(a, a));
  return n > 0 ? (1.0 / n) * a : a;
}

struct Triangle {
  Vec3 p[3], n[3];  // vertices and their normals (equal for flat faces)
};
using Mesh = std::vector<Triangle>;

// A flat convex polygon (fan-triangulated) with its normal pointing away from the origin, which
// lies inside every convex solid built here.
void add_face(Mesh& m, const std::vector<Vec3>& poly) {
  Vec3 n = normalized(cross(poly[1] - poly[0], poly[2] - poly[0]));
  Vec3 centre{0, 0, 0};
  for (const Vec3& q : poly) centre = centre + q;
  if (dot(n, centre) < 0) n = -1.0 * n;
  for (size_t k = 1; k + 1 < poly.size(); ++k) m.push_back({{poly[0], poly[k], poly[k + 1]}, {n, n, n}});
}

Mesh box_mesh(double hx, double hy, double hz) {
  Mesh m;
  auto c = [&](int sx, int sy, int sz) { return Vec3{sx * hx, sy * hy, sz * hz}; };
  add_face(m, {c(1, -1, -1), c(1, 1, -1), c(1, 1, 1), c(1, -1, 1)});
  add_face(m, {c(-1, -1, -1), c(-1, 1, -1), c(-1, 1, 1), c(-1, -1, 1)});
  add_face(m, {c(-1, 1, -1), c(1, 1, -1), c(1, 1, 1), c(-1, 1, 1)});
  add_face(m, {c(-1, -1, -1), c(1, -1, -1), c(1, -1, 1), c(-1, -1, 1)});
  add_face(m, {c(-1, -1, 1), c(1, -1, 1), c(1, 1, 1), c(-1, 1, 1)});
  add_face(m, {c(-1, -1, -1), c(1, -1, -1), c(1, 1, -1), c(-1, 1, -1)});
  return m;
}

Mesh pyramid_mesh() {
  Mesh m;
  const double b = 0.62, y0 = -0.45, apex = 0.7;
  // Shifted so the origin is inside (the centroid is above the base).
  const Vec3 a{0, apex, 0}, p0{-b, y0, -b}, p1{b, y0, -b}, p2{b, y0, b}, p3{-b, y0, b};
  add_face(m, {p0, p1, p2, p3});
  add_face(m, {p0, p1, a});
  add_face(m, {p1, p2, a});
  add_face(m, {p2, p3, a});
  add_face(m, {p3, p0, a});
  return m;
}

Mesh octahedron_mesh() {
  Mesh m;
  const double r = 0.72, h = 0.95;
  const Vec3 ring[4] = {{r, 0, 0}, {0, 0, r}, {-r, 0, 0}, {0, 0, -r}};
  for (int k = 0; k < 4; ++k) {
    add_face(m, {ring[k], ring[(k + 1) % 4], Vec3{0, h, 0}});
    add_face(m, {ring[k], ring[(k + 1) % 4], Vec3{0, -h, 0}});
  }
  return m;
}

// A cylinder (r0 = r1) or cone (r1 = 0) along the x axis from x0 to x1, smooth side, flat caps.
Mesh lathe_x_mesh(double x0, double x1, double r0, double r1, int segments) {
  Mesh m;
  const double len = x1 - x0;
  auto ring = [&](double x, double r, double a) { return Vec3{x, r * std::cos(a), r * std::sin(a)}; };
  // Side normal: perpendicular to the generatrix, (r0 - r1, len · cos a, len · sin a) normalised.
  auto side_normal = [&](double a) { return normalized(Vec3{r0 - r1, len * std::cos(a), len * std::sin(a)}); };
  for (int k = 0; k < segments; ++k) {
    const double a0 = 2 * kPi * k / segments, a1 = 2 * kPi * (k + 1) / segments;
    const Vec3 b0 = ring(x0, r0, a0), b1 = ring(x0, r0, a1);
    const Vec3 n0 = side_normal(a0), n1 = side_normal(a1);
    if (r1 > 0) {
      const Vec3 t0 = ring(x1, r1, a0), t1 = ring(x1, r1, a1);
      m.push_back({{b0, b1, t1}, {n0, n1, n1}});
      m.push_back({{b0, t1, t0}, {n0, n1, n0}});
      const Vec3 top{1, 0, 0};
      m.push_back({{Vec3{x1, 0, 0}, t0, t1}, {top, top, top}});
    } else {
      const Vec3 nm = side_normal(0.5 * (a0 + a1));
      m.push_back({{b0, b1, Vec3{x1, 0, 0}}, {n0, n1, nm}});
    }
    const Vec3 bottom{-1, 0, 0};
    m.push_back({{Vec3{x0, 0, 0}, b0, b1}, {bottom, bottom, bottom}});
  }
  return m;
}

// A torus around the z axis: it faces the viewer at θ = 0 and is seen edge-on at θ = π/2.
Mesh torus_mesh(double major, double minor, int seg_a, int seg_b) {
  Mesh m;
  auto point = [&](int i, int j, Vec3* n) {
    const double a = 2 * kPi * i / seg_a, b = 2 * kPi * j / seg_b;
    *n = {std::cos(b) * std::cos(a), std::cos(b) * std::sin(a), std::sin(b)};
    return Vec3{major * std::cos(a), major * std::sin(a), 0} + minor * *n;
  };
  for (int i = 0; i < seg_a; ++i) {
    for (int j = 0; j < seg_b; ++j) {
      Vec3 n00, n10, n11, n01;
      const Vec3 p00 = point(i, j, &n00), p10 = point(i + 1, j, &n10), p11 = point(i + 1, j + 1, &n11),
                 p01 = point(i, j + 1, &n01);
      m.push_back({{p00, p10, p11}, {n00, n10, n11}});
      m.push_back({{p00, p11, p01}, {n00, n11, n01}});
    }
  }
  return m;
}

// Built once (thread-safe static initialisation); every bounding radius is below 1.
const std::vector<Mesh>& object_meshes() {
  static const std::vector<Mesh> meshes = {
      box_mesh(0.55, 0.55, 0.55),            // cube
      pyramid_mesh(),                        // square pyramid
      octahedron_mesh(),                     // octahedron, a little taller than wide
      box_mesh(0.9, 0.26, 0.3),              // long bar
      lathe_x_mesh(-0.78, 0.78, 0.42, 0.42, 24),  // cylinder lying along x
      lathe_x_mesh(-0.7, 0.8, 0.5, 0.0, 24),      // cone pointing along +x
      torus_mesh(0.62, 0.26, 24, 12),             // torus standing like a wheel
  };
  return meshes;
}

const Rgb kObjectPalette[kObjectColors] = {{0.95f, 0.35f, 0.25f}, {0.3f, 0.85f, 0.35f}, {0.35f, 0.5f, 1.0f}};

// Draws object `id` at pose p = (sin θ, cos θ, elevation) into out [3, size, size] (zeroed).
void render_object_into(int64_t id, const float* p, int64_t size, int64_t ss, float* out) {
  const Mesh& mesh = object_meshes()[size_t(id % kObjectShapes)];
  const Rgb& color = kObjectPalette[id % kObjectColors];
  // (sin θ, cos θ) are used as given (normalised), so θ and θ + 2π give the same rotation.
  double s = p[0], c = p[1];
  const double r = std::hypot(s, c);
  if (r > 0) s /= r, c /= r;
  else s = 0, c = 1;
  const double se = std::sin(double(p[2])), ce = std::cos(double(p[2]));
  // R = Rx(elevation) · Ry(θ): spin about the object's vertical axis, then tilt the top towards
  // the viewer (at +z).
  auto rotate = [&](Vec3 v) {
    const double x = c * v.x + s * v.z, z = -s * v.x + c * v.z;
    return Vec3{x, ce * v.y - se * z, se * v.y + ce * z};
  };
  const int64_t w = size * ss;
  const double half = 0.5 * double(w), scale = kObjectScale * double(w);
  std::vector<float> depth(size_t(w * w), -std::numeric_limits<float>::infinity());
  std::vector<float> shade(size_t(w * w), 0.0f);
  const Vec3 light = normalized(Vec3{-0.45, 0.6, 0.66});
  constexpr double kAmbient = 0.3, kDiffuse = 0.7;
  for (const Triangle& tri : mesh) {
    double px[3], py[3], pz[3];
    Vec3 n[3];
    for (int k = 0; k < 3; ++k) {
      const Vec3 q = rotate(tri.p[k]);
      px[k] = half + scale * q.x, py[k] = half - scale * q.y, pz[k] = q.z;
      n[k] = rotate(tri.n[k]);
    }
    double area = (px[1] - px[0]) * (py[2] - py[0]) - (py[1] - py[0]) * (px[2] - px[0]);
    if (std::abs(area) < 1e-12) continue;
    const double sign = area > 0 ? 1.0 : -1.0;
    area = std::abs(area);
    const int64_t x0 = std::max<int64_t>(0, int64_t(std::floor(std::min({px[0], px[1], px[2]}))));
    const int64_t x1 = std::min<int64_t>(w - 1, int64_t(std::ceil(std::max({px[0], px[1], px[2]}))));
    const int64_t y0 = std::max<int64_t>(0, int64_t(std::floor(std::min({py[0], py[1], py[2]}))));
    const int64_t y1 = std::min<int64_t>(w - 1, int64_t(std::ceil(std::max({py[0], py[1], py[2]}))));
    for (int64_t yi = y0; yi <= y1; ++yi) {
      const double y = double(yi) + 0.5;
      for (int64_t xi = x0; xi <= x1; ++xi) {
        const double x = double(xi) + 0.5;
        // Edge functions: the barycentric weight of vertex k is the area opposite it.
        const double b0 = sign * ((px[2] - px[1]) * (y - py[1]) - (py[2] - py[1]) * (x - px[1]));
        const double b1 = sign * ((px[0] - px[2]) * (y - py[2]) - (py[0] - py[2]) * (x - px[2]));
        const double b2 = sign * ((px[1] - px[0]) * (y - py[0]) - (py[1] - py[0]) * (x - px[0]));
        if (b0 < 0 || b1 < 0 || b2 < 0) continue;
        const double z = (b0 * pz[0] + b1 * pz[1] + b2 * pz[2]) / area;
        const size_t at = size_t(yi * w + xi);
        if (z <= depth[at]) continue;
        depth[at] = float(z);
        const Vec3 normal = normalized(b0 * n[0] + b1 * n[1] + b2 * n[2]);
        shade[at] = float(kAmbient + kDiffuse * std::max(0.0, dot(normal, light)));
      }
    }
  }
  const int64_t plane = size * size;
  const float weight = 1.0f / float(ss * ss);
  for (int64_t i = 0; i < size; ++i) {
    for (int64_t j = 0; j < size; ++j) {
      float acc = 0;
      for (int64_t a = 0; a < ss; ++a)
        for (int64_t b = 0; b < ss; ++b) acc += shade[size_t((i * ss + a) * w + j * ss + b)];
      for (int ch = 0; ch < 3; ++ch) out[ch * plane + i * size + j] = color[ch] * acc * weight;
    }
  }
}

// ---------------------------------------------------------------- loading

// Natural order: runs of digits compare as numbers ("f2" < "f10"), the rest byte by byte; names
// equal in that order ("f01", "f1") fall back to plain comparison.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      const int cmp = a.compare(is, ie - is, b, js, je - js);
      if (cmp != 0) return cmp < 0;
      i = ie, j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i, ++j;
    }
  }
  if (i < a.size() || j < b.size()) return j < b.size();
  return a < b;
}

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

bool hidden(const fs::path& p) { return !p.filename().empty() && p.filename().string()[0] == '.'; }

VideoSet unlabelled(at::Tensor frames) {
  VideoSet set;
  const int64_t n = frames.size(0), t = frames.size(1);
  set.frames = frames.contiguous();
  set.identity = at::full({n}, -1, at::kLong);
  set.pose = at::zeros({n, t, 0}, at::kFloat);
  return set;
}

VideoSet load_folder(const std::string& path) {
  std::vector<fs::path> seqs;
  bool loose_pngs = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (hidden(entry.path())) continue;
    if (entry.is_directory(ec)) seqs.push_back(entry.path());
    else if (lower(entry.path().extension().string()) == ".png") loose_pngs = true;
  }
  TORCH_CHECK(!ec, "load_video_sequences: cannot list folder '", path, "': ", ec.message());
  TORCH_CHECK(!seqs.empty(), "load_video_sequences: folder '", path, "' has no sequence subfolders",
              loose_pngs ? " (it holds PNG files directly: put each sequence's frames in its own subfolder)"
                         : " (expected one subfolder per sequence holding its frames as *.png)");
  std::sort(seqs.begin(), seqs.end(),
            [](const fs::path& a, const fs::path& b) { return natural_less(a.filename().string(), b.filename().string()); });

  std::vector<std::vector<fs::path>> files(seqs.size());
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (const auto& entry : fs::directory_iterator(seqs[s], ec)) {
      if (hidden(entry.path()) || entry.is_directory(ec)) continue;
      if (lower(entry.path().extension().string()) == ".png") files[s].push_back(entry.path());
    }
    TORCH_CHECK(!ec, "load_video_sequences: cannot list sequence folder '", seqs[s].string(), "': ", ec.message());
    TORCH_CHECK(!files[s].empty(), "load_video_sequences: sequence folder '", seqs[s].string(),
                "' has no .png frames");
    std::sort(files[s].begin(), files[s].end(), [](const fs::path& a, const fs::path& b) {
      return natural_less(a.filename().string(), b.filename().string());
    });
    TORCH_CHECK(files[s].size() == files[0].size(), "load_video_sequences: sequence '", seqs[s].string(), "' has ",
                files[s].size(), " frames but '", seqs[0].string(), "' has ", files[0].size(),
                "; every sequence needs the same number of frames");
  }

  const int64_t n = int64_t(seqs.size()), t = int64_t(files[0].size());
  int64_t h = 0, w = 0;
  bool grey = true;
  at::Tensor bytes;  // [N, T, H, W, 3] uint8, allocated once the first frame gives the size
  for (int64_t s = 0; s < n; ++s) {
    for (int64_t k = 0; k < t; ++k) {
      const std::string file = files[size_t(s)][size_t(k)].string();
      const io::DecodedPng png = io::read_png(file);
      if (!bytes.defined()) {
        h = png.image.height, w = png.image.width;
        bytes = at::empty({n, t, h, w, 3}, at::kByte);
      }
      TORCH_CHECK(png.image.height == h && png.image.width == w, "load_video_sequences: frame '", file, "' is ",
                  png.image.width, "x", png.image.height, " pixels but '", files[0][0].string(), "' is ", w, "x", h,
                  "; every frame needs the same size");
      grey = grey && png.channels == 1;
      std::copy(png.image.rgb.begin(), png.image.rgb.end(), bytes[s][k].data_ptr<uint8_t>());
    }
  }
  at::Tensor frames = bytes.permute({0, 1, 4, 2, 3});  // [N, T, 3, H, W]
  if (grey) frames = frames.narrow(2, 0, 1);
  return unlabelled(frames.to(at::kFloat).div_(255.0).contiguous());
}

VideoSet load_npy(const std::string& path) {
  at::Tensor x = io::read_npy(path);
  TORCH_CHECK(x.dim() == 4 || x.dim() == 5, "load_video_sequences: '", path, "' has shape ", x.sizes(),
              "; expected [N, T, H, W] (grey) or [N, T, C, H, W] with C = 1 or 3");
  if (x.dim() == 4) x = x.unsqueeze(2);
  if (x.size(2) != 1 && x.size(2) != 3) {
    const bool channels_last = x.size(4) == 1 || x.size(4) == 3;
    TORCH_CHECK(false, "load_video_sequences: '", path, "' has shape ", x.sizes(), ": C = ", x.size(2),
                " is not 1 or 3; expected [N, T, C, H, W]",
                channels_last ? " (it looks channels-last [N, T, H, W, C]: np.transpose(x, (0, 1, 4, 2, 3)))" : "");
  }
  TORCH_CHECK(x.numel() > 0, "load_video_sequences: '", path, "' is empty (shape ", x.sizes(), ")");
  if (x.scalar_type() == at::kByte) return unlabelled(x.to(at::kFloat).div_(255.0));
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, "load_video_sequences: '", path,
              "' holds ", x.scalar_type(), "; frames must be uint8 (0..255) or float32/float64 in [0, 1]");
  const int64_t nan = x.isnan().sum().item<int64_t>();
  TORCH_CHECK(nan == 0, "load_video_sequences: '", path, "' contains NaN (", nan, " values)");
  const int64_t inf = x.isinf().sum().item<int64_t>();
  TORCH_CHECK(inf == 0, "load_video_sequences: '", path, "' contains infinite values (", inf, ")");
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  if (lo < 0 || hi > 1) {
    const bool bytes_like = lo >= 0 && hi <= 255;
    TORCH_CHECK(false, "load_video_sequences: '", path, "' has values in [", lo, ", ", hi,
                "], but float frames must be in [0, 1]",
                bytes_like ? ": divide by 255, or save as uint8" : ": rescale them to [0, 1]");
  }
  return unlabelled(x.to(at::kFloat));
}

std::string numbered(const char* prefix, int64_t k, int digits) {
  std::string number = std::to_string(k);
  if (int(number.size()) < digits) number.insert(0, size_t(digits) - number.size(), '0');
  return prefix + number;
}

int digits_for(int64_t count, int at_least) {
  int d = 1;
  for (int64_t m = 10; m < count; m *= 10) ++d;
  return std::max(d, at_least);
}

}  // namespace

VideoSet select_videos(const VideoSet& set, const at::Tensor& index) {
  TORCH_CHECK(set.frames.defined() && set.frames.dim() == 5, "select_videos: set.frames must be [N, T, C, H, W]");
  TORCH_CHECK(index.dim() == 1, "select_videos: index must be 1-D, got shape ", index.sizes());
  const at::Tensor idx = index.to(at::kCPU, at::kLong);
  const int64_t n = set.frames.size(0);
  if (idx.numel() > 0) {
    TORCH_CHECK(idx.min().item<int64_t>() >= 0 && idx.max().item<int64_t>() < n,
                "select_videos: index values must be in [0, ", n, ")");
  }
  VideoSet out;
  out.frames = set.frames.index_select(0, idx).contiguous();
  out.identity = set.identity.index_select(0, idx);
  out.pose = set.pose.index_select(0, idx).contiguous();
  out.pose_names = set.pose_names;
  out.num_identities = set.num_identities;
  return out;
}

// ---------------------------------------------------------------- sprites

int64_t sprite_identity_count() { return kSpriteIds; }

std::vector<std::string> sprite_pose_names() { return {"x", "y", "scale", "phase_sin", "phase_cos"}; }

VideoSet make_moving_sprites(const MovingSpritesOptions& o, at::Generator gen) {
  const char* who = "make_moving_sprites";
  check_common(who, o.sequences(), o.frames(), o.size(), 16);
  check_identities(who, o.identity_begin(), o.identity_end(), kSpriteIds);
  check_range(who, "speed", o.speed_min(), o.speed_max());
  check_range(who, "walk_rate", o.walk_rate_min(), o.walk_rate_max());
  TORCH_CHECK(o.scale_amplitude() >= 0 && o.scale_amplitude() <= 0.5, who,
              ": scale_amplitude must be in [0, 0.5], got ", o.scale_amplitude());
  check_supersample(who, o.supersample());
  const int64_t n = o.sequences(), t = o.frames(), size = o.size();

  // The body centre keeps the whole sprite, at its largest scale, inside the frame with a
  // one-pixel black border.
  const double unit_max = kSpriteUnit * double(size) * (1.0 + o.scale_amplitude());
  const double x_lo = kSpriteLeft * unit_max + 1, x_hi = double(size) - kSpriteLeft * unit_max - 1;
  const double y_lo = kSpriteTop * unit_max + 1, y_hi = double(size) - kSpriteBottom * unit_max - 1;

  VideoSet set;
  set.identity = draw_ids(n, o.identity_begin(), o.identity_end(), gen);
  const at::Tensor u = uniforms(n, 8, gen);
  const double* r = u.data_ptr<double>();
  set.pose = at::empty({n, t, 5}, at::kFloat);
  float* pose = set.pose.data_ptr<float>();
  std::vector<double> xs(static_cast<size_t>(t)), ys(static_cast<size_t>(t));
  for (int64_t i = 0; i < n; ++i) {
    const double* ri = r + i * 8;
    const double direction = 2 * kPi * ri[2], speed = lerp(o.speed_min(), o.speed_max(), ri[3]);
    bouncing_path(lerp(x_lo, x_hi, ri[0]), speed * std::cos(direction), x_lo, x_hi, t, xs.data());
    bouncing_path(lerp(y_lo, y_hi, ri[1]), speed * std::sin(direction), y_lo, y_hi, t, ys.data());
    const double scale_phase = 2 * kPi * ri[4], scale_rate = lerp(0.15, 0.4, ri[5]);
    const double walk_phase = 2 * kPi * ri[6], walk_rate = lerp(o.walk_rate_min(), o.walk_rate_max(), ri[7]);
    for (int64_t k = 0; k < t; ++k) {
      float* p = pose + (i * t + k) * 5;
      const double phase = walk_phase + walk_rate * double(k);
      p[0] = float(xs[size_t(k)] / double(size));
      p[1] = float(ys[size_t(k)] / double(size));
      p[2] = float(1.0 + o.scale_amplitude() * std::sin(scale_phase + scale_rate * double(k)));
      p[3] = float(std::sin(phase));
      p[4] = float(std::cos(phase));
    }
  }
  const int64_t ss = o.supersample();
  set.frames = render_all(set.identity, set.pose, 3, size, [&](int64_t id, const float* p, float* out) {
    render_sprite_into(id, p, size, ss, out);
  });
  set.pose_names = sprite_pose_names();
  set.num_identities = kSpriteIds;
  return set;
}

at::Tensor render_sprite(int64_t identity, const at::Tensor& pose_row, int64_t size, int64_t supersample) {
  TORCH_CHECK(identity >= 0 && identity < kSpriteIds, "render_sprite: identity must be in [0, ", kSpriteIds,
              "), got ", identity);
  TORCH_CHECK(size >= 16, "render_sprite: size must be >= 16, got ", size);
  check_supersample("render_sprite", supersample);
  const at::Tensor p = checked_pose_row("render_sprite", pose_row, 5);
  TORCH_CHECK(p.isfinite().all().item<bool>() && p[2].item<float>() > 0,
              "render_sprite: pose_row must be finite with scale > 0, got ", p);
  at::Tensor out = at::zeros({3, size, size}, at::kFloat);
  render_sprite_into(identity, p.data_ptr<float>(), size, supersample, out.data_ptr<float>());
  return out;
}

// ---------------------------------------------------------------- rotating objects

int64_t rotating_object_identity_count() { return kObjectShapes * kObjectColors; }

std::vector<std::string> rotating_object_pose_names() { return {"angle_sin", "angle_cos", "elevation"}; }

VideoSet make_rotating_objects(const RotatingObjectsOptions& o, at::Generator gen) {
  const char* who = "make_rotating_objects";
  check_common(who, o.sequences(), o.frames(), o.size(), 16);
  check_identities(who, o.identity_begin(), o.identity_end(), rotating_object_identity_count());
  check_range(who, "angular_speed", o.angular_speed_min(), o.angular_speed_max());
  TORCH_CHECK(o.elevation_min() >= -kPi / 2 && o.elevation_min() <= o.elevation_max() && o.elevation_max() <= kPi / 2,
              who, ": need -pi/2 <= elevation_min <= elevation_max <= pi/2, got ", o.elevation_min(), " and ",
              o.elevation_max());
  check_supersample(who, o.supersample());
  const int64_t n = o.sequences(), t = o.frames(), size = o.size();
  object_meshes();  // build the meshes before the threads start

  VideoSet set;
  set.identity = draw_ids(n, o.identity_begin(), o.identity_end(), gen);
  const at::Tensor u = uniforms(n, 4, gen);
  const double* r = u.data_ptr<double>();
  set.pose = at::empty({n, t, 3}, at::kFloat);
  float* pose = set.pose.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const double* ri = r + i * 4;
    const double theta0 = 2 * kPi * ri[0];
    const double omega = (ri[1] < 0.5 ? -1.0 : 1.0) * lerp(o.angular_speed_min(), o.angular_speed_max(), ri[2]);
    const double elevation = lerp(o.elevation_min(), o.elevation_max(), ri[3]);
    for (int64_t k = 0; k < t; ++k) {
      float* p = pose + (i * t + k) * 3;
      const double theta = theta0 + omega * double(k);
      p[0] = float(std::sin(theta)), p[1] = float(std::cos(theta)), p[2] = float(elevation);
    }
  }
  const int64_t ss = o.supersample();
  set.frames = render_all(set.identity, set.pose, 3, size, [&](int64_t id, const float* p, float* out) {
    render_object_into(id, p, size, ss, out);
  });
  set.pose_names = rotating_object_pose_names();
  set.num_identities = rotating_object_identity_count();
  return set;
}

at::Tensor render_object(int64_t identity, const at::Tensor& pose_row, int64_t size, int64_t supersample) {
  const int64_t pool = rotating_object_identity_count();
  TORCH_CHECK(identity >= 0 && identity < pool, "render_object: identity must be in [0, ", pool, "), got ", identity);
  TORCH_CHECK(size >= 16, "render_object: size must be >= 16, got ", size);
  check_supersample("render_object", supersample);
  const at::Tensor p = checked_pose_row("render_object", pose_row, 3);
  TORCH_CHECK(p.isfinite().all().item<bool>(), "render_object: pose_row must be finite, got ", p);
  at::Tensor out = at::zeros({3, size, size}, at::kFloat);
  render_object_into(identity, p.data_ptr<float>(), size, supersample, out.data_ptr<float>());
  return out;
}

// ---------------------------------------------------------------- moving Fashion-MNIST

std::vector<std::string> moving_fashion_pose_names() { return {"x", "y"}; }

VideoSet make_moving_fashion(const at::Tensor& images, const at::Tensor& labels, const MovingFashionOptions& o,
                             at::Generator gen) {
  const char* who = "make_moving_fashion";
  check_common(who, o.sequences(), o.frames(), o.size(), 1);
  TORCH_CHECK(o.item_size() > 0 && o.item_size() <= o.size(), who, ": need 0 < item_size <= size, got item_size ",
              o.item_size(), " and size ", o.size());
  TORCH_CHECK(0 <= o.class_begin() && o.class_begin() < o.class_end(), who,
              ": need 0 <= class_begin < class_end, got [", o.class_begin(), ", ", o.class_end(), ")");
  check_range(who, "speed", o.speed_min(), o.speed_max());
  TORCH_CHECK(images.defined() && (images.dim() == 3 || (images.dim() == 4 && images.size(1) == 1)), who,
              ": images must be [M, 1, h, w] or [M, h, w], got ",
              images.defined() ? images.sizes() : at::IntArrayRef{});
  TORCH_CHECK(images.size(0) > 0 && images.numel() > 0, who, ": images is empty, shape ", images.sizes());
  TORCH_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == images.size(0), who,
              ": labels must be [M] with M = ", images.size(0), " (the images), got ",
              labels.defined() ? labels.sizes() : at::IntArrayRef{});
  TORCH_CHECK(at::isIntegralType(labels.scalar_type(), /*includeBool=*/false), who, ": labels must be integers, got ",
              labels.scalar_type());
  const at::Tensor x = (images.dim() == 3 ? images.unsqueeze(1) : images).to(at::kCPU, at::kFloat);
  TORCH_CHECK(x.isfinite().all().item<bool>() && x.min().item<float>() >= 0 && x.max().item<float>() <= 1, who,
              ": images must be finite and in [0, 1] (got min ", x.min().item<float>(), ", max ",
              x.max().item<float>(), "); uint8 images: divide by 255");
  const at::Tensor y = labels.to(at::kCPU, at::kLong);
  const at::Tensor eligible = ((y >= o.class_begin()) & (y < o.class_end())).nonzero().flatten();
  TORCH_CHECK(eligible.numel() > 0, who, ": no image has a label in [", o.class_begin(), ", ", o.class_end(),
              "); labels range over [", y.min().item<int64_t>(), ", ", y.max().item<int64_t>(), "]");

  const int64_t n = o.sequences(), t = o.frames(), size = o.size(), item = o.item_size();
  const at::Tensor pick = eligible.index_select(0, at::randint(eligible.numel(), {n}, gen, at::kLong));
  const at::Tensor items = at::adaptive_avg_pool2d(x.index_select(0, pick), {item, item}).contiguous();
  const at::Tensor u = uniforms(n, 4, gen);
  const double* r = u.data_ptr<double>();

  VideoSet set;
  set.identity = y.index_select(0, pick).contiguous();
  set.frames = at::zeros({n, t, 1, size, size}, at::kFloat);
  set.pose = at::empty({n, t, 2}, at::kFloat);
  float* frames = set.frames.data_ptr<float>();
  float* pose = set.pose.data_ptr<float>();
  const float* it = items.data_ptr<float>();
  const double hi = double(size - item);
  std::vector<double> xs(static_cast<size_t>(t)), ys(static_cast<size_t>(t));
  for (int64_t i = 0; i < n; ++i) {
    const double* ri = r + i * 4;
    const double direction = 2 * kPi * ri[2], speed = lerp(o.speed_min(), o.speed_max(), ri[3]);
    bouncing_path(hi * ri[0], speed * std::cos(direction), 0.0, hi, t, xs.data());
    bouncing_path(hi * ri[1], speed * std::sin(direction), 0.0, hi, t, ys.data());
    for (int64_t k = 0; k < t; ++k) {
      // Whole-pixel placement keeps the item sharp; the pose records the drawn position.
      const int64_t left = std::clamp<int64_t>(std::llround(xs[size_t(k)]), 0, size - item);
      const int64_t top = std::clamp<int64_t>(std::llround(ys[size_t(k)]), 0, size - item);
      float* f = frames + (i * t + k) * size * size;
      for (int64_t a = 0; a < item; ++a)
        std::copy(it + (i * item + a) * item, it + (i * item + a + 1) * item, f + (top + a) * size + left);
      float* p = pose + (i * t + k) * 2;
      p[0] = float((double(left) + 0.5 * double(item)) / double(size));
      p[1] = float((double(top) + 0.5 * double(item)) / double(size));
    }
  }
  set.pose_names = moving_fashion_pose_names();
  set.num_identities = std::max(o.class_end(), y.max().item<int64_t>() + 1);
  return set;
}

// ---------------------------------------------------------------- the user's sequences

VideoSet load_video_sequences(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  TORCH_CHECK(fs::exists(st), "load_video_sequences: '", path,
              "' does not exist (expected a folder of sequence subfolders of PNG frames, or a .npy file)");
  if (fs::is_directory(st)) return load_folder(path);
  const std::string ext = lower(fs::path(path).extension().string());
  TORCH_CHECK(ext != ".pt" && ext != ".pth", "load_video_sequences: '", path,
              "': PyTorch files are not read; save the tensor with numpy instead: np.save('videos.npy', t.numpy())");
  TORCH_CHECK(ext == ".npy", "load_video_sequences: '", path,
              "' is neither a folder nor a .npy file (expected a folder of sequence subfolders of PNG frames, or "
              "an .npy array [N, T, H, W] or [N, T, C, H, W])");
  return load_npy(path);
}

void write_video_sequences(const std::string& dir, const VideoSet& set) {
  const at::Tensor& f = set.frames;
  TORCH_CHECK(f.defined() && f.dim() == 5 && (f.size(2) == 1 || f.size(2) == 3), "write_video_sequences: frames must "
              "be [N, T, C, H, W] with C = 1 or 3, got ", f.defined() ? f.sizes() : at::IntArrayRef{});
  TORCH_CHECK(f.numel() > 0, "write_video_sequences: frames is empty, shape ", f.sizes());
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    TORCH_CHECK(fs::is_directory(dir, ec), "write_video_sequences: '", dir, "' exists and is not a folder");
    TORCH_CHECK(fs::is_empty(dir, ec), "write_video_sequences: folder '", dir,
                "' is not empty; write to a new folder (old sequences in it would be read back with the new ones)");
  }
  fs::create_directories(dir, ec);
  TORCH_CHECK(!ec, "write_video_sequences: cannot create folder '", dir, "': ", ec.message());
  const int64_t n = f.size(0), t = f.size(1), c = f.size(2), h = f.size(3), w = f.size(4);
  // [N, T, H, W, 3] bytes, grey repeated into r, g and b.
  const at::Tensor bytes = f.detach()
                               .to(at::kCPU, at::kFloat)
                               .nan_to_num(0.0)
                               .clamp(0.0, 1.0)
                               .mul(255.0)
                               .round()
                               .to(at::kByte)
                               .expand({n, t, 3, h, w})
                               .permute({0, 1, 3, 4, 2})
                               .contiguous();
  const int seq_digits = digits_for(n, 5), frame_digits = digits_for(t, 3);
  const io::PngColor color = c == 1 ? io::PngColor::kGrey : io::PngColor::kRgb;
  const uint8_t* src = bytes.data_ptr<uint8_t>();
  for (int64_t s = 0; s < n; ++s) {
    const std::string seq = (fs::path(dir) / numbered("seq_", s, seq_digits)).string();
    fs::create_directory(seq, ec);
    TORCH_CHECK(!ec, "write_video_sequences: cannot create folder '", seq, "': ", ec.message());
    for (int64_t k = 0; k < t; ++k) {
      io::Image image;
      image.height = h, image.width = w;
      const uint8_t* frame = src + (s * t + k) * h * w * 3;
      image.rgb.assign(frame, frame + h * w * 3);
      io::write_png((fs::path(seq) / (numbered("frame_", k, frame_digits) + ".png")).string(), image, color);
    }
  }
}

}  // namespace joule::data
