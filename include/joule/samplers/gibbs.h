#pragma once
// Block Gibbs sampling for restricted Boltzmann machines (v → h → v sweeps).

#include <torch/arg.h>

#include <memory>

#include "joule/models/rbm.h"
#include "joule/samplers/sampler.h"

namespace joule {

/// Options for BlockGibbs.
///
/// Example (CD-1 with the generic objective):
///   auto gibbs = std::make_shared<joule::BlockGibbs>(joule::BlockGibbsOptions(1));
///   joule::ContrastiveDivergence cd1({}, gibbs);
struct BlockGibbsOptions {
  /// `steps` sweeps per sample() call (>= 0).
  explicit BlockGibbsOptions(int64_t steps = 1) : steps_(steps) {}
  /// Number of full sweeps (h ~ p(h|v), then v ~ p(v|h)).
  TORCH_ARG(int64_t, steps);
  /// Return E[v | h] at the last half-step instead of a sample (smoother pictures; not for
  /// persistent chains).
  TORCH_ARG(bool, mean_last) = false;
};

/// A Sampler for `Rbm` models: each transition is one block Gibbs sweep, which leaves the RBM's
/// marginal p(v) = exp(−F(v))/Z invariant (Hinton 2002). Works on any RbmImpl at model
/// temperature 1; other energy models are rejected with a clear error.
class BlockGibbs : public Sampler {
 public:
  /// Fails if options.steps < 0.
  explicit BlockGibbs(BlockGibbsOptions options);
  torch::Tensor sample(EnergyModel& model, const torch::Tensor& x0,
                       c10::optional<at::Generator> gen = c10::nullopt) override;
  /// "gibbs".
  std::string name() const override { return "gibbs"; }
  std::unique_ptr<Sampler> with_steps(int64_t steps) const override {
    return std::make_unique<BlockGibbs>(BlockGibbsOptions(options).steps(steps));
  }
  int64_t steps() const override { return options.steps(); }

  BlockGibbsOptions options;  ///< sweep count and last-half-step mode
};

/// The RbmImpl behind an EnergyModel, or a clear error naming `who` if it is not an RBM.
RbmImpl& as_rbm(EnergyModel& model, const char* who);

}  // namespace joule
