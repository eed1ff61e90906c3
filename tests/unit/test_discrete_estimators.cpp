// Gradient estimators for discrete choices (REINFORCE, REBAR, RELAX, straight-through) and LAX:
// every unbiased estimator's mean over many draws equals the exact gradient, found by enumerating
// all states of small Bernoulli and categorical problems (arXiv:1711.00123's toy check, with
// non-separable f); REBAR with η = 0 is REINFORCE; z̃ has the law of z given b; the common random
// numbers reproduce z; the variance loss's gradient in φ matches central differences.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/estimators/discrete.h"

namespace {

namespace est = joule::estimators;
using est::ControlVariate;
using est::ControlVariateOptions;
using est::DiscreteEstimatorOptions;
using est::DiscreteFamily;
using est::DiscreteGradientEstimator;
using est::EstimatorKind;
using est::SurrogateKind;

// A non-separable function of 3 Bernoullis, defined on [0, 1]³ too (REBAR evaluates it there).
at::Tensor f_bernoulli(const at::Tensor& b) {
  const auto t = at::tensor({0.2, 0.55, 0.9}, b.options());
  return (b - t).pow(2).sum(1) + 0.7 * b.select(1, 0) * b.select(1, 2) - 0.4 * b.select(1, 1) * b.select(1, 2);
}

// A non-separable function of 2 categoricals with 3 classes, b [B, 2, 3].
at::Tensor f_categorical(const at::Tensor& b) {
  const auto w0 = at::tensor({0.3, -1.0, 0.8}, b.options());
  const auto w1 = at::tensor({1.2, 0.1, -0.5}, b.options());
  const auto a = (b.select(1, 0) * w0).sum(1);
  const auto c = (b.select(1, 1) * w1).sum(1);
  return (a - c).pow(2) + 0.5 * b.select(1, 0).select(1, 0) * b.select(1, 1).select(1, 2);
}

// Every state of n variables with k classes (k = 2 Bernoulli: [S, n] of 0/1; else one-hot [S, n, k]).
at::Tensor all_states(int64_t n, int64_t k, bool bernoulli) {
  const int64_t s = static_cast<int64_t>(std::pow(k, n));
  auto idx = at::empty({s, n}, at::kLong);
  for (int64_t i = 0; i < s; ++i) {
    int64_t r = i;
    for (int64_t j = 0; j < n; ++j) {
      idx[i][j] = r % k;
      r /= k;
    }
  }
  if (bernoulli) return idx.to(at::kDouble);
  return at::one_hot(idx, k).to(at::kDouble);
}

// The exact ∂E[f]/∂logits by enumeration: E = Σ_b p(b | logits) f(b), differentiated by autograd.
at::Tensor exact_gradient(DiscreteFamily family, const at::Tensor& logits, const est::BatchFunction& f) {
  const bool bern = family == DiscreteFamily::kBernoulli;
  const auto states = bern ? all_states(logits.size(0), 2, true) : all_states(logits.size(0), logits.size(1), false);
  auto l = logits.detach().clone().requires_grad_(true);
  const auto lb = l.unsqueeze(0).expand(states.sizes());
  const auto expectation = (est::log_prob(family, lb, states).exp() * f(states)).sum();
  return torch::autograd::grad({expectation}, {l})[0];
}

struct Case {
  const char* name;
  EstimatorKind kind;
  SurrogateKind surrogate;  // ignored when !with_cv
  bool with_cv;
  bool crn;
  double baseline_decay;
};

std::vector<Case> unbiased_cases() {
  return {
      {"reinforce", EstimatorKind::kReinforce, SurrogateKind::kBaseline, false, false, 0.0},
      {"reinforce, moving-average baseline", EstimatorKind::kReinforce, SurrogateKind::kBaseline, false, false, 0.9},
      {"reinforce, learned baseline", EstimatorKind::kReinforce, SurrogateKind::kBaseline, true, false, 0.0},
      {"rebar", EstimatorKind::kRebar, SurrogateKind::kRebar, true, false, 0.0},
      {"rebar, common random numbers", EstimatorKind::kRebar, SurrogateKind::kRebar, true, true, 0.0},
      {"relax, neural", EstimatorKind::kRelax, SurrogateKind::kNeural, true, false, 0.0},
      {"relax, neural, common random numbers", EstimatorKind::kRelax, SurrogateKind::kNeural, true, true, 0.0},
      {"relax, rebar + neural", EstimatorKind::kRelax, SurrogateKind::kRebarNeural, true, false, 0.0},
  };
}

// Mean of the per-sample estimates over `batch` draws against the exact gradient: every
// coordinate within 4 standard errors (a false alarm has probability ~6e-5 per coordinate).
void check_unbiased(DiscreteFamily family, const at::Tensor& logits, const est::BatchFunction& f, uint64_t seed) {
  const int64_t batch = 40000;
  const auto exact = exact_gradient(family, logits, f);
  for (const auto& c : unbiased_cases()) {
    SCOPED_TRACE(c.name);
    auto gen = joule::make_generator(seed);
    ControlVariate cv(nullptr);
    if (c.with_cv) {
      cv = ControlVariate(ControlVariateOptions(logits.numel())
                              .family(family)
                              .kind(c.surrogate)
                              .width(8)
                              .eta(0.6)
                              .temperature(0.3));
      cv->to(at::kDouble);
      cv->reset_parameters(joule::make_generator(seed + 1));
      if (cv->constant.defined()) {
        at::NoGradGuard no_grad;
        cv->constant.fill_(0.8);
      }
    }
    DiscreteGradientEstimator estimator(
        DiscreteEstimatorOptions().kind(c.kind).family(family).common_random_numbers(c.crn).baseline_decay(
            c.baseline_decay),
        cv);
    std::vector<int64_t> shape{batch};
    for (auto s : logits.sizes()) shape.push_back(s);
    const auto batch_logits = logits.unsqueeze(0).expand(shape).contiguous();
    if (c.baseline_decay > 0) estimator.estimate(batch_logits.slice(0, 0, 100), f, gen);  // a baseline from before
    const auto g = estimator.estimate(batch_logits, f, gen).grad_logits.detach();
    ASSERT_EQ(g.sizes(), batch_logits.sizes());
    const auto mean = g.mean(0);
    const auto se = g.std(0) / std::sqrt(static_cast<double>(batch));
    const auto z = ((mean - exact) / se).abs();
    EXPECT_LT(z.max().item<double>(), 4.0) << "mean " << mean << "\nexact " << exact << "\nse " << se;
    if (c.with_cv) EXPECT_TRUE(estimator.estimate(batch_logits.slice(0, 0, 4), f, gen).variance_loss.requires_grad());
  }
}

TEST(DiscreteEstimatorsTest, EveryEstimatorIsUnbiasedOnBernoullisByEnumeration) {
  check_unbiased(DiscreteFamily::kBernoulli, at::tensor({-0.8, 0.3, 1.4}, at::kDouble), f_bernoulli, 11);
}

TEST(DiscreteEstimatorsTest, EveryEstimatorIsUnbiasedOnCategoricalsByEnumeration) {
  const auto logits = at::tensor({0.5, -0.7, 0.1, -1.2, 0.4, 0.9}, at::kDouble).reshape({2, 3});
  check_unbiased(DiscreteFamily::kCategorical, logits, f_categorical, 12);
}

TEST(DiscreteEstimatorsTest, ReinforceGradientOnTheToyMatchesTheClosedForm) {
  // The paper's toy f(b) = (b − t)²: dE/dα = θ(1 − θ)(1 − 2t); at θ = ½ REINFORCE's per-sample
  // variance is 0.01594 for t = 0.45.
  const double t = 0.45;
  auto f = [t](const at::Tensor& b) { return (b - t).pow(2).sum(1); };
  const auto logits = at::zeros({200000, 1}, at::kDouble);
  DiscreteGradientEstimator reinforce(DiscreteEstimatorOptions().kind(EstimatorKind::kReinforce));
  auto gen = joule::make_generator(3);
  const auto g = reinforce.estimate(logits, f, gen).grad_logits;
  // Exact: ĝ = (b − t)²(b − ½) takes 0.3025·0.5 or −0.2025·0.5 with probability ½ each.
  const double m = 0.5 * (0.3025 * 0.5 - 0.2025 * 0.5);
  const double var = 0.5 * (std::pow(0.3025 * 0.5, 2) + std::pow(0.2025 * 0.5, 2)) - m * m;
  EXPECT_NEAR(m, 0.25 * (1 - 2 * t), 1e-15);
  EXPECT_NEAR(var, 0.01594, 5e-6);
  EXPECT_NEAR(g.mean().item<double>(), m, 4 * std::sqrt(var / 200000));
  EXPECT_NEAR(g.var().item<double>(), var, 0.01 * var);
}

TEST(DiscreteEstimatorsTest, RebarWithEtaZeroIsReinforce) {
  auto gen = joule::make_generator(4);
  const auto logits = at::randn({64, 3}, gen, at::kDouble);
  const auto noise = est::draw_relaxation_noise(logits, gen);
  auto cv = ControlVariate(ControlVariateOptions(3).kind(SurrogateKind::kRebar).eta(0.0).temperature(0.4));
  cv->to(at::kDouble);
  DiscreteGradientEstimator rebar(DiscreteEstimatorOptions().kind(EstimatorKind::kRebar), cv);
  DiscreteGradientEstimator reinforce(DiscreteEstimatorOptions().kind(EstimatorKind::kReinforce));
  const auto a = rebar.estimate(logits, f_bernoulli, noise).grad_logits;
  const auto b = reinforce.estimate(logits, f_bernoulli, noise).grad_logits;
  EXPECT_TRUE(at::allclose(a, b, 0, 1e-14)) << (a - b).abs().max();
  // and with η ≠ 0 it is not (the test can fail).
  {
    at::NoGradGuard no_grad;
    cv->eta.fill_(1.0);
  }
  EXPECT_GT((rebar.estimate(logits, f_bernoulli, noise).grad_logits - b).abs().max().item<double>(), 1e-3);
}

// Kolmogorov–Smirnov distance between the sorted sample and a CDF.
double ks_distance(at::Tensor x, const std::function<double(double)>& cdf) {
  x = std::get<0>(x.sort());
  const int64_t n = x.numel();
  auto a = x.accessor<double, 1>();
  double d = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double fx = cdf(a[i]);
    d = std::max({d, std::abs(fx - double(i) / n), std::abs(fx - double(i + 1) / n)});
  }
  return d;
}

