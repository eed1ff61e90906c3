#include "joule/eval/gof.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>
#include <torch/optim/adam.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "joule/models/critic.h"
#include "joule/objectives/lsd.h"

namespace joule::eval {

ScoreFunction model_score(EnergyModel& model) {
  return [&model](const at::Tensor& x) { return score(model, x, /*create_graph=*/false); };
}

double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

double normal_quantile(double p) {
  TORCH_CHECK(p > 0 && p < 1, "normal_quantile: p must be in (0, 1), got ", p);
  // Acklam's rational approximation (relative error < 1.2e-9) ...
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double lo = 0.02425, hi = 1 - lo;
  double x;
  if (p < lo) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= hi) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // ... refined by one Halley step on Φ(x) − p, which brings it to double precision.
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double median_pairwise_distance(const at::Tensor& x_in, int64_t max_points) {
  TORCH_CHECK(x_in.dim() >= 2 && x_in.size(0) >= 2, "median_pairwise_distance: need at least 2 rows, got shape ",
              x_in.sizes());
  auto x = x_in.detach().reshape({x_in.size(0), -1}).to(at::kDouble).cpu();
  const int64_t n = x.size(0);
  if (n > max_points) {
    auto idx = at::linspace(0, static_cast<double>(n - 1), max_points, at::kDouble).round().to(at::kLong);
    x = x.index_select(0, idx);
  }
  const int64_t m = x.size(0);
  auto dist = at::cdist(x, x);
  auto iu = at::triu_indices(m, m, 1, at::TensorOptions().dtype(at::kLong));
  auto v = std::get<0>(dist.index({iu[0], iu[1]}).sort());
  const int64_t k = v.size(0);
  const double med = k % 2 ? v[k / 2].item<double>() : 0.5 * (v[k / 2 - 1].item<double>() + v[k / 2].item<double>());
  return med;
}

at::Tensor ksd_stein_kernel(const at::Tensor& x_in, const at::Tensor& sx_in, double h) {
  TORCH_CHECK(x_in.dim() >= 2 && x_in.sizes() == sx_in.sizes(),
              "ksd_stein_kernel: x and its scores must be [n, ...] of the same shape, got ", x_in.sizes(), " and ",
              sx_in.sizes());
  TORCH_CHECK(h > 0 && std::isfinite(h), "ksd_stein_kernel: bandwidth must be > 0, got ", h);
  torch::NoGradGuard no_grad;
  const int64_t n = x_in.size(0);
  auto x = x_in.detach().reshape({n, -1}).to(at::kDouble);
  auto s = sx_in.detach().reshape({n, -1}).to(at::kDouble);
  const double d = static_cast<double>(x.size(1));
  const double h2 = h * h;
  auto sq = x.pow(2).sum(1);
  auto r2 = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * x.mm(x.t())).clamp_min_(0.0);
  auto k = (r2 / (-2.0 * h2)).exp_();
  // s(xᵢ)ᵀ∇_{xⱼ}k = sᵢᵀ(xᵢ − xⱼ)k/h²; its mirror s(xⱼ)ᵀ∇_{xᵢ}k is the transpose.
  auto sx = s.mm(x.t());                   // [i, j] = sᵢ·xⱼ
  auto m1 = (sx.diagonal().unsqueeze(1) - sx) / h2;
  auto u = s.mm(s.t()) + m1 + m1.t() + (d / h2) - r2 / (h2 * h2);
  return u.mul_(k);
}

double ksd_u_statistic(const at::Tensor& x, const at::Tensor& sx, double bandwidth) {
  auto u = ksd_stein_kernel(x, sx, bandwidth);
  const double n = static_cast<double>(u.size(0));
  TORCH_CHECK(n >= 2, "ksd_u_statistic: need at least 2 samples");
  return (u.sum() - u.trace()).item<double>() / (n * (n - 1));
}

