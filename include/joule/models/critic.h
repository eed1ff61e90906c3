#pragma once
// The Stein critic f_φ: ℝᴰ → ℝᴰ of Learned Stein Discrepancy (Grathwohl et al., arXiv:2002.05616
// §3): an MLP whose output has the shape of its input, with Swish activations x·sigmoid(β⊙x)
// whose β is learned per unit (the paper's networks.py `Swish(dim)`), optional dropout.

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "joule/models/activation.h"

namespace joule {

/// Options for SteinCritic.
///
/// Example (the LSD RBM test critic: 50-300-300-50, learned-β Swish, dropout 0.5):
///   auto f = joule::SteinCritic(joule::SteinCriticOptions(50).width(300).depth(2).dropout(0.5));
struct SteinCriticOptions {
  /// `dim` = number of features per sample; inputs [B, ...] are flattened and the output has
  /// the input's shape.
  explicit SteinCriticOptions(int64_t dim) : dim_(dim) {}
  /// D, the number of features (> 0).
  TORCH_ARG(int64_t, dim);
  /// Units per hidden layer (LSD uses 300 on toy, ICA and RBM data).
  TORCH_ARG(int64_t, width) = 300;
  /// Hidden layers (LSD's SmallMLP has 2).
  TORCH_ARG(int64_t, depth) = 2;
  /// Swish x·sigmoid(β⊙x) with a learned β per hidden unit (initialised to 1). When false,
  /// `activation` is applied with no extra parameters.
  TORCH_ARG(bool, learn_beta) = true;
  /// Hidden activation when learn_beta is false (learn_beta needs silu).
  TORCH_ARG(Activation, activation) = Activation::kSiLU;
  /// Dropout probability after each hidden activation in training mode (0 = none). Masks are
  /// drawn from the generator passed to forward().
  TORCH_ARG(double, dropout) = 0.0;
};

/// Loss terms of one critic step (see SteinCriticImpl::stein_loss_backward).
struct CriticStepStats {
  ///@{
  /// `loss`: the minimised critic loss; `stat_mean`, `stat_std`: mean and standard deviation of
  /// the Stein statistic t over the batch; `f_norm2`: mean ‖f(x)‖².
  double loss = 0, stat_mean = 0, stat_std = 0, f_norm2 = 0;
  ///@}
};

/// The critic network. `forward()` is plain autograd and supports double backward (the LSD
/// critic loss differentiates through tr ∂f/∂x).
class SteinCriticImpl : public torch::nn::Cloneable<SteinCriticImpl> {
 public:
  /// Builds the layers (see reset()).
  explicit SteinCriticImpl(const SteinCriticOptions& options);

  /// One LSD critic step's loss, −mean t + λ·mean‖f‖² (or −mean t/(std t + 1e-6) + λ·mean‖f‖²
  /// with `maximize_power`), t = s_qᵀf + Hutchinson(tr ∂f/∂x), and the gradient of every
  /// parameter accumulated into its .grad() — without autograd. The forward pass carries the
  /// probes' Jacobian-vector products (forward mode, stacked under the batch so each layer is one
  /// matrix product) and the backward pass through both streams is written out by hand, with
  /// the Swish derivatives fused. Same value and gradients as
  ///   lsd_critic_loss(stein_statistics(sq, forward(x, gen), x, Hutchinson(probe, probes)), ...)
  ///     .loss.backward()
  /// including the order of random draws (dropout masks layer by layer, then the probes), so a
  /// seed gives the same run either way. Needs the swish activation (learned β or not).
  /// x, sq: [B, dim]. Returns the loss terms.
  CriticStepStats stein_loss_backward(const at::Tensor& x, const at::Tensor& sq, double l2, bool maximize_power,
                                      bool rademacher, int64_t probes, at::Generator& gen);
  /// The Stein statistic with the exact trace, t(x) = s_q(x)ᵀf(x) + tr ∂f/∂x, per sample ([N]),
  /// for the critic without dropout (as in eval mode), without autograd: forward mode with the D
  /// basis directions as tangent streams, `chunk` rows ((1 + D) per sample) at a time. Equals
  /// (sq · forward(x)).sum(1) + jacobian_trace_exact(forward, x) in eval mode, at the cost of
  /// one forward pass over (1 + D)·N rows. Needs the swish activation.
  at::Tensor stein_statistic_exact(const at::Tensor& x, const at::Tensor& sq, int64_t chunk = 65536);
  /// True when stein_loss_backward() and stein_statistic_exact() support this critic's activation.
  bool has_fused_step() const { return options.learn_beta() || options.activation() == Activation::kSiLU; }

  /// Checks the options (dim, width > 0, depth ≥ 1, dropout in [0, 1), learn_beta only with silu)
  /// and (re)creates every parameter from the global generator, β = 1.
  void reset() override;
  /// Re-draws all weights from `gen` (PyTorch's Linear default U(±1/√fan_in)); β = 1.
  void reset_parameters(at::Generator gen);

  /// f(x): [B, ...] -> the same shape. In training mode with dropout > 0, `gen` is required.
  at::Tensor forward(const at::Tensor& x, c10::optional<at::Generator> gen = c10::nullopt);

  /// Prints "joule::SteinCritic(dim=..., width=..., ...)".
  void pretty_print(std::ostream& stream) const override;

  SteinCriticOptions options;  ///< the options it was built with
  std::vector<at::Tensor> weights;  ///< depth hidden layers, then the output layer [dim, width]
  std::vector<at::Tensor> biases;   ///< one per entry of `weights`
  std::vector<at::Tensor> betas;    ///< per hidden layer, [width]; empty unless learn_beta
};
/// The module holder of SteinCriticImpl (a shared pointer to it).
TORCH_MODULE(SteinCritic);

}  // namespace joule
