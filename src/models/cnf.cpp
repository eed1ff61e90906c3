#include "joule/models/cnf.h"

#include <ATen/core/ivalue.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>

#include <cmath>
#include <limits>

#include "joule/core/gemm.h"
#include "joule/core/layers.h"
#include "joule/core/runtime.h"

namespace joule {

at::Tensor standard_normal_log_prob(const at::Tensor& z) {
  return (-0.5 * z.pow(2)).sum(1) - 0.5 * static_cast<double>(z.size(1)) * std::log(2 * M_PI);
}

namespace {

// Step control ignores the penalty members (they do not feed back into the dynamics; FFJORD
// gave them a tolerance of 1e20).
constexpr double kIgnoredTolerance = 1e20;

// ---------------------------------------------------------------- the fused evaluation
//
// One autograd node per evaluation of (f, J·v) instead of ~10 recorded operations per layer:
// the forward saves each layer's input rows, products, gate and activation values, and the
// backward below is the chain rule through the value and tangent rows written out (with act''
// for the tangents' act' factor). Checked against the operation-by-operation path in
// CnfTest.FusedEvaluationMatchesAutograd. First-order gradients only (the CNF's training
// and its adjoint need no more); a graph through the backward takes the reference path.

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct FusedNetContext : torch::CustomClassHolder {
  OdeLayer layer = OdeLayer::kConcatSquash;
  Activation activation = Activation::kTanh;
  double t = 0;
  int64_t batch = 0, k = 0;
  size_t n_layers = 0, params_per_layer = 0;
  std::vector<at::Tensor> rows, pre, gate, value, act_value, act_deriv;
  std::vector<at::Tensor> params;
};

size_t params_per_layer(OdeLayer layer) {
  switch (layer) {
    case OdeLayer::kConcatSquash: return 5;  // weight, bias, gate weight, gate bias, time bias
    case OdeLayer::kConcat: return 3;        // weight, bias, time weight
    case OdeLayer::kIgnore: return 2;        // weight, bias
  }
  return 0;
}

class FusedOdeNetFunction : public torch::autograd::Function<FusedOdeNetFunction> {
 public:
  // inputs: z, v (may be empty [0, B, D]), then every layer's parameters. outputs: f, J·v.
  static variable_list forward(AutogradContext* ctx, at::TensorList inputs, c10::intrusive_ptr<FusedNetContext> c) {
    const at::Tensor& z = inputs[0];
    const at::Tensor& v = inputs[1];
    const int64_t b = c->batch, k = c->k;
    const size_t P = c->params_per_layer;
    at::Tensor rows = k > 0 ? at::cat({z, v.reshape({k * b, z.size(1)})}) : z;
    at::Tensor value, tangent;
    for (size_t l = 0; l < c->n_layers; ++l) {
      const at::Tensor* p = &inputs[2 + l * P];
      const int64_t out = p[0].size(0);
      at::Tensor pre = linear(rows, p[0], at::Tensor());
      at::Tensor scaled = pre, shift, gate;
      switch (c->layer) {
        case OdeLayer::kConcatSquash:
          gate = at::sigmoid(p[2] * c->t + p[3]);
          scaled = pre * gate;
          shift = p[1] * gate + p[4] * c->t;
          break;
        case OdeLayer::kConcat: shift = p[1] + p[2] * c->t; break;
        case OdeLayer::kIgnore: shift = p[1]; break;
      }
      value = scaled.narrow(0, 0, b) + shift;
      if (k > 0) tangent = scaled.narrow(0, b, k * b);
      c->rows.push_back(rows);
      c->pre.push_back(pre);
      c->gate.push_back(gate);
      c->value.push_back(value);
      if (l + 1 == c->n_layers) break;
      auto act = apply_activation_with_derivative(c->activation, value);
      c->act_value.push_back(act.value);
      c->act_deriv.push_back(act.derivative);
      if (k > 0) {
        tangent = (tangent.view({k, b, out}) * act.derivative).view({k * b, out});
        rows = at::cat({act.value, tangent});
      } else {
        rows = act.value;
      }
    }
    ctx->saved_data["context"] = c10::IValue::make_capsule(c);
    const int64_t d = z.size(1);
    return {value, k > 0 ? tangent.reshape({k, b, d}) : at::zeros({0, b, d}, z.options())};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "OdeNet: the fused evaluation has first-order gradients only; for higher orders build the net with "
                "OdeNetOptions().fused(false)");
    auto c = c10::static_intrusive_pointer_cast<FusedNetContext>(ctx->saved_data["context"].toCapsule());
    const int64_t b = c->batch, k = c->k;
    const size_t P = c->params_per_layer, L = c->n_layers;
    const double t = c->t;
    const at::Tensor& last = c->value.back();
    at::Tensor abar = grads[0].defined() ? grads[0] : at::zeros_like(last);           // ∂/∂(value rows)
    at::Tensor tbar;                                                                     // ∂/∂(scaled tangent rows)
    if (k > 0) tbar = grads[1].defined() ? grads[1].reshape({k * b, last.size(1)}) : at::zeros({k * b, last.size(1)}, last.options());
    std::vector<at::Tensor> param_grads(L * P);
    at::Tensor zbar;
    for (size_t l = L; l-- > 0;) {
      const at::Tensor* p = &c->params[l * P];
      at::Tensor* g = &param_grads[l * P];
      at::Tensor scaled_bar = k > 0 ? at::cat({abar, tbar}) : abar;
      at::Tensor pre_bar = scaled_bar;
      switch (c->layer) {
        case OdeLayer::kConcatSquash: {
          const at::Tensor& gate = c->gate[l];
          g[1] = (abar * gate).sum(0);
          g[4] = abar.sum(0) * t;
          // value = pre·gate + bias·gate + time_bias·t: the gate's adjoint from every row.
          auto gate_bar = (abar * p[1]).sum(0) + (scaled_bar * c->pre[l]).sum(0);
          auto s_bar = gate_bar * gate * (1.0 - gate);
          g[2] = s_bar * t;
          g[3] = s_bar;
          pre_bar = scaled_bar * gate;
          break;
        }
        case OdeLayer::kConcat:
          g[1] = abar.sum(0);
          g[2] = abar.sum(0) * t;
          break;
        case OdeLayer::kIgnore:
          g[1] = abar.sum(0);
          break;
      }
      // joule's gemm (oneDNN's sgemm), not at::mm: the system BLAS is slower at these shapes.
      g[0] = fast_matmul(pre_bar.contiguous(), c->rows[l].contiguous(), /*trans_a=*/true);
      at::Tensor rows_bar = fast_matmul(pre_bar.contiguous(), p[0].contiguous());
      if (l == 0) {
        zbar = rows_bar.narrow(0, 0, b);
        break;
      }
      // rows[l] = [act(a) ; (scaled tangents of l−1)·act'(a)] with a the value of layer l − 1.
      const at::Tensor& a = c->value[l - 1];
      const at::Tensor& h = c->act_value[l - 1];
      const at::Tensor& d = c->act_deriv[l - 1];
      at::Tensor hbar = rows_bar.narrow(0, 0, b);
      if (k > 0) {
        const int64_t in = rows_bar.size(1);
        auto ubar = rows_bar.narrow(0, b, k * b).view({k, b, in});
        at::Tensor scaled_prev = c->pre[l - 1].narrow(0, b, k * b).view({k, b, in});
        if (c->layer == OdeLayer::kConcatSquash) scaled_prev = scaled_prev * c->gate[l - 1];
        auto dbar = (ubar * scaled_prev).sum(0);
        abar = hbar * d + dbar * activation_second_derivative(c->activation, a, h, d);
        tbar = (ubar * d).view({k * b, in});
      } else {
        abar = hbar * d;
      }
    }
    variable_list result{zbar, at::Tensor()};
    for (auto& g : param_grads) result.push_back(g);
    result.push_back(at::Tensor());  // the context capsule
    return result;
  }
};

}  // namespace

