#include "joule/eval/linear_probe.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

namespace joule::eval {
namespace {

// x [N, D], floating and finite, as contiguous float64 on its own device.
at::Tensor checked_features(const at::Tensor& x, const char* what, const char* name) {
  TORCH_CHECK(x.defined(), what, ": ", name, " is undefined");
  TORCH_CHECK(x.dim() == 2 && x.size(0) > 0 && x.size(1) > 0, what, ": ", name, " must be [N, D] with N, D > 0, got ",
              x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), what, ": ", name, " must be floating, got ", x.scalar_type());
  auto d = x.detach().to(at::kDouble).contiguous();
  TORCH_CHECK(at::isfinite(d).all().item<bool>(), what, ": ", name, " contains NaN or inf");
  return d;
}

// Integral labels [n] as int64 on `device`.
at::Tensor checked_labels(const at::Tensor& y, int64_t n, at::Device device, const char* what, const char* name) {
  TORCH_CHECK(y.defined(), what, ": ", name, " is undefined");
  TORCH_CHECK(y.dim() == 1, what, ": ", name, " must be 1-D [N], got ", y.sizes());
  TORCH_CHECK(y.size(0) == n, what, ": ", name, " has ", y.size(0), " labels but the features have ", n, " rows");
  TORCH_CHECK(at::isIntegralType(y.scalar_type(), /*includeBool=*/false), what, ": ", name,
              " must hold integer class ids, got ", y.scalar_type());
  return y.detach().to(device, at::kLong).contiguous();
}

// Regression targets [N, P] (a [N] vector as [N, 1]), floating and finite, float64 on `device`.
at::Tensor checked_targets(const at::Tensor& y, int64_t n, at::Device device, const char* what, const char* name) {
  TORCH_CHECK(y.defined(), what, ": ", name, " is undefined");
  TORCH_CHECK(y.dim() == 1 || y.dim() == 2, what, ": ", name, " must be [N, P] or [N], got ", y.sizes());
  TORCH_CHECK(y.size(0) == n, what, ": ", name, " has ", y.size(0), " rows but the features have ", n);
  TORCH_CHECK(y.dim() == 1 || y.size(1) > 0, what, ": ", name, " has no columns");
  TORCH_CHECK(at::isFloatingType(y.scalar_type()), what, ": ", name, " must be floating, got ", y.scalar_type());
  auto d = y.detach().to(device, at::kDouble);
  if (d.dim() == 1) d = d.unsqueeze(1);
  d = d.contiguous();
  TORCH_CHECK(at::isfinite(d).all().item<bool>(), what, ": ", name, " contains NaN or inf");
  return d;
}

void check_same_width(const at::Tensor& train, const at::Tensor& test, const char* what) {
  TORCH_CHECK(train.size(1) == test.size(1), what, ": x_test has ", test.size(1), " features but x_train has ",
              train.size(1));
}

// Training mean and population standard deviation per column; a column constant up to rounding
// (std <= 1e-12 · max |x|, which includes std = 0) keeps scale 1 instead of being divided by ~0.
std::pair<at::Tensor, at::Tensor> standardisation(const at::Tensor& x) {
  auto mean = x.mean(0);
  auto std = (x - mean).pow(2).mean(0).sqrt();
  auto constant = std.le(x.abs().amax(0) * 1e-12);
  auto scale = at::where(constant, at::ones_like(std), std);
  return {mean, scale};
}

// Distinct labels (ascending), each label's index into them, and the count per label.
struct Remapped {
  at::Tensor classes, ids, counts;
};
Remapped remap(const at::Tensor& y) {
  auto [classes, ids, counts] = at::_unique2(y, /*sorted=*/true, /*return_inverse=*/true, /*return_counts=*/true);
  return {classes, ids.to(at::kLong).contiguous(), counts};
}

void check_options(const LogisticProbeOptions& o) {
  TORCH_CHECK(std::isfinite(o.l2()) && o.l2() >= 0, "fit_logistic_probe: l2 must be finite and >= 0, got ", o.l2());
  TORCH_CHECK(o.max_iterations() >= 1, "fit_logistic_probe: max_iterations must be >= 1, got ", o.max_iterations());
  TORCH_CHECK(std::isfinite(o.tolerance()) && o.tolerance() > 0, "fit_logistic_probe: tolerance must be finite and > 0, got ",
              o.tolerance());
}

// The penalised mean cross-entropy L and its gradient at θ = [vec(W) (K·D), b (K)].
struct Objective {
  const at::Tensor& z;    // [N, D] standardised features
  const at::Tensor& ids;  // [N] class indices 0..K−1
  int64_t classes;
  double l2;