double ks_two_sample(at::Tensor x, at::Tensor y) {
  x = std::get<0>(x.sort());
  y = std::get<0>(y.sort());
  auto a = x.accessor<double, 1>();
  auto b = y.accessor<double, 1>();
  const int64_t n = x.numel(), m = y.numel();
  int64_t i = 0, j = 0;
  double d = 0;
  while (i < n && j < m) {
    if (a[i] <= b[j]) ++i; else ++j;
    d = std::max(d, std::abs(double(i) / n - double(j) / m));
  }
  return d;
}

TEST(DiscreteEstimatorsTest, ConditionalSampleHasTheLawOfZGivenBForBernoulli) {
  // z ~ Logistic(α, 1); given b = 1 it is truncated to z > 0, given b = 0 to z ≤ 0. z̃ from fresh
  // v must have exactly these laws: one-sample KS at α = 0.001 (critical value 1.95/√n).
  const double alpha = 0.7;
  const int64_t n = 60000;
  auto gen = joule::make_generator(5);
  const auto logits = at::full({n, 1}, alpha, at::kDouble);
  const auto noise = est::draw_relaxation_noise(logits, gen);
  const auto z = est::relaxed_sample(DiscreteFamily::kBernoulli, logits, noise.u);
  const auto b = est::hard_sample(DiscreteFamily::kBernoulli, z);
  const auto zt = est::conditional_relaxed_sample(DiscreteFamily::kBernoulli, logits, b, noise.v).reshape(-1);
  const auto bf = b.reshape(-1).to(at::kBool);
  auto logistic = [alpha](double x) { return 1 / (1 + std::exp(-(x - alpha))); };
  const double f0 = logistic(0);
  const auto ones = zt.masked_select(bf), zeros = zt.masked_select(~bf);
  ASSERT_GT(ones.numel(), 1000);
  ASSERT_GT(zeros.numel(), 1000);
  EXPECT_LT(ks_distance(ones, [&](double x) { return x <= 0 ? 0.0 : (logistic(x) - f0) / (1 - f0); }),
            1.95 / std::sqrt(double(ones.numel())));
  EXPECT_LT(ks_distance(zeros, [&](double x) { return x > 0 ? 1.0 : logistic(x) / f0; }),
            1.95 / std::sqrt(double(zeros.numel())));
  // The unconditional z is not of that law (the test can fail): z given b = 1 against all z.
  EXPECT_GT(ks_distance(z.reshape(-1).clone(), [&](double x) { return x <= 0 ? 0.0 : (logistic(x) - f0) / (1 - f0); }),
            0.1);
}

