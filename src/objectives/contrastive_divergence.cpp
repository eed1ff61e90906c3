#include "joule/objectives/contrastive_divergence.h"

#include <c10/util/Exception.h>

namespace joule {

ContrastiveDivergence::ContrastiveDivergence(ContrastiveDivergenceOptions options_, std::shared_ptr<Sampler> sampler,
                                             std::shared_ptr<ReplayBuffer> buffer)
    : ContrastiveDivergence(options_, buffer ? std::make_shared<PersistentChains>(sampler, buffer) : nullptr) {
  if (!chains_) {
    TORCH_CHECK(sampler, "ContrastiveDivergence needs a sampler");
    sampler_ = std::move(sampler);
  }
}

ContrastiveDivergence::ContrastiveDivergence(ContrastiveDivergenceOptions options_, std::shared_ptr<PersistentChains> chains)
    : options(options_), sampler_(chains ? chains->sampler_ptr() : nullptr), chains_(std::move(chains)) {
  TORCH_CHECK(options.l2_energy() >= 0, "ContrastiveDivergence: l2_energy must be >= 0, got ", options.l2_energy());
  TORCH_CHECK(options.init_noise() >= 0, "ContrastiveDivergence: init_noise must be >= 0, got ", options.init_noise());
}

ObjectiveOutput ContrastiveDivergence::compute(EnergyModel& model, const Batch& batch, at::Generator& gen) {
  const auto& x_pos = batch.x;
  const int64_t n = x_pos.size(0);
  auto x_neg = chains_ ? chains_->advance(model, n, gen) : sampler_->sample(model, data_start(x_pos, gen), gen);
  return contrastive_loss(model, x_pos, x_neg);
}

torch::Tensor ContrastiveDivergence::data_start(const torch::Tensor& x_pos, at::Generator& gen) const {
  auto x0 = x_pos.detach();
  if (options.init_noise() > 0) x0 = x0 + torch::empty_like(x0).normal_(0.0, options.init_noise(), gen);
  return x0;
}

ObjectiveOutput ContrastiveDivergence::contrastive_loss(EnergyModel& model, const torch::Tensor& x_pos,
                                                        const torch::Tensor& x_neg) {
  const int64_t n = x_pos.size(0);
  // One forward pass over [x⁺; x⁻] keeps the two energies on the same parameters and halves
  // the number of small kernel launches.
  auto e = model.energy(torch::cat({x_pos, x_neg}, 0));
  auto e_pos = e.slice(0, 0, n);
  auto e_neg = e.slice(0, n);
  auto loss = e_pos.mean() - e_neg.mean();
  if (options.l2_energy() > 0) loss = loss + options.l2_energy() * (e_pos.pow(2).mean() + e_neg.pow(2).mean());

  ObjectiveOutput out;
  out.loss = loss;
  out.negatives = x_neg;
  const double ep = e_pos.mean().item<double>();
  const double en = e_neg.mean().item<double>();
  out.metrics = {{"e_pos", ep}, {"e_neg", en}, {"cd_gap", ep - en}};
  out.distributions = {{"energy/data", e_pos.detach()}, {"energy/samples", e_neg.detach()}};
  // Robust summaries for a sampler-health watch: medians ignore the few freshly re-initialised
  // chains (far out, high energy) that move the means, and the data energies' interquartile
  // range / 1.349 (the sd of a normal) is the scale the gap is measured in.
  if (options.robust_metrics() && n > 1) {
    auto q = torch::quantile(e_pos.detach(), torch::tensor({0.25, 0.5, 0.75}, e_pos.options()));
    auto q_cpu = q.to(torch::kCPU, torch::kDouble);
    const double* qd = q_cpu.data_ptr<double>();
    out.metrics.emplace_back("e_pos_median", qd[1]);
    out.metrics.emplace_back("e_neg_median", e_neg.detach().median().item<double>());
    out.metrics.emplace_back("e_pos_spread", (qd[2] - qd[0]) / 1.349);
  }
  if (!std::isnan(sampler_->stats().acceptance_rate)) out.metrics.emplace_back("accept", sampler_->stats().acceptance_rate);
  return out;
}

void ContrastiveDivergence::save(torch::serialize::OutputArchive& archive) const {
  if (chains_) chains_->save(archive);
}

void ContrastiveDivergence::load(torch::serialize::InputArchive& archive) {
  if (chains_) chains_->load(archive);
}

}  // namespace joule