  std::pair<double, at::Tensor> operator()(const at::Tensor& theta) const {
    const int64_t n = z.size(0), d = z.size(1);
    auto w = theta.narrow(0, 0, classes * d).view({classes, d});
    auto b = theta.narrow(0, classes * d, classes);
    auto logits = at::addmm(b, z, w.t());
    auto lse = logits.logsumexp(1, /*keepdim=*/true);
    auto log_p = logits - lse;
    auto target = ids.unsqueeze(1);
    auto loss = -log_p.gather(1, target).mean() + 0.5 * l2 * w.pow(2).sum();
    // ∂L/∂logits = (softmax − onehot) / N.
    auto g_logits = log_p.exp().scatter_add_(1, target, at::full({n, 1}, -1.0, log_p.options())).div_(static_cast<double>(n));
    auto gw = g_logits.t().mm(z).add_(w, l2);
    auto gb = g_logits.sum(0);
    return {loss.item<double>(), at::cat({gw.flatten(), gb})};
  }
};

// L-BFGS (Nocedal & Wright Alg. 7.4 two-loop recursion, 7.5 outer loop) with a backtracking
// Armijo line search. The objective is convex, and strictly so in W for λ > 0; the bias is
// invariant along (1, …, 1), but the gradient never has a component there, so every search
// direction stays orthogonal to it and sᵀy > 0 holds on accepted steps (checked anyway).
struct LbfgsResult {
  at::Tensor theta;
  double loss = 0;
  int64_t iterations = 0;
  bool converged = false;
};
LbfgsResult minimise_lbfgs(const Objective& objective, at::Tensor theta, int64_t max_iterations, double tolerance) {
  constexpr size_t kHistory = 10;
  constexpr double kArmijo = 1e-4;
  constexpr int kMaxHalvings = 60;
  std::deque<at::Tensor> s_hist, y_hist, rho_hist;  // rho = 1 / sᵀy, kept as 0-dim tensors (no syncs)
  auto [f, g] = objective(theta);
  LbfgsResult out;
  int64_t it = 0;
  for (; it < max_iterations; ++it) {
    const double g_norm = g.norm().item<double>();
    if (g_norm <= tolerance) {
      out.converged = true;
      break;
    }
    at::Tensor d;
    if (s_hist.empty()) {
      d = -g;
    } else {
      auto q = g.clone();
      std::vector<at::Tensor> alpha(s_hist.size());
      for (size_t i = s_hist.size(); i-- > 0;) {
        alpha[i] = rho_hist[i] * at::dot(s_hist[i], q);
        q.sub_(y_hist[i] * alpha[i]);
      }
      // Initial inverse Hessian γI with γ = sᵀy / yᵀy of the newest pair (N&W Eq. 7.20).
      q.mul_(at::dot(s_hist.back(), y_hist.back()) / at::dot(y_hist.back(), y_hist.back()));
      for (size_t i = 0; i < s_hist.size(); ++i) {
        auto beta = rho_hist[i] * at::dot(y_hist[i], q);
        q.add_(s_hist[i] * (alpha[i] - beta));
      }
      d = -q;
    }
    double slope = at::dot(g, d).item<double>();
    if (!(slope < 0)) {  // not a descent direction (rounding): restart from steepest descent
      s_hist.clear(), y_hist.clear(), rho_hist.clear();
      d = -g;
      slope = -g_norm * g_norm;
    }
    // A steepest-descent step has no curvature information: start at a unit-length step.
    double t = s_hist.empty() ? std::min(1.0, 1.0 / g_norm) : 1.0;
    bool accepted = false;
    at::Tensor theta_new, g_new;
    double f_new = 0;
    for (int h = 0; h < kMaxHalvings; ++h, t *= 0.5) {
      theta_new = theta + t * d;
      std::tie(f_new, g_new) = objective(theta_new);
      if (f_new <= f + kArmijo * t * slope) {
        accepted = true;
        break;
      }
      // Near the optimum the decrease drops below the rounding of f; a step that keeps f within
      // that rounding and shrinks the gradient is still progress.
      if (std::isfinite(f_new) && f_new <= f + 1e-14 * std::abs(f) && g_new.norm().item<double>() < g_norm) {
        accepted = true;
        break;
      }
    }
    if (!accepted) {
      if (s_hist.empty()) break;  // no progress even along −g: as close as double precision gets
      s_hist.clear(), y_hist.clear(), rho_hist.clear();
      continue;
    }
    auto s = theta_new - theta;
    auto y = g_new - g;
    const double sy = at::dot(s, y).item<double>();
    if (sy > 1e-12 * s.norm().item<double>() * y.norm().item<double>()) {
      if (s_hist.size() == kHistory) s_hist.pop_front(), y_hist.pop_front(), rho_hist.pop_front();
      s_hist.push_back(s);
      y_hist.push_back(y);
      rho_hist.push_back(at::scalar_tensor(1.0 / sy, s.options()));
    }
    theta = theta_new;
    f = f_new;
    g = g_new;
  }
  out.theta = theta;
  out.loss = f;
  out.iterations = it;
  return out;
}

at::Tensor standardised(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& scale) {
  return (x - mean) / scale;
}

}  // namespace

