// Tests for joule::data toy 2-D datasets (include/joule/data/toy2d.h).
// Expected values are derived from each dataset's definition (FFJORD's `lib/toy_data.py`, arXiv:1810.01367), by hand or
// by an independent numerical integral in this file, never by running the generator. Tolerances
// are k standard errors (SE) of the tested statistic: 4–5 SE, so a correct generator fails with
// probability < 1e-4 per check, and with fixed seeds the outcome is deterministic anyway.

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "joule/data/toy2d.h"
#include "joule/eval/sample_stats.h"

namespace {

using joule::data::sample_toy;
using joule::data::toy_info;
using joule::data::toy_names;

constexpr double kPi = 3.14159265358979323846;

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Tensor sample(const std::string& name, int64_t n, uint64_t seed = 1) {
  return sample_toy(name, n, gen(seed)).to(torch::kFloat64);
}

double avg(const at::Tensor& v) { return v.mean().item<double>(); }
// Standard error of the mean of v.
double se(const at::Tensor& v) { return v.std().item<double>() / std::sqrt(static_cast<double>(v.numel())); }

// Composite Simpson rule on [a, b] with n (even) intervals.
double simpson(const std::function<double(double)>& f, double a, double b, int n = 20000) {
  const double h = (b - a) / n;
  double s = f(a) + f(b);
  for (int i = 1; i < n; ++i) s += f(a + i * h) * (i % 2 ? 4 : 2);
  return s * h / 3;
}

// Polar radius of each row.
at::Tensor radius(const at::Tensor& x) { return x.pow(2).sum(1).sqrt(); }

// Index of the nearest of the given radii for each row.
at::Tensor nearest_ring(const at::Tensor& x, const std::vector<double>& radii) {
  auto r = radius(x).unsqueeze(1);
  return (r - torch::tensor(radii, torch::kFloat64).unsqueeze(0)).abs().argmin(1);
}

TEST(Toy2dTest, NamesAndInfoAreConsistent) {
  const std::vector<std::string> expected = {"8gaussians", "checkerboard", "2spirals", "pinwheel",
                                             "rings",      "moons",        "circles",  "swissroll"};
  EXPECT_EQ(toy_names(), expected);
  for (const auto& name : toy_names()) {
    const auto& info = toy_info(name);
    EXPECT_EQ(info.name, name);
    ASSERT_TRUE(info.entropy.has_value()) << name;
    EXPECT_GT(info.plot_extent, 3.0) << name;
    EXPECT_FALSE(info.description.empty()) << name;
    EXPECT_EQ(info.entropy_exact, name == "8gaussians" || name == "checkerboard") << name;
  }
  EXPECT_DOUBLE_EQ(*toy_info("checkerboard").entropy, std::log(32.0));
}

TEST(Toy2dTest, UnknownNameIsAnErrorListingValidNames) {
  try {
    sample_toy("spirals", 10, gen(0));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("spirals"), std::string::npos);
    for (const auto& name : toy_names()) EXPECT_NE(msg.find(name), std::string::npos) << name;
  }
  EXPECT_THROW(toy_info("nope"), c10::Error);
  EXPECT_THROW(sample_toy("moons", -1, gen(0)), c10::Error);
}

TEST(Toy2dTest, ReturnsExactlyNFloat32RowsForAwkwardN) {
  for (const auto& name : toy_names()) {
    for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 13, 1001, 1003}) {
      auto x = sample_toy(name, n, gen(3));
      ASSERT_EQ(x.dim(), 2) << name;
      EXPECT_EQ(x.size(0), n) << name << " n=" << n;
      EXPECT_EQ(x.size(1), 2) << name;
      EXPECT_EQ(x.scalar_type(), torch::kFloat32) << name;
      EXPECT_TRUE(x.device().is_cpu()) << name;
      EXPECT_TRUE(torch::isfinite(x).all().item<bool>()) << name << " n=" << n;
    }
  }
  // An undefined generator falls back to LibTorch's default one.
  EXPECT_EQ(sample_toy("moons", 10, at::Generator()).size(0), 10);
}

