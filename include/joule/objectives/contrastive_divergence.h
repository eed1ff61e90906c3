#pragma once
// Contrastive divergence: CD-k (chains start at the data) and PCD (chains persist in a replay
// buffer), with stop-gradient negatives and IGEBM's L2 energy penalty.

#include <torch/arg.h>

#include <memory>

#include "joule/objectives/objective.h"
#include "joule/samplers/chains.h"
#include "joule/samplers/replay_buffer.h"
#include "joule/samplers/sampler.h"

namespace joule {

/// Options for ContrastiveDivergence.
///
/// loss = mean E(x⁺) − mean E(x⁻) + α (mean E(x⁺)² + mean E(x⁻)²), x⁻ = stop_grad(sampler(x₀)),
/// x₀ = the data batch (+ optional noise) for CD-k, or buffer draws for PCD. The gradient is the
/// usual maximum-likelihood estimate ∇θ E(x⁺) − ∇θ E(x⁻) plus the penalty's.
struct ContrastiveDivergenceOptions {
  /// Coefficient α of the energy penalty (IGEBM/ICD use 1, the JEM author suggests 0.1).
  TORCH_ARG(double, l2_energy) = 0.0;
  /// CD-k only: std of Gaussian noise added to the data before the chains start.
  TORCH_ARG(double, init_noise) = 0.0;
  /// Also report e_pos_median, e_neg_median and e_pos_spread (what train::SamplerHealthWatch
  /// reads); off by default, as they cost a quantile and a host sync per step.
  TORCH_ARG(bool, robust_metrics) = false;
};

/// Contrastive divergence: CD-k (chains start at the data batch) or PCD (persistent chains in a
/// replay buffer); name() is "cd" or "pcd". Reports e_pos, e_neg, cd_gap (and the sampler's
/// acceptance rate when it has one).
class ContrastiveDivergence : public EnergyObjective {
 public:
  /// CD-k when `buffer` is null, PCD (persistent chains of `sampler` in `buffer`) otherwise.
  ContrastiveDivergence(ContrastiveDivergenceOptions options, std::shared_ptr<Sampler> sampler,
                        std::shared_ptr<ReplayBuffer> buffer = nullptr);
  /// PCD on the given persistent chains.
  ContrastiveDivergence(ContrastiveDivergenceOptions options, std::shared_ptr<PersistentChains> chains);

  using EnergyObjective::compute;
  ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) override;
  std::string name() const override { return chains_ ? "pcd" : "cd"; }
  double sampler_temperature() const override { return sampler_->temperature(); }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  /// The sampler that produces the negatives.
  Sampler& sampler() { return *sampler_; }
  /// The persistent chains (null for CD-k).
  PersistentChains* chains() { return chains_.get(); }
  /// The persistent chains' replay buffer (null for CD-k).
  ReplayBuffer* buffer() { return chains_ ? &chains_->buffer() : nullptr; }

  ContrastiveDivergenceOptions options;  ///< the loss options (checked at construction)

 protected:
  /// The CD loss of the given positives and (detached) negatives, with the metrics.
  ObjectiveOutput contrastive_loss(EnergyModel& model, const torch::Tensor& x_pos, const torch::Tensor& x_neg);
  /// CD-k's chain start: the data (+ init_noise).
  torch::Tensor data_start(const torch::Tensor& x_pos, at::Generator& gen) const;

  std::shared_ptr<Sampler> sampler_;            ///< the sampler (the chains' sampler for PCD)
  std::shared_ptr<PersistentChains> chains_;    ///< persistent chains; null for CD-k
};

}  // namespace joule
