#include "joule/ode/solvers.h"

#include <ATen/ops/abs.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/maximum.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace joule::ode {
namespace {

// Throws SolverError with the parts of the message concatenated (as TORCH_CHECK does).
#define JOULE_SOLVER_CHECK(cond, ...)                                                                \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      throw SolverError(__func__, __FILE__, static_cast<uint32_t>(__LINE__), c10::str(__VA_ARGS__)); \
    }                                                                                                \
  } while (0)

// ------------------------------------------------------------------ state arithmetic
// y + Σ c_j x_j over members; terms with c_j = 0 are skipped (they add exact zeros).
State axpy(const State& y, const std::vector<std::pair<double, const State*>>& terms) {
  State out(y.size());
  for (size_t m = 0; m < y.size(); ++m) {
    at::Tensor acc = y[m];
    for (const auto& [c, x] : terms) {
      if (c != 0.0) acc = acc + (*x)[m] * c;
    }
    out[m] = acc;
  }
  return out;
}

void check_state(const State& y, const State& f, const char* where) {
  TORCH_CHECK(f.size() == y.size(), "odeint: the vector field returned ", f.size(), " members for a state of ", y.size(),
              " (", where, ")");
  for (size_t m = 0; m < y.size(); ++m) {
    TORCH_CHECK(f[m].sizes() == y[m].sizes(), "odeint: the vector field's member ", m, " has shape ", f[m].sizes(),
                ", the state's has ", y[m].sizes(), " (", where, ")");
  }
}

// ------------------------------------------------------------------ tableaus
struct Tableau {
  int order;
  std::vector<double> c;                  // nodes of stages 1..s (stage 0 at 0)
  std::vector<std::vector<double>> a;     // rows for stages 1..s
  std::vector<double> error;              // b − b̂ over stages 0..s
  std::vector<double> mid;                // dense-output weights at the step's midpoint
};

// Dormand–Prince 5(4) with Shampine's (1986) embedded weights and midpoint dense output, as in
// torchdiffeq/_impl/dopri5.py.
const Tableau& dopri5() {
  static const Tableau t{
      5,
      {1. / 5, 3. / 10, 4. / 5, 8. / 9, 1., 1.},
      {{1. / 5},
       {3. / 40, 9. / 40},
       {44. / 45, -56. / 15, 32. / 9},
       {19372. / 6561, -25360. / 2187, 64448. / 6561, -212. / 729},
       {9017. / 3168, -355. / 33, 46732. / 5247, 49. / 176, -5103. / 18656},
       {35. / 384, 0, 500. / 1113, 125. / 192, -2187. / 6784, 11. / 84}},
      {35. / 384 - 1951. / 21600, 0, 500. / 1113 - 22642. / 50085, 125. / 192 - 451. / 720,
       -2187. / 6784 + 12231. / 42400, 11. / 84 - 649. / 6300, -1. / 60},
      {0.5 * 6025192743. / 30085553152, 0, 0.5 * 51252292925. / 65400821598, 0.5 * -2691868925. / 45128329728,
       0.5 * 187940372067. / 1594534317056, 0.5 * -1776094331. / 19743644256, 0.5 * 11237099. / 235043384}};
  return t;
}

// Bogacki–Shampine 3(2), as in torchdiffeq/_impl/bosh3.py.
const Tableau& bosh3() {
  static const Tableau t{3,
                         {1. / 2, 3. / 4, 1.},
                         {{1. / 2}, {0, 3. / 4}, {2. / 9, 1. / 3, 4. / 9}},
                         {2. / 9 - 7. / 24, 1. / 3 - 1. / 4, 4. / 9 - 1. / 3, -1. / 8},
                         {0, 0.5, 0, 0}};
  return t;
}

// ------------------------------------------------------------------ norms and tolerances
struct Tolerances {
  std::vector<double> rtol, atol;  // per member
};

