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

LsdObjective::LsdObjective(LsdOptions options_, SteinCritic critic, std::shared_ptr<data::DataSource> critic_data)
    : options(std::move(options_)), critic_(std::move(critic)), critic_data_(std::move(critic_data)) {
  TORCH_CHECK(critic_, "LsdObjective needs a critic");
  TORCH_CHECK(options.l2() > 0, "LsdObjective: l2 (lambda) must be > 0, got ", options.l2());
  TORCH_CHECK(options.critic_steps() >= 0, "LsdObjective: critic_steps must be >= 0, got ", options.critic_steps());
  TORCH_CHECK(options.trace().probes() >= 1, "LsdObjective: trace probes must be >= 1, got ", options.trace().probes());
  TORCH_CHECK(options.critic_lr() > 0, "LsdObjective: critic_lr must be > 0, got ", options.critic_lr());
  TORCH_CHECK(options.l2_energy() >= 0, "LsdObjective: l2_energy must be >= 0, got ", options.l2_energy());
  optimizer_ = std::make_unique<torch::optim::Adam>(
      critic_->parameters(), torch::optim::AdamOptions(options.critic_lr())
                                 .betas(std::make_tuple(options.critic_beta1(), options.critic_beta2()))
                                 .weight_decay(options.critic_weight_decay()));
}

CriticLoss LsdObjective::critic_step(EnergyModel& model, const at::Tensor& x_in, at::Generator& gen) {
  torch::AutoGradMode grad_mode(true);
  critic_->train();
  // The model's score is a constant for the critic: the fast, graph-free path.
  auto sq = score(model, x_in.detach(), /*create_graph=*/false);
  if (options.fused_critic_step() && options.trace().kind() == TraceKind::kHutchinson && critic_->has_fused_step()) {
    optimizer_->zero_grad();
    auto st = critic_->stein_loss_backward(x_in.detach(), sq, options.l2(), /*maximize_power=*/false,
                                           options.trace().probe() == ProbeKind::kRademacher, options.trace().probes(), gen);
    optimizer_->step();
    ++critic_updates_;
    CriticLoss out;
    out.loss = at::scalar_tensor(st.loss, sq.options());
    out.stat_mean = st.stat_mean;
    out.stat_std = st.stat_std;
    out.f_norm2 = st.f_norm2;
    return out;
  }
  auto x = x_in.detach().requires_grad_(true);
  auto fx = critic_->forward(x, gen);
  auto trace = options.trace();
  trace.create_graph(true);
  auto stats = stein_statistics(sq, fx, x, trace, gen);
  auto loss = lsd_critic_loss(stats, fx, options.l2(), /*maximize_power=*/false);
  optimizer_->zero_grad();
  loss.loss.backward();
  optimizer_->step();
  ++critic_updates_;
  return loss;
}

ObjectiveOutput LsdObjective::compute(EnergyModel& model, const Batch& batch, at::Generator& gen) {
  CriticLoss last;
  for (int64_t k = 0; k < options.critic_steps(); ++k) {
    at::Tensor xc = batch.x;
    if (critic_data_) {
      xc = critic_data_->next(batch.x.size(0), gen).x;
      if (xc.device() != batch.x.device()) xc = xc.to(batch.x.device());
    }
    last = critic_step(model, xc, gen);
  }

  // Model step: gradient to θ through s_θ(x) = −∇ₓE_θ(x)/T (double backward); the critic is
  // fixed here (eval mode, no graph), and its trace term does not depend on θ.
  const int64_t b = batch.x.size(0);
  auto x = batch.x.detach().requires_grad_(true);
  auto e = model.energy(x);
  TORCH_CHECK(e.dim() == 1 && e.size(0) == b, "energy() must return one value per sample, shape [", b, "], got ",
              e.sizes());
  auto grad_e = torch::autograd::grad({e.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  auto sq = grad_e / (-model.temperature());
  at::Tensor fx, tr;
  {
    EvalModeGuard eval(*critic_);
    auto xt = batch.x.detach().requires_grad_(true);
    auto f = critic_->forward(xt);
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
  if (options.critic_steps() > 0) {
    out.metrics.emplace_back("critic_stat", last.stat_mean);
    out.metrics.emplace_back("critic_f2", last.f_norm2);
  }
  return out;
}

void LsdObjective::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive critic_archive, optim_archive;
  critic_->save(critic_archive);
  optimizer_->save(optim_archive);
  archive.write("critic", critic_archive);
  archive.write("critic_optimizer", optim_archive);
  archive.write("critic_updates", at::tensor(critic_updates_));
}

void LsdObjective::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive critic_archive, optim_archive;
  TORCH_CHECK(archive.try_read("critic", critic_archive),
              "checkpoint has no LSD critic: it was not written by an LSD run (objective.kind = lsd)");
  archive.read("critic_optimizer", optim_archive);
  critic_->load(critic_archive);
  optimizer_->load(optim_archive);
  at::Tensor updates;
  archive.read("critic_updates", updates);
  critic_updates_ = updates.item<int64_t>();
}

}  // namespace joule
