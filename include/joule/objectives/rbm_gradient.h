#pragma once
// Gradient approximations for RBM training: CD-k, PCD-k and parallel tempering, computed in
// closed form (no autograd through the energy).
//
// The log-likelihood gradient of an RBM is ∇θ log p(v) = −∇θ F(v) + E_model[∇θ F] (Hinton 2002).
// All three methods minimise loss = mean F(v⁺) − mean F(v⁻) over a data batch v⁺ and negatives
// v⁻, with hidden units summed out analytically (the gradient uses p(h|v), not h samples):
//   CD-k:  v⁻ = k Gibbs sweeps from the data (Hinton 2002)
//   PCD-k: v⁻ = persistent chains advanced k sweeps per update (Tieleman 2008; sklearn's SML)
//   PT:    v⁻ = the β = 1 chains of parallel tempering (Desjardins et al. 2010)
// The gradient equals that of ContrastiveDivergence(BlockGibbs) on the same negatives (tested);
// this path computes it with a few oneDNN matrix products and returns it in
// ObjectiveOutput::gradients, which the trainer installs as the parameters' .grad() without a
// backward pass (loss.backward() delivers the same tensors, for hand-written loops). That, and
// plain loops for the small-batch statistics, is what makes small-batch RBM training fast
// (docs/benchmarks.md).
//
// Optional sparsity target (Hinton 2010, "A practical guide", §11): with q_j an exponential
// moving average of the batch-mean p(h_j = 1 | v⁺), adds cost·(q_j − target) to the gradient
// of the hidden bias c_j and cost·(q_j − target)·mean(ṽ⁺_i) to that of W_ji.

#include <torch/arg.h>

#include <memory>
#include <string>

#include "joule/models/rbm.h"
#include "joule/objectives/objective.h"
#include "joule/samplers/chains.h"
#include "joule/samplers/parallel_tempering.h"

namespace joule {

/// Which negatives RbmGradient uses: CD-k, PCD-k or parallel tempering.
enum class RbmGradientKind { kCD, kPCD, kPT };
/// Parses "cd", "pcd", "pt".
RbmGradientKind parse_rbm_gradient(const std::string& name);
std::string to_string(RbmGradientKind kind);  ///< "cd", "pcd" or "pt"

/// Options for RbmGradient.
///
/// Example (sklearn's BernoulliRBM: PCD-1 with one chain per batch row):
///   auto objective = std::make_shared<joule::RbmGradient>(
///       joule::RbmGradientOptions().kind(joule::RbmGradientKind::kPCD).k(1));
struct RbmGradientOptions {
  /// Throws unless k ≥ 1, chains ≥ 0, sparsity_target and sparsity_decay are in [0, 1),
  /// sparsity_cost ≥ 0 and (for PT) the tempering options are valid.
  void validate() const;
  /// The gradient approximation (default PCD).
  TORCH_ARG(RbmGradientKind, kind) = RbmGradientKind::kPCD;
  /// Gibbs sweeps per update (CD-k, PCD-k); for PT, rounds of sweep + swap per update.
  TORCH_ARG(int64_t, k) = 1;
  /// Persistent chains (PCD) or replica sets (PT); 0 = the batch size. They start at data
  /// rows of the first batch.
  TORCH_ARG(int64_t, chains) = 0;
  /// PCD only: keep each chain's hidden sample h ~ p(h | v⁻) drawn at the end of an update and
  /// start the next update's sweep from it (sklearn's SML: five B×V×H products per PCD-1
  /// update instead of six), rather than redrawing h from the chains under the new parameters.
  TORCH_ARG(bool, persistent_hidden) = false;
  /// Parallel tempering temperatures (its `rounds` is replaced by k).
  TORCH_ARG(ParallelTemperingOptions, tempering) = ParallelTemperingOptions(10);
  /// Target mean activation of the hidden units; 0 disables the sparsity term.
  TORCH_ARG(double, sparsity_target) = 0.0;
  /// Weight of the sparsity term (Hinton's guide §11); the term is applied only when > 0.
  TORCH_ARG(double, sparsity_cost) = 0.0;
  /// Decay of the moving average q (Hinton's guide: 0.9–0.99).
  TORCH_ARG(double, sparsity_decay) = 0.9;
};

/// CD-k / PCD-k / PT for `Rbm` models. Owns the persistent chains (a PersistentChains of
/// BlockGibbs for PCD, of ParallelTemperingSampler for PT; created at the first update, when the
/// number of chains is known) and checkpoints them with save()/load(). One CD-1 update costs five B×V×H matrix products (the
/// first hidden half-step reuses the data side's p(h|v)), one PCD-1 update six. Metrics: e_pos, e_neg (mean free energies), cd_gap,
/// and for PT the mean swap acceptance.
class RbmGradient : public EnergyObjective {
 public:
  /// Validates `options`; the chains are created at the first update.
  explicit RbmGradient(RbmGradientOptions options = {});

  using EnergyObjective::compute;
  ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) override;
  std::string name() const override { return to_string(options.kind()); }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  /// The analytic gradient of mean F(v⁺) − mean F(v⁻) with respect to (W, b, c[, log σ²]),
  /// in the order of rbm.parameters(); no sampling, no sparsity term.
  static std::vector<torch::Tensor> free_energy_gradient(RbmImpl& rbm, const torch::Tensor& v_pos,
                                                          const torch::Tensor& v_neg);

  /// PCD chains [chains, V] (undefined before the first step or for CD/PT).
  torch::Tensor chains() const;
  /// The persistent chains of PCD or PT (null before the first update and for CD).
  PersistentChains* persistent_chains() { return chains_.get(); }
  /// PT's replicas (null unless kind = PT and the chains exist).
  ParallelTempering* tempering();

  RbmGradientOptions options;  ///< the gradient options (validated at construction)

 private:
  torch::Tensor initial_chains(const torch::Tensor& v_pos, int64_t n, at::Generator& gen) const;
  // Creates the persistent chains for n chains of V units (PCD, PT).
  void make_chains(int64_t n, int64_t num_visible, torch::Device device);

  std::unique_ptr<PersistentChains> chains_;
  torch::Tensor chain_hidden_;  // persistent_hidden: h of the chains after the last update
  torch::Tensor weight_grad_;  // reused buffer for ∂loss/∂W
  torch::Tensor sparsity_q_;
};

}  // namespace joule