Tolerances tolerances(const SolverOptions& o, size_t members) {
  auto expand = [&](const std::vector<double>& per, double all, const char* name) {
    if (per.empty()) return std::vector<double>(members, all);
    TORCH_CHECK(per.size() == members, "odeint: ", name, " has ", per.size(), " entries for a state of ", members,
                " members");
    return per;
  };
  Tolerances t{expand(o.member_rtol(), o.rtol(), "member_rtol"), expand(o.member_atol(), o.atol(), "member_atol")};
  for (size_t m = 0; m < members; ++m) {
    TORCH_CHECK(t.rtol[m] >= 0 && t.atol[m] >= 0 && t.rtol[m] + t.atol[m] > 0,
                "odeint: tolerances must be >= 0 and not both 0, got rtol ", t.rtol[m], ", atol ", t.atol[m],
                " for member ", m);
  }
  return t;
}

double rms(const at::Tensor& x) {
  if (x.numel() == 0) return 0.0;
  return x.to(at::kDouble).pow(2).mean().sqrt().item<double>();
}

// max_m RMS(x_m / (atol_m + rtol_m · |y_m|)), the error norm and initial-step scale of torchdiffeq.
double scaled_norm(const State& x, const State& y, const Tolerances& tol) {
  double n = 0;
  for (size_t m = 0; m < x.size(); ++m) n = std::max(n, rms(x[m] / (y[m].abs() * tol.rtol[m] + tol.atol[m])));
  return n;
}

// ------------------------------------------------------------------ adaptive solver
class Adaptive {
 public:
  Adaptive(const VectorField& f, const State& y0, double t0, const SolverOptions& o, SolverStats& stats)
      : f_(f), o_(o), tab_(o.method() == Method::kDopri5 ? dopri5() : bosh3()), tol_(tolerances(o, y0.size())),
        stats_(stats), y0_(y0), t0_(t0) {
    f0_ = eval(t0, y0);
    check_state(y0, f0_, "at the initial time");
    dt_ = o.first_step() > 0 ? o.first_step() : initial_step();
  }

  /// y at t ≥ the current time, stepping past it as needed.
  State advance(double t) {
    int64_t n = 0;
    while (t > t0_) {
      JOULE_SOLVER_CHECK(n < o_.max_num_steps(), "odeint: max_num_steps (", o_.max_num_steps(), ") reached at t = ", t0_,
                  " before the output time ", t, " (", stats_.accepted, " steps accepted, ", stats_.rejected,
                  " rejected; step size ", dt_, "): the problem may be stiff or the tolerances too tight");
      step();
      ++n;
    }
    return interpolate(t);
  }

 private:
  State eval(double t, const State& y) {
    ++stats_.nfe;
    return f_(t, y);
  }

  // Hairer, Nørsett & Wanner, Solving ODEs I, §II.4 (torchdiffeq's _select_initial_step).
  double initial_step() {
    const double d0 = scaled_norm(y0_, y0_, tol_);
    const double d1 = scaled_norm(f0_, y0_, tol_);
    const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    const State y1 = axpy(y0_, {{h0, &f0_}});
    const State f1 = eval(t0_ + h0, y1);
    State diff(f1.size());
    for (size_t m = 0; m < f1.size(); ++m) diff[m] = f1[m] - f0_[m];
    const double d2 = scaled_norm(diff, y0_, tol_) / h0;
    const double h1 = (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, h0 * 1e-3)
                                                   : std::pow(0.01 / std::max(d1, d2), 1.0 / tab_.order);
    return std::min(100 * h0, h1);
  }

