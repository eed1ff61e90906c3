#include "joule/objectives/contrastive_divergence.h"

#include <c10/util/Exception.h>

namespace joule {

ContrastiveDivergence::ContrastiveDivergence(ContrastiveDivergenceOptions options_, std::shared_ptr<Sampler> sampler,
                                             std::shared_ptr<ReplayBuffer> buffer)
    : options(options_), sampler_(std::move(sampler)), buffer_(std::move(buffer)) {
  TORCH_CHECK(sampler_, "ContrastiveDivergence needs a sampler");
  TORCH_CHECK(options.l2_energy() >= 0, "ContrastiveDivergence: l2_energy must be >= 0, got ", options.l2_energy());
  TORCH_CHECK(options.init_noise() >= 0, "ContrastiveDivergence: init_noise must be >= 0, got ", options.init_noise());
}

ObjectiveOutput ContrastiveDivergence::compute(EnergyModel& model, const Batch& batch, at::Generator& gen) {
  const auto& x_pos = batch.x;
  const int64_t n = x_pos.size(0);
  torch::Tensor x0, indices;
  if (buffer_) {
    auto draw = buffer_->sample(n, gen);
    x0 = draw.x;
    indices = draw.indices;
  } else {
    x0 = x_pos.detach();
    if (options.init_noise() > 0) x0 = x0 + torch::empty_like(x0).normal_(0.0, options.init_noise(), gen);
  }
  auto x_neg = sampler_->sample(model, x0, gen);
  if (buffer_) buffer_->update(indices, x_neg);

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
  if (!std::isnan(sampler_->stats().acceptance_rate)) out.metrics.emplace_back("accept", sampler_->stats().acceptance_rate);
  return out;
}

void ContrastiveDivergence::save(torch::serialize::OutputArchive& archive) const {
  if (buffer_) {
    torch::serialize::OutputArchive buf;
    buffer_->save(buf);
    archive.write("buffer", buf);
  }
}

void ContrastiveDivergence::load(torch::serialize::InputArchive& archive) {
  if (buffer_) {
    torch::serialize::InputArchive buf;
    TORCH_CHECK(archive.try_read("buffer", buf), "checkpoint has no replay buffer but this PCD objective needs one");
    buffer_->load(buf);
  }
}

}  // namespace joule
