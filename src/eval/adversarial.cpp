#include "joule/eval/adversarial.h"

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "joule/core/energy.h"
#include "joule/samplers/langevin.h"

namespace joule::eval {

namespace {

// Per-input L2 norm of [N, ...] as [N, 1, ..., 1] (broadcasts against the input).
at::Tensor row_norm(const at::Tensor& t) {
  std::vector<int64_t> shape(t.dim(), 1);
  shape[0] = t.size(0);
  return t.reshape({t.size(0), -1}).norm(2, 1).view(shape);
}

at::Tensor reached_goal(const at::Tensor& logits, const at::Tensor& y, const at::Tensor& target) {
  const auto pred = logits.argmax(1);
  return target.defined() ? pred.eq(target) : pred.ne(y);
}

at::Tensor clamp_range(const at::Tensor& x, const c10::optional<AttackOptions::Range>& range) {
  return range ? x.clamp(range->first, range->second) : x;
}

}  // namespace

AttackNorm attack_norm_from_string(const std::string& name) {
  if (name == "linf") return AttackNorm::kLinf;
  if (name == "l2") return AttackNorm::kL2;
  TORCH_CHECK(false, "unknown attack norm '", name, "'; expected linf or l2");
}

std::string to_string(AttackNorm norm) { return norm == AttackNorm::kLinf ? "linf" : "l2"; }

AttackLoss attack_loss_from_string(const std::string& name) {
  if (name == "ce") return AttackLoss::kCrossEntropy;
  if (name == "margin") return AttackLoss::kMargin;
  TORCH_CHECK(false, "unknown attack loss '", name, "'; expected ce or margin");
}

RefinementGradient refinement_gradient_from_string(const std::string& name) {
  if (name == "through") return RefinementGradient::kThrough;
  if (name == "identity") return RefinementGradient::kIdentity;
  TORCH_CHECK(false, "unknown refinement gradient '", name, "'; expected through (exact) or identity (BPDA)");
}

AttackOptions AttackOptions::fgsm(AttackNorm norm, double eps) {
  return AttackOptions(norm, eps).steps(1).step_size(eps).random_start(false);
}

AttackOptions AttackOptions::pgd(AttackNorm norm, double eps, int64_t steps) { return AttackOptions(norm, eps).steps(steps); }

void AttackOptions::validate() const {
  TORCH_CHECK(std::isfinite(eps_) && eps_ >= 0, "attack eps must be >= 0, got ", eps_);
  TORCH_CHECK(steps_ >= 1, "attack steps must be >= 1, got ", steps_);
  TORCH_CHECK(std::isfinite(step_size_) && step_size_ >= 0, "attack step_size must be >= 0 (0 = 2.5 eps / steps), got ", step_size_);
  TORCH_CHECK(restarts_ >= 1, "attack restarts must be >= 1, got ", restarts_);
  TORCH_CHECK(eot_samples_ >= 1, "attack eot_samples must be >= 1, got ", eot_samples_);
  TORCH_CHECK(batch_size_ >= 1, "attack batch_size must be >= 1, got ", batch_size_);
  if (range_) TORCH_CHECK(range_->first < range_->second, "attack range must have low < high, got [", range_->first, ", ", range_->second, "]");
}

double AttackOptions::step() const { return step_size_ > 0 ? step_size_ : 2.5 * eps_ / static_cast<double>(steps_); }

at::Tensor project_to_ball(const at::Tensor& x, const at::Tensor& x0, AttackNorm norm, double eps,
                           const c10::optional<AttackOptions::Range>& range) {
  auto delta = x - x0;
  if (norm == AttackNorm::kLinf) {
    delta = delta.clamp(-eps, eps);
  } else {
    // Scale the rows outside the ball back onto its surface.
    const auto n = row_norm(delta);
    delta = delta * (eps / n.clamp_min(1e-12)).clamp_max(1.0);
  }
  // Clamping into a box that holds x0 moves no coordinate further from x0, so the result stays
  // in the ball (for L2 it is a point of the intersection, not the exact projection onto it).
  return clamp_range(x0 + delta, range);
}

at::Tensor attack_objective(const at::Tensor& logits, const at::Tensor& y, AttackLoss loss, const at::Tensor& target) {
  TORCH_CHECK(logits.dim() == 2, "attack_objective: logits must be [N, C], got ", logits.sizes());
  const bool targeted = target.defined();
  const auto& cls = targeted ? target : y;
  TORCH_CHECK(cls.dim() == 1 && cls.size(0) == logits.size(0), "attack_objective: labels must be [", logits.size(0), "], got ",
              cls.sizes());
  const auto idx = cls.unsqueeze(1);
  if (loss == AttackLoss::kCrossEntropy) {
    const auto logp = at::log_softmax(logits, 1).gather(1, idx).squeeze(1);
    return targeted ? logp : -logp;
  }
  const auto own = logits.gather(1, idx).squeeze(1);
  const auto others = logits.scatter(1, idx, -std::numeric_limits<double>::infinity()).amax(1);
  return targeted ? own - others : others - own;
}

AttackResult pgd_attack(const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const AttackOptions& options,
                        at::Generator gen, const at::Tensor& target) {
  options.validate();
  TORCH_CHECK(x.dim() >= 2, "pgd_attack: inputs must be [N, ...], got ", x.sizes());
  TORCH_CHECK(y.dim() == 1 && y.size(0) == x.size(0) && y.scalar_type() == at::kLong, "pgd_attack: labels must be int64 [",
              x.size(0), "], got ", y.scalar_type(), " ", y.sizes());
  if (target.defined()) {
    TORCH_CHECK(target.dim() == 1 && target.size(0) == x.size(0) && target.scalar_type() == at::kLong,
                "pgd_attack: targets must be int64 [", x.size(0), "], got ", target.scalar_type(), " ", target.sizes());
  }
  TORCH_CHECK(x.isfinite().all().item<bool>(), "pgd_attack: the inputs contain NaN or infinite values");
  const int64_t n = x.size(0);
  const double eps = options.eps();
  const double step = options.step();
  const auto norm = options.norm();
  const auto x0 = x.detach();
  auto x_adv = x0.clone();
  auto fooled = at::zeros({n}, x.options().dtype(at::kBool));
  // The best objective of an input not fooled yet (its kept iterate is the one with the highest).
  auto best = at::full({n}, -std::numeric_limits<double>::infinity(), x.options());

  // Inputs the classifier already gets wrong (or, targeted, already assigns to the target)
  // need no attack: they count as fooled at x itself.
  {
    at::NoGradGuard no_grad;
    for (int64_t b = 0; b < n; b += options.batch_size()) {
      const int64_t e = std::min(n, b + options.batch_size());
      const auto t = target.defined() ? target.slice(0, b, e) : at::Tensor();
      fooled.slice(0, b, e).copy_(reached_goal(f(x0.slice(0, b, e)), y.slice(0, b, e), t));
    }
  }
  // The gradient of the objective at xa (mean over eot_samples calls) and the mean logits there.
  auto gradient = [&](const at::Tensor& xa, const at::Tensor& ya, const at::Tensor& ta) {
    at::AutoGradMode grad_mode(true);
    at::Tensor g, logits;
    for (int64_t s = 0; s < options.eot_samples(); ++s) {
      auto leaf = xa.detach().requires_grad_(true);
      auto l = f(leaf);
      auto obj = attack_objective(l, ya, options.loss(), ta);
      auto gs = torch::autograd::grad({obj.sum()}, {leaf})[0];
      g = g.defined() ? g + gs : gs;
      logits = logits.defined() ? logits + l.detach() : l.detach();
    }
    const double k = static_cast<double>(options.eot_samples());
    return std::make_pair(g / k, logits / k);
  };

  // Restart-major: restart r draws its random starts for every input, fooled or not, so the
  // random numbers of restart r do not depend on what earlier restarts or batches achieved.
  // At ε = 0 there is nothing to search: the clean prediction is the answer.
  for (int64_t r = 0; eps > 0 && r < options.restarts(); ++r) {
    for (int64_t b = 0; b < n; b += options.batch_size()) {
      const int64_t e = std::min(n, b + options.batch_size());
      const auto xb0 = x0.slice(0, b, e);
      at::Tensor start = xb0;
      if (options.random_start()) {
        if (norm == AttackNorm::kLinf) {
          start = xb0 + at::empty_like(xb0).uniform_(-eps, eps, gen);
        } else {
          // Uniform in the L2 ball: a Gaussian direction and radius ε·u^(1/d).
          auto dir = at::empty_like(xb0).normal_(0.0, 1.0, gen);
          const double d = static_cast<double>(xb0[0].numel());
          auto u = at::empty({e - b}, xb0.options()).uniform_(0.0, 1.0, gen).pow(1.0 / d);
          std::vector<int64_t> shape(xb0.dim(), 1);
          shape[0] = e - b;
          start = xb0 + dir / row_norm(dir).clamp_min(1e-12) * (eps * u).view(shape);
        }
        start = project_to_ball(start, xb0, norm, eps, options.range());
      }
      auto active = fooled.slice(0, b, e).logical_not().nonzero().squeeze(1);  // local indices
      if (active.numel() == 0) continue;
      auto xa = start.index_select(0, active);
      for (int64_t s = 0; s <= options.steps(); ++s) {
        const auto ya = y.slice(0, b, e).index_select(0, active);
        const auto ta = target.defined() ? target.slice(0, b, e).index_select(0, active) : at::Tensor();
        at::Tensor g, logits;
        if (s < options.steps()) {
          std::tie(g, logits) = gradient(xa, ya, ta);
        } else {
          at::NoGradGuard no_grad;  // the last iterate is only judged
          logits = f(xa);
        }
        const auto hit = reached_goal(logits, ya, ta);
        const auto global = active + b;
        if (hit.any().item<bool>()) {
          const auto hit_idx = hit.nonzero().squeeze(1);
          const auto g_idx = global.index_select(0, hit_idx);
          x_adv.index_copy_(0, g_idx, xa.index_select(0, hit_idx));
          fooled.index_fill_(0, g_idx, true);
        }
        if (s == options.steps()) {
          // Not fooled: keep the final iterate of the restart with the highest objective.
          const auto miss = hit.logical_not().nonzero().squeeze(1);
          if (miss.numel() > 0) {
            const auto obj = attack_objective(logits.index_select(0, miss), ya.index_select(0, miss), options.loss(),
                                              ta.defined() ? ta.index_select(0, miss) : at::Tensor());
            const auto g_idx = global.index_select(0, miss);
            const auto better = obj.gt(best.index_select(0, g_idx)).nonzero().squeeze(1);
            if (better.numel() > 0) {
              const auto gb = g_idx.index_select(0, better);
              x_adv.index_copy_(0, gb, xa.index_select(0, miss).index_select(0, better));
              best.index_copy_(0, gb, obj.index_select(0, better));
            }
          }
          break;
        }
        // Drop the fooled inputs, then step the rest.
        const auto keep = hit.logical_not().nonzero().squeeze(1);
        if (keep.numel() == 0) break;
        active = active.index_select(0, keep);
        xa = xa.index_select(0, keep);
        g = g.index_select(0, keep);
        at::Tensor moved;
        if (norm == AttackNorm::kLinf) {
          moved = xa + step * g.sign();
        } else {
          moved = xa + step * g / row_norm(g).clamp_min(1e-12);
        }
        xa = project_to_ball(moved, x0.slice(0, b, e).index_select(0, active), norm, eps, options.range());
      }
    }
  }

  AttackResult result;
  result.x_adv = x_adv;
  result.fooled = fooled;
  result.correct = at::empty_like(fooled);
  at::NoGradGuard no_grad;
  for (int64_t b = 0; b < n; b += options.batch_size()) {
    const int64_t e = std::min(n, b + options.batch_size());
    result.correct.slice(0, b, e).copy_(f(x_adv.slice(0, b, e)).argmax(1).eq(y.slice(0, b, e)));
  }
  return result;
}

void SgldDefenceOptions::validate() const {
  TORCH_CHECK(steps_ >= 0, "defence steps must be >= 0, got ", steps_);
  TORCH_CHECK(chains_ >= 1, "defence chains must be >= 1, got ", chains_);
  TORCH_CHECK(std::isfinite(step_size_) && step_size_ > 0, "defence step_size must be > 0, got ", step_size_);
  TORCH_CHECK(std::isfinite(noise_) && noise_ >= 0, "defence noise must be >= 0, got ", noise_);
  if (range_) TORCH_CHECK(range_->first < range_->second, "defence range must have low < high");
}

SgldDefence::SgldDefence(ClassifierEnergyImpl& model, SgldDefenceOptions options, at::Generator gen)
    : model_(model), options_(std::move(options)), gen_(std::move(gen)) {
  options_.validate();
  auto lo = LangevinOptions(std::max<int64_t>(options_.steps(), 1)).step_size(options_.step_size()).noise(options_.noise());
  if (options_.range()) lo.clamp(*options_.range());
  sampler_ = std::make_unique<Langevin>(lo);
}

at::Tensor SgldDefence::refine(const at::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2, "SgldDefence: inputs must be [B, ...], got ", x.sizes());
  const int64_t b = x.size(0);
  std::vector<int64_t> rep(x.sizes().begin(), x.sizes().end());
  rep[0] = options_.chains() * b;
  std::vector<int64_t> expanded(x.sizes().begin(), x.sizes().end());
  expanded.insert(expanded.begin(), options_.chains());
  auto start = x.unsqueeze(0).expand(expanded).reshape(rep);
  if (options_.steps() == 0) return start;
  const bool graph = x.requires_grad() && at::GradMode::is_enabled();
  if (graph && options_.gradient() == RefinementGradient::kThrough) {
    auto xr = start;
    for (int64_t k = 0; k < options_.steps(); ++k) xr = sampler_->step(model_, xr, gen_, /*keep_graph=*/true);
    return xr;
  }
  auto refined = sampler_->sample(model_, start.detach(), gen_);
  // BPDA: the forward value is the refined input, the backward the identity.
  return graph ? start + (refined - start).detach() : refined;
}

