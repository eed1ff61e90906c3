#pragma once
// The sampler interface: a Markov chain that moves a batch of states under an energy model.

#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "joule/core/energy.h"

namespace joule {

/// Diagnostics of the last call to Sampler::sample().
struct SamplerStats {
  int64_t steps = 0;  ///< transitions made
  double acceptance_rate = std::numeric_limits<double>::quiet_NaN();  ///< Metropolis samplers only
  double mean_energy = std::numeric_limits<double>::quiet_NaN();      ///< mean E at the last step
  double mean_grad_norm = std::numeric_limits<double>::quiet_NaN();   ///< mean ‖∇ₓE‖ at the last step
};

/// A batch Markov chain targeting the model density exp(−E(x)/T_model), possibly at its own
/// temperature (see temperature()).
///
/// Samplers never build a graph to the model parameters: negatives are stop-gradient by
/// construction (reference ebm_training.md lesson 2). They run the model in eval mode.
class Sampler {
 public:
  virtual ~Sampler() = default;

  /// Runs the chains from `x0` [B, ...] and returns the final states (detached, same shape).
  /// All randomness comes from `gen` (the global generator if none is given).
  virtual torch::Tensor sample(EnergyModel& model, const torch::Tensor& x0,
                               c10::optional<at::Generator> gen = c10::nullopt) = 0;

  /// The temperature of the distribution the chain samples, relative to the model density:
  /// 1 for ULA with b = √(2a), MALA and HMC; b²/(2a) for a Langevin chain with decoupled noise.
  virtual double temperature() const { return 1.0; }

  virtual std::string name() const = 0;

  /// A copy of this sampler making `steps` transitions per call (e.g. long chains for
  /// evaluation from a sampler configured for training).
  virtual std::unique_ptr<Sampler> with_steps(int64_t steps) const = 0;

  const SamplerStats& stats() const { return stats_; }

 protected:
  SamplerStats stats_;
};

/// Σ over all non-batch dimensions: [B, ...] -> [B].
torch::Tensor sum_event(const torch::Tensor& t);

}  // namespace joule