TEST(DiscreteEstimatorsTest, ConditionalSampleHasTheLawOfZGivenBForCategoricals) {
  // For each chosen class k, z̃ (built from b and fresh v) against z of the draws that chose k,
  // coordinate by coordinate: two-sample KS at α = 0.001.
  const int64_t n = 60000;
  auto gen = joule::make_generator(6);
  const auto logits = at::tensor({0.4, -0.3, 1.1}, at::kDouble).unsqueeze(0).expand({n, 3}).contiguous();
  const auto noise = est::draw_relaxation_noise(logits, gen);
  const auto z = est::relaxed_sample(DiscreteFamily::kCategorical, logits, noise.u);
  const auto b = est::hard_sample(DiscreteFamily::kCategorical, z);
  const auto zt = est::conditional_relaxed_sample(DiscreteFamily::kCategorical, logits, b, noise.v);
  // z of an independent second draw, so the two samples are independent.
  const auto noise2 = est::draw_relaxation_noise(logits, gen);
  const auto z2 = est::relaxed_sample(DiscreteFamily::kCategorical, logits, noise2.u);
  const auto k2 = z2.argmax(1);
  const auto k = b.argmax(1);
  for (int64_t cls = 0; cls < 3; ++cls) {
    for (int64_t j = 0; j < 3; ++j) {
      const auto x = zt.select(1, j).masked_select(k == cls);
      const auto y = z2.select(1, j).masked_select(k2 == cls);
      const double n1 = x.numel(), n2 = y.numel();
      EXPECT_LT(ks_two_sample(x, y), 1.95 * std::sqrt((n1 + n2) / (n1 * n2))) << "class " << cls << " coord " << j;
    }
  }
}