at::Tensor SgldDefence::logits(const at::Tensor& x) {
  const auto xr = refine(x);
  EvalModeGuard eval_mode(model_);
  const auto l = model_.logits(xr);
  return l.view({options_.chains(), x.size(0), l.size(1)}).mean(0);
}

LogitsFn SgldDefence::as_logits_fn() {
  return [this](const at::Tensor& x) { return logits(x); };
}

at::Tensor distal_adversarials(const LogitsFn& f, const std::vector<int64_t>& event_shape, const at::Tensor& labels,
                               int64_t steps, double step_size, const c10::optional<AttackOptions::Range>& range,
                               at::Generator gen) {
  TORCH_CHECK(labels.dim() == 1 && labels.scalar_type() == at::kLong, "distal_adversarials: labels must be int64 [N]");
  TORCH_CHECK(steps >= 0 && step_size > 0, "distal_adversarials: steps must be >= 0 and step_size > 0");
  std::vector<int64_t> shape{labels.size(0)};
  shape.insert(shape.end(), event_shape.begin(), event_shape.end());
  const auto opts = at::TensorOptions().device(labels.device());
  auto x = range ? at::empty(shape, opts).uniform_(range->first, range->second, gen) : at::empty(shape, opts).normal_(0.0, 1.0, gen);
  at::AutoGradMode grad_mode(true);
  for (int64_t s = 0; s < steps; ++s) {
    auto leaf = x.detach().requires_grad_(true);
    const auto logp = at::log_softmax(f(leaf), 1).gather(1, labels.unsqueeze(1)).sum();
    auto g = torch::autograd::grad({logp}, {leaf})[0];
    x = clamp_range(x + step_size * g / row_norm(g).clamp_min(1e-12), range);
  }
  return x.detach();
}

}  // namespace joule::eval
