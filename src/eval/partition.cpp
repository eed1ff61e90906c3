#include "joule/eval/partition.h"

#include <c10/util/Exception.h>
#include <torch/nn/functional/activation.h>

#include <algorithm>
#include <cmath>

namespace joule::eval {
namespace {

namespace F = torch::nn::functional;
constexpr double kLog2Pi = 1.83787706640934548356;

// All 0/1 vectors with index in [start, start + m) as rows [m, units] (bit j of the index).
torch::Tensor binary_states(int64_t start, int64_t m, int64_t units) {
  auto idx = torch::arange(start, start + m, torch::kLong).unsqueeze(1);
  auto bits = torch::arange(units, torch::kLong).unsqueeze(0);
  return idx.bitwise_right_shift(bits).bitwise_and(1).to(torch::kFloat64);
}

double log_sum_exp(const std::vector<double>& v) {
  const double m = *std::max_element(v.begin(), v.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

}  // namespace

int64_t exact_enumeration_units(const RbmImpl& rbm) {
  return rbm.gaussian() ? rbm.num_hidden() : std::min(rbm.num_visible(), rbm.num_hidden());
}

double log_partition_exact(RbmImpl& rbm, int64_t max_units) {
  const int64_t units = exact_enumeration_units(rbm);
  TORCH_CHECK(units <= max_units && units <= 40, "log_partition_exact: enumerating ", units, " units (2^", units,
              " states) is beyond max_units = ", max_units,
              "; use log_partition_ais() for larger RBMs (exact needs the smaller layer <= ~25 units)");
  torch::NoGradGuard no_grad;
  auto w = rbm.weight.detach().to(torch::kCPU, torch::kFloat64);
  auto b = rbm.visible_bias.detach().to(torch::kCPU, torch::kFloat64);
  auto c = rbm.hidden_bias.detach().to(torch::kCPU, torch::kFloat64);
  const bool over_hidden = rbm.gaussian() || rbm.num_hidden() <= rbm.num_visible();
  const int64_t other = rbm.gaussian() ? rbm.num_hidden() : over_hidden ? rbm.num_visible() : rbm.num_hidden();
  // Chunks of at most 2^22 doubles per intermediate matrix.
  int64_t chunk = 1;
  while (chunk * 2 * other <= (int64_t(1) << 22) && chunk < (int64_t(1) << units)) chunk *= 2;
  const int64_t total = int64_t(1) << units;

  double constant = 0;
  torch::Tensor quad, lin;
  if (rbm.gaussian()) {
    auto lv = rbm.log_var.detach().to(torch::kCPU, torch::kFloat64);
    auto prec = torch::exp(-lv);
    constant = 0.5 * (lv.sum().item<double>() + kLog2Pi * double(rbm.num_visible()));
    // Σ_i (b_i m_i + m_i²/2)/σ_i² with m = Wᵀh is (W b/σ²)ᵀh + ½ hᵀ(W Σ⁻¹ Wᵀ)h: O(H²) per state.
    quad = torch::mm(w * prec, w.t());
    lin = c + torch::mv(w, b * prec);
  }
  std::vector<double> parts;
  for (int64_t start = 0; start < total; start += chunk) {
    const int64_t m = std::min(chunk, total - start);
    auto s = binary_states(start, m, units);
    torch::Tensor val;
    if (rbm.gaussian()) {
      // ∫ exp(−(v − b)²/(2σ²) + v m/σ²) dv = √(2πσ²) exp((2bm + m²)/(2σ²)), m = (Wᵀh)_i.
      val = torch::mv(s, lin) + 0.5 * (torch::mm(s, quad) * s).sum(1);
    } else if (over_hidden) {
      val = torch::mv(s, c) + F::softplus(torch::addmm(b, s, w)).sum(1);
    } else {
      val = torch::mv(s, b) + F::softplus(torch::addmm(c, s, w.t())).sum(1);
    }
    parts.push_back(torch::logsumexp(val, 0).item<double>());
  }
  return log_sum_exp(parts) + constant;
}

torch::Tensor log_likelihood(RbmImpl& rbm, const torch::Tensor& v, double log_z) {
  torch::NoGradGuard no_grad;
  // F(v) in float64 (large inputs in chunks).
  const int64_t n = v.size(0), chunk = 4096;
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < n; s += chunk) {
    auto x = v.slice(0, s, std::min(n, s + chunk));
    out.push_back(TemperedRbm(rbm, RbmBase::of_model(rbm))
                      .free_energy(x, torch::ones({x.size(0)}, torch::kFloat64).to(rbm.weight.device())));
  }
  return -torch::cat(out).cpu() - log_z;
}

AisSchedule parse_ais_schedule(const std::string& name) {
  if (name == "linear") return AisSchedule::kLinear;
  if (name == "sm" || name == "salakhutdinov-murray") return AisSchedule::kSalakhutdinovMurray;
  TORCH_CHECK(false, "unknown AIS schedule '", name, "' (allowed: linear, sm)");
}

std::vector<double> ais_betas(AisSchedule schedule, int64_t steps) {
  TORCH_CHECK(steps >= 1, "AIS: steps must be >= 1, got ", steps);
  std::vector<double> b;
  b.reserve(size_t(steps) + 1);
  if (schedule == AisSchedule::kLinear || steps < 10) {
    for (int64_t k = 0; k <= steps; ++k) b.push_back(double(k) / double(steps));
  } else {
    // S&M's 500 : 4000 : 10000 split of [0, 0.5], [0.5, 0.9], [0.9, 1].
    const int64_t n1 = std::max<int64_t>(1, steps * 500 / 14500);
    const int64_t n2 = std::max<int64_t>(1, steps * 4000 / 14500);
    const int64_t n3 = steps - n1 - n2;
    for (int64_t k = 0; k < n1; ++k) b.push_back(0.5 * double(k) / double(n1));
    for (int64_t k = 0; k < n2; ++k) b.push_back(0.5 + 0.4 * double(k) / double(n2));
    for (int64_t k = 0; k <= n3; ++k) b.push_back(0.9 + 0.1 * double(k) / double(n3));
  }
  b.back() = 1.0;
  return b;
}

void AisOptions::validate() const {
  TORCH_CHECK(runs_ >= 2, "AIS: runs must be >= 2 (the error estimate needs two), got ", runs_);
  TORCH_CHECK(steps_ >= 1, "AIS: steps must be >= 1, got ", steps_);
  TORCH_CHECK(reverse_burn_in_ >= 0, "AIS: reverse_burn_in must be >= 0, got ", reverse_burn_in_);
  if (!betas_.empty()) {
    TORCH_CHECK(betas_.size() >= 2 && betas_.front() == 0.0 && betas_.back() == 1.0,
                "AIS: an explicit schedule must start at 0 and end at 1");
    for (size_t k = 1; k < betas_.size(); ++k) {
      TORCH_CHECK(betas_[k] > betas_[k - 1], "AIS: the schedule must increase strictly, got ", betas_[k], " after ",
                  betas_[k - 1]);
    }
  }
}

std::pair<double, double> log_mean_exp_with_se(const torch::Tensor& log_w) {
  auto lw = log_w.to(torch::kCPU, torch::kFloat64);
  const double m = lw.max().item<double>();
  auto w = (lw - m).exp();
  const double mean = w.mean().item<double>();
  const double sd = lw.numel() > 1 ? w.std().item<double>() : std::nan("");
  return {m + std::log(mean), sd / (mean * std::sqrt(double(lw.numel())))};
}

namespace {

double ess_of(const torch::Tensor& log_w) {
  auto w = (log_w - log_w.max()).exp();
  return (w.sum().pow(2) / w.pow(2).sum()).item<double>();
}

// One annealing pass over `betas` (in the given order) from states x [M, V]; returns the
// log-weights Σ_k log p*_k(x_{k−1}) − log p*_{k−1}(x_{k−1}) and leaves the final states in x.
torch::Tensor anneal(const TemperedRbm& t, const std::vector<double>& betas, torch::Tensor& x, at::Generator& gen) {
  auto& rbm = t.rbm();
  const auto& base = t.base();
  const int64_t m = x.size(0);
  auto log_w = torch::zeros({m}, x.options().dtype(torch::kFloat64));
  auto w = rbm.weight, c = rbm.hidden_bias, b = rbm.visible_bias;
  torch::Tensor pa, pb;
  if (rbm.gaussian()) {
    pa = torch::exp(-base.log_var);
    pb = torch::exp(-rbm.log_var);
  }
  for (size_t k = 1; k < betas.size(); ++k) {
    const double b0 = betas[k - 1], b1 = betas[k];
    // Visible part of F_β: E_A + β (E_B,vis − E_A); only the difference matters here.
    torch::Tensor vis_diff;
    auto xd = x.to(torch::kFloat64);
    if (rbm.gaussian()) {
      vis_diff = 0.5 * ((x - b).pow(2) * pb).sum(1).to(torch::kFloat64) - 0.5 * ((x - base.bias).pow(2) * pa).sum(1).to(torch::kFloat64);
    } else {
      vis_diff = torch::mv(xd, (base.bias - b).to(torch::kFloat64));
    }
    auto logits = torch::addmm(c, rbm.scaled_visible(x), w.t());
    auto ld = logits.to(torch::kFloat64);
    // log p*_k(x) − log p*_{k−1}(x) = −(β_k − β_{k−1}) vis_diff + Σ softplus(β_k l) − Σ softplus(β_{k−1} l)
    log_w.add_(vis_diff * (b0 - b1) + F::softplus(ld * b1).sum(1) - F::softplus(ld * b0).sum(1));
    if (k + 1 == betas.size()) break;  // no transition after the last weight
    auto h = sample_bernoulli(torch::sigmoid(logits.mul_(b1)), gen);
    auto mean = torch::addmm(b, h, w);  // b + Wᵀh
    if (!rbm.gaussian()) {
      x = sample_bernoulli(torch::sigmoid(mean.mul_(b1).add_(base.bias, 1.0 - b1)), gen);
    } else {
      auto prec = pa * (1.0 - b1) + pb * b1;
      auto mu = (base.bias * pa * (1.0 - b1) + mean * pb * b1) / prec;
      x = mu.addcmul_(torch::empty_like(mu).normal_(0.0, 1.0, gen), prec.rsqrt());
    }
  }
  return log_w;
}

}  // namespace

AisResult log_partition_ais(RbmImpl& rbm, const AisOptions& options, at::Generator& gen) {
  options.validate();
  torch::NoGradGuard no_grad;
  RbmBase base = options.base().bias.defined() ? options.base() : RbmBase::of_model(rbm);
  TemperedRbm t(rbm, base);
  auto betas = options.betas().empty() ? ais_betas(options.schedule(), options.steps()) : options.betas();

  AisResult r;
  r.log_z_base = t.log_z_base();
  auto x = t.sample_base(options.runs(), gen);
  r.log_weights = anneal(t, betas, x, gen).cpu();
  r.samples = x;
  auto fwd = log_mean_exp_with_se(r.log_weights);
  r.log_z = r.log_z_base + fwd.first;
  r.log_z_se = fwd.second;
  {
    auto lw = r.log_weights;
    const double m = lw.max().item<double>();
    auto w = (lw - m).exp();
    const double mean = w.mean().item<double>();
    const double sd_mean = w.std().item<double>() / std::sqrt(double(lw.numel()));
    r.log_z_upper = r.log_z_base + m + std::log(mean + 3 * sd_mean);
    r.log_z_lower = mean > 3 * sd_mean ? r.log_z_base + m + std::log(mean - 3 * sd_mean)
                                       : -std::numeric_limits<double>::infinity();
  }
  r.ess = ess_of(r.log_weights);

  if (options.reverse()) {
    torch::Tensor x_rev;
    if (options.reverse_init().defined()) {
      x_rev = rbm.flat(options.reverse_init()).clone();
    } else {
      auto p = torch::softmax(r.log_weights, 0).to(r.samples.device());
      x_rev = r.samples.index_select(0, torch::multinomial(p, options.runs(), /*replacement=*/true, gen));
    }
    TORCH_CHECK(x_rev.size(0) >= 2, "AIS: reverse_init needs at least 2 states");
    if (options.reverse_burn_in() > 0) x_rev = rbm.gibbs(x_rev, options.reverse_burn_in(), gen);
    std::vector<double> rev(betas.rbegin(), betas.rend());
    r.reverse_log_weights = anneal(t, rev, x_rev, gen).cpu();
    auto bwd = log_mean_exp_with_se(r.reverse_log_weights);
    r.reverse_log_z = r.log_z_base - bwd.first;
    r.reverse_log_z_se = bwd.second;
    r.reverse_ess = ess_of(r.reverse_log_weights);
  }
  return r;
}

}  // namespace joule::eval
