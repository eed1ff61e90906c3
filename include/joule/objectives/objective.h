#pragma once
// The objective interface: turns a data batch into the loss (or closed-form gradients) of one
// parameter group for the trainer.

#include <ATen/ATen.h>
#include <torch/serialize/archive.h>

#include <string>
#include <utility>
#include <vector>

#include "joule/core/batch.h"
#include "joule/core/energy.h"
#include "joule/core/module_set.h"

namespace joule {

/// The update the trainer asks an objective for.
struct Update {
  std::string group = "model";  ///< the parameter group about to be updated
  int64_t index = 0;            ///< 0 .. updates−1 within this trainer step (e.g. the k-th critic step)
  int64_t step = 0;             ///< trainer steps completed before this one
};

/// What an objective returns for one update.
struct ObjectiveOutput {
  /// Scalar to minimise over the update's parameter group; differentiable in its parameters.
  torch::Tensor loss;
  /// Named scalars for logs (e.g. "e_pos", "e_neg"); the trainer's divergence guard reads
  /// "e_pos"/"e_neg" when present.
  std::vector<std::pair<std::string, double>> metrics;
  /// Negative samples of this update, detached (pictures and diagnostics); may be undefined.
  torch::Tensor negatives;
  /// Per-sample values worth a histogram, detached, e.g. {"energy/data", E(x⁺)} and
  /// {"energy/samples", E(x⁻)}; the TensorBoard histograms show them (train::TensorBoardHistograms).
  std::vector<std::pair<std::string, torch::Tensor>> distributions;
  /// Optional: ∂loss/∂θ for every parameter of the update's group, in the group's order, when the
  /// objective computes them itself (RBMs in closed form, the LSD critic's fused backward). The
  /// trainer installs them as the parameters' .grad() instead of running loss.backward() — no
  /// zeroing, accumulation or graph walk. loss.backward() must give the same gradients. The
  /// tensors may be buffers the objective reuses on its next compute().
  std::vector<torch::Tensor> gradients;
};

/// A training objective over a set of named modules. The trainer calls compute() once per
/// update of each parameter group, in the order and cadence the groups declare (e.g. five
/// critic updates, then one model update), and applies the returned loss to that group only.
/// Objectives own their sampling state (persistent chains), which the trainer checkpoints
/// through save()/load().
class Objective {
 public:
  virtual ~Objective() = default;
  /// Computes the loss (and metrics, negatives, optionally closed-form gradients) for one update
  /// of the parameter group `update.group`, drawing randomness from `gen`.
  virtual ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) = 0;
  /// Short identifier of the objective (e.g. "cd", "pcd", "jem", "lsd"), used in logs and errors.
  virtual std::string name() const = 0;
  /// Temperature the objective's sampler runs at (model densities read out at T = this value
  /// times the model temperature reflect what training matched). 1 when sampling is exact.
  virtual double sampler_temperature() const { return 1.0; }
  /// Called after each applied update of a group (e.g. clamping a parameter into its range, as
  /// VERA's generator clamps σ).
  virtual void after_update(ModuleSet& modules, const Update& update) {}
  /// Writes the objective's own state (e.g. persistent chains) into a trainer checkpoint. No-op by default.
  virtual void save(torch::serialize::OutputArchive& archive) const {}
  /// Restores the state written by save(). No-op by default.
  virtual void load(torch::serialize::InputArchive& archive) {}
};

/// An objective of one energy model, the module "model", trained as the group "model" (CD,
/// JEM, RBM gradients, score matching). Subclasses implement the energy-model overload.
class EnergyObjective : public Objective {
 public:
  /// Checks that the update is for group "model" and forwards to the energy-model overload with
  /// the module "model".
  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override;
  /// Computes the loss of the energy model `model` on `batch`, drawing randomness from `gen`.
  virtual ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) = 0;
};

}  // namespace joule