TEST(DiscreteEstimatorsTest, CommonRandomNumbersReproduceZ) {
  auto gen = joule::make_generator(7);
  for (auto family : {DiscreteFamily::kBernoulli, DiscreteFamily::kCategorical}) {
    const auto logits = at::randn({500, 2, 4}, gen, at::kDouble);
    const auto noise = est::draw_relaxation_noise(logits, gen);
    const auto z = est::relaxed_sample(family, logits, noise.u);
    const auto b = est::hard_sample(family, z);
    const auto v = est::common_random_v(family, logits, z, b);
    const auto zt = est::conditional_relaxed_sample(family, logits, b, v);
    EXPECT_TRUE(at::allclose(zt, z, 1e-6, 1e-8)) << est::to_string(family) << ": " << (zt - z).abs().max();
  }
}

TEST(DiscreteEstimatorsTest, ExtremeLogitsGiveFiniteEstimates) {
  // Found in a REBAR VAE run: at a logit of 17.05 σ is 1 in float32, the common-random-number v of
  // the branch b = 0 was u / 0 = ∞, and the blend 0·∞ turned one sample's whole estimate to NaN.
  auto gen = joule::make_generator(17);
  for (auto family : {DiscreteFamily::kBernoulli, DiscreteFamily::kCategorical}) {
    auto logits = at::randn({256, 2, 4}, gen) * 60;  // many |l| > 17, some > 88 (σ exactly 0 or 1)
    logits[0][0][0] = 17.0474;
    auto f = [](const at::Tensor& b) { return b.reshape({b.size(0), -1}).pow(2).sum(1) + b.reshape({b.size(0), -1}).select(1, 0); };
    for (bool crn : {false, true}) {
      for (auto kind : {SurrogateKind::kRebar, SurrogateKind::kRebarNeural}) {
        auto cv = ControlVariate(ControlVariateOptions(8).family(family).kind(kind).temperature(0.12));
        DiscreteGradientEstimator estimator(
            DiscreteEstimatorOptions()
                .kind(kind == SurrogateKind::kRebar ? EstimatorKind::kRebar : EstimatorKind::kRelax)
                .family(family)
                .common_random_numbers(crn),
            cv);
        const auto g = estimator.estimate(logits, f, gen);
        EXPECT_TRUE(g.grad_logits.isfinite().all().item<bool>()) << est::to_string(family) << " crn " << crn;
        const auto dphi = torch::autograd::grad({g.variance_loss}, cv->parameters());
        for (const auto& d : dphi) EXPECT_TRUE(d.isfinite().all().item<bool>()) << est::to_string(family) << " crn " << crn;
      }
    }
    const auto noise = est::draw_relaxation_noise(logits, gen);
    const auto z = est::relaxed_sample(family, logits, noise.u);
    const auto b = est::hard_sample(family, z);
    const auto v = est::common_random_v(family, logits, z, b);
    EXPECT_TRUE(v.isfinite().all().item<bool>());
    EXPECT_TRUE(est::conditional_relaxed_sample(family, logits, b, v).isfinite().all().item<bool>());
  }
}

