#pragma once
// Improved contrastive divergence (Du, Li, Tenenbaum, Mordatch, arXiv:2012.01316 §3): PCD plus
// the KL term that CD's gradient leaves out, estimated through the last Langevin step(s), and a
// nearest-neighbour entropy term that keeps the chains apart.

#include <torch/arg.h>

#include <memory>

#include "joule/objectives/contrastive_divergence.h"

namespace joule {

/// Options for ImprovedContrastiveDivergence.
///
/// loss = L_CD + kl_weight · mean E_θ̄(x_kl) − entropy_weight · mean_i log d_i, where
///   L_CD   = mean E(x⁺) − mean E(x⁻) + α (mean E(x⁺)² + mean E(x⁻)²)   (ContrastiveDivergence),
///   x_kl   = the chains' final states with the graph of their last `kl_steps` transitions,
///   E_θ̄    = the energy with its parameters frozen: the KL gradient reaches θ only through
///            x_kl(θ) = x − a·∇ₓE_θ(x)/T + b·ε (arXiv:2012.01316 eq. 7–8; the reference code
///            freezes the parameters with requires_grad_(False), `train.py`),
///   d_i    = the distance of x_kl,i to its nearest neighbour in `entropy_reference` stored
///            chains (augmented by the chains' transition), the Kozachenko–Leonenko entropy
///            estimate without its constant (arXiv:2012.01316 §3.2).
/// With kl_weight = entropy_weight = 0 the update is ContrastiveDivergence's, bit for bit.
///
/// Example (the paper's CIFAR-10 settings on a small scale):
///   auto icd = std::make_shared<joule::ImprovedContrastiveDivergence>(
///       joule::ImprovedCdOptions().l2_energy(1.0).kl_weight(1.0).entropy_weight(0.3), chains);
struct ImprovedCdOptions {
  /// Throws unless kl_weight, entropy_weight ≥ 0, kl_steps ≥ 1 or −1, entropy_reference ≥ 1 and
  /// entropy_min_buffer ≥ 0.
  void validate() const;
  /// The contrastive-divergence part.
  ContrastiveDivergenceOptions cd() const {
    return ContrastiveDivergenceOptions().l2_energy(l2_energy_).init_noise(init_noise_).robust_metrics(robust_metrics_);
  }

  /// Coefficient α of the energy penalty (the reference uses 1).
  TORCH_ARG(double, l2_energy) = 1.0;
  /// Weight of the KL term (0 = off).
  TORCH_ARG(double, kl_weight) = 1.0;
  /// Transitions the KL term differentiates through: 1 (the paper), k, or −1 for all of them
  /// (the reference's --all_step; memory grows with k).
  TORCH_ARG(int64_t, kl_steps) = 1;
  /// Weight of the nearest-neighbour entropy term (0 = off; the reference fixes 0.3).
  TORCH_ARG(double, entropy_weight) = 0.3;
  /// Size of the reference set the nearest neighbours are searched in (the reference: 100).
  TORCH_ARG(int64_t, entropy_reference) = 100;
  /// The entropy term starts once the buffer holds this many states (the reference: 1000);
  /// CD-k (no buffer) uses the other chains of the batch as the reference.
  TORCH_ARG(int64_t, entropy_min_buffer) = 1000;
  /// Pass the reference set through the chains' transition (augmentation) first.
  TORCH_ARG(bool, augment_reference) = true;
  /// CD-k only: std of Gaussian noise added to the data before the chains start.
  TORCH_ARG(double, init_noise) = 0.0;
  /// Also report e_pos_median, e_neg_median and e_pos_spread (see ContrastiveDivergenceOptions).
  TORCH_ARG(bool, robust_metrics) = false;

};

/// Improved contrastive divergence (name() "icd"): ContrastiveDivergence plus the KL and
/// nearest-neighbour entropy terms of ImprovedCdOptions. Needs a differentiable sampler (Langevin)
/// when either term is on; extra metrics "e_kl" and "nn_log_dist".
class ImprovedContrastiveDivergence : public ContrastiveDivergence {
 public:
  /// CD-k chains from the data (buffer null) or persistent chains in `buffer`.
  ImprovedContrastiveDivergence(ImprovedCdOptions options, std::shared_ptr<Sampler> sampler,
                                std::shared_ptr<ReplayBuffer> buffer = nullptr);
  /// On the given persistent chains (must not be null).
  ImprovedContrastiveDivergence(ImprovedCdOptions options, std::shared_ptr<PersistentChains> chains);

  using EnergyObjective::compute;
  ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) override;
  std::string name() const override { return "icd"; }

  /// The options this objective was built with (the CD part is also in `options`).
  const ImprovedCdOptions& icd_options() const { return icd_; }

 private:
  ImprovedCdOptions icd_;
};

}  // namespace joule