TEST(Toy2dTest, SameSeedReproducesOtherSeedDiffers) {
  for (const auto& name : toy_names()) {
    auto a = sample_toy(name, 501, gen(42));
    auto b = sample_toy(name, 501, gen(42));
    auto c = sample_toy(name, 501, gen(43));
    EXPECT_TRUE(torch::equal(a, b)) << name;
    EXPECT_FALSE(torch::equal(a, c)) << name;
  }
}

// Modes N(cⱼ, σ²I), cⱼ = 4uⱼ/1.414 with uⱼ the unit vectors at multiples of 45°, σ = 0.5/1.414.
TEST(Toy2dTest, EightGaussiansModesWeightsAndSpread) {
  const int64_t n = 20000;
  auto x = sample("8gaussians", n);
  const double sigma = 0.5 / 1.414, big_r = 4.0 / 1.414;
  auto ang = torch::arange(8, torch::kFloat64).mul(kPi / 4);
  auto centres = torch::stack({ang.cos(), ang.sin()}, 1).mul(big_r);
  auto idx = torch::cdist(x, centres).argmin(1);
  // Each mode holds 1/8: binomial SE sqrt(p(1−p)/n) = 0.0023, 4 SE. (Points nearer a neighbour's
  // centre, P ≈ 2e-3, move both ways and do not bias the fractions.)
  auto counts = torch::bincount(idx, {}, 8).to(torch::kFloat64) / n;
  for (int j = 0; j < 8; ++j) EXPECT_NEAR(counts[j].item<double>(), 0.125, 4 * std::sqrt(0.125 * 0.875 / n)) << j;
  // Residuals from the nearest centre: mean 0 (SE σ/√n = 0.0025) and sd σ over 2n coordinates
  // (SE σ/√(4n) = 0.0013; 5 SE, the trimming by misassignment is < 0.001).
  auto res = x - centres.index_select(0, idx);
  EXPECT_NEAR(avg(res.select(1, 0)), 0.0, 4 * sigma / std::sqrt(n));
  EXPECT_NEAR(avg(res.select(1, 1)), 0.0, 4 * sigma / std::sqrt(n));
  EXPECT_NEAR(res.std().item<double>(), sigma, 5 * sigma / std::sqrt(4.0 * n));
  // E‖x‖² = R² + 2σ² exactly.
  auto r2 = x.pow(2).sum(1);
  EXPECT_NEAR(avg(r2), big_r * big_r + 2 * sigma * sigma, 4 * se(r2));
}

// Uniform on the cells (i, j) of side 2 in [−4, 4)² with i + j even.
TEST(Toy2dTest, CheckerboardSupportCellsAndUniformity) {
  const int64_t n = 20000;
  auto x = sample("checkerboard", n);
  EXPECT_GE(x.min().item<double>(), -4.0);
  EXPECT_LT(x.max().item<double>(), 4.0);
  auto cell = torch::floor(x / 2).to(torch::kLong);  // in {−2, …, 1}
  auto parity = (cell.select(1, 0) + cell.select(1, 1)).remainder(2);
  EXPECT_EQ(parity.nonzero().size(0), 0) << "points outside the 8 black cells";
  // 8 occupied cells, each 1/8 of the points (binomial SE 0.0023, 4 SE).
  auto id = (cell.select(1, 0) + 2) * 4 + (cell.select(1, 1) + 2);
  auto counts = torch::bincount(id, {}, 16).to(torch::kFloat64) / n;
  int occupied = 0;
  for (int c = 0; c < 16; ++c) {
    if (counts[c].item<double>() == 0) continue;
    ++occupied;
    EXPECT_NEAR(counts[c].item<double>(), 0.125, 4 * std::sqrt(0.125 * 0.875 / n)) << c;
  }
  EXPECT_EQ(occupied, 8);
  // Uniform within a cell: the position u in the cell has mean 1/2 and variance 1/12
  // (SE 0.0020 and 0.00053 per coordinate; 5 SE).
  auto u = x / 2 - torch::floor(x / 2);
  for (int d = 0; d < 2; ++d) {
    auto ud = u.select(1, d);
    EXPECT_NEAR(avg(ud), 0.5, 5 * std::sqrt(1.0 / 12 / n));
    EXPECT_NEAR(ud.var().item<double>(), 1.0 / 12, 5 * 0.0745 / std::sqrt(n));
  }
}