OdeLayer parse_ode_layer(const std::string& name) {
  if (name == "concatsquash") return OdeLayer::kConcatSquash;
  if (name == "concat") return OdeLayer::kConcat;
  if (name == "ignore") return OdeLayer::kIgnore;
  TORCH_CHECK(false, "unknown ODE layer '", name, "' (allowed: concatsquash, concat, ignore)");
}

std::string to_string(OdeLayer layer) {
  switch (layer) {
    case OdeLayer::kConcatSquash: return "concatsquash";
    case OdeLayer::kConcat: return "concat";
    case OdeLayer::kIgnore: return "ignore";
  }
  return "?";
}

Divergence parse_divergence(const std::string& name) {
  if (name == "exact") return Divergence::kExact;
  if (name == "hutchinson") return Divergence::kHutchinson;
  TORCH_CHECK(false, "unknown divergence '", name, "' (allowed: exact, hutchinson)");
}

std::string to_string(Divergence divergence) {
  return divergence == Divergence::kExact ? "exact" : "hutchinson";
}

void OdeNetOptions::validate() const {
  TORCH_CHECK(dim() >= 1, "OdeNet: dim must be at least 1, got ", dim());
  for (auto h : hidden()) TORCH_CHECK(h >= 1, "OdeNet: every hidden width must be at least 1, got ", h);
}