  void step() {
    const double t0 = t0_;
    const double dt = dt_;
    JOULE_SOLVER_CHECK(t0 + dt > t0, "odeint: the step size underflowed (dt = ", dt, " at t = ", t0,
                "): the solution may blow up there, or the tolerances are too tight for the state's precision");
    for (size_t m = 0; m < y0_.size(); ++m) {
      JOULE_SOLVER_CHECK(at::isfinite(y0_[m]).all().item<bool>(), "odeint: the state became non-finite at t = ", t0,
                  " (member ", m, ")");
    }
    const double t1 = t0 + dt;
    // Stages: k_0 = f(t0, y0) (first same as last), k_i = f(t0 + c_i dt, y0 + dt Σ_j a_ij k_j).
    std::vector<State> k{f0_};
    k.reserve(tab_.c.size() + 1);
    State yi;
    for (size_t i = 0; i < tab_.c.size(); ++i) {
      std::vector<std::pair<double, const State*>> terms;
      for (size_t j = 0; j < tab_.a[i].size(); ++j) terms.emplace_back(tab_.a[i][j] * dt, &k[j]);
      yi = axpy(y0_, terms);
      const double ti = tab_.c[i] == 1.0 ? t1 : t0 + tab_.c[i] * dt;
      k.push_back(eval(ti, yi));
    }
    // Both tableaus are FSAL: the last stage's input is the solution, its derivative the next f0.
    const State& y1 = yi;
    const State& f1 = k.back();
    double ratio = 0;
    {
      at::NoGradGuard no_grad;
      for (size_t m = 0; m < y0_.size(); ++m) {
        at::Tensor err = at::zeros_like(y0_[m], at::kDouble);
        for (size_t j = 0; j < k.size(); ++j) {
          if (tab_.error[j] != 0.0) err = err + k[j][m].to(at::kDouble) * (tab_.error[j] * dt);
        }
        const at::Tensor scale =
            at::maximum(y0_[m].abs(), y1[m].abs()).to(at::kDouble) * tol_.rtol[m] + tol_.atol[m];
        ratio = std::max(ratio, rms(err / scale));
      }
    }
    const bool accept = ratio <= 1.0;
    if (accept) {
      // Quartic dense output through y0, y1, y_mid and the end slopes (torchdiffeq's _interp_fit).
      std::vector<std::pair<double, const State*>> mid_terms;
      for (size_t j = 0; j < k.size(); ++j) mid_terms.emplace_back(tab_.mid[j] * dt, &k[j]);
      const State ymid = axpy(y0_, mid_terms);
      coeff_.assign(5, State(y0_.size()));
      for (size_t m = 0; m < y0_.size(); ++m) {
        const auto &a0 = y0_[m], &a1 = y1[m], &am = ymid[m], &g0 = f0_[m], &g1 = f1[m];
        coeff_[0][m] = a0;
        coeff_[1][m] = g0 * dt;
        coeff_[2][m] = (g1 - g0 * 4) * dt - a0 * 11 - a1 * 5 + am * 16;
        coeff_[3][m] = (g0 * 5 - g1 * 3) * dt + a0 * 18 + a1 * 14 - am * 32;
        coeff_[4][m] = (g1 - g0) * (2 * dt) - (a1 + a0) * 8 + am * 16;
      }
      interp_t0_ = t0;
      interp_t1_ = t1;
      y0_ = y1;
      f0_ = f1;
      t0_ = t1;
      ++stats_.accepted;
    } else {
      ++stats_.rejected;
    }
    // dt ← dt · min(ifactor, max(safety · r^(−1/order), dfactor)); never shrink after acceptance.
    double next;
    if (ratio == 0.0) {
      next = dt * o_.ifactor();
    } else {
      const double dfactor = ratio < 1.0 ? 1.0 : o_.dfactor();
      next = dt * std::min(o_.ifactor(), std::max(o_.safety() / std::pow(ratio, 1.0 / tab_.order), dfactor));
    }
    dt_ = std::clamp(next, o_.min_step(), o_.max_step());
    stats_.last_step = dt_;
  }

