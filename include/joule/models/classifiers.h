#pragma once
// Classifier networks for JEM-style models (arXiv:1912.03263 §4 and `JEM:models/wideresnet.py`): a small
// CNN and a Wide-ResNet for images, an MLP for tabular data. None uses BatchNorm: a batch
// statistic couples the data, the replay-buffer samples and the labelled batch in one forward
// pass and breaks the energy view (JEM#13). GroupNorm is the optional per-sample normaliser.
//
// Every network maps x [B, ...] to logits [B, num_classes]; wrap it in ClassifierEnergy to get
// the energy model. Parameters start from PyTorch's default init drawn from an explicit
// generator (reset_parameters(gen)), so a seed reproduces a run.

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "joule/models/activation.h"

namespace joule {

/// Normalisation inside classifier blocks.
enum class NormKind { kNone, kGroup };
NormKind parse_norm(const std::string& name);  ///< "none" or "group"
/// "none" or "group".
std::string to_string(NormKind norm);

/// Redraws the weights and biases of every Linear and Conv2d in `module` from `gen` with
/// PyTorch's default init, U(±1/√fan_in) (kaiming_uniform with a = √5); GroupNorm is reset to
/// weight 1, bias 0.
void reset_parameters_default(torch::nn::Module& module, at::Generator gen);

// ------------------------------------------------------------------------------- small CNN

/// Options for SmallCnn.
///
/// Example (Fashion-MNIST):
///   auto net = joule::SmallCnn(joule::SmallCnnOptions(1, 10).channels(32).image_size({28, 28}));
struct SmallCnnOptions {
  /// Options for images with `in_channels` channels and `num_classes` classes.
  SmallCnnOptions(int64_t in_channels, int64_t num_classes) : in_channels_(in_channels), num_classes_(num_classes) {}
  /// Input channels (> 0).
  TORCH_ARG(int64_t, in_channels);
  /// Number of classes C (> 0).
  TORCH_ARG(int64_t, num_classes);
  /// Base width c: the three convolutions have c, 2c and 4c channels.
  TORCH_ARG(int64_t, channels) = 32;
  /// Input height and width (the flattened head size depends on them).
  TORCH_ARG(std::vector<int64_t>, image_size) = std::vector<int64_t>{28, 28};
  /// Activation after each convolution.
  TORCH_ARG(Activation, activation) = Activation::kLeakyReLU;
  /// Slope for x < 0 when activation = leaky_relu.
  TORCH_ARG(double, negative_slope) = 0.2;
  /// Dropout before the linear head (0 = off).
  TORCH_ARG(double, dropout) = 0.0;
  /// GroupNorm after each convolution, or none.
  TORCH_ARG(NormKind, norm) = NormKind::kNone;
  /// Groups of each GroupNorm (must divide c, 2c and 4c).
  TORCH_ARG(int64_t, norm_groups) = 8;
};

/// conv3×3(c) → act → conv4×4/2(2c) → act → conv4×4/2(4c) → act → flatten → dropout → linear.
/// On 28×28 inputs the feature map is 7×7 before the head; ~0.1M parameters at c = 32.
class SmallCnnImpl : public torch::nn::Cloneable<SmallCnnImpl> {
 public:
  /// Builds the network (see reset()).
  explicit SmallCnnImpl(SmallCnnOptions options);
  /// Checks the options (sizes > 0, image_size {H, W} with H, W ≥ 4, dropout in [0, 1)) and
  /// (re)creates every layer from the global generator.
  void reset() override;
  /// Re-draws every layer's parameters from `gen` (see reset_parameters_default()).
  void reset_parameters(at::Generator gen) { reset_parameters_default(*this, std::move(gen)); }
  /// Logits [B, C] for images [B, in_channels, H, W] of the configured image_size.
  torch::Tensor forward(const torch::Tensor& x);
  /// The flattened activations before dropout and the linear head: [B, 4c·(H/4)·(W/4)].
  torch::Tensor features(const torch::Tensor& x);

  SmallCnnOptions options;  ///< the options it was built with
  ///@{
  /// The three convolutions (c, 2c, 4c channels).
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  ///@}
  ///@{
  /// Their GroupNorms; null when norm = none.
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  ///@}
  torch::nn::Dropout dropout{nullptr};  ///< before the head
  torch::nn::Linear head{nullptr};      ///< the linear head, → C logits
};
/// The module holder of SmallCnnImpl (a shared pointer to it).
TORCH_MODULE(SmallCnn);

// ------------------------------------------------------------------------------- Wide-ResNet

/// Options for WideResNet (Zagoruyko & Komodakis 2016, JEM's variant `JEM:wideresnet.py`).
///
/// Example (JEM's CIFAR-10 model, 36.5M parameters):
///   auto net = joule::WideResNet(joule::WideResNetOptions(3, 10).depth(28).widen(10));
struct WideResNetOptions {
  /// Options for images with `in_channels` channels and `num_classes` classes.
  WideResNetOptions(int64_t in_channels, int64_t num_classes) : in_channels_(in_channels), num_classes_(num_classes) {}
  /// Input channels (> 0).
  TORCH_ARG(int64_t, in_channels);
  /// Number of classes C (> 0).
  TORCH_ARG(int64_t, num_classes);
  /// Depth 6n + 4 (n blocks per stage): 10, 16, 22, 28, 34, 40, ...
  TORCH_ARG(int64_t, depth) = 28;
  /// Widening factor k: stage widths 16k, 32k, 64k.
  TORCH_ARG(int64_t, widen) = 10;
  /// Dropout between the two convolutions of each block (JEM: 0; VERA: 0.3).
  TORCH_ARG(double, dropout) = 0.0;
  /// GroupNorm before each activation, or none.
  TORCH_ARG(NormKind, norm) = NormKind::kNone;
  /// Groups of each GroupNorm (must divide every normalised width).
  TORCH_ARG(int64_t, norm_groups) = 16;
  /// The activation of every block and before the head.
  TORCH_ARG(Activation, activation) = Activation::kLeakyReLU;
  /// Slope for x < 0 when activation = leaky_relu.
  TORCH_ARG(double, negative_slope) = 0.2;
};

/// A pre-activation wide residual block: norm → act → conv3×3 → dropout → norm → act →
/// conv3×3(stride), plus a 1×1 convolution on the shortcut when the shape changes.
class WideBasicImpl : public torch::nn::Cloneable<WideBasicImpl> {
 public:
  /// A block from `in_planes` to `planes` channels whose second convolution has `stride`;
  /// norm, dropout and activation come from `options`.
  WideBasicImpl(int64_t in_planes, int64_t planes, int64_t stride, const WideResNetOptions& options);
  /// (Re)creates the layers (a shortcut convolution only if stride ≠ 1 or in_planes ≠ planes).
  void reset() override;
  /// [B, in_planes, H, W] -> [B, planes, H/stride, W/stride].
  torch::Tensor forward(const torch::Tensor& x);