at::Tensor LogisticProbe::logits(const at::Tensor& x) const {
  TORCH_CHECK(weight.defined(), "LogisticProbe::logits: the probe is not fitted");
  auto xd = checked_features(x, "LogisticProbe::logits", "x").to(weight.device());
  TORCH_CHECK(xd.size(1) == weight.size(1), "LogisticProbe::logits: x has ", xd.size(1), " features, the probe ",
              weight.size(1));
  return at::addmm(bias, standardised(xd, mean, scale), weight.t());
}

at::Tensor LogisticProbe::predict(const at::Tensor& x) const {
  return classes.index_select(0, logits(x).argmax(1));
}

LogisticProbe fit_logistic_probe(const at::Tensor& x, const at::Tensor& y, const LogisticProbeOptions& options) {
  check_options(options);
  auto xd = checked_features(x, "fit_logistic_probe", "x");
  auto yl = checked_labels(y, xd.size(0), xd.device(), "fit_logistic_probe", "y");
  auto labels = remap(yl);
  const int64_t k = labels.classes.size(0), d = xd.size(1);
  TORCH_CHECK(k >= 2, "fit_logistic_probe: needs at least 2 distinct labels, got ", k);

  LogisticProbe probe;
  probe.classes = labels.classes;
  if (options.standardize()) {
    std::tie(probe.mean, probe.scale) = standardisation(xd);
  } else {
    probe.mean = at::zeros({d}, xd.options());
    probe.scale = at::ones({d}, xd.options());
  }
  auto z = standardised(xd, probe.mean, probe.scale).contiguous();
  Objective objective{z, labels.ids, k, options.l2()};
  auto result = minimise_lbfgs(objective, at::zeros({k * d + k}, xd.options()), options.max_iterations(),
                               options.tolerance());
  probe.weight = result.theta.narrow(0, 0, k * d).view({k, d}).clone();
  probe.bias = result.theta.narrow(0, k * d, k).clone();
  probe.iterations = result.iterations;
  probe.converged = result.converged;
  probe.loss = result.loss;
  return probe;
}

double probe_accuracy(const at::Tensor& x_train, const at::Tensor& y_train, const at::Tensor& x_test,
                      const at::Tensor& y_test, const LogisticProbeOptions& options) {
  auto xt = checked_features(x_test, "probe_accuracy", "x_test");
  auto yt = checked_labels(y_test, xt.size(0), xt.device(), "probe_accuracy", "y_test");
  TORCH_CHECK(x_train.defined() && x_train.dim() == 2, "probe_accuracy: x_train must be [N, D], got ",
              x_train.defined() ? x_train.sizes() : at::IntArrayRef{});
  check_same_width(x_train, xt, "probe_accuracy");
  auto probe = fit_logistic_probe(x_train, y_train, options);
  auto pred = probe.predict(xt);
  return pred.eq(yt.to(pred.device())).to(at::kDouble).mean().item<double>();
}