// Arm a = (−t cos t + U₁/2, t sin t + U₂/2), t = 3π√V (density 2t/(3π)² on [0, 3π]); the data
// are a/3 and −a/3 plus N(0, 0.1²I).
TEST(Toy2dTest, TwoSpiralsMomentsMatchIntegrals) {
  const int64_t n = 20000;
  auto x = sample("2spirals", n);
  const double tmax = 3 * kPi;
  auto e_t = [&](const std::function<double(double)>& g) {
    return simpson([&](double t) { return g(t) * 2 * t / (tmax * tmax); }, 0, tmax);
  };
  const double ec = e_t([](double t) { return t * std::cos(t); });
  const double es = e_t([](double t) { return t * std::sin(t); });
  const double ecc = e_t([](double t) { return t * t * std::cos(t) * std::cos(t); });
  const double ess = e_t([](double t) { return t * t * std::sin(t) * std::sin(t); });
  const double ecs = e_t([](double t) { return t * t * std::cos(t) * std::sin(t); });
  // E[U²/4] = 1/12, E[U/2] = 1/4; the mirror image has the same second moments.
  const double exx = (ecc - 0.5 * ec + 1.0 / 12) / 9 + 0.01;
  const double eyy = (ess + 0.5 * es + 1.0 / 12) / 9 + 0.01;
  const double exy = (-ecs - 0.25 * ec + 0.25 * es + 1.0 / 16) / 9;
  // The mirrored arms cancel exactly for even n, so the mean is the noise mean (SE 0.1/√n).
  EXPECT_NEAR(avg(x.select(1, 0)), 0.0, 4 * 0.1 / std::sqrt(n));
  EXPECT_NEAR(avg(x.select(1, 1)), 0.0, 4 * 0.1 / std::sqrt(n));
  auto xx = x.select(1, 0).pow(2), yy = x.select(1, 1).pow(2), xy = x.select(1, 0) * x.select(1, 1);
  EXPECT_NEAR(avg(xx), exx, 4 * se(xx));
  EXPECT_NEAR(avg(yy), eyy, 4 * se(yy));
  EXPECT_NEAR(avg(xy), exy, 4 * se(xy));
  // Rows are shuffled: the first half is not one arm. Under the arm order the first half's mean
  // would be E[a]/3 ≈ (0.53, 0.35); shuffled it is ~0 (SE ≈ 1.6/√(n/2) = 0.016).
  auto head = x.slice(0, 0, n / 2);
  EXPECT_LT(radius(head.mean(0, true)).item<double>(), 0.08);
}