  State interpolate(double t) const {
    if (t == interp_t1_) return y0_;  // the step's end: the solution itself
    const double x = (t - interp_t0_) / (interp_t1_ - interp_t0_);
    State out(y0_.size());
    for (size_t m = 0; m < out.size(); ++m) {
      at::Tensor total = coeff_[0][m] + coeff_[1][m] * x;
      double xp = x;
      for (int p = 2; p <= 4; ++p) {
        xp *= x;
        total = total + coeff_[p][m] * xp;
      }
      out[m] = total;
    }
    return out;
  }

  const VectorField& f_;
  const SolverOptions& o_;
  const Tableau& tab_;
  Tolerances tol_;
  SolverStats& stats_;
  State y0_, f0_;  // the state and its derivative at the end of the last accepted step ...
  double t0_;      // ... and its time
  double dt_ = 0;
  std::vector<State> coeff_;  // dense output of the last accepted step over [interp_t0_, interp_t1_]
  double interp_t0_ = 0, interp_t1_ = 0;
};

// ------------------------------------------------------------------ fixed grids
State fixed_step(const VectorField& f, Method method, double t0, double dt, const State& y0, SolverStats& stats) {
  auto eval = [&](double t, const State& y) {
    ++stats.nfe;
    State r = f(t, y);
    check_state(y, r, "in a fixed-grid step");
    return r;
  };
  const State k1 = eval(t0, y0);
  switch (method) {
    case Method::kEuler:
      return axpy(y0, {{dt, &k1}});
    case Method::kMidpoint: {
      const State k2 = eval(t0 + dt / 2, axpy(y0, {{dt / 2, &k1}}));
      return axpy(y0, {{dt, &k2}});
    }
    case Method::kRk4: {
      // Kutta's 3/8 rule, torchdiffeq's "rk4" (rk4_alt_step_func).
      const State k2 = eval(t0 + dt / 3, axpy(y0, {{dt / 3, &k1}}));
      const State k3 = eval(t0 + dt * 2 / 3, axpy(y0, {{-dt / 3, &k1}, {dt, &k2}}));
      const State k4 = eval(t0 + dt, axpy(y0, {{dt, &k1}, {-dt, &k2}, {dt, &k3}}));
      return axpy(y0, {{dt / 8, &k1}, {dt * 3 / 8, &k2}, {dt * 3 / 8, &k3}, {dt / 8, &k4}});
    }
    default:
      TORCH_CHECK(false, "odeint: not a fixed-grid method: ", to_string(method));
  }
}

std::vector<State> integrate_fixed(const VectorField& f, const State& y0, const std::vector<double>& times,
                                   const SolverOptions& o, SolverStats& stats) {
  std::vector<double> grid;
  if (o.step_size() > 0) {
    const double span = times.back() - times.front();
    // Whole steps of step_size, the last one shortened to end exactly at the last output time
    // (a remainder below 1e-9 of a step is merged into the step before it).
    const auto n = static_cast<int64_t>(std::ceil(span / o.step_size() - 1e-9));
    for (int64_t i = 0; i < n; ++i) grid.push_back(times.front() + static_cast<double>(i) * o.step_size());
    grid.push_back(times.back());
  } else {
    grid = times;
  }
  std::vector<State> out{y0};
  size_t j = 1;
  State y = y0;
  for (size_t i = 0; i + 1 < grid.size() && j < times.size(); ++i) {
    const double t0 = grid[i], t1 = grid[i + 1];
    const State y1 = fixed_step(f, o.method(), t0, t1 - t0, y, stats);
    ++stats.accepted;
    while (j < times.size() && t1 >= times[j]) {
      if (times[j] == t1) {
        out.push_back(y1);
      } else {
        const double s = (times[j] - t0) / (t1 - t0);
        State yj(y.size());
        for (size_t m = 0; m < y.size(); ++m) yj[m] = y[m] + (y1[m] - y[m]) * s;
        out.push_back(yj);
      }
      ++j;
    }
    y = y1;
  }
  return out;
}

}  // namespace