at::Tensor RidgeProbe::predict(const at::Tensor& x) const {
  TORCH_CHECK(weight.defined(), "RidgeProbe::predict: the probe is not fitted");
  auto xd = checked_features(x, "RidgeProbe::predict", "x").to(weight.device());
  TORCH_CHECK(xd.size(1) == weight.size(1), "RidgeProbe::predict: x has ", xd.size(1), " features, the probe ",
              weight.size(1));
  return at::addmm(bias, standardised(xd, mean, scale), weight.t());
}

RidgeProbe fit_ridge_probe(const at::Tensor& x, const at::Tensor& y, double l2) {
  TORCH_CHECK(std::isfinite(l2) && l2 >= 0, "fit_ridge_probe: l2 must be finite and >= 0, got ", l2);
  auto xd = checked_features(x, "fit_ridge_probe", "x");
  auto yd = checked_targets(y, xd.size(0), xd.device(), "fit_ridge_probe", "y");
  TORCH_CHECK(xd.size(0) >= 2, "fit_ridge_probe: needs at least 2 samples, got ", xd.size(0));
  RidgeProbe probe;
  std::tie(probe.mean, probe.scale) = standardisation(xd);
  auto z = standardised(xd, probe.mean, probe.scale);
  probe.bias = yd.mean(0);
  auto a = z.t().mm(z);
  a.diagonal().add_(l2);
  auto rhs = z.t().mm(yd - probe.bias);
  // λ > 0: A is positive definite. λ = 0: A may be singular (D > N, constant or collinear
  // columns); its pseudo-inverse gives the minimum-norm least-squares coefficients.
  auto w = l2 > 0 ? at::linalg_solve(a, rhs) : at::linalg_pinv(a, /*rcond=*/1e-12, /*hermitian=*/true).mm(rhs);
  probe.weight = w.t().contiguous();
  return probe;
}

at::Tensor r2_per_output(const at::Tensor& y_true, const at::Tensor& y_pred) {
  TORCH_CHECK(y_true.defined() && y_pred.defined(), "r2_per_output: undefined input");
  auto t = checked_targets(y_true, y_true.dim() >= 1 ? y_true.size(0) : -1, y_true.device(), "r2_per_output", "y_true");
  auto p = checked_targets(y_pred, t.size(0), t.device(), "r2_per_output", "y_pred");
  TORCH_CHECK(p.sizes() == t.sizes(), "r2_per_output: y_pred ", y_pred.sizes(), " and y_true ", y_true.sizes(),
              " differ in shape");
  TORCH_CHECK(t.size(0) >= 2, "r2_per_output: needs at least 2 samples, got ", t.size(0));
  auto sse = (t - p).pow(2).sum(0);
  auto sst = (t - t.mean(0)).pow(2).sum(0);
  auto r2 = 1.0 - sse / sst;
  // SST = 0: R² is undefined; 1 for an exact prediction, else 0 (scikit-learn's force_finite).
  auto degenerate = at::where(sse.eq(0), at::ones_like(r2), at::zeros_like(r2));
  return at::where(sst.eq(0), degenerate, r2);
}

at::Tensor ridge_r2_per_output(const at::Tensor& x_train, const at::Tensor& y_train, const at::Tensor& x_test,
                               const at::Tensor& y_test, double l2) {
  auto xt = checked_features(x_test, "ridge_r2", "x_test");
  auto yt = checked_targets(y_test, xt.size(0), xt.device(), "ridge_r2", "y_test");
  TORCH_CHECK(x_train.defined() && x_train.dim() == 2, "ridge_r2: x_train must be [N, D], got ",
              x_train.defined() ? x_train.sizes() : at::IntArrayRef{});
  check_same_width(x_train, xt, "ridge_r2");
  const int64_t p_train = y_train.defined() && y_train.dim() == 2 ? y_train.size(1) : 1;
  TORCH_CHECK(yt.size(1) == p_train, "ridge_r2: y_test has ", yt.size(1), " columns but y_train has ", p_train);
  auto probe = fit_ridge_probe(x_train, y_train, l2);
  return r2_per_output(yt.to(probe.weight.device()), probe.predict(xt));
}

double ridge_r2(const at::Tensor& x_train, const at::Tensor& y_train, const at::Tensor& x_test, const at::Tensor& y_test,
                double l2) {
  return ridge_r2_per_output(x_train, y_train, x_test, y_test, l2).mean().item<double>();
}