// Arm k: f = (N(1, 0.3²), N(0, 0.1²)) rotated by −(2πk/5 + 0.25e^{f₀}), times 2.
TEST(Toy2dTest, PinwheelMomentsAndArmTwist) {
  const int64_t n = 20000;
  auto x = sample("pinwheel", n);
  // ‖x‖² = 4(f₀² + f₁²): E = 4(1 + 0.09 + 0.01) = 4.4; five-fold symmetry makes the covariance
  // isotropic, 2.2·I, and the mean 0 (SE √(2.2/n) = 0.0105).
  auto r2 = x.pow(2).sum(1);
  EXPECT_NEAR(avg(r2), 4.4, 4 * se(r2));
  for (int d = 0; d < 2; ++d) EXPECT_NEAR(avg(x.select(1, d)), 0.0, 4 * std::sqrt(2.2 / n));
  auto xy = x.select(1, 0) * x.select(1, 1);
  EXPECT_NEAR(avg(xy), 0.0, 4 * se(xy));
  // The polar angle is φ = atan2(f₁, f₀) − 2πk/5 − 0.25e^{f₀}, so 5φ does not depend on the arm:
  // E[e^{5iφ}] by a midpoint rule over the Gaussian (f₀, f₁) (±8 sd, 800² cells).
  const int64_t m = 800;
  auto u = torch::arange(m, torch::kFloat64).add(0.5).mul(16.0 / m).sub(8.0);  // standard normal grid
  auto w = torch::exp(-0.5 * u * u) * (16.0 / m) / std::sqrt(2 * kPi);
  auto f0 = (1.0 + 0.3 * u).unsqueeze(1), f1 = (0.1 * u).unsqueeze(0);
  auto phase = 5.0 * torch::atan2(f1, f0) - 1.25 * torch::exp(f0);
  auto ww = w.unsqueeze(1) * w.unsqueeze(0);
  const double ecos = (ww * torch::cos(phase)).sum().item<double>();
  const double esin = (ww * torch::sin(phase)).sum().item<double>();
  auto phi5 = torch::atan2(x.select(1, 1), x.select(1, 0)).mul(5.0);
  // cos and sin of the sample have sd ≤ 1, so SE ≤ 1/√n = 0.007; 4 SE.
  EXPECT_NEAR(avg(torch::cos(phi5)), ecos, 4 * se(torch::cos(phi5)));
  EXPECT_NEAR(avg(torch::sin(phi5)), esin, 4 * se(torch::sin(phi5)));
  EXPECT_GT(std::hypot(ecos, esin), 0.2);  // the check has teeth: the twist is far from uniform
}

// Circles of radii 3, 2.25, 1.5, 0.75, evenly spaced angles, + N(0, 0.08²I).
TEST(Toy2dTest, RingsRadiiCountsAndNoise) {
  const std::vector<double> radii = {3.0, 2.25, 1.5, 0.75};
  const double sigma = 0.08;
  const int64_t n = 20000;
  auto x = sample("rings", n);
  auto ring = nearest_ring(x, radii);
  // Counts are fixed (n/4 each); a point crosses to a neighbour ring only beyond 4.7σ (P ≈ 1e-6).
  auto counts = torch::bincount(ring, {}, 4);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(counts[i].item<double>(), n / 4, 2) << i;
  auto r = radius(x);
  for (int i = 0; i < 4; ++i) {
    auto ri = r.masked_select(ring == i);
    // |R + noise| has mean R + σ²/(2R) and sd σ to O(σ²/R); SE σ/√(n/4) = 0.0011 and
    // σ/√(n/2) = 0.0008; 4–5 SE.
    EXPECT_NEAR(avg(ri), radii[i] + sigma * sigma / (2 * radii[i]), 4 * sigma / std::sqrt(n / 4.0)) << i;
    EXPECT_NEAR(ri.std().item<double>(), sigma, 5 * sigma / std::sqrt(n / 2.0)) << i;
  }
  // E‖x‖² = mean R² + 2σ² exactly; the evenly spaced angles cancel, so the mean is the noise mean.
  double mean_r2 = 0;
  for (double ri : radii) mean_r2 += ri * ri / 4;
  auto r2 = x.pow(2).sum(1);
  EXPECT_NEAR(avg(r2), mean_r2 + 2 * sigma * sigma, 4 * 2 * sigma * std::sqrt(mean_r2 / n));
  EXPECT_NEAR(avg(x.select(1, 0)), 0.0, 4 * sigma / std::sqrt(n));
  // Shuffled: the first 2000 rows hold each ring in proportion (binomial SE 0.0097, 4 SE).
  auto head = torch::bincount(ring.slice(0, 0, 2000), {}, 4).to(torch::kFloat64) / 2000;
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(head[i].item<double>(), 0.25, 0.04) << i;
  // n = 10003: FFJORD gives the innermost ring the remainder (2500, 2500, 2500, 2503).
  auto counts_odd = torch::bincount(nearest_ring(sample("rings", 10003), radii), {}, 4);
  const int64_t want[4] = {2500, 2500, 2500, 2503};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(counts_odd[i].item<double>(), want[i], 2) << i;
}