OdeNetImpl::OdeNetImpl(OdeNetOptions options_) : options(std::move(options_)) {
  options.validate();
  std::vector<int64_t> dims{options.dim()};
  dims.insert(dims.end(), options.hidden().begin(), options.hidden().end());
  dims.push_back(options.dim());
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    const int64_t in = dims[i], out = dims[i + 1];
    const std::string p = "layer" + std::to_string(i) + "_";
    Layer l;
    l.weight = register_parameter(p + "weight", torch::empty({out, in}));
    l.bias = register_parameter(p + "bias", torch::empty({out}));
    if (options.layer() == OdeLayer::kConcatSquash) {
      l.gate_weight = register_parameter(p + "gate_weight", torch::empty({out}));
      l.gate_bias = register_parameter(p + "gate_bias", torch::empty({out}));
      l.time_bias = register_parameter(p + "time_bias", torch::empty({out}));
    } else if (options.layer() == OdeLayer::kConcat) {
      l.time_bias = register_parameter(p + "time_weight", torch::empty({out}));
    }
    layers_.push_back(l);
  }
  reset_parameters(make_generator(0));
}

void OdeNetImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& l = layers_[i];
    const bool concat = options.layer() == OdeLayer::kConcat;
    const double fan_in = static_cast<double>(l.weight.size(1) + (concat ? 1 : 0));
    const double bound = 1.0 / std::sqrt(fan_in);
    l.weight.uniform_(-bound, bound, gen);
    if (concat) l.time_bias.uniform_(-bound, bound, gen);
    l.bias.uniform_(-bound, bound, gen);
    if (options.layer() == OdeLayer::kConcatSquash) {
      // Linear(1, out) hyper-networks: fan-in 1.
      l.gate_weight.uniform_(-1, 1, gen);
      l.gate_bias.uniform_(-1, 1, gen);
      l.time_bias.uniform_(-1, 1, gen);
    }
    if (options.zero_last() && i + 1 == layers_.size()) l.weight.zero_();
  }
}

at::Tensor OdeNetImpl::forward(const at::Tensor& t, const at::Tensor& z) {
  return forward_with_tangents(t, z, at::Tensor()).first;
}

std::pair<at::Tensor, at::Tensor> OdeNetImpl::forward_with_tangents(const at::Tensor& t, const at::Tensor& z,
                                                                    const at::Tensor& v) {
  if (!options.fused() || t.dim() != 0 || (t.requires_grad() && at::GradMode::is_enabled())) {
    return forward_reference(t, z, v);
  }
  TORCH_CHECK(z.dim() == 2 && z.size(1) == options.dim(), "OdeNet: expected z of shape [B, ", options.dim(), "], got ",
              z.sizes());
  const int64_t batch = z.size(0);
  if (v.defined()) {
    TORCH_CHECK(v.dim() == 3 && v.size(1) == batch && v.size(2) == options.dim(),
                "OdeNet: tangents must be [K, B, D] = [K, ", batch, ", ", options.dim(), "], got ", v.sizes());
  }
  auto c = c10::make_intrusive<FusedNetContext>();
  c->layer = options.layer();
  c->activation = options.activation();
  c->t = t.item<double>();
  c->batch = batch;
  c->k = v.defined() ? v.size(0) : 0;
  c->n_layers = layers_.size();
  c->params_per_layer = params_per_layer(options.layer());
  std::vector<at::Tensor> inputs{z, v.defined() ? v : at::zeros({0, batch, options.dim()}, z.options())};
  for (const auto& l : layers_) {
    inputs.push_back(l.weight);
    inputs.push_back(l.bias);
    if (options.layer() == OdeLayer::kConcatSquash) {
      inputs.push_back(l.gate_weight);
      inputs.push_back(l.gate_bias);
      inputs.push_back(l.time_bias);
    } else if (options.layer() == OdeLayer::kConcat) {
      inputs.push_back(l.time_bias);
    }
  }
  c->params.assign(inputs.begin() + 2, inputs.end());
  auto out = FusedOdeNetFunction::apply(at::TensorList(inputs), c);
  return {out[0], v.defined() ? out[1] : at::Tensor()};
}

