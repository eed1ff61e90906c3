#pragma once
// Energies built from other energies: products and mixtures of experts (AND / OR / NOT,
// Du, Li, Mordatch, arXiv:2004.06030 §3 and arXiv:2012.01316 §4.4) and multi-scale energies
// (arXiv:2012.01316 §3.4).
//
// A composed energy is itself an EnergyModel, so every sampler, read-out and evaluation works on
// it unchanged. The parts are shared, not copied: composing trained models costs no memory.

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <memory>
#include <string>
#include <vector>

#include "joule/core/energy.h"

namespace joule {

/// How a ComposedEnergy combines its parts' terms u_i(x) = w_i · E_i(x) / T_i − b_i.
enum class CompositionOp {
  kSum,        ///< E = Σ_i u_i: the product of experts Π_i p_i^{w_i} (AND; a negative w_i is NOT)
  kLogSumExp,  ///< E = −log Σ_i exp(−u_i): the mixture Σ_i exp(−u_i) (OR)
};
CompositionOp parse_composition_op(const std::string& name);  ///< "sum"/"and", "logsumexp"/"or"
/// "sum" or "logsumexp".
std::string to_string(CompositionOp op);

/// One part of a ComposedEnergy.
struct EnergyPart {
  /// A part reading `energy` with weight 1, temperature 1 and log-weight 0.
  explicit EnergyPart(std::shared_ptr<EnergyModel> energy = nullptr) : energy_(std::move(energy)) {}
  /// E_i, the part's energy model (shared, not copied; required).
  TORCH_ARG(std::shared_ptr<EnergyModel>, energy);
  /// w_i: a power of the part's density; < 0 makes it a NOT (the reference's E₁ − 0.001·E₂).
  TORCH_ARG(double, weight) = 1.0;
  /// T_i: the part's own temperature (1 = as the part reads its energy; the part's model
  /// temperature is not applied, so that parts trained at different T compose explicitly).
  TORCH_ARG(double, temperature) = 1.0;
  /// b_i: a log-weight of the part in a mixture (e.g. −log Z_i to mix normalised parts).
  TORCH_ARG(double, log_weight) = 0.0;
  /// A name for messages and reports.
  TORCH_ARG(std::string, name) = "";
};

/// Example ("sneaker OR sandal" from two class-conditional views of one JEM classifier):
///   joule::ComposedEnergy either(joule::CompositionOp::kLogSumExp,
///       {joule::EnergyPart(sneaker).name("sneaker"), joule::EnergyPart(sandal).name("sandal")});
///   auto x = joule::Langevin(...).sample(either, x0, gen);
class ComposedEnergy : public EnergyModel {
 public:
  /// Combines `parts` (at least one) with `op`. Every part needs an energy model of the same
  /// event shape, a finite non-zero weight, a finite temperature > 0 and a finite log-weight;
  /// each distinct model is registered once as a submodule.
  ComposedEnergy(CompositionOp op, std::vector<EnergyPart> parts);
  torch::Tensor energy(const torch::Tensor& x) override;
  EnergyGrad energy_and_grad(const torch::Tensor& x) override;
  std::vector<int64_t> event_shape() const override { return parts_.front().energy()->event_shape(); }

  /// The parts' terms u_i(x), [B, parts].
  torch::Tensor terms(const torch::Tensor& x);
  /// How the parts combine.
  CompositionOp op() const { return op_; }
  /// The parts, in the order given.
  const std::vector<EnergyPart>& parts() const { return parts_; }

 private:
  CompositionOp op_;
  std::vector<EnergyPart> parts_;
};

/// x at half the resolution: 3×3 average pooling with stride 2 and padding 1 (the reference's
/// `F.avg_pool2d(x, 3, stride=2, padding=1)`), so 28 → 14 → 7 and 32 → 16 → 8.
torch::Tensor downsample2x(const torch::Tensor& x);

/// E(x) = Σ_s E_s(downsample^s(x)): energies of the image at full, half, quarter, ...
/// resolution, summed (arXiv:2012.01316 §3.4: separate networks at 32, 16 and 8 pixels). One
/// network may serve every scale if it accepts any image size (global pooling).
///
/// Example:
///   joule::MultiScaleEnergy energy({full, half, quarter}, {1, 28, 28});
class MultiScaleEnergy : public EnergyModel {
 public:
  /// `scales[s]` reads the image downsampled s times; registered as submodules "scale0", ...
  /// (a network shared between scales is registered once).
  MultiScaleEnergy(std::vector<std::shared_ptr<EnergyModel>> scales, std::vector<int64_t> event_shape);
  torch::Tensor energy(const torch::Tensor& x) override;
  /// The energy of each scale, [B, scales].
  torch::Tensor scale_energies(const torch::Tensor& x);
  std::vector<int64_t> event_shape() const override { return event_shape_; }
  /// The number of scales.
  size_t num_scales() const { return scales_.size(); }

 private:
  std::vector<std::shared_ptr<EnergyModel>> scales_;
  std::vector<int64_t> event_shape_;
};

}  // namespace joule