// make_moons: (cos t, sin t) and (1 − cos t, 0.5 − sin t), t uniform on [0, π] (a fine linspace),
// half each, + N(0, 0.1²I); then 2x + (−1, −0.2).
TEST(Toy2dTest, MoonsMomentsMatchHalfCircles) {
  const int64_t n = 20000;
  auto x = sample("moons", n);
  // Before the affine map: E cos t = 0, E sin t = 2/π, Var cos t = 1/2, Var sin t = 1/2 − 4/π²,
  // Cov(cos t, sin t) = 0 on each moon; the pooled moments add the between-moon terms with
  // mean gap Δ = (−1, 4/π − 1/2).
  const double dy = 4 / kPi - 0.5;
  const double mx = 0.5, my = 0.25;
  const double vx = 0.5 + 0.25 + 0.01, vy = 0.5 - 4 / (kPi * kPi) + 0.25 * dy * dy + 0.01, cxy = -0.25 * dy;
  // The angles are fixed, so only the noise varies: SE of the means 0.2/√n = 0.0014 and of the
  // second moments ≈ 2·0.2·2/√n = 0.006 after the ×2; the linspace differs from the continuum by
  // O(1/n). Tolerances 0.007 (5 SE) and 0.03.
  EXPECT_NEAR(avg(x.select(1, 0)), 2 * mx - 1, 0.007);
  EXPECT_NEAR(avg(x.select(1, 1)), 2 * my - 0.2, 0.007);
  auto c = torch::cov(x.t());
  EXPECT_NEAR(c[0][0].item<double>(), 4 * vx, 0.03);
  EXPECT_NEAR(c[1][1].item<double>(), 4 * vy, 0.03);
  EXPECT_NEAR(c[0][1].item<double>(), 4 * cxy, 0.03);
}

// make_circles(factor 0.5, noise 0.08) × 3: radii 3 and 1.5, half each, σ = 0.24.
TEST(Toy2dTest, CirclesRadiiAndNoise) {
  const std::vector<double> radii = {3.0, 1.5};
  const double sigma = 0.24;
  const int64_t n = 20000;
  auto x = sample("circles", n);
  auto ring = nearest_ring(x, radii);
  // Half each; a point crosses the midpoint 2.25 with P ≈ 9e-4 per ring, so allow 0.005.
  auto frac = torch::bincount(ring, {}, 2).to(torch::kFloat64) / n;
  EXPECT_NEAR(frac[0].item<double>(), 0.5, 0.005);
  auto r = radius(x);
  for (int i = 0; i < 2; ++i) {
    auto ri = r.masked_select(ring == i);
    // Mean R + σ²/(2R) (SE σ/√(n/2) = 0.0024, 4 SE); sd σ (SE 0.0017; 0.01 ≈ 6 SE, allowing for
    // the 1e-3 of points assigned to the wrong ring).
    EXPECT_NEAR(avg(ri), radii[i] + sigma * sigma / (2 * radii[i]), 4 * sigma / std::sqrt(n / 2.0)) << i;
    EXPECT_NEAR(ri.std().item<double>(), sigma, 0.01) << i;
  }
  auto r2 = x.pow(2).sum(1);
  EXPECT_NEAR(avg(r2), (9.0 + 2.25) / 2 + 2 * sigma * sigma, 4 * se(r2));
  EXPECT_NEAR(avg(x.select(1, 0)), 0.0, 4 * sigma / std::sqrt(n));
}