std::pair<at::Tensor, at::Tensor> OdeNetImpl::forward_reference(const at::Tensor& t, const at::Tensor& z,
                                                                const at::Tensor& v) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == options.dim(), "OdeNet: expected z of shape [B, ", options.dim(), "], got ",
              z.sizes());
  const int64_t batch = z.size(0);
  const bool tangents = v.defined();
  const int64_t k = tangents ? v.size(0) : 0;
  if (tangents) {
    TORCH_CHECK(v.dim() == 3 && v.size(1) == batch && v.size(2) == options.dim(),
                "OdeNet: tangents must be [K, B, D] = [K, ", batch, ", ", options.dim(), "], got ", v.sizes());
  }
  // The value rows and the K tangent rows go through each weight matrix together: J·v is
  // carried forward as W·v, scaled by the time gate and by act'(pre-activation).
  at::Tensor rows = tangents ? at::cat({z, v.reshape({k * batch, options.dim()})}) : z;
  // A time per row ([B], per-sample step control) acts on the value rows and, repeated, on the
  // tangent rows.
  TORCH_CHECK(t.dim() == 0 || (t.dim() == 1 && t.size(0) == batch), "OdeNet: t must be a scalar or one time per row [",
              batch, "], got ", t.sizes());
  const bool per_row = t.dim() == 1;
  const at::Tensor tt = per_row ? t.to(z.scalar_type()).unsqueeze(1) : t;
  at::Tensor value, tangent;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    const int64_t out = l.weight.size(0);
    at::Tensor pre = linear(rows, l.weight, at::Tensor());
    at::Tensor shift;
    switch (options.layer()) {
      case OdeLayer::kIgnore:
        shift = l.bias;
        break;
      case OdeLayer::kConcat:
        shift = l.bias + l.time_bias * tt;
        break;
      case OdeLayer::kConcatSquash: {
        auto gate = at::sigmoid(l.gate_weight * tt + l.gate_bias);
        pre = pre * (per_row && tangents ? gate.repeat({k + 1, 1}) : gate);
        shift = l.bias * gate + l.time_bias * tt;
        break;
      }
    }
    value = pre.narrow(0, 0, batch) + shift;
    if (tangents) tangent = pre.narrow(0, batch, k * batch);
    if (i + 1 == layers_.size()) break;
    auto act = apply_activation_with_derivative(options.activation(), value);
    if (tangents) {
      tangent = (tangent.view({k, batch, out}) * act.derivative).view({k * batch, out});
      rows = at::cat({act.value, tangent});
    } else {
      rows = act.value;
    }
  }
  return {value, tangents ? tangent.reshape({k, batch, options.dim()}) : at::Tensor()};
}

