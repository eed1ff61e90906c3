#pragma once
// The sampler interface: a Markov chain that moves a batch of states under an energy model.

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/serialize/archive.h>

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

/// Options for Sampler::run().
struct ChainRunOptions {
  /// The last k transitions keep the autograd graph: the final state is differentiable in the
  /// model parameters (and in x0 when k covers every transition and x0 requires grad) through
  /// those k steps, as improved contrastive divergence's KL term needs (arXiv:2012.01316 §3.1).
  /// Only samplers with differentiable transitions (Langevin) accept k > 0.
  TORCH_ARG(int64_t, keep_graph_last) = 0;
  /// Record the (detached) state after every `record_every`-th transition; 0 = none.
  TORCH_ARG(int64_t, record_every) = 0;
};

/// What Sampler::run() returns.
struct ChainRun {
  torch::Tensor x;  ///< final states; carries a graph when keep_graph_last > 0
  std::vector<torch::Tensor> trajectory;  ///< states after transitions r, 2r, ... (r = record_every)
};

/// A batch Markov chain targeting the model density exp(−E(x)/T_model), possibly at its own
/// temperature (see temperature()).
///
/// sample() never builds a graph to the model parameters: negatives are stop-gradient by
/// construction (arXiv:1903.08689 §3.1); a graph through the last steps must be asked for
/// explicitly with run(). Samplers run the model in eval mode.
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

  /// Short identifier of the sampler kind (e.g. "langevin", "mala", "gibbs"), used in messages and reports.
  virtual std::string name() const = 0;

  /// A copy of this sampler making `steps` transitions per call (e.g. long chains for
  /// evaluation from a sampler configured for training).
  virtual std::unique_ptr<Sampler> with_steps(int64_t steps) const = 0;

  /// Transitions per sample() call.
  virtual int64_t steps() const = 0;

  /// One transition x → x'. With `keep_graph` the transition is built from differentiable
  /// operations (the score with create_graph), so x' carries a graph to the model parameters
  /// and to x; samplers whose transitions are not differentiable (Metropolis tests, Gibbs
  /// draws) refuse it with a clear error. Without it, the same arithmetic as one step of
  /// sample(), drawing the same random numbers.
  virtual torch::Tensor step(EnergyModel& model, const torch::Tensor& x, c10::optional<at::Generator> gen = c10::nullopt,
                             bool keep_graph = false);

  /// True when step() accepts keep_graph.
  virtual bool differentiable() const { return false; }

  /// steps() transitions from x0, optionally keeping the graph of the last ones and recording
  /// the trajectory. With default options this is sample(). A run whose first transitions are
  /// graph-free draws the same random numbers as sample(), so its final state equals
  /// sample()'s up to rounding.
  ChainRun run(EnergyModel& model, const torch::Tensor& x0, c10::optional<at::Generator> gen = c10::nullopt,
               const ChainRunOptions& options = {});

  /// Stateful samplers (parallel tempering keeps its hotter replicas between calls) save and
  /// restore that state with the checkpoints of whatever owns them. No-op by default.
  virtual void save(torch::serialize::OutputArchive& archive) const {}
  /// Restores the state written by save(). No-op by default.
  virtual void load(torch::serialize::InputArchive& archive) {}

  /// Diagnostics of the last sample() call.
  const SamplerStats& stats() const { return stats_; }

 protected:
  SamplerStats stats_;  ///< filled in by each sample() call
};

/// Σ over all non-batch dimensions: [B, ...] -> [B].
torch::Tensor sum_event(const torch::Tensor& t);

}  // namespace joule
