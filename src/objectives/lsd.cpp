#include "joule/objectives/lsd.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>
#include <torch/serialize/archive.h>

namespace joule {

TraceKind parse_trace_kind(const std::string& name) {
  if (name == "exact") return TraceKind::kExact;
  if (name == "hutchinson") return TraceKind::kHutchinson;
  TORCH_CHECK(false, "unknown trace estimator '", name, "' (allowed: exact, hutchinson)");
}

std::string to_string(TraceKind kind) { return kind == TraceKind::kExact ? "exact" : "hutchinson"; }

at::Tensor stein_statistics(const at::Tensor& score_q, const at::Tensor& fx, const at::Tensor& x,
                            const SteinTraceOptions& trace, at::Generator& gen) {
  TORCH_CHECK(score_q.sizes() == x.sizes(), "stein_statistics: the score must have the shape of x, got ",
              score_q.sizes(), " for x of shape ", x.sizes());
  const int64_t b = x.size(0);
  auto sq_f = (score_q * fx).reshape({b, -1}).sum(1);
  at::Tensor tr;
  if (trace.kind() == TraceKind::kExact) {
    tr = jacobian_trace_exact(fx, x, trace.create_graph());
  } else {
    tr = jacobian_trace_hutchinson(
        fx, x, HutchinsonOptions().probe(trace.probe()).probes(trace.probes()).create_graph(trace.create_graph()), gen);
  }
  return sq_f + tr;
}

CriticLoss lsd_critic_loss(const at::Tensor& stats, const at::Tensor& fx, double l2, bool maximize_power) {
  TORCH_CHECK(stats.dim() == 1 && stats.size(0) >= 2, "lsd_critic_loss: needs at least 2 statistics, got shape ",
              stats.sizes());
  const int64_t b = fx.size(0);
  auto mean = stats.mean();
  auto std = stats.std();
  auto norm2 = fx.pow(2).reshape({b, -1}).sum(1).mean();
  CriticLoss out;
  out.loss = (maximize_power ? -mean / (std + 1e-6) : -mean) + l2 * norm2;
  out.stat_mean = mean.item<double>();
  out.stat_std = std.item<double>();
  out.f_norm2 = norm2.item<double>();
  return out;
}

LsdObjective::LsdObjective(LsdOptions options_) : options(std::move(options_)) {
  TORCH_CHECK(options.l2() > 0, "LsdObjective: l2 (lambda) must be > 0, got ", options.l2());
  TORCH_CHECK(options.trace().probes() >= 1, "LsdObjective: trace probes must be >= 1, got ", options.trace().probes());
  TORCH_CHECK(options.l2_energy() >= 0, "LsdObjective: l2_energy must be >= 0, got ", options.l2_energy());
}

CriticLoss LsdObjective::critic_backward(EnergyModel& model, SteinCriticImpl& critic, const at::Tensor& x_in,
                                         at::Generator& gen) {
  torch::AutoGradMode grad_mode(true);
  critic.train();
  // The model's score is a constant for the critic: the fast, graph-free path.
  auto sq = score(model, x_in.detach(), /*create_graph=*/false);
  if (options.fused_critic_step() && options.trace().kind() == TraceKind::kHutchinson && critic.has_fused_step()) {
    auto st = critic.stein_loss_backward(x_in.detach(), sq, options.l2(), /*maximize_power=*/false,
                                         options.trace().probe() == ProbeKind::kRademacher, options.trace().probes(), gen);
    CriticLoss out;
    out.loss = at::scalar_tensor(st.loss, sq.options());
    out.stat_mean = st.stat_mean;
    out.stat_std = st.stat_std;
    out.f_norm2 = st.f_norm2;
    return out;
  }
  auto x = x_in.detach().requires_grad_(true);
  auto fx = critic.forward(x, gen);
  auto trace = options.trace();
  trace.create_graph(true);
  auto stats = stein_statistics(sq, fx, x, trace, gen);
  auto loss = lsd_critic_loss(stats, fx, options.l2(), /*maximize_power=*/false);
  loss.loss.backward();
  loss.loss = loss.loss.detach();
  return loss;
}

ObjectiveOutput LsdObjective::model_loss(EnergyModel& model, SteinCriticImpl& critic, const at::Tensor& x_in,
                                         at::Generator& gen) {
  // Gradient to θ through s_θ(x) = −∇ₓE_θ(x)/T (double backward); the critic is fixed here
  // (eval mode, no graph), and its trace term does not depend on θ.
  const int64_t b = x_in.size(0);
  auto x = x_in.detach().requires_grad_(true);
  auto e = model.energy(x);
  TORCH_CHECK(e.dim() == 1 && e.size(0) == b, "energy() must return one value per sample, shape [", b, "], got ",
              e.sizes());
  auto grad_e = torch::autograd::grad({e.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  auto sq = grad_e / (-model.temperature());
  at::Tensor fx, tr;
  {
    EvalModeGuard eval(critic);
    auto xt = x_in.detach().requires_grad_(true);
    auto f = critic.forward(xt);
    auto trace = options.trace();
    trace.create_graph(false);
    tr = stein_statistics(at::zeros_like(f), f, xt, trace, gen).detach();
    fx = f.detach();
  }
  auto stats = (sq * fx).reshape({b, -1}).sum(1) + tr;
  auto loss = stats.mean();
  if (options.l2_energy() > 0) loss = loss + options.l2_energy() * e.pow(2).mean();
  ObjectiveOutput out;
  out.loss = loss;
  out.metrics = {{"lsd", stats.mean().item<double>()}, {"e_pos", e.mean().item<double>()}};
  return out;
}

ObjectiveOutput LsdObjective::compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) {
  auto& model = modules.get<EnergyModel>("model");
  auto& critic = modules.get<SteinCriticImpl>("critic");
  if (update.group == "model") return model_loss(model, critic, batch.x, gen);
  TORCH_CHECK(update.group == "critic", "LsdObjective trains the groups 'critic' and 'model', not '", update.group, "'");
  // The gradient is computed here (fused when possible) and handed over as closed-form
  // gradients: the critic's .grad() starts undefined, so accumulating equals assigning.
  auto params = critic.parameters();
  for (auto& p : params) p.mutable_grad() = at::Tensor();
  const CriticLoss c = critic_backward(model, critic, batch.x, gen);
  ObjectiveOutput out;
  out.loss = c.loss;
  for (auto& p : params) out.gradients.push_back(p.grad().defined() ? p.grad() : at::zeros_like(p));
  out.metrics = {{"critic_stat", c.stat_mean}, {"critic_f2", c.f_norm2}};
  return out;
}

}  // namespace joule
