#pragma once
// The objective interface: turns a data batch into a differentiable loss for the trainer.

#include <ATen/ATen.h>
#include <torch/serialize/archive.h>

#include <string>
#include <utility>
#include <vector>

#include "joule/core/energy.h"

namespace joule {

/// One minibatch. `y` is undefined for unlabelled data.
struct Batch {
  torch::Tensor x;
  torch::Tensor y;
};

/// What an objective returns for one step.
struct ObjectiveOutput {
  torch::Tensor loss;  ///< scalar to minimise; differentiable in the model parameters
  /// Named scalars for logs (e.g. "e_pos", "e_neg"); the trainer reads "e_pos"/"e_neg" for
  /// its divergence guard when present.
  std::vector<std::pair<std::string, double>> metrics;
  /// Negative samples of this step, detached (for pictures and diagnostics); may be undefined.
  torch::Tensor negatives;
  /// Optional: ∂loss/∂θ for every tensor of model.parameters(), in that order, when the
  /// objective computes them in closed form (RBMs). The trainer then installs them as the
  /// parameters' .grad() instead of running loss.backward() — no zeroing, accumulation or graph
  /// walk, which is a fifth of a small-batch RBM update. loss.backward() must give the same
  /// gradients. The tensors may be buffers the objective reuses on its next compute().
  std::vector<torch::Tensor> gradients;
};

/// A training objective. Objectives own their sampling state (chains, replay buffer), which
/// the trainer checkpoints through save()/load().
class Objective {
 public:
  virtual ~Objective() = default;
  virtual ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) = 0;
  virtual std::string name() const = 0;
  /// Temperature the objective's sampler runs at (model densities read out at T = this value
  /// times the model temperature reflect what training matched). 1 when sampling is exact.
  virtual double sampler_temperature() const { return 1.0; }
  virtual void save(torch::serialize::OutputArchive& archive) const {}
  virtual void load(torch::serialize::InputArchive& archive) {}
};

}  // namespace joule
