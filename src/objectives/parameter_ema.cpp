#include "joule/objectives/parameter_ema.h"

#include <c10/util/Exception.h>
#include <torch/nn/module.h>

#include <cmath>

namespace joule {

ParameterEma::ParameterEma(std::shared_ptr<Objective> inner, double decay, std::string source, std::string target,
                           std::string group)
    : inner_(std::move(inner)), decay_(decay), source_(std::move(source)), target_(std::move(target)), group_(std::move(group)) {
  TORCH_CHECK(inner_, "ParameterEma needs an objective");
  TORCH_CHECK(std::isfinite(decay_) && decay_ >= 0 && decay_ < 1, "ParameterEma: decay must be in [0, 1), got ", decay_);
}

void ParameterEma::copy(torch::nn::Module& source, torch::nn::Module& target) {
  torch::NoGradGuard no_grad;
  auto src = source.named_parameters(), dst = target.named_parameters();
  TORCH_CHECK(src.size() == dst.size(), "ParameterEma: the average has ", dst.size(), " parameters but the model ", src.size());
  for (const auto& p : src) {
    auto* q = dst.find(p.key());
    TORCH_CHECK(q && q->sizes() == p.value().sizes(), "ParameterEma: the average has no parameter '", p.key(),
                "' of shape ", p.value().sizes());
    q->copy_(p.value());
  }
  auto sb = source.named_buffers(), db = target.named_buffers();
  for (const auto& b : sb) {
    if (auto* q = db.find(b.key())) q->copy_(b.value());
  }
}

void ParameterEma::after_update(ModuleSet& modules, const Update& update) {
  inner_->after_update(modules, update);
  if (update.group != group_) return;
  torch::NoGradGuard no_grad;
  auto src = modules.at(source_).named_parameters();
  auto dst = modules.at(target_).named_parameters();
  for (const auto& p : src) {
    auto* q = dst.find(p.key());
    TORCH_CHECK(q, "ParameterEma: the average has no parameter '", p.key(), "'");
    q->mul_(decay_).add_(p.value(), 1.0 - decay_);
  }
}

}  // namespace joule
