#pragma once
// Pointwise activations shared by Joule's networks, with their derivatives for hand-written
// input-gradient paths. All are smooth or piecewise-linear and support double backward.

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace joule {

/// A pointwise activation function.
enum class Activation { kSiLU, kLeakyReLU, kELU, kSoftplus, kTanh };

/// Parses "silu" (alias "swish"), "leaky_relu", "elu", "softplus", "tanh".
Activation parse_activation(const std::string& name);
/// The activation's name as parse_activation() accepts it.
std::string to_string(Activation a);
/// Every name parse_activation() accepts.
std::vector<std::string> activation_names();

/// act(z). `negative_slope` is used by LeakyReLU only.
torch::Tensor apply_activation(Activation a, const torch::Tensor& z, double negative_slope = 0.2);

/// act(z) and act'(z) together, for hand-written gradient paths. For SiLU on contiguous
/// float32 CPU tensors it is one sigmoid pass plus one fused pass, instead of five.
struct ActivationAndDerivative {
  /// act(z), shaped like z.
  torch::Tensor value, derivative;  ///< act'(z), shaped like z
};
/// act(z) and act'(z) in one call (see ActivationAndDerivative).
ActivationAndDerivative apply_activation_with_derivative(Activation a, const torch::Tensor& z,
                                                         double negative_slope = 0.2);

/// act'(z) given z and h = act(z) (reusing h saves work for SiLU and ELU).
torch::Tensor activation_derivative(Activation a, const torch::Tensor& z, const torch::Tensor& h,
                                    double negative_slope = 0.2);

/// act''(z) given z, h = act(z) and d = act'(z) (forward-mode Jacobians need it in their backward).
torch::Tensor activation_second_derivative(Activation a, const torch::Tensor& z, const torch::Tensor& h,
                                           const torch::Tensor& d, double negative_slope = 0.2);

}  // namespace joule