CnfSolution integrate_cnf(const CnfField& field, const at::Tensor& x, const at::Tensor& end_time,
                          const std::vector<at::Tensor>& params, const CnfSolveOptions& options, at::Generator& gen) {
  TORCH_CHECK(x.dim() == 2 && x.size(0) >= 1, "integrate_cnf: expected x of shape [B, D], got ", x.sizes());
  TORCH_CHECK(end_time.dim() == 0, "integrate_cnf: end_time must be a 0-dim tensor, got ", end_time.sizes());
  TORCH_CHECK(x.isfinite().all().item<bool>(), "integrate_cnf: the input holds NaN or infinite values");
  const int64_t batch = x.size(0), dim = x.size(1);
  const bool log_det = options.log_det(), penalties = options.penalties();
  at::Tensor v;
  if (log_det || penalties) {
    if (options.divergence() == Divergence::kExact) {
      v = at::eye(dim, x.options()).unsqueeze(1).expand({dim, batch, dim}).contiguous();
    } else {
      v = draw_probe(x, options.probe(), gen).unsqueeze(0);  // drawn once per solve, held fixed
    }
  }
  // Integrated over t ∈ [0, T] as FFJORD does, so the steps (and NFE) are torchdiffeq's; T's
  // gradient is attached afterwards.
  ode::VectorField f = [field, v, log_det, penalties, dim](double t, const ode::State& y) {
    auto [fz, jv] = field(at::full({}, t, y[0].options()), y[0], v);
    ode::State dy{fz};
    if (log_det) dy.push_back((jv * v).sum(at::IntArrayRef{0, 2}));
    if (penalties) {
      dy.push_back((0.5 / dim) * fz.pow(2).sum(1));
      dy.push_back((1.0 / dim) * jv.pow(2).sum(at::IntArrayRef{0, 2}));
    }
    return dy;
  };
  ode::State y0{x};
  auto zeros = at::zeros({batch}, x.options());
  if (log_det) y0.push_back(zeros);
  if (penalties) {
    y0.push_back(zeros);
    y0.push_back(zeros);
  }
  ode::SolverOptions solver = options.solver();
  if (penalties) {
    std::vector<double> rtol(y0.size(), solver.rtol()), atol(y0.size(), solver.atol());
    if (!solver.member_rtol().empty()) std::copy(solver.member_rtol().begin(), solver.member_rtol().end(), rtol.begin());
    if (!solver.member_atol().empty()) std::copy(solver.member_atol().begin(), solver.member_atol().end(), atol.begin());
    rtol[y0.size() - 2] = rtol[y0.size() - 1] = kIgnoredTolerance;
    atol[y0.size() - 2] = atol[y0.size() - 1] = kIgnoredTolerance;
    solver.member_rtol(rtol).member_atol(atol);
  }
  const double T = end_time.item<double>();
  TORCH_CHECK(T > 0 && std::isfinite(T), "integrate_cnf: the end time must be positive and finite, got ", T);
  const bool grad_to_t = end_time.requires_grad() && at::GradMode::is_enabled();
  TORCH_CHECK(!(grad_to_t && options.reverse()),
              "integrate_cnf: a reverse solve does not differentiate its end time (detach it or disable gradients)");
  CnfSolution out;
  if (options.per_sample()) {
    TORCH_CHECK(!at::GradMode::is_enabled() || (!x.requires_grad() && !end_time.requires_grad()),
                "integrate_cnf: per-sample step control takes no gradients; run it under torch::NoGradGuard");
    TORCH_CHECK(!options.penalties() && !options.adjoint(),
                "integrate_cnf: per-sample step control is for evaluation and sampling (no penalties, no adjoint)");
    // The rows f sees are the unfinished ones, so row-specific inputs travel in the state: the
    // Hutchinson probe as a member with zero derivative; the exact trace's tangents are e_1..e_D.
    const bool probe_member = log_det && options.divergence() == Divergence::kHutchinson;
    ode::BatchVectorField g = [field, log_det, probe_member, dim](const at::Tensor& t, const ode::State& y) {
      const int64_t n = y[0].size(0);
      at::Tensor w;
      if (log_det) {
        w = probe_member ? y[2].unsqueeze(0) : at::eye(dim, y[0].options()).unsqueeze(1).expand({dim, n, dim}).contiguous();
      }
      auto [fz, jv] = field(t, y[0], w);
      ode::State dy{fz};
      if (log_det) dy.push_back((jv * w).sum(at::IntArrayRef{0, 2}));
      if (probe_member) dy.push_back(at::zeros_like(y[2]));
      return dy;
    };
    ode::State s0{x};
    if (log_det) s0.push_back(at::zeros({batch}, x.options()));
    if (probe_member) s0.push_back(v.squeeze(0));
    ode::SolverOptions solver = options.solver();
    if (probe_member) {
      solver.member_rtol({solver.rtol(), solver.rtol(), kIgnoredTolerance});
      solver.member_atol({solver.atol(), solver.atol(), kIgnoredTolerance});
    }
    auto y1 = ode::odeint_per_sample(g, s0, options.reverse() ? T : 0.0, options.reverse() ? 0.0 : T, solver,
                                     &out.per_sample);
    out.stats.nfe = out.per_sample.nfe;
    out.stats.accepted = out.per_sample.accepted.sum().item<int64_t>();
    out.stats.rejected = out.per_sample.rejected.sum().item<int64_t>();
    out.z = y1[0];
    if (log_det) out.log_det = y1[1];
    return out;
  }
  const std::vector<double> times = options.reverse() ? std::vector<double>{T, 0.0} : std::vector<double>{0.0, T};
  std::vector<ode::State> ys;
  if (options.adjoint()) {
    std::vector<at::Tensor> grads_to;
    for (const auto& p : params)
      if (p.requires_grad()) grads_to.push_back(p);
    out.backward_stats = std::make_shared<ode::SolverStats>();
    ys = ode::odeint_adjoint(f, y0, times, grads_to, solver,
                             ode::AdjointOptions().seminorm(options.seminorm()).backward_stats(out.backward_stats),
                             &out.stats);
  } else {
    ys = ode::odeint(f, y0, times, solver, &out.stats);
  }
  ode::State y1 = ys.back();
  if (grad_to_t) {
    // d y(T)/dT = F(T, y(T)) for every member: y(T) + (T − stop_grad(T))·stop_grad(F) has y(T)'s
    // value and the end time's gradient (the time term of torchdiffeq's adjoint). One more evaluation.
    ode::State end_rate;
    {
      at::NoGradGuard no_grad;
      end_rate = f(T, y1);
    }
    out.stats.nfe += 1;
    auto dt = end_time - end_time.detach();
    for (size_t i = 0; i < y1.size(); ++i) y1[i] = y1[i] + dt * end_rate[i];
  }
  size_t m = 0;
  out.z = y1[m++];
  if (log_det) out.log_det = y1[m++];
  if (penalties) {
    out.kinetic = y1[m++];
    out.jacobian = y1[m++];
  }
  return out;
}