GofResult ksd_test(const ScoreFunction& score, const at::Tensor& x, const KsdTestOptions& options, at::Generator gen) {
  TORCH_CHECK(x.dim() >= 2 && x.size(0) >= 4, "ksd_test: need a sample [n >= 4, ...], got shape ", x.sizes());
  TORCH_CHECK(options.bootstrap() >= 1, "ksd_test: bootstrap must be >= 1, got ", options.bootstrap());
  TORCH_CHECK(options.alpha() > 0 && options.alpha() < 1, "ksd_test: alpha must be in (0, 1), got ", options.alpha());
  TORCH_CHECK(options.bandwidth() >= 0, "ksd_test: bandwidth must be >= 0 (0 = median heuristic), got ",
              options.bandwidth());
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0);
  const double h = options.bandwidth() > 0 ? options.bandwidth() : median_pairwise_distance(x);
  TORCH_CHECK(h > 0, "ksd_test: the median pairwise distance is 0 (all points equal?); set a bandwidth");
  auto sx = score(x);
  auto u = ksd_stein_kernel(x, sx, h);
  u.fill_diagonal_(0.0);
  const double stat = u.sum().item<double>() / static_cast<double>(n - 1);  // n · U-statistic
  TORCH_CHECK(std::isfinite(stat), "the KSD test failed: the Stein kernel sum is not finite (the model's scores or the samples "
              "overflow: |score| up to ", sx.abs().max().item<double>(), "); no p-value can be given");
  // Wild bootstrap of the degenerate U-statistic: wᵀHw/(n−1), w Rademacher.
  int64_t exceed = 0;
  const int64_t chunk = 256;
  for (int64_t m0 = 0; m0 < options.bootstrap(); m0 += chunk) {
    const int64_t m = std::min(chunk, options.bootstrap() - m0);
    auto w = at::empty({m, n}, u.options()).bernoulli_(0.5, gen).mul_(2.0).sub_(1.0);
    auto draws = (w.mm(u) * w).sum(1) / static_cast<double>(n - 1);
    exceed += (draws >= stat).sum().item<int64_t>();
  }
  GofResult r;
  r.test = "ksd";
  r.statistic = stat;
  r.alpha = options.alpha();
  r.p_value = (1.0 + static_cast<double>(exceed)) / (1.0 + static_cast<double>(options.bootstrap()));
  r.reject = r.p_value < options.alpha();
  r.details = {{"ksd2", stat / static_cast<double>(n)}, {"bandwidth", h}, {"n", static_cast<double>(n)},
               {"bootstrap", static_cast<double>(options.bootstrap())}};
  return r;
}

