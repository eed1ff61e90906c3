#pragma once
// A multilayer-perceptron energy E(x) = wᵀ act(W_L … act(W_1 x + b_1) …) + c.

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "joule/core/energy.h"
#include "joule/models/activation.h"

namespace joule {

/// Options for MlpEnergy.
///
/// Example:
///   auto e = joule::MlpEnergy(joule::MlpEnergyOptions(2).width(128).depth(3)
///                                 .activation(joule::Activation::kSiLU));
struct MlpEnergyOptions {
  /// `input_dim` = product of the event shape; inputs [B, ...] are flattened.
  explicit MlpEnergyOptions(int64_t input_dim) : input_dim_(input_dim) {}
  /// Input dimension D (> 0).
  TORCH_ARG(int64_t, input_dim);
  /// Units per hidden layer.
  TORCH_ARG(int64_t, width) = 128;
  /// Number of hidden layers (>= 1).
  TORCH_ARG(int64_t, depth) = 3;
  /// Hidden-layer activation.
  TORCH_ARG(Activation, activation) = Activation::kSiLU;
  /// Slope for x < 0 when activation = leaky_relu.
  TORCH_ARG(double, negative_slope) = 0.2;
  /// Divides each weight matrix by its largest singular value (one power iteration per
  /// training forward pass, as torch.nn.utils.spectral_norm does).
  TORCH_ARG(bool, spectral_norm) = false;
  /// Shape of one sample; empty means {input_dim}.
  TORCH_ARG(std::vector<int64_t>, event_shape) = {};
};

/// MLP energy with an analytic input gradient for samplers.
///
/// `energy_and_grad()` runs the forward pass once, keeps the pre-activations and applies the
/// chain rule by hand (one matrix product per layer), skipping autograd's graph and its
/// weight-gradient bookkeeping: this is the hot path of every Langevin step. It is checked
/// against autograd in tests/unit/test_mlp_energy.cpp.
class MlpEnergyImpl : public EnergyModel {
 public:
  /// Builds the layers; throws on invalid options.
  explicit MlpEnergyImpl(const MlpEnergyOptions& options);

  /// Checks the options and (re)creates every parameter, drawn from the global generator
  /// (U(±1/√fan_in)).
  void reset();
  /// Re-draws all parameters from `gen` (PyTorch's Linear default: U(±1/√fan_in)).
  void reset_parameters(at::Generator gen);

  torch::Tensor energy(const torch::Tensor& x) override;
  EnergyGrad energy_and_grad(const torch::Tensor& x) override;
  std::vector<int64_t> event_shape() const override;
  /// Prints "joule::MlpEnergy(input_dim=..., width=..., ...)".
  void pretty_print(std::ostream& stream) const override;

  /// Weight of layer i as used in the forward pass (spectrally normalised if enabled).
  /// `update` runs one power iteration first (done by energy() in training mode).
  torch::Tensor effective_weight(size_t i, bool update);

  MlpEnergyOptions options;  ///< the options it was built with
  std::vector<torch::Tensor> weights;  ///< depth hidden layers then the output layer [1, width]
  std::vector<torch::Tensor> biases;   ///< one per entry of `weights`

 private:
  std::vector<torch::Tensor> sn_u_, sn_v_;  // power-iteration vectors (buffers)
};
/// The module holder of MlpEnergyImpl (a shared pointer to it).
TORCH_MODULE(MlpEnergy);

}  // namespace joule