FewShotClassifier parse_few_shot_classifier(const std::string& name) {
  if (name == "logistic") return FewShotClassifier::kLogistic;
  TORCH_CHECK(name == "nearest_centroid" || name == "centroid",
              "few-shot classifier must be \"logistic\" or \"nearest_centroid\", got \"", name, "\"");
  return FewShotClassifier::kNearestCentroid;
}

FewShotResult few_shot_accuracy(const at::Tensor& x, const at::Tensor& y, int64_t shots, int64_t repeats,
                                at::Generator gen, FewShotClassifier classifier, const LogisticProbeOptions& options) {
  TORCH_CHECK(shots >= 1, "few_shot_accuracy: shots must be >= 1, got ", shots);
  TORCH_CHECK(repeats >= 1, "few_shot_accuracy: repeats must be >= 1, got ", repeats);
  check_options(options);
  auto xd = checked_features(x, "few_shot_accuracy", "x");
  auto yl = checked_labels(y, xd.size(0), at::kCPU, "few_shot_accuracy", "y");
  auto labels = remap(yl);
  const int64_t k = labels.classes.size(0);
  TORCH_CHECK(k >= 2, "few_shot_accuracy: needs at least 2 classes, got ", k);
  auto counts = labels.counts.to(at::kLong).contiguous();
  const int64_t* count = counts.data_ptr<int64_t>();
  for (int64_t c = 0; c < k; ++c) {
    TORCH_CHECK(count[c] >= shots + 1, "few_shot_accuracy: class ", labels.classes[c].item<int64_t>(), " has ", count[c],
                " examples; ", shots, " shots need at least ", shots + 1, " (", shots,
                " labelled and one left to classify)");
  }
  // Members of each class, contiguous in `order` from offset[c].
  auto order = std::get<1>(at::sort(labels.ids, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  std::vector<int64_t> offset(k + 1, 0);
  for (int64_t c = 0; c < k; ++c) offset[c + 1] = offset[c] + count[c];

  // Standardised once with the statistics of all N examples. Labels are not used, so nothing of
  // the query labels leaks; statistics of the K·shots labelled examples alone are too noisy at
  // 1 shot (a column's deviation from 5 points is often 3× too small, inflating that column).
  {
    auto [mean, scale] = standardisation(xd);
    xd = standardised(xd, mean, scale);
  }
  auto probe_options = options;
  probe_options.standardize(false);
  auto ids = labels.ids.to(xd.device());
  std::vector<double> acc(repeats);
  for (int64_t r = 0; r < repeats; ++r) {
    std::vector<at::Tensor> support, query;
    for (int64_t c = 0; c < k; ++c) {
      auto members = order.narrow(0, offset[c], count[c]);
      auto perm = members.index_select(0, at::randperm(count[c], gen, at::kLong));
      support.push_back(perm.narrow(0, 0, shots));
      query.push_back(perm.narrow(0, shots, count[c] - shots));
    }
    // Support ordered class by class, `shots` each.
    auto support_idx = at::cat(support).to(xd.device());
    auto query_idx = at::cat(query).to(xd.device());
    auto xs = xd.index_select(0, support_idx), xq = xd.index_select(0, query_idx);
    auto yq = ids.index_select(0, query_idx);
    at::Tensor pred;
    if (classifier == FewShotClassifier::kLogistic) {
      pred = fit_logistic_probe(xs, ids.index_select(0, support_idx), probe_options).predict(xq);
    } else {
      auto centroids = xs.view({k, shots, xs.size(1)}).mean(1);
      // ‖q − c‖² without the ‖q‖² term, which is the same for every class.
      auto dist = centroids.pow(2).sum(1).unsqueeze(0) - 2.0 * xq.mm(centroids.t());
      pred = dist.argmin(1);
    }
    acc[r] = pred.eq(yq).to(at::kDouble).mean().item<double>();
  }
  FewShotResult out;
  out.shots = shots;
  out.repeats = repeats;
  double sum = 0;
  for (double a : acc) sum += a;
  out.accuracy = sum / static_cast<double>(repeats);
  if (repeats == 1) {
    out.standard_error = std::numeric_limits<double>::quiet_NaN();
  } else {
    double ss = 0;
    for (double a : acc) ss += (a - out.accuracy) * (a - out.accuracy);
    out.standard_error = std::sqrt(ss / static_cast<double>(repeats - 1) / static_cast<double>(repeats));
  }
  return out;
}

}  // namespace joule::eval