  ///@{
  /// Input channels, output channels and stride of the block.
  int64_t in_planes, planes, stride;
  ///@}
  WideResNetOptions options;  ///< the network's options
  ///@{
  /// GroupNorms before the two convolutions; null when norm = none.
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  ///@}
  ///@{
  /// The two conv3×3 and the 1×1 shortcut convolution (null for an identity shortcut).
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
  ///@}
  torch::nn::Dropout dropout{nullptr};  ///< between the two convolutions
};
/// The module holder of WideBasicImpl (a shared pointer to it).
TORCH_MODULE(WideBasic);

/// conv3×3(16) → 3 stages of n WideBasic blocks (strides 1, 2, 2) → norm → act → global
/// average pool → linear. Any input size works (JEM's avg_pool2d(8) on 32×32 is the same).
class WideResNetImpl : public torch::nn::Cloneable<WideResNetImpl> {
 public:
  /// Builds the network (see reset()).
  explicit WideResNetImpl(WideResNetOptions options);
  /// Checks the options (depth = 6n + 4 ≥ 10, widen ≥ 1, sizes > 0, dropout in [0, 1)) and
  /// (re)creates every layer from the global generator.
  void reset() override;
  /// Re-draws every layer's parameters from `gen` (see reset_parameters_default()).
  void reset_parameters(at::Generator gen) { reset_parameters_default(*this, std::move(gen)); }
  /// Logits [B, C] for images [B, in_channels, H, W].
  torch::Tensor forward(const torch::Tensor& x);
  /// The pooled features before the linear head: [B, 64k].
  torch::Tensor features(const torch::Tensor& x);

  WideResNetOptions options;  ///< the options it was built with
  torch::nn::Conv2d stem{nullptr};       ///< the first conv3×3(16)
  torch::nn::ModuleList blocks{nullptr};  ///< the 3n WideBasic blocks, in order
  torch::nn::GroupNorm norm{nullptr};     ///< the final GroupNorm; null when norm = none
  torch::nn::Linear head{nullptr};        ///< the linear head, 64k → C
};
/// The module holder of WideResNetImpl (a shared pointer to it).
TORCH_MODULE(WideResNet);

// ------------------------------------------------------------------------------- MLP

/// Options for MlpClassifier.
///
/// Example (VERA's tabular model): MlpClassifierOptions(d, C).hidden({1000, 500, 500, 250, 250, 250})
struct MlpClassifierOptions {
  /// Options for `input_dim` features and `num_classes` classes.
  MlpClassifierOptions(int64_t input_dim, int64_t num_classes) : input_dim_(input_dim), num_classes_(num_classes) {}
  /// Features per sample (> 0).
  TORCH_ARG(int64_t, input_dim);
  /// Number of classes C (> 0).
  TORCH_ARG(int64_t, num_classes);
  /// Units of each hidden layer (each > 0).
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{256, 256};
  /// Hidden-layer activation.
  TORCH_ARG(Activation, activation) = Activation::kLeakyReLU;
  /// Slope for x < 0 when activation = leaky_relu.
  TORCH_ARG(double, negative_slope) = 0.2;
  /// Dropout after each hidden activation, in [0, 1) (0 = off).
  TORCH_ARG(double, dropout) = 0.0;
};

/// Linear → act (→ dropout) per hidden layer, then a linear head. Inputs [B, ...] are flattened.
class MlpClassifierImpl : public torch::nn::Cloneable<MlpClassifierImpl> {
 public:
  /// Builds the network (see reset()).
  explicit MlpClassifierImpl(MlpClassifierOptions options);
  /// Checks the options and (re)creates every layer from the global generator.
  void reset() override;
  /// Re-draws every layer's parameters from `gen` (see reset_parameters_default()).
  void reset_parameters(at::Generator gen) { reset_parameters_default(*this, std::move(gen)); }
  /// Logits [B, C].
  torch::Tensor forward(const torch::Tensor& x);
  /// The last hidden layer's activations (after dropout in training mode): [B, hidden.back()].
  torch::Tensor features(const torch::Tensor& x);

  MlpClassifierOptions options;  ///< the options it was built with
  torch::nn::ModuleList layers{nullptr};  ///< the hidden Linear layers
  torch::nn::Dropout dropout{nullptr};    ///< after each hidden activation
  torch::nn::Linear head{nullptr};        ///< the linear head, → C logits
};
/// The module holder of MlpClassifierImpl (a shared pointer to it).
TORCH_MODULE(MlpClassifier);

}  // namespace joule