TEST(DiscreteEstimatorsTest, VarianceLossGradientMatchesFiniteDifferences) {
  auto gen = joule::make_generator(8);
  const auto logits = at::randn({16, 3}, gen, at::kDouble);
  const auto noise = est::draw_relaxation_noise(logits, gen);
  for (auto kind : {SurrogateKind::kRebar, SurrogateKind::kRebarNeural}) {
    auto cv = ControlVariate(ControlVariateOptions(3).kind(kind).width(5).eta(0.7).temperature(0.6));
    cv->to(at::kDouble);
    cv->reset_parameters(joule::make_generator(9));
    DiscreteGradientEstimator estimator(
        DiscreteEstimatorOptions().kind(kind == SurrogateKind::kRebar ? EstimatorKind::kRebar : EstimatorKind::kRelax),
        cv);
    const auto params = cv->parameters();
    auto loss = estimator.estimate(logits, f_bernoulli, noise).variance_loss;
    const auto grads = torch::autograd::grad({loss}, params);
    const double h = 1e-6;
    int checked = 0;
    for (size_t p = 0; p < params.size(); ++p) {
      auto flat = params[p].detach().view(-1);
      for (int64_t i = 0; i < std::min<int64_t>(flat.numel(), 3); ++i) {
        const double old = flat[i].item<double>();
        flat[i] = old + h;
        const double up = estimator.estimate(logits, f_bernoulli, noise).variance_loss.item<double>();
        flat[i] = old - h;
        const double down = estimator.estimate(logits, f_bernoulli, noise).variance_loss.item<double>();
        flat[i] = old;
        const double fd = (up - down) / (2 * h);
        const double ad = grads[p].reshape(-1)[i].item<double>();
        EXPECT_NEAR(ad, fd, 1e-6 * std::max(1.0, std::abs(fd))) << est::to_string(kind) << " parameter " << p << "[" << i << "]";
        ++checked;
      }
    }
    EXPECT_GE(checked, kind == SurrogateKind::kRebar ? 2 : 8);
    // η and λ both move the variance (the loss is not flat in them).
    EXPECT_GT(grads[0].abs().item<double>(), 1e-8);
  }
}

TEST(DiscreteEstimatorsTest, StraightThroughIsTheClosedFormForLinearF) {
  // f(b) = w·b: ĝ = w ⊙ σ'(z/λ)/λ · ∂z/∂α, with ∂z/∂α = 1 (Bernoulli).
  auto gen = joule::make_generator(10);
  const auto logits = at::randn({32, 4}, gen, at::kDouble);
  const auto w = at::tensor({1.0, -2.0, 0.5, 3.0}, at::kDouble);
  auto f = [&](const at::Tensor& b) { return (b * w).sum(1); };
  const auto noise = est::draw_relaxation_noise(logits, gen);
  const double lambda = 0.7;
  DiscreteGradientEstimator st(
      DiscreteEstimatorOptions().kind(EstimatorKind::kGumbelStraightThrough).straight_through_temperature(lambda));
  const auto g = st.estimate(logits, f, noise).grad_logits;
  const auto z = est::relaxed_sample(DiscreteFamily::kBernoulli, logits, noise.u);
  const auto s = at::sigmoid(z / lambda);
  const auto expected = w * s * (1 - s) / lambda;
  EXPECT_TRUE(at::allclose(g, expected, 1e-12, 1e-12));
}