void ContinuousFlowOptions::validate() const {
  net().validate();
  TORCH_CHECK(blocks() >= 1, "ContinuousFlow: blocks must be at least 1, got ", blocks());
  TORCH_CHECK(end_time() > 0 && std::isfinite(end_time()), "ContinuousFlow: end_time must be positive, got ", end_time());
  TORCH_CHECK(kinetic() >= 0 && jacobian() >= 0, "ContinuousFlow: penalty weights must be non-negative");
}

ContinuousFlowImpl::ContinuousFlowImpl(ContinuousFlowOptions options_) : options(std::move(options_)) {
  options.validate();
  for (int64_t b = 0; b < options.blocks(); ++b) {
    nets.push_back(register_module("net" + std::to_string(b), OdeNet(options.net())));
    auto s = torch::full({}, std::sqrt(options.end_time()));
    const std::string name = "sqrt_end_time" + std::to_string(b);
    sqrt_end_times.push_back(options.train_end_time() ? register_parameter(name, s) : register_buffer(name, s));
  }
  backward_stats_.resize(nets.size());
}

void ContinuousFlowImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < nets.size(); ++b) {
    nets[b]->reset_parameters(gen);
    sqrt_end_times[b].fill_(std::sqrt(options.end_time()));
  }
}

CnfField ContinuousFlowImpl::field(size_t block) {
  OdeNet net = nets[block];
  return [net](const at::Tensor& t, const at::Tensor& z, const at::Tensor& v) mutable {
    return net->forward_with_tangents(t, z, v);
  };
}

std::vector<at::Tensor> ContinuousFlowImpl::block_params(size_t block) { return nets[block]->parameters(); }

std::vector<double> ContinuousFlowImpl::end_times() const {
  std::vector<double> out;
  for (const auto& s : sqrt_end_times) out.push_back(s.item<double>() * s.item<double>());
  return out;
}

int64_t ContinuousFlowImpl::last_backward_nfe() const {
  int64_t n = 0;
  for (const auto& s : backward_stats_)
    if (s) n += s->nfe;
  return n;
}

