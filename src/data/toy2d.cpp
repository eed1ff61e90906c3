#include "joule/data/toy2d.h"

#include <c10/util/Exception.h>
#include <torch/types.h>

#include <cmath>
#include <sstream>

// Generators follow rtqichen/ffjord lib/toy_data.py and scikit-learn's sample generators; each
// works in float64 (as numpy does) and is cast to float32 at the end, as FFJORD's callers do.
// The order of random draws differs from numpy's, so the batches match FFJORD in distribution,
// not bit for bit.

namespace joule::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);
const auto kI64 = torch::TensorOptions().dtype(torch::kLong);

at::Tensor uniform(int64_t n, at::Generator& gen) { return torch::empty({n}, kF64).uniform_(0.0, 1.0, gen); }

at::Tensor shuffle_rows(const at::Tensor& x, at::Generator& gen) {
  return x.index_select(0, torch::randperm(x.size(0), gen, kI64));
}

// m angles 2πj/m, j < m: numpy linspace(0, 2π, m, endpoint=False).
at::Tensor periodic_angles(int64_t m) {
  return m == 0 ? torch::empty({0}, kF64) : torch::arange(m, kF64).mul(2 * kPi / m);
}

// Eight N(c, 0.5²I) modes with centres 4·(unit vectors at multiples of 45°), all divided by 1.414
// (FFJORD's literal, not √2): σ = 0.3536, centre radius 2.829.
at::Tensor eight_gaussians(int64_t n, at::Generator& gen) {
  const double s = 1.0 / std::sqrt(2.0);
  auto centers = torch::tensor({1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0, s, s, s, -s, -s, s, -s, -s}, kF64)
                     .view({8, 2})
                     .mul(4.0);
  auto noise = torch::randn({n, 2}, gen, kF64).mul(0.5);
  auto idx = torch::randint(8, {n}, gen, kI64);
  return centers.index_select(0, idx).add(noise).div(1.414);
}

// Uniform on the 8 cells (i, j) of the 2×2 grid over [−4, 4)² with i + j even (area 32).
at::Tensor checkerboard(int64_t n, at::Generator& gen) {
  auto x1 = uniform(n, gen).mul(4.0).sub(2.0);
  auto shift = torch::randint(2, {n}, gen, kF64).mul(2.0);
  // Python's `%` takes the sign of the divisor, like torch::remainder (not fmod).
  auto x2 = uniform(n, gen).sub(shift).add(torch::remainder(torch::floor(x1), 2.0));
  return torch::stack({x1, x2}, 1).mul(2.0);
}

// Two mirrored Archimedean arms: t = 3π·√U, arm (−t cos t, t sin t) + U[0, 0.5)², then the mirror
// image, /3, + N(0, 0.1²I). FFJORD returns 2·(n//2) points in arm order; we give the first arm
// the extra point when n is odd and shuffle, so any prefix of the batch is a fair sample.
at::Tensor two_spirals(int64_t n, at::Generator& gen) {
  const int64_t m1 = (n + 1) / 2, m2 = n / 2;
  auto t = uniform(m1, gen).sqrt().mul(540.0 * 2 * kPi / 360.0);
  auto dx = torch::cos(t).mul(t).neg().add(uniform(m1, gen).mul(0.5));
  auto dy = torch::sin(t).mul(t).add(uniform(m1, gen).mul(0.5));
  auto arm = torch::stack({dx, dy}, 1);
  auto x = torch::cat({arm, arm.slice(0, 0, m2).neg()}, 0).div(3.0);
  x.add_(torch::randn({n, 2}, gen, kF64).mul(0.1));
  return shuffle_rows(x, gen);
}