// make_swiss_roll(noise 1) columns 0, 2, /5: (t cos t + ε₁, t sin t + ε₂)/5, t ~ U[1.5π, 4.5π].
TEST(Toy2dTest, SwissrollMomentsMatchIntegrals) {
  const int64_t n = 20000;
  auto x = sample("swissroll", n);
  const double a = 1.5 * kPi, b = 4.5 * kPi;
  // ∫ t cos t = t sin t + cos t and ∫ t sin t = sin t − t cos t over [a, b] give 6π and 2.
  EXPECT_NEAR(avg(x.select(1, 0)), 6 * kPi / (b - a) / 5, 4 * se(x.select(1, 0)));
  EXPECT_NEAR(avg(x.select(1, 1)), 2 / (b - a) / 5, 4 * se(x.select(1, 1)));
  auto e_t = [&](const std::function<double(double)>& g) { return simpson(g, a, b) / (b - a); };
  const double exx = (e_t([](double t) { return t * t * std::cos(t) * std::cos(t); }) + 1) / 25;
  const double eyy = (e_t([](double t) { return t * t * std::sin(t) * std::sin(t); }) + 1) / 25;
  const double exy = e_t([](double t) { return t * t * std::sin(t) * std::cos(t); }) / 25;
  auto xx = x.select(1, 0).pow(2), yy = x.select(1, 1).pow(2), xy = x.select(1, 0) * x.select(1, 1);
  EXPECT_NEAR(avg(xx), exx, 4 * se(xx));
  EXPECT_NEAR(avg(yy), eyy, 4 * se(yy));
  EXPECT_NEAR(avg(xy), exy, 4 * se(xy));
  // E‖x‖² = (E t² + 2)/25 with E t² = (b³ − a³)/(3(b − a)) = 9.75π².
  auto r2 = x.pow(2).sum(1);
  EXPECT_NEAR(avg(r2), (9.75 * kPi * kPi + 2) / 25, 4 * se(r2));
}

TEST(Toy2dTest, EightGaussiansEntropyConstantMatchesQuadrature) {
  // −∫p log p by the midpoint rule on 1200² cells over [−6, 6]² (cell 0.01 ≪ σ = 0.354).
  const int64_t m = 1200;
  const double half = 6.0, h = 2 * half / m, s2 = 0.25 / (1.414 * 1.414);
  auto g = torch::arange(m, torch::kFloat64).add(0.5).mul(h).sub(half);
  auto px = g.unsqueeze(1), py = g.unsqueeze(0);
  auto p = torch::zeros({m, m}, torch::kFloat64);
  for (int j = 0; j < 8; ++j) {
    const double cx = 4 * std::cos(j * kPi / 4) / 1.414, cy = 4 * std::sin(j * kPi / 4) / 1.414;
    p += torch::exp(-((px - cx).pow(2) + (py - cy).pow(2)) / (2 * s2)) / (2 * kPi * s2 * 8);
  }
  const double mass = p.sum().item<double>() * h * h;
  const double entropy = -(p * p.clamp_min(1e-300).log()).sum().item<double>() * h * h;
  EXPECT_NEAR(mass, 1.0, 1e-6);
  EXPECT_NEAR(*toy_info("8gaussians").entropy, entropy, 2e-4);
  // The overlap of neighbouring modes matters at the 3rd decimal: below log 8 + log(2πeσ²).
  EXPECT_LT(entropy, std::log(8.0) + std::log(2 * kPi * std::exp(1.0) * s2) - 0.005);
}

TEST(Toy2dTest, EntropyConstantsAgreeWithKnnEstimate) {
  // k-NN (k = 3) on 2·10⁴ points: seed-to-seed sd 0.005–0.009 and a finite-N bias of −0.016
  // (rings) to +0.022 (checkerboard, sharp edges), measured over 20 seeds; 0.05 covers both.
  for (const auto& name : toy_names()) {
    const double est = joule::eval::knn_entropy(sample_toy(name, 20000, gen(11)), 3);
    EXPECT_NEAR(est, *toy_info(name).entropy, 0.05) << name;
  }
}

}  // namespace