at::Tensor ContinuousFlowImpl::log_prob(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options.net().dim(), "ContinuousFlow: expected x of shape [B, ",
              options.net().dim(), "], got ", x.sizes());
  auto gen = make_generator(0);  // unused: the exact trace draws nothing
  const auto solve = CnfSolveOptions()
                         .divergence(Divergence::kExact)
                         .solver(options.eval_solver())
                         .per_sample(options.per_sample() && !at::GradMode::is_enabled());
  at::Tensor z = x, log_det = at::zeros({x.size(0)}, x.options());
  last_nfe_ = 0;
  last_row_evaluations_ = 0;
  for (size_t b = 0; b < nets.size(); ++b) {
    auto sol = integrate_cnf(field(b), z, sqrt_end_times[b].pow(2), block_params(b), solve, gen);
    z = sol.z;
    log_det = log_det + sol.log_det;
    last_nfe_ += sol.stats.nfe;
    last_row_evaluations_ += solve.per_sample() ? sol.per_sample.row_evaluations : sol.stats.nfe * x.size(0);
  }
  return standard_normal_log_prob(z) + log_det;
}

DensityTerms ContinuousFlowImpl::training_terms(const at::Tensor& x, at::Generator& gen) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options.net().dim(), "ContinuousFlow: expected x of shape [B, ",
              options.net().dim(), "], got ", x.sizes());
  const bool penalties = options.kinetic() > 0 || options.jacobian() > 0;
  const auto solve = CnfSolveOptions()
                         .divergence(options.divergence())
                         .probe(options.probe())
                         .penalties(penalties)
                         .adjoint(options.adjoint())
                         .seminorm(options.seminorm())
                         .solver(options.solver());
  at::Tensor z = x, log_det = at::zeros({x.size(0)}, x.options());
  at::Tensor kinetic, jacobian;
  last_nfe_ = 0;
  for (size_t b = 0; b < nets.size(); ++b) {
    auto sol = integrate_cnf(field(b), z, sqrt_end_times[b].pow(2), block_params(b), solve, gen);
    z = sol.z;
    log_det = log_det + sol.log_det;
    if (penalties) {
      kinetic = kinetic.defined() ? kinetic + sol.kinetic : sol.kinetic;
      jacobian = jacobian.defined() ? jacobian + sol.jacobian : sol.jacobian;
    }
    last_nfe_ += sol.stats.nfe;
    backward_stats_[b] = sol.backward_stats;
  }
  DensityTerms terms;
  terms.log_prob = standard_normal_log_prob(z) + log_det;
  if (options.kinetic() > 0) terms.penalties.emplace_back("kinetic", options.kinetic() * kinetic.mean());
  if (options.jacobian() > 0) terms.penalties.emplace_back("jacobian", options.jacobian() * jacobian.mean());
  terms.metrics.emplace_back("nfe", static_cast<double>(last_nfe_));
  double t_sum = 0;
  for (double t : end_times()) t_sum += t;
  terms.metrics.emplace_back("end_time", t_sum);
  return terms;
}

at::Tensor ContinuousFlowImpl::inverse(const at::Tensor& z) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == options.net().dim(), "ContinuousFlow: expected z of shape [B, ",
              options.net().dim(), "], got ", z.sizes());
  auto gen = make_generator(0);  // unused without the log-determinant
  const auto solve = CnfSolveOptions()
                         .log_det(false)
                         .reverse(true)
                         .solver(options.eval_solver())
                         .per_sample(options.per_sample() && !at::GradMode::is_enabled());
  at::Tensor x = z;
  last_nfe_ = 0;
  last_row_evaluations_ = 0;
  for (size_t b = nets.size(); b-- > 0;) {
    auto sol = integrate_cnf(field(b), x, sqrt_end_times[b].pow(2), block_params(b), solve, gen);
    x = sol.z;
    last_nfe_ += sol.stats.nfe;
    last_row_evaluations_ += solve.per_sample() ? sol.per_sample.row_evaluations : sol.stats.nfe * z.size(0);
  }
  return x;
}

at::Tensor ContinuousFlowImpl::sample(int64_t n, at::Generator gen) {
  torch::NoGradGuard no_grad;
  const auto& ref = sqrt_end_times.front();
  auto z = at::randn({n, options.net().dim()}, gen, ref.options());
  return inverse(z);
}

}  // namespace joule