GofResult lsd_test(const ScoreFunction& score, const at::Tensor& x_in, const LsdTestOptions& o, at::Generator gen) {
  TORCH_CHECK(x_in.dim() == 2, "lsd_test: expected a sample [n, D], got shape ", x_in.sizes());
  TORCH_CHECK(o.train_fraction() > 0 && o.val_fraction() > 0 && o.train_fraction() + o.val_fraction() < 1,
              "lsd_test: need train_fraction > 0, val_fraction > 0 and their sum < 1, got ", o.train_fraction(), " and ",
              o.val_fraction());
  TORCH_CHECK(o.iterations() >= 1 && o.batch_size() >= 2 && o.val_every() >= 1 && o.l2() >= 0 && o.lr() > 0,
              "lsd_test: need iterations >= 1, batch_size >= 2, val_every >= 1, l2 >= 0, lr > 0");
  TORCH_CHECK(o.alpha() > 0 && o.alpha() < 1, "lsd_test: alpha must be in (0, 1), got ", o.alpha());
  const int64_t n = x_in.size(0), d = x_in.size(1);
  const int64_t n_train = static_cast<int64_t>(std::llround(o.train_fraction() * n));
  const int64_t n_val = static_cast<int64_t>(std::llround(o.val_fraction() * n));
  const int64_t n_test = n - n_train - n_val;
  TORCH_CHECK(n_train >= 2 && n_val >= 2 && n_test >= 2, "lsd_test: ", n,
              " samples leave too few for the train/validation/test splits (", n_train, "/", n_val, "/", n_test, ")");

  auto x = x_in.detach();
  at::Tensor sq;
  {
    torch::NoGradGuard no_grad;
    sq = score(x).detach();
  }
  TORCH_CHECK(sq.sizes() == x.sizes(), "lsd_test: the score function returned shape ", sq.sizes(), " for x of shape ",
              x.sizes());
  TORCH_CHECK(torch::isfinite(sq).all().item<bool>(), "the LSD test cannot run: the model's score is NaN or infinite at ",
              (~torch::isfinite(sq).all(1)).sum().item<int64_t>(), " of the ", n, " samples");
  auto x_train = x.slice(0, 0, n_train), s_train = sq.slice(0, 0, n_train);
  auto x_val = x.slice(0, n_train, n_train + n_val), s_val = sq.slice(0, n_train, n_train + n_val);
  auto x_test = x.slice(0, n_train + n_val), s_test = sq.slice(0, n_train + n_val);

  torch::AutoGradMode grad_mode(true);
  auto critic = SteinCritic(SteinCriticOptions(d).width(o.width()).depth(o.depth()).dropout(o.dropout()));
  critic->to(x.device(), x.scalar_type());
  critic->reset_parameters(gen);
  torch::optim::Adam optimizer(critic->parameters(), torch::optim::AdamOptions(o.lr()).weight_decay(o.weight_decay()));
  const auto trace = SteinTraceOptions().kind(TraceKind::kHutchinson).probe(o.probe()).probes(o.probes());
  const int64_t batch = std::min(o.batch_size(), n_train);

  // Exact-trace statistics on a held-out split, critic in eval mode.
  auto held_out = [&](const at::Tensor& xs, const at::Tensor& ss) {
    at::Tensor t;
    if (o.fused() && critic->has_fused_step()) {
      t = critic->stein_statistic_exact(xs, ss);  // forward mode, no graph: ~10x faster
    } else {
      EvalModeGuard eval(*critic);
      auto f = [&](const at::Tensor& z) { return critic->forward(z); };
      auto tr = jacobian_trace_exact_batched(f, xs);
      torch::NoGradGuard no_grad;
      t = (ss * critic->forward(xs)).sum(1) + tr;
    }
    return std::make_pair(t.mean().item<double>(), t.std().item<double>());
  };

  double best_val = -std::numeric_limits<double>::infinity();
  double best_mean = 0, best_std = 1;
  int64_t best_iter = -1;
  using Clock = std::chrono::steady_clock;
  const auto t_start = Clock::now();
  double eval_seconds = 0;
  critic->train();
  for (int64_t it = 0; it < o.iterations(); ++it) {
    at::Tensor xb = x_train, sb = s_train;
    if (batch < n_train) {
      auto idx = at::randperm(n_train, gen, at::TensorOptions().dtype(at::kLong).device(x.device())).slice(0, 0, batch);
      xb = x_train.index_select(0, idx);
      sb = s_train.index_select(0, idx);
    }
    optimizer.zero_grad();
    if (o.fused() && critic->has_fused_step()) {
      critic->stein_loss_backward(xb, sb, o.l2(), o.maximize_power(), o.probe() == ProbeKind::kRademacher, o.probes(),
                                  gen);
    } else {
      xb = xb.detach().requires_grad_(true);
      auto fx = critic->forward(xb, gen);
      auto stats = stein_statistics(sb, fx, xb, trace, gen);
      lsd_critic_loss(stats, fx, o.l2(), o.maximize_power()).loss.backward();
    }
    optimizer.step();
    if (it % o.val_every() == 0 || (o.validate_last() && it + 1 == o.iterations())) {
      const auto t_eval = Clock::now();
      auto v = held_out(x_val, s_val);
      const double metric = v.first / (v.second + 1e-6);
      if (metric > best_val) {
        auto t = held_out(x_test, s_test);
        best_val = metric;
        best_mean = t.first;
        best_std = t.second;
        best_iter = it;
      }
      eval_seconds += std::chrono::duration<double>(Clock::now() - t_eval).count();
    }
  }
  const double total_seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  // No finite held-out statistic means the test never ran: accepting H0 here would be a silent
  // false "no evidence against the model".
  TORCH_CHECK(best_iter >= 0 && std::isfinite(best_mean) && std::isfinite(best_std),
              "the LSD test failed: the critic's held-out Stein statistic was never finite (the model's scores or the "
              "samples overflow: |x| up to ", x.abs().max().item<double>(), ", |score| up to ", sq.abs().max().item<double>(),
              "); standardise the samples or check the model, as no p-value can be given");
  GofResult r;
  r.test = "lsd";
  r.alpha = o.alpha();
  r.statistic = std::sqrt(static_cast<double>(n_test)) * best_mean / (best_std + 1e-6);
  r.p_value = normal_sf(r.statistic);
  r.reject = r.p_value < o.alpha();
  r.details = {{"mean", best_mean},
               {"std", best_std},
               {"val_power", best_val},
               {"selected_iteration", static_cast<double>(best_iter)},
               {"n_train", static_cast<double>(n_train)},
               {"n_val", static_cast<double>(n_val)},
               {"n_test", static_cast<double>(n_test)},
               {"train_seconds", total_seconds - eval_seconds},
               {"eval_seconds", eval_seconds}};
  return r;
}

}  // namespace joule::eval
