// The adjoint method for odeint as a LibTorch autograd function.
#include <ATen/core/ivalue.h>
#include <torch/autograd.h>

#include "joule/ode/solvers.h"

namespace joule::ode {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What backward needs besides tensors; kept in the autograd context as an IValue capsule.
struct AdjointContext : torch::CustomClassHolder {
  VectorField f;
  std::vector<double> times;
  SolverOptions options;
  AdjointOptions adjoint;
  size_t members = 0, n_params = 0;
  std::vector<at::Tensor> params;  // the tensors f reads, as given (gradients are taken w.r.t. these)
  std::vector<State> forward;      // the solution at every output time (no graph)
  SolverStats* forward_stats = nullptr;  // set only while apply() runs
};

class OdeAdjointFunction : public torch::autograd::Function<OdeAdjointFunction> {
 public:
  // inputs: the state's members, then the parameters. outputs: y(t_i) member by member, i = 0..n−1.
  // (A TensorList, not a vector: only tensors and tensor lists become autograd inputs.)
  static variable_list forward(AutogradContext* ctx, at::TensorList inputs, c10::intrusive_ptr<AdjointContext> c) {
    State y0(inputs.begin(), inputs.begin() + static_cast<std::ptrdiff_t>(c->members));
    {
      at::NoGradGuard no_grad;
      c->forward = odeint(c->f, y0, c->times, c->options, c->forward_stats);
    }
    variable_list out;
    for (const auto& y : c->forward)
      for (const auto& m : y) out.push_back(m.clone());  // outputs must be fresh tensors
    ctx->saved_data["context"] = c10::IValue::make_capsule(c);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto c = c10::static_intrusive_pointer_cast<AdjointContext>(ctx->saved_data["context"].toCapsule());
    const size_t M = c->members, P = c->n_params, n = c->times.size();
    auto grad_at = [&](size_t i, size_t m) {
      const auto& g = grads[i * M + m];
      return g.defined() ? g : at::zeros_like(c->forward[i][m]);
    };
    const std::vector<at::Tensor>& params = c->params;
    State adj(M);
    for (size_t m = 0; m < M; ++m) adj[m] = grad_at(n - 1, m);
    State adj_p(P);
    for (size_t p = 0; p < P; ++p) adj_p[p] = at::zeros_like(params[p]);

    // Augmented dynamics over [y (M), a (M), adj_params (P)]: (f, −aᵀ∂f/∂y, −aᵀ∂f/∂θ).
    VectorField aug = [&](double t, const State& s) {
      torch::AutoGradMode grad_mode(true);
      State y(M);
      for (size_t m = 0; m < M; ++m) y[m] = s[m].detach().requires_grad_(true);
      State fy = c->f(t, y);
      variable_list wrt(y.begin(), y.end());
      for (const auto& p : params) wrt.push_back(p);
      variable_list outs, gouts;
      for (size_t m = 0; m < M; ++m) {
        if (fy[m].requires_grad()) {
          outs.push_back(fy[m]);
          gouts.push_back(-s[M + m]);
        }
      }
      variable_list vjp(wrt.size());
      if (!outs.empty()) vjp = torch::autograd::grad(outs, wrt, gouts, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
      State r;
      r.reserve(2 * M + P);
      for (size_t m = 0; m < M; ++m) r.push_back(fy[m].detach());
      for (size_t k = 0; k < M + P; ++k) {
        const at::Tensor& like = k < M ? s[M + k] : params[k - M];
        r.push_back(vjp[k].defined() ? vjp[k] : at::zeros_like(like));
      }
      return r;
    };

    SolverOptions bo = c->options;
    const double rtol = c->adjoint.rtol() > 0 ? c->adjoint.rtol() : c->options.rtol();
    const double atol = c->adjoint.atol() > 0 ? c->adjoint.atol() : c->options.atol();
    std::vector<double> mr, ma;
    auto member_tol = [&](const std::vector<double>& per, double all, size_t m) { return per.empty() ? all : per[m]; };
    for (size_t k = 0; k < 2 * M + P; ++k) {
      const bool is_param = k >= 2 * M;
      const size_t m = k % M;  // y and a members share the forward member's tolerance
      const bool seminorm_skip = is_param && c->adjoint.seminorm();
      mr.push_back(seminorm_skip ? 1e20 : is_param ? rtol : member_tol(c->options.member_rtol(), rtol, m));
      ma.push_back(seminorm_skip ? 1e20 : is_param ? atol : member_tol(c->options.member_atol(), atol, m));
    }
    bo.member_rtol(mr).member_atol(ma);

    SolverStats total, part;
    for (size_t i = n - 1; i >= 1; --i) {
      State s;
      for (size_t m = 0; m < M; ++m) s.push_back(c->forward[i][m]);  // restart y from the forward solution
      for (size_t m = 0; m < M; ++m) s.push_back(adj[m]);
      for (size_t p = 0; p < P; ++p) s.push_back(adj_p[p]);
      auto sol = odeint(aug, s, {c->times[i], c->times[i - 1]}, bo, &part);
      total.nfe += part.nfe;
      total.accepted += part.accepted;
      total.rejected += part.rejected;
      for (size_t m = 0; m < M; ++m) adj[m] = sol[1][M + m] + grad_at(i - 1, m);
      for (size_t p = 0; p < P; ++p) adj_p[p] = sol[1][2 * M + p];
    }
    if (c->adjoint.backward_stats()) *c->adjoint.backward_stats() = total;

    variable_list result(adj.begin(), adj.end());
    for (const auto& g : adj_p) result.push_back(g);
    result.push_back(at::Tensor());  // the context capsule
    return result;
  }
};

}  // namespace

std::vector<State> odeint_adjoint(const VectorField& f, const State& y0, const std::vector<double>& times,
                                  const std::vector<at::Tensor>& params, const SolverOptions& options,
                                  const AdjointOptions& adjoint, SolverStats* stats) {
  TORCH_CHECK(!y0.empty(), "odeint_adjoint: the state has no members");
  auto c = c10::make_intrusive<AdjointContext>();
  c->f = f;
  c->times = times;
  c->options = options;
  c->adjoint = adjoint;
  c->members = y0.size();
  c->n_params = params.size();
  c->params = params;
  c->forward_stats = stats;
  variable_list inputs(y0.begin(), y0.end());
  for (const auto& p : params) inputs.push_back(p);
  auto out = OdeAdjointFunction::apply(at::TensorList(inputs), c);
  c->forward_stats = nullptr;
  std::vector<State> ys(times.size(), State(y0.size()));
  for (size_t i = 0; i < times.size(); ++i)
    for (size_t m = 0; m < y0.size(); ++m) ys[i][m] = out[i * y0.size() + m];
  return ys;
}

}  // namespace joule::ode
