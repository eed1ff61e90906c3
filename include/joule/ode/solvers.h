#pragma once
// ODE solvers for dy/dt = f(t, y) on LibTorch tensors: fixed-grid Euler, midpoint and RK4, and
// adaptive Bogacki–Shampine (bosh3) and Dormand–Prince (dopri5) whose step control follows
// torchdiffeq (Chen et al., arXiv:1806.07366; torchdiffeq/_impl/rk_common.py, misc.py) step for
// step, so that NFE and accepted/rejected counts can be compared with published runs:
// Shampine's error weights for dopri5, the mixed RMS norm (max over the state's members of each
// member's RMS), accept iff the error ratio ≤ 1, an accepted step never shrinks the next, safety
// 0.9 and step ratios in [0.2, 10], Hairer's initial step (one extra evaluation), FSAL, time in
// float64, and outputs by the solvers' quartic dense output after integrating past them.
//
// Gradients: every operation on the state is an ordinary autograd op, so back-propagating through
// odeint() differentiates the discretised solution. Step sizes are chosen from values only (no
// gradient flows through step control).
//
// Example (y' = −y on a batch):
//   auto ys = joule::ode::odeint([](double, const joule::ode::State& y) { return joule::ode::State{-y[0]}; },
//                                {torch::ones({8, 2})}, {0.0, 1.0},
//                                joule::ode::SolverOptions().rtol(1e-6).atol(1e-8));
//   ys[1][0]  // ≈ exp(−1)

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <limits>
#include <string>
#include <vector>