Method parse_method(const std::string& name) {
  if (name == "euler") return Method::kEuler;
  if (name == "midpoint") return Method::kMidpoint;
  if (name == "rk4") return Method::kRk4;
  if (name == "bosh3") return Method::kBosh3;
  if (name == "dopri5") return Method::kDopri5;
  TORCH_CHECK(false, "unknown ODE method '", name, "'; methods: euler, midpoint, rk4, bosh3, dopri5");
}

std::string to_string(Method method) {
  switch (method) {
    case Method::kEuler: return "euler";
    case Method::kMidpoint: return "midpoint";
    case Method::kRk4: return "rk4";
    case Method::kBosh3: return "bosh3";
    case Method::kDopri5: return "dopri5";
  }
  return "?";
}

bool is_adaptive(Method method) { return method == Method::kBosh3 || method == Method::kDopri5; }

double mixed_rms_norm(const State& x) {
  double n = 0;
  for (const auto& m : x) n = std::max(n, rms(m));
  return n;
}

std::vector<State> odeint(const VectorField& f, const State& y0, const std::vector<double>& times,
                          const SolverOptions& options, SolverStats* stats) {
  TORCH_CHECK(!y0.empty(), "odeint: the state has no members");
  TORCH_CHECK(times.size() >= 2, "odeint: give at least two times (the initial time and one output), got ", times.size());
  for (double t : times) TORCH_CHECK(std::isfinite(t), "odeint: times must be finite, got ", t);
  const bool forward = times[1] > times[0];
  for (size_t i = 1; i < times.size(); ++i) {
    TORCH_CHECK(forward ? times[i] > times[i - 1] : times[i] < times[i - 1],
                "odeint: times must be strictly increasing or strictly decreasing; entry ", i, " is ", times[i],
                " after ", times[i - 1]);
  }
  TORCH_CHECK(options.step_size() >= 0, "odeint: step_size must be >= 0, got ", options.step_size());
  TORCH_CHECK(options.safety() > 0 && options.ifactor() >= 1 && options.dfactor() > 0 && options.dfactor() <= 1,
              "odeint: need safety > 0, ifactor >= 1 and 0 < dfactor <= 1");
  TORCH_CHECK(options.min_step() >= 0 && options.max_step() > 0 && options.min_step() <= options.max_step(),
              "odeint: need 0 <= min_step <= max_step and max_step > 0");
  TORCH_CHECK(options.max_num_steps() >= 1, "odeint: max_num_steps must be >= 1");
  for (size_t m = 0; m < y0.size(); ++m) {
    TORCH_CHECK(y0[m].defined() && at::isFloatingType(y0[m].scalar_type()), "odeint: state member ", m,
                " must be a floating-point tensor");
  }
  SolverStats local;
  SolverStats& st = stats ? *stats : local;
  st = SolverStats{};

  // Backwards in time: solve g(s, y) = −f(−s, y) forwards in s = −t (torchdiffeq's _flip).
  std::vector<double> ts = times;
  VectorField g;
  if (!forward) {
    for (double& t : ts) t = -t;
    g = [&f](double s, const State& y) {
      State r = f(-s, y);
      for (auto& m : r) m = -m;
      return r;
    };
  }
  const VectorField& field = forward ? f : g;
  if (!is_adaptive(options.method())) return integrate_fixed(field, y0, ts, options, st);
  Adaptive solver(field, y0, ts[0], options, st);
  std::vector<State> out{y0};
  for (size_t i = 1; i < ts.size(); ++i) out.push_back(solver.advance(ts[i]));
  return out;
}