TEST(DiscreteEstimatorsTest, LaxIsUnbiasedForGaussianChoices) {
  // f(x) = Σ sin x over N(μ, σ²): E f = Σ sin μ · e^{−σ²/2}.
  const int64_t batch = 60000;
  const auto mu = at::tensor({0.3, -1.1}, at::kDouble);
  const auto log_sd = at::tensor({-0.5, 0.2}, at::kDouble);
  auto f = [](const at::Tensor& x) { return x.sin().sum(1); };
  auto cv = ControlVariate(ControlVariateOptions(2).kind(SurrogateKind::kNeural).width(8));
  cv->to(at::kDouble);
  cv->reset_parameters(joule::make_generator(13));
  auto gen = joule::make_generator(14);
  const auto g = est::lax_gaussian(mu.expand({batch, 2}), log_sd, f, cv, gen);
  const auto sd = log_sd.exp();
  const auto damp = (-0.5 * sd * sd).exp();
  const auto exact_mu = mu.cos() * damp;
  const auto exact_ls = -sd * sd * mu.sin() * damp;
  auto check = [&](const at::Tensor& est_g, const at::Tensor& exact) {
    const auto m = est_g.detach().mean(0);
    const auto se = est_g.detach().std(0) / std::sqrt(double(batch));
    EXPECT_LT(((m - exact) / se).abs().max().item<double>(), 4.0) << m << exact;
  };
  check(g.grad_mean, exact_mu);
  check(g.grad_log_std, exact_ls);
  EXPECT_TRUE(g.variance_loss.requires_grad());
}

TEST(DiscreteEstimatorsTest, RunningVarianceTracksAKnownVariance) {
  auto gen = joule::make_generator(15);
  est::RunningGradientVariance meter(0.999);
  EXPECT_TRUE(std::isinf(meter.mean_log_variance()));
  const auto draws = at::randn({20000, 3}, gen, at::kDouble) * at::tensor({1.0, 2.0, 0.5}, at::kDouble);
  for (int64_t i = 0; i < draws.size(0); ++i) meter.update(draws[i]);
  const auto var = meter.variance();
  EXPECT_NEAR(var[0].item<double>(), 1.0, 0.1);
  EXPECT_NEAR(var[1].item<double>(), 4.0, 0.4);
  EXPECT_NEAR(var[2].item<double>(), 0.25, 0.025);
  EXPECT_NEAR(meter.mean_log_variance(), (std::log(1.0) + std::log(4.0) + std::log(0.25)) / 3, 0.1);
}

TEST(DiscreteEstimatorsTest, BadInputGetsAClearError) {
  auto gen = joule::make_generator(16);
  const auto logits = at::zeros({4, 3});
  auto bad_f = [](const at::Tensor& b) { return b.sum(); };  // a scalar, not [B]
  DiscreteGradientEstimator reinforce(DiscreteEstimatorOptions().kind(EstimatorKind::kReinforce));
  EXPECT_THROW(reinforce.estimate(logits, bad_f, gen), c10::Error);
  EXPECT_THROW(reinforce.estimate(at::zeros({3}), f_bernoulli, gen), c10::Error);
  EXPECT_THROW(DiscreteGradientEstimator(DiscreteEstimatorOptions().kind(EstimatorKind::kRelax)), c10::Error);
  auto neural = ControlVariate(ControlVariateOptions(3).kind(SurrogateKind::kNeural));
  EXPECT_THROW(DiscreteGradientEstimator(DiscreteEstimatorOptions().kind(EstimatorKind::kRebar), neural), c10::Error);
  EXPECT_THROW(est::parse_estimator_kind("reinfroce"), c10::Error);
}

}  // namespace
