#pragma once
// JEM: hybrid training of a classifier as a joint energy model of p(x, y)
// (Grathwohl et al., "Your Classifier is Secretly an Energy Based Model", arXiv:1912.03263,
// Eq. 8–9; one step as in `JEM:train_wrn_ebm.py`).
//
//   L = w_y · CE(f(x_l), y_l)                                   (log p(y|x))
//     + w_x · [mean E(x_d) − mean E(x_q)]                        (log p(x), SGLD negatives x_q)
//     + w_xy · [mean E(x_l, y_l) − mean E(x_q|y, y_l)]           (log p(x|y), class-conditional chains)
//     + α · [mean E(x_d)² + mean E(x_q)² (+ the conditional pair)] (energy L2 penalty)
//
// with E(x) = −logsumexp f(x), E(x, y) = −f(x)[y] (ClassifierEnergy), x_q = stop_grad(SGLD(x₀))
// and x₀ drawn from a replay buffer (5% fresh U(−1, 1) chains). Data get N(0, σ²) noise each
// step (σ = 0.03). Semi-supervised training draws (x_l, y_l) from a separate labelled source
// while the generative term uses every training point.

#include <torch/arg.h>

#include <memory>

#include "joule/data/dataset.h"
#include "joule/models/classifier_energy.h"
#include "joule/objectives/objective.h"
#include "joule/samplers/chains.h"
#include "joule/samplers/replay_buffer.h"
#include "joule/samplers/sampler.h"

namespace joule {

/// Options for Jem (defaults: `JEM:train_wrn_ebm.py` argparse, reference §2.4).
///
/// Example (JEM on Fashion-MNIST):
///   auto sampler = std::make_shared<joule::Langevin>(joule::LangevinOptions::jem());
///   auto buffer = std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(10000), {1, 28, 28});
///   auto jem = std::make_shared<joule::Jem>(joule::JemOptions(10), sampler, buffer);
struct JemOptions {
  /// Options for a classifier over `num_classes` classes, the other fields at their defaults.
  explicit JemOptions(int64_t num_classes = 10) : num_classes_(num_classes) {}
  /// Throws unless num_classes ≥ 1, the weights are ≥ 0 with at least one > 0, l2_energy ≥ 0 and
  /// data_noise is finite and ≥ 0.
  void validate() const;
  /// True when the step needs SGLD negatives (w_x > 0 or w_xy > 0).
  bool generative() const { return px_weight_ > 0 || pxy_weight_ > 0; }

  /// Number of classes K of the classifier (≥ 1); the p(x|y) term keeps one buffer bucket per class.
  TORCH_ARG(int64_t, num_classes);
  /// w_x: weight of the generative term log p(x). 0 gives the cross-entropy-only baseline.
  TORCH_ARG(double, px_weight) = 1.0;
  /// w_y: weight of the cross-entropy term log p(y|x).
  TORCH_ARG(double, py_weight) = 1.0;
  /// w_xy: weight of log p(x|y) with class-conditional chains from class buckets of the buffer
  /// (buffer capacity must be a multiple of num_classes).
  TORCH_ARG(double, pxy_weight) = 0.0;
  /// α: L2 penalty on the energies of data and samples (the JEM author suggests 0.1, JEM#4).
  TORCH_ARG(double, l2_energy) = 0.0;
  /// σ: std of the Gaussian noise added to every data batch.
  TORCH_ARG(double, data_noise) = 0.03;
};

/// The JEM objective (name() "jem", or "ce" when no generative term is on): cross-entropy plus
/// the SGLD contrastive terms for log p(x) and log p(x|y) described at the top of this file.
class Jem : public EnergyObjective {
 public:
  /// `sampler` and `buffer` may be null when the options need no negatives (the CE baseline);
  /// otherwise they become the persistent chains (with class buckets when pxy_weight > 0).
  Jem(JemOptions options, std::shared_ptr<Sampler> sampler, std::shared_ptr<ReplayBuffer> buffer);
  /// On given persistent chains (null for the CE baseline).
  Jem(JemOptions options, std::shared_ptr<PersistentChains> chains);

  /// Semi-supervised mode: labelled batches come from `labelled` (same batch size as the data
  /// batch); the trainer's batches are then used for the generative term only. Its position is
  /// part of this objective's checkpointed state.
  void set_labelled(std::shared_ptr<data::DataSource> labelled);

  /// `model` must be a ClassifierEnergy. Metrics: "ce", "acc" (labelled batch), "e_pos" and
  /// "e_neg" (mean E of data and negatives, read by the trainer's divergence guard),
  /// "e_pos_y"/"e_neg_y" (conditional term), "sgld_grad_norm".
  using EnergyObjective::compute;
  ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) override;
  std::string name() const override { return options.generative() ? "jem" : "ce"; }
  double sampler_temperature() const override { return chains_ ? chains_->sampler().temperature() : 1.0; }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  /// The chains' sampler (null for the CE baseline).
  Sampler* sampler() { return chains_ ? &chains_->sampler() : nullptr; }
  /// The chains' replay buffer (null for the CE baseline).
  ReplayBuffer* buffer() { return chains_ ? &chains_->buffer() : nullptr; }
  /// The persistent chains (null for the CE baseline).
  PersistentChains* chains() { return chains_.get(); }
  /// The labelled source of semi-supervised mode (null otherwise); see set_labelled().
  data::DataSource* labelled() { return labelled_.get(); }

  JemOptions options;  ///< the loss options (validated at construction)

 private:
  std::shared_ptr<PersistentChains> chains_;
  std::shared_ptr<data::DataSource> labelled_;
};

}  // namespace joule