// Five arms: features f = (N(1, 0.3²), N(0, 0.1²)) rotated by −(2πk/5 + 0.25·e^{f₀}), ×2.
// FFJORD draws n//5 per arm and drops the remainder; we give arms 0..(n mod 5)−1 one extra point.
at::Tensor pinwheel(int64_t n, at::Generator& gen) {
  constexpr int64_t kArms = 5;
  std::vector<int64_t> counts(kArms, n / kArms);
  for (int64_t k = 0; k < n % kArms; ++k) ++counts[k];
  auto labels = torch::repeat_interleave(torch::arange(kArms, kI64), torch::tensor(counts, kI64));
  auto f = torch::randn({n, 2}, gen, kF64).mul(torch::tensor({0.3, 0.1}, kF64));
  auto f0 = f.select(1, 0).add(1.0), f1 = f.select(1, 1);
  auto angle = labels.to(torch::kFloat64).mul(2 * kPi / kArms).add(torch::exp(f0).mul(0.25));
  auto c = torch::cos(angle), s = torch::sin(angle);
  auto out = torch::stack({f0 * c + f1 * s, f1 * c - f0 * s}, 1).mul(2.0);
  return shuffle_rows(out, gen);
}

// Four concentric circles of radii 3, 2.25, 1.5, 0.75 with evenly spaced (deterministic) angles,
// shuffled, + N(0, 0.08²I). As in FFJORD, the three outer circles get n//4 points each and the
// innermost one the rest, so n is always met exactly.
at::Tensor rings(int64_t n, at::Generator& gen) {
  const int64_t q = n / 4;
  const int64_t counts[4] = {q, q, q, n - 3 * q};
  const double radii[4] = {1.0, 0.75, 0.5, 0.25};
  std::vector<at::Tensor> parts;
  for (int i = 0; i < 4; ++i) {
    auto a = periodic_angles(counts[i]);
    parts.push_back(torch::stack({torch::cos(a), torch::sin(a)}, 1).mul(radii[i] * 3.0));
  }
  auto x = shuffle_rows(torch::cat(parts, 0), gen);
  return x.add(torch::randn({n, 2}, gen, kF64).mul(0.08));
}

// sklearn make_moons(n, noise=0.1): n//2 points on the upper half circle (cos t, sin t) and the
// rest on (1 − cos t, 0.5 − sin t), t = linspace(0, π) with both ends; shuffled, noised; then
// FFJORD maps x ↦ 2x + (−1, −0.2).
at::Tensor moons(int64_t n, at::Generator& gen) {
  const int64_t n_out = n / 2, n_in = n - n_out;
  auto t_out = torch::linspace(0.0, kPi, n_out, kF64), t_in = torch::linspace(0.0, kPi, n_in, kF64);
  auto outer = torch::stack({torch::cos(t_out), torch::sin(t_out)}, 1);
  auto inner = torch::stack({1.0 - torch::cos(t_in), 0.5 - torch::sin(t_in)}, 1);
  auto x = shuffle_rows(torch::cat({outer, inner}, 0), gen);
  x.add_(torch::randn({n, 2}, gen, kF64).mul(0.1));
  return x.mul(2.0).add(torch::tensor({-1.0, -0.2}, kF64));
}

// sklearn make_circles(n, factor=0.5, noise=0.08): n//2 points on the unit circle and the rest on
// radius 0.5, evenly spaced angles without the endpoint; shuffled, noised; then ×3 (σ = 0.24).
at::Tensor circles(int64_t n, at::Generator& gen) {
  const int64_t n_out = n / 2, n_in = n - n_out;
  auto a_out = periodic_angles(n_out), a_in = periodic_angles(n_in);
  auto outer = torch::stack({torch::cos(a_out), torch::sin(a_out)}, 1);
  auto inner = torch::stack({torch::cos(a_in), torch::sin(a_in)}, 1).mul(0.5);
  auto x = shuffle_rows(torch::cat({outer, inner}, 0), gen);
  x.add_(torch::randn({n, 2}, gen, kF64).mul(0.08));
  return x.mul(3.0);
}

// sklearn make_swiss_roll(n, noise=1.0) keeping columns 0 and 2: t = 1.5π(1 + 2U),
// (t cos t, t sin t) + N(0, I), then /5. The discarded height column needs no draws.
at::Tensor swissroll(int64_t n, at::Generator& gen) {
  auto t = uniform(n, gen).mul(2.0).add(1.0).mul(1.5 * kPi);
  auto x = torch::stack({t * torch::cos(t), t * torch::sin(t)}, 1);
  return x.add(torch::randn({n, 2}, gen, kF64)).div(5.0);
}

using Generate = at::Tensor (*)(int64_t, at::Generator&);

struct Entry {
  ToyInfo info;
  Generate generate;
};