// ------------------------------------------------------------------ per-sample step control
namespace {

// Per-sample RMS over every dimension but the first: [B] float64.
at::Tensor rms_rows(const at::Tensor& x) {
  return x.to(at::kDouble).pow(2).reshape({x.size(0), -1}).mean(1).sqrt();
}

at::Tensor scaled_norm_rows(const State& x, const State& y, const Tolerances& tol) {
  at::Tensor n;
  for (size_t m = 0; m < x.size(); ++m) {
    auto r = rms_rows(x[m] / (y[m].abs() * tol.rtol[m] + tol.atol[m]));
    n = n.defined() ? at::maximum(n, r) : r;
  }
  return n;
}

// A [B] vector shaped to broadcast against a member [B, ...] in the member's dtype.
at::Tensor per_row(const at::Tensor& v, const at::Tensor& like) {
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = v.size(0);
  return v.to(like.scalar_type()).view(shape);
}

State rows_of(const State& y, const at::Tensor& idx) {
  State out;
  for (const auto& m : y) out.push_back(m.index_select(0, idx));
  return out;
}

}  // namespace

State odeint_per_sample(const BatchVectorField& f, const State& y0, double t0, double t1, const SolverOptions& o,
                        PerSampleStats* stats) {
  TORCH_CHECK(!y0.empty(), "odeint_per_sample: the state has no members");
  TORCH_CHECK(is_adaptive(o.method()), "odeint_per_sample: step control needs an adaptive method (dopri5, bosh3), got ",
              to_string(o.method()));
  TORCH_CHECK(std::isfinite(t0) && std::isfinite(t1) && t0 != t1, "odeint_per_sample: need finite t0 != t1");
  const int64_t B = y0[0].size(0);
  for (const auto& m : y0) {
    TORCH_CHECK(m.dim() >= 1 && m.size(0) == B, "odeint_per_sample: every member needs the batch (", B,
                ") as its first dimension, got ", m.sizes());
  }
  const Tableau& tab = o.method() == Method::kDopri5 ? dopri5() : bosh3();
  const Tolerances tol = tolerances(o, y0.size());
  const double dir = t1 > t0 ? 1.0 : -1.0;
  PerSampleStats local;
  PerSampleStats& st = stats ? *stats : local;
  const auto i64 = at::TensorOptions().dtype(at::kLong).device(y0[0].device());
  st = PerSampleStats{0, 0, at::zeros({B}, i64), at::zeros({B}, i64), 0};
  auto eval = [&](const at::Tensor& t, const State& y) {
    ++st.nfe;
    st.row_evaluations += t.size(0);
    return f(t, y);
  };
  auto axpy_rows = [](const State& y, const std::vector<std::pair<at::Tensor, const State*>>& terms) {
    State out = y;
    for (size_t m = 0; m < y.size(); ++m)
      for (const auto& [h, k] : terms) out[m] = out[m] + per_row(h, y[m]) * (*k)[m];
    return out;
  };

  at::NoGradGuard no_grad;  // per-sample control is for solves without gradients (sampling, evaluation)
  State y;
  for (const auto& m : y0) y.push_back(m.clone());  // updated in place below
  at::Tensor t = at::full({B}, t0, y0[0].options().dtype(at::kDouble));
  State f0 = eval(t, y);
  // Hairer's initial step, per sample.
  at::Tensor dt;
  {
    auto d0 = scaled_norm_rows(y, y, tol), d1 = scaled_norm_rows(f0, y, tol);
    auto h0 = at::where((d0 < 1e-5).logical_or(d1 < 1e-5), at::full_like(d0, 1e-6), 0.01 * d0 / d1);
    State y1 = axpy_rows(y, {{dir * h0, &f0}});
    State f1 = eval(t + dir * h0, y1);
    State diff(f1.size());
    for (size_t m = 0; m < f1.size(); ++m) diff[m] = f1[m] - f0[m];
    auto d2 = scaled_norm_rows(diff, y, tol) / h0;
    auto dmax = at::maximum(d1, d2);
    auto h1 = at::where(dmax <= 1e-15, at::clamp_min(h0 * 1e-3, 1e-6), at::pow(0.01 / dmax, 1.0 / tab.order));
    dt = at::minimum(100 * h0, h1);
  }
  at::Tensor attempts = at::zeros({B}, i64);
  while (true) {
    at::Tensor remaining = (t1 - t) * dir;
    at::Tensor idx = (remaining > 0).nonzero().squeeze(1);
    const int64_t n = idx.size(0);
    if (n == 0) break;
    ++st.iterations;
    // The unfinished samples only: each takes its own step, the last one clipped to land on t1.
    State ys = rows_of(y, idx), fs = rows_of(f0, idx);
    at::Tensor ts = t.index_select(0, idx), rem = remaining.index_select(0, idx);
    at::Tensor h = at::minimum(dt.index_select(0, idx), rem);
    JOULE_SOLVER_CHECK(((ts + dir * h) != ts).all().item<bool>(), "odeint_per_sample: the step size underflowed for a sample "
                "(the solution may blow up there, or the tolerances are too tight)");
    std::vector<State> k{fs};
    State yi;
    for (size_t i = 0; i < tab.c.size(); ++i) {
      std::vector<std::pair<at::Tensor, const State*>> terms;
      for (size_t j = 0; j < tab.a[i].size(); ++j) terms.emplace_back(dir * tab.a[i][j] * h, &k[j]);
      yi = axpy_rows(ys, terms);
      k.push_back(eval(ts + dir * tab.c[i] * h, yi));
    }
    at::Tensor ratio;
    for (size_t m = 0; m < ys.size(); ++m) {
      at::Tensor err = at::zeros_like(ys[m], at::kDouble);
      for (size_t j = 0; j < k.size(); ++j)
        if (tab.error[j] != 0.0) err = err + k[j][m].to(at::kDouble) * per_row(dir * tab.error[j] * h, err);
      auto scale = at::maximum(ys[m].abs(), yi[m].abs()).to(at::kDouble) * tol.rtol[m] + tol.atol[m];
      auto r = rms_rows(err / scale);
      ratio = ratio.defined() ? at::maximum(ratio, r) : r;
    }
    for (size_t m = 0; m < yi.size(); ++m) {
      JOULE_SOLVER_CHECK(at::isfinite(yi[m]).all().item<bool>(), "odeint_per_sample: the state became non-finite (member ", m, ")");
    }
    at::Tensor accept = ratio <= 1.0;
    // Accepted samples move to the step's end (exactly t1 when the step was clipped) with FSAL.
    at::Tensor landed = at::where(h == rem, at::full_like(ts, t1), ts + dir * h);
    for (size_t m = 0; m < y.size(); ++m) {
      auto a = per_row(accept, yi[m]).to(at::kBool);
      y[m].index_copy_(0, idx, at::where(a, yi[m], ys[m]));
      f0[m].index_copy_(0, idx, at::where(a, k.back()[m], fs[m]));
    }
    t.index_copy_(0, idx, at::where(accept, landed, ts));
    st.accepted.index_add_(0, idx, accept.to(at::kLong));
    st.rejected.index_add_(0, idx, accept.logical_not().to(at::kLong));
    attempts.index_add_(0, idx, at::ones({n}, i64));
    JOULE_SOLVER_CHECK(attempts.max().item<int64_t>() <= o.max_num_steps(), "odeint_per_sample: max_num_steps (",
                o.max_num_steps(), ") reached for a sample: the problem may be stiff or the tolerances too tight");
    // The next step from the attempted one, as odeint's controller.
    auto factor = at::clamp_max(at::maximum(o.safety() * at::pow(ratio, -1.0 / tab.order),
                                            at::where(ratio < 1.0, at::ones_like(ratio), at::full_like(ratio, o.dfactor()))),
                                o.ifactor());
    factor = at::where(ratio == 0.0, at::full_like(ratio, o.ifactor()), factor);
    dt.index_copy_(0, idx, at::clamp(h * factor, o.min_step(), o.max_step()));
  }
  return y;
}

}  // namespace joule::ode

