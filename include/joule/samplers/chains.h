#pragma once
// Persistent Markov chains: the one component behind PCD, JEM's replay buffer and RBM chains.
//
// A ReplayBuffer holds the states, a Sampler advances them, and each draw is written back to the
// slots it came from (Tieleman 2008; Du & Mordatch 2019, arXiv:1903.08689 §3.1). Class buckets
// give class-conditional chains (JEM's p(x|y) term, arXiv:1912.03263), and a transition hook
// changes drawn states before they are sampled (improved CD's data augmentation,
// arXiv:2012.01316 §3.3).

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/serialize/archive.h>

#include <functional>
#include <memory>

#include "joule/core/energy.h"
#include "joule/samplers/replay_buffer.h"
#include "joule/samplers/sampler.h"

namespace joule {

/// Options for PersistentChains.
struct PersistentChainsOptions {
  /// Classes of the class buckets for conditional chains: label c owns slots
  /// [c·K, (c + 1)·K), K = capacity / num_classes. 0 = no buckets. With buckets the buffer's
  /// slot classes are set (ReplayBuffer::set_slot_classes), so a bucket's fresh chains start from
  /// its own class's initial distribution.
  TORCH_ARG(int64_t, num_classes) = 0;
};

/// Slots for class-conditional chains: label y_i gets a slot in bucket y_i, i.e. in
/// [y_i·K, (y_i + 1)·K) with K = capacity / num_classes, distinct within each class.
/// Fails if a class appears more than K times.
torch::Tensor class_bucket_slots(const torch::Tensor& y, int64_t capacity, int64_t num_classes, at::Generator& gen);

/// Persistent chains. Example (PCD on 2-D data):
///   auto chains = std::make_shared<joule::PersistentChains>(
///       std::make_shared<joule::Langevin>(joule::LangevinOptions::ula(0.01, 20)),
///       std::make_shared<joule::ReplayBuffer>(joule::ReplayBufferOptions(10000), std::vector<int64_t>{2}));
///   auto x_neg = chains->advance(*model, 256, gen);   // draw, sample, write back
class PersistentChains {
 public:
  /// Applied to the drawn states before the sampler runs (e.g. a random augmentation).
  using Transition = std::function<torch::Tensor(const torch::Tensor& x, at::Generator& gen)>;

  /// Chains stored in `buffer` and advanced by `sampler` (both required). Class buckets need an
  /// in-place buffer whose capacity is a multiple of options.num_classes.
  PersistentChains(std::shared_ptr<Sampler> sampler, std::shared_ptr<ReplayBuffer> buffer,
                   PersistentChainsOptions options = {});

  /// What advance() did: the new states (detached; written back) and the slots they occupy.
  /// With ChainRunOptions::keep_graph_last > 0, `x_graph` is the same states with the graph of
  /// the last transitions (to the model parameters).
  struct Step {
    torch::Tensor x;        ///< new states [n, ...], detached (what was written back)
    torch::Tensor indices;  ///< buffer slots [n] the states were drawn from and written to
    torch::Tensor x_graph;  ///< x with the graph of the last transitions; undefined unless keep_graph_last > 0
  };

  /// Draws n distinct chains (the buffer's reinitialisation applies), applies the transition,
  /// runs the sampler on `model` and writes the states back. Returns the new states.
  torch::Tensor advance(EnergyModel& model, int64_t n, at::Generator& gen);
  /// As advance() but runs the sampler with Sampler::run() and `run`'s options; returns the
  /// states, their slots and (with keep_graph_last > 0) the states with their graph.
  Step advance(EnergyModel& model, int64_t n, at::Generator& gen, const ChainRunOptions& run);
  /// The chains of the class buckets of labels y [n], run on `conditional` (an energy of x given
  /// those labels, e.g. ClassConditionalEnergy). Needs options.num_classes > 0.
  torch::Tensor advance_conditional(EnergyModel& conditional, const torch::Tensor& y, at::Generator& gen);
  /// Every stored chain in slot order, with no random draw and no reinitialisation (RBM-style
  /// PCD and parallel tempering): sample, write back, return the states.
  torch::Tensor advance_all(EnergyModel& model, at::Generator& gen);

  /// Sets every chain's state [capacity, ...] (e.g. the first data batch, as RBM PCD starts).
  void initialize(const torch::Tensor& states);
  /// True once the buffer holds states (after initialize() or the first draw).
  bool initialized() const { return buffer_->size() > 0; }
  /// The stored states [capacity, ...] (undefined before the first draw or initialize()).
  torch::Tensor states() const { return buffer_->states(); }
  /// Writes every chain's state after a transition computed outside (e.g. fused Gibbs sweeps);
  /// counts as one run of every chain (ReplayBuffer::updates).
  void set_states(const torch::Tensor& states);

  /// Sets the hook applied to drawn states before sampling (an empty function removes it).
  void set_transition(Transition transition) { transition_ = std::move(transition); }
  /// True when a transition hook is set.
  bool has_transition() const { return static_cast<bool>(transition_); }
  /// The transition applied to x (x itself when there is none), e.g. to augment a reference set.
  torch::Tensor transform(const torch::Tensor& x, at::Generator& gen) const { return transformed(x, gen); }

  Sampler& sampler() { return *sampler_; }  ///< the sampler that advances the chains
  std::shared_ptr<Sampler> sampler_ptr() const { return sampler_; }  ///< the sampler, shared
  ReplayBuffer& buffer() { return *buffer_; }  ///< the buffer holding the chains' states
  const PersistentChainsOptions& options() const { return options_; }  ///< the options given at construction

  /// The states and the sampler's own state (parallel tempering's replicas).
  void save(torch::serialize::OutputArchive& archive) const;
  /// Restores what save() wrote; fails if the archive holds no chains. The sampler's state is
  /// restored only when present.
  void load(torch::serialize::InputArchive& archive);

 private:
  torch::Tensor transformed(torch::Tensor x, at::Generator& gen) const;

  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  PersistentChainsOptions options_;
  Transition transition_;
};

/// `steps` transitions of `sampler` from x0, with `transition` applied after every `every`
/// transitions except the last round (improved CD's compositional sampling: rounds of Langevin
/// steps, then an augmentation; arXiv:2012.01316 §4.4). every <= 0 or no transition: plain sample().
torch::Tensor sample_with_transitions(Sampler& sampler, EnergyModel& model, const torch::Tensor& x0, int64_t steps, int64_t every,
                                      const PersistentChains::Transition& transition, at::Generator& gen);

}  // namespace joule
