#pragma once
// A convolutional energy for images of any size: the reference's MNIST model for improved CD
// (arXiv:2012.01316 §3.4; `ICD:models.py` MNISTModel) without its class FiLM layers.

#include <torch/arg.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "joule/core/energy.h"
#include "joule/models/activation.h"
#include "joule/models/classifiers.h"

namespace joule {

/// Options for ConvEnergy.
///
/// Example (Fashion-MNIST, three scales sharing nothing):
///   auto full = std::make_shared<joule::ConvEnergy>(joule::ConvEnergyOptions(1).channels(32));
struct ConvEnergyOptions {
  /// Options for images with `in_channels` channels.
  explicit ConvEnergyOptions(int64_t in_channels) : in_channels_(in_channels) {}
  /// Input channels C (≥ 1).
  TORCH_ARG(int64_t, in_channels);
  /// Width c of the stem; block b has c·2^b channels.
  TORCH_ARG(int64_t, channels) = 16;
  /// Residual blocks, each followed by a 2× downsampling (avg-pool 3, stride 2).
  TORCH_ARG(int64_t, blocks) = 3;
  /// Nonlinearity after the stem, inside and after every block.
  TORCH_ARG(Activation, activation) = Activation::kSiLU;
  /// Slope for x < 0 when activation = leaky_relu.
  TORCH_ARG(double, negative_slope) = 0.2;
  /// GroupNorm inside the blocks (per-sample, so the energy of one image does not depend on the
  /// batch; the reference uses instance/group norm, never batch norm).
  TORCH_ARG(NormKind, norm) = NormKind::kNone;
  /// GroupNorm groups; must divide every block width.
  TORCH_ARG(int64_t, norm_groups) = 8;
  /// Shape {C, H, W} reported by event_shape() (the network itself accepts any H, W).
  TORCH_ARG(std::vector<int64_t>, event_shape) = std::vector<int64_t>{1, 28, 28};
};

/// conv3×3(c) → act → [residual block(c·2^b) → avg-pool 3/2] × blocks → act → global mean →
/// linear(1). A block: act(norm(conv3×3(act(norm(conv3×3(h))))) + skip(h)), the skip a 1×1
/// projection where the width changes. At c = 16 on 28×28 images: ~9M multiply-adds per image
/// (the reference's GPU model, c = 64 with a block per width before each downsampling, is ~15×). Twice differentiable (no in-place operations), as improved CD's KL
/// term and score matching need.
class ConvEnergyImpl : public EnergyModel {
 public:
  /// Builds the network (see reset()).
  explicit ConvEnergyImpl(ConvEnergyOptions options);
  /// Checks the options (channels ≥ 1, blocks in [0, 6], event_shape {in_channels, H, W},
  /// norm_groups dividing every block width) and (re)creates every layer.
  void reset();
  /// Re-draws every layer's parameters from `gen` (see reset_parameters_default()).
  void reset_parameters(at::Generator gen) { reset_parameters_default(*this, std::move(gen)); }
  torch::Tensor energy(const torch::Tensor& x) override;
  std::vector<int64_t> event_shape() const override { return options.event_shape(); }

  ConvEnergyOptions options;  ///< the options it was built with
  torch::nn::Conv2d stem{nullptr};  ///< the first conv3×3, in_channels → c
  ///@{
  /// Per block: the two conv3×3 (`conv_a`, `conv_b`), their GroupNorms (`norm_a`, `norm_b`;
  /// empty without norm) and the 1×1 skip projections (`project`, see `project_index`).
  torch::nn::ModuleList conv_a, conv_b, project, norm_a, norm_b;
  ///@}
  std::vector<int64_t> project_index;  ///< per block: its entry in `project`, −1 = identity skip
  torch::nn::Linear head{nullptr};  ///< the final linear(1) on the pooled features
};
/// The module holder of ConvEnergyImpl (a shared pointer to it).
TORCH_MODULE(ConvEnergy);

}  // namespace joule