namespace joule::ode {

/// A solve that failed numerically — the step size underflowed, the state became non-finite, or
/// max_num_steps was reached: the dynamics are at fault, not the call. Training treats it as
/// divergence (train::DivergenceError: the last good state is restored when restarts are left).
class SolverError : public c10::Error {
 public:
  /// An error raised at `function` in `file`:`line` (as TORCH_CHECK records it) with `message`.
  SolverError(const char* function, const char* file, uint32_t line, const std::string& message)
      : c10::Error(c10::SourceLocation{function, file, line}, message) {}
};

/// The state: one tensor or several (e.g. FFJORD's (z, Δlog p, regularisers)), each with its own
/// tolerances and its own term in the error norm.
using State = std::vector<at::Tensor>;
/// dy/dt = f(t, y), returning one derivative per member of y.
using VectorField = std::function<State(double t, const State& y)>;

/// Integration method.
enum class Method {
  kEuler,     ///< fixed-grid explicit Euler (order 1)
  kMidpoint,  ///< fixed-grid explicit midpoint (order 2)
  kRk4,       ///< fixed-grid classical Runge–Kutta (order 4)
  kBosh3,     ///< adaptive Bogacki–Shampine 3(2)
  kDopri5     ///< adaptive Dormand–Prince 5(4)
};
/// "euler", "midpoint", "rk4", "bosh3", "dopri5" (torchdiffeq's names); throws on anything else,
/// naming the closest.
Method parse_method(const std::string& name);
std::string to_string(Method method);  ///< the name parse_method() accepts
/// Whether the method chooses its own steps (bosh3, dopri5).
bool is_adaptive(Method method);

/// Options for odeint(), odeint_adjoint() and odeint_per_sample().
struct SolverOptions {
  /// Integration method (default dopri5).
  TORCH_ARG(Method, method) = Method::kDopri5;
  /// Adaptive methods: relative error tolerance (torchdiffeq's default) ...
  TORCH_ARG(double, rtol) = 1e-7;
  /// ... and absolute error tolerance (torchdiffeq's default).
  TORCH_ARG(double, atol) = 1e-9;
  /// Relative tolerances, one per member of the state (empty: rtol for all). FFJORD keeps
  /// regulariser members out of step control with a huge tolerance.
  TORCH_ARG(std::vector<double>, member_rtol) = {};
  /// Absolute tolerances, one per member of the state (empty: atol for all).
  TORCH_ARG(std::vector<double>, member_atol) = {};
  /// Safety factor of the step-size controller (> 0), which sets
  /// dt ← dt · min(ifactor, max(safety · r^(−1/order), dfactor)) with r the error ratio.
  TORCH_ARG(double, safety) = 0.9;
  /// Largest growth factor of the step (>= 1).
  TORCH_ARG(double, ifactor) = 10.0;
  /// Smallest shrink factor of the step after a rejection (in (0, 1]).
  TORCH_ARG(double, dfactor) = 0.2;
  /// Lower bound the next step is clamped to (>= 0).
  TORCH_ARG(double, min_step) = 0.0;
  /// Upper bound the next step is clamped to (> 0, >= min_step; default unbounded).
  TORCH_ARG(double, max_step) = std::numeric_limits<double>::infinity();
  /// The first step (0: Hairer's initial step selection, one extra evaluation of f).
  TORCH_ARG(double, first_step) = 0.0;
  /// Attempted steps (accepted or rejected) allowed between two output times before giving up.
  TORCH_ARG(int64_t, max_num_steps) = std::numeric_limits<int32_t>::max();
  /// Fixed-grid methods: the step (0: the output times are the grid). The last step is shortened
  /// to end at the last output time; outputs between grid points are interpolated linearly.
  TORCH_ARG(double, step_size) = 0.0;
};

/// Work done by one odeint() call.
struct SolverStats {
  int64_t nfe = 0;       ///< evaluations of f
  int64_t accepted = 0;  ///< steps taken (fixed grids: every step)
  int64_t rejected = 0;  ///< adaptive steps retried with a smaller dt
  double last_step = 0;  ///< the step size proposed after the last step
};

/// Solves from times[0] (where y = y0) and returns y at every entry of `times` (strictly
/// increasing or strictly decreasing; result[0] is y0). Throws c10::Error with a clear message when
/// the step size underflows, the state becomes non-finite or max_num_steps is reached.
std::vector<State> odeint(const VectorField& f, const State& y0, const std::vector<double>& times,
                          const SolverOptions& options = {}, SolverStats* stats = nullptr);

/// The mixed RMS norm of torchdiffeq: the largest over members of sqrt(mean(x²)).
double mixed_rms_norm(const State& x);

/// Options of the backward solve of odeint_adjoint().
struct AdjointOptions {
  /// Step control of the backward solve ignores the parameters' adjoints (Kidger et al.,
  /// arXiv:2009.09457, "seminorm"): they do not feed back into the dynamics, so their error
  /// need not be controlled; usually far fewer backward steps.
  TORCH_ARG(bool, seminorm) = false;
  /// Relative tolerance of the backward solve (0: the forward's).
  TORCH_ARG(double, rtol) = 0.0;
  /// Absolute tolerance of the backward solve (0: the forward's).
  TORCH_ARG(double, atol) = 0.0;
  /// When set, receives the backward solves' work (summed over output intervals) when backward runs.
  TORCH_ARG(std::shared_ptr<SolverStats>, backward_stats) = nullptr;
};

/// As odeint(), but gradients by the adjoint method (Chen et al., arXiv:1806.07366 §2; torchdiffeq's
/// odeint_adjoint): the forward solve keeps no graph (memory independent of the number of steps),
/// and backward() integrates [y, a = ∂L/∂y, ∂L/∂params] from the last output time to the first,
/// with the dynamics' vector-Jacobian products by autograd, restarting y from the saved forward
/// solution at each output time. Gradients reach y0 and `params` (the tensors f depends on that
/// should get gradients, e.g. a module's parameters()); the time grid gets none. The backward solve
/// re-integrates y, so its gradients differ from back-propagation through the solver by
/// the solve's tolerance.
std::vector<State> odeint_adjoint(const VectorField& f, const State& y0, const std::vector<double>& times,
                                  const std::vector<at::Tensor>& params, const SolverOptions& options = {},
                                  const AdjointOptions& adjoint = {}, SolverStats* stats = nullptr);

// ------------------------------------------------------------------ per-sample step control

/// dy/dt = f(t, y) for a batch of independent problems: `t` is [B] (float64, each row's own time)
/// and every member of y has the rows as its first dimension.
using BatchVectorField = std::function<State(const at::Tensor& t, const State& y)>;

/// Work done by one odeint_per_sample() call.
struct PerSampleStats {
  int64_t nfe = 0;               ///< batched evaluations of f (over the rows still moving)
  int64_t iterations = 0;        ///< rounds of steps (the slowest row's attempted steps)
  ///@{
  /// [B] accepted and rejected steps of each row.
  at::Tensor accepted, rejected;
  ///@}
  int64_t row_evaluations = 0;   ///< Σ over evaluations of the rows evaluated: the work
};

/// Solves from t0 to t1 with every row its own adaptive step size (dopri5 or bosh3 with the
/// controller of odeint(): error ratio per row, the same factors and Hairer's initial step per
/// row), instead of one step size for the batch set by its hardest row (torchode, Lienen &
/// Günnemann, arXiv:2210.12375, reports that the joint solve takes up to 4× more steps). Each round
/// evaluates f on the unfinished rows only; a row's last step is shortened to land on t1 (odeint
/// steps past and interpolates instead, so counts can differ by one). No gradients (evaluation and
/// sampling). Returns y(t1).
State odeint_per_sample(const BatchVectorField& f, const State& y0, double t0, double t1,
                        const SolverOptions& options = {}, PerSampleStats* stats = nullptr);

}  // namespace joule::ode