// Entropies (nats).
// Exact:
//  - 8gaussians: with well-separated modes H = log 8 + log(2πeσ²), σ² = 0.25/1.414², which is
//    log(2πe) + log(2/1.414²) = 2.83818. Neighbouring modes are only 6.1σ apart, and their overlap
//    lowers it to 2.83188: −∫p log p by the midpoint rule on 2000² cells over [−6, 6]² and on
//    4000² cells over [−7, 7]² (both give 2.8318804 and total mass 1.000000000).
//  - checkerboard: uniform on area 32, log 32 = 3.46574.
// Estimated: eval::knn_entropy (k = 3) on 10⁶ float32 points, mean over CPU generators seeded
// 1..4 (seed-to-seed sd ≤ 0.001). The estimate still creeps up with N for the thin shapes
// (rings: 2.601 at 2·10⁴, 2.618 at 2·10⁵, 2.622 at 10⁶; the others +0.002 from 2·10⁵ to 10⁶),
// so the true values are likely 0.001–0.004 higher. The same recipe gives 2.8308 for 8gaussians
// (exact 2.8319) and 3.4692 for checkerboard (exact 3.4657; sharp cell edges bias k-NN upward).
// Estimates for FFJORD's `lib/toy_data.py` definitions (k-NN on 2·10⁴ points): 2spirals 2.63, pinwheel
// 2.30, rings 2.60, moons 2.40, circles 3.25, swissroll 2.67, which matches our 2·10⁴ estimates.
// Plot extents: the largest |coordinate| in 2·10⁶ points is 4.54 (8gaussians, 1e-6 of the mass
// beyond 4.5), 4.0 (checkerboard; 5 leaves room for model mass, as the V6 grid does), 3.68
// (2spirals), 4.82 (pinwheel, 4e-6 beyond 4.5), 3.35 (rings), 3.88 (moons), 4.01 (circles),
// 3.78 (swissroll).
const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries = {
      {{"8gaussians", 2.83188, true, 4.5, "8 Gaussians (sd 0.354) on a circle of radius 2.83"}, eight_gaussians},
      {{"checkerboard", std::log(32.0), true, 5.0, "uniform on 8 of the 16 2x2 cells of [-4,4]^2"}, checkerboard},
      {{"2spirals", 2.6437, false, 4.0, "two interleaved noisy spiral arms"}, two_spirals},
      {{"pinwheel", 2.3171, false, 5.0, "five curved arms (pinwheel)"}, pinwheel},
      {{"rings", 2.6221, false, 4.0, "four concentric noisy circles, radii 0.75 to 3"}, rings},
      {{"moons", 2.3938, false, 4.0, "two interleaving half circles (sklearn make_moons)"}, moons},
      {{"circles", 3.2673, false, 4.5, "two concentric circles, radii 3 and 1.5 (sklearn make_circles)"}, circles},
      {{"swissroll", 2.6697, false, 4.5, "2-D swiss roll (sklearn make_swiss_roll, x-z plane)"}, swissroll},
  };
  return entries;
}

const Entry& find_entry(const std::string& name) {
  for (const auto& e : registry())
    if (e.info.name == name) return e;
  std::ostringstream names;
  for (const auto& e : registry()) names << (names.tellp() > 0 ? ", " : "") << e.info.name;
  TORCH_CHECK(false, "unknown toy dataset '", name, "'; valid names: ", names.str());
}

}  // namespace

at::Tensor sample_toy(const std::string& name, int64_t n, at::Generator gen) {
  const Entry& e = find_entry(name);
  TORCH_CHECK(n >= 0, "sample_toy: n must be >= 0, got ", n);
  if (n == 0) return torch::empty({0, 2}, torch::kFloat32);
  // Some LibTorch 1.13 kernels (randperm) crash on an undefined generator instead of using the
  // default one, so resolve it here.
  if (!gen.defined()) gen = at::globalContext().defaultGenerator(torch::kCPU);
  return e.generate(n, gen).to(torch::kFloat32).contiguous();
}

const ToyInfo& toy_info(const std::string& name) { return find_entry(name).info; }

std::vector<std::string> toy_names() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.push_back(e.info.name);
  return names;
}

}  // namespace joule::data
