#pragma once
// NICE (Dinh, Krueger, Bengio, "NICE: Non-linear Independent Components Estimation",
// arXiv:1410.8516 §3): a normalising flow of additive coupling layers and a diagonal scaling,
//
//   coupling i:  y_B = x_B + m_i(x_A),  y_A = x_A   (A, B: the even and odd dimensions, swapped
//                                                   from one coupling to the next; log-det 0)
//   scaling:     z = y ⊙ exp(s),                    log |det| = Σ_j s_j
//   log p(x) = log p_base(z) + Σ_j s_j,             p_base: N(0, I) or the standard logistic,
//
// so its log-likelihood is exact. As an energy, E(x) = −log p(x) (log Z = 0 at T = 1): VERA's
// tractable-model check (arXiv:2010.04230 §6.4, `VERA:train.py --nice`) trains the same model by
// maximum likelihood, VERA, PCD and score matching and compares exact test log-likelihoods.
#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <utility>
#include <vector>

#include "joule/core/density.h"
#include "joule/core/energy.h"

namespace joule {

/// Options for Nice. Example (VERA's NICE(784, 1000, 5)):
///   auto flow = joule::Nice(joule::NiceOptions(784).hidden(1000).depth(5).couplings(4));
struct NiceOptions {
  /// Options for data of `dim` dimensions.
  explicit NiceOptions(int64_t dim) : dim_(dim) {}
  /// Throws unless dim ≥ 2, hidden, depth and couplings > 0 and base is gaussian or logistic.
  void validate() const;
  /// Data dimension (≥ 2).
  TORCH_ARG(int64_t, dim);
  /// Units of each hidden layer of the coupling functions m_i.
  TORCH_ARG(int64_t, hidden) = 1000;
  /// Hidden layers of each coupling function (ReLU).
  TORCH_ARG(int64_t, depth) = 5;
  /// Additive coupling layers.
  TORCH_ARG(int64_t, couplings) = 4;
  /// Base distribution: "gaussian" or "logistic" (NICE's choice for images).
  TORCH_ARG(std::string, base) = "gaussian";
};

/// The NICE flow, both an exact density and an energy model E(x) = −log p(x).
class NiceImpl : public EnergyModel, public DensityModel {
 public:
  /// Builds the flow (validating `options`) with the scaling s at zero.
  explicit NiceImpl(NiceOptions options);
  /// PyTorch's default Linear initialisation drawn from `gen`, the last layer of each coupling
  /// function and the scaling at zero (the flow starts as the identity).
  void reset_parameters(at::Generator gen);

  /// z = f(x) and log |det ∂f/∂x| per sample ([B]).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x);
  /// x = f⁻¹(z).
  at::Tensor inverse(const at::Tensor& z);
  /// Exact log p(x), [B].
  at::Tensor log_prob(const at::Tensor& x) override;
  /// E(x) = −log p(x).
  torch::Tensor energy(const torch::Tensor& x) override;
  /// n exact samples: z from the base, x = f⁻¹(z).
  at::Tensor sample(int64_t n, at::Generator gen) override;
  std::vector<int64_t> event_shape() const override { return {options.dim()}; }

  NiceOptions options;  ///< the options it was built with
  /// m_i, one MLP per coupling (submodules "coupling0", ...).
  std::vector<torch::nn::Sequential> coupling_nets;
  torch::Tensor log_scale;  ///< s, [dim]

 private:
  at::Tensor base_log_prob(const at::Tensor& z) const;
  at::Tensor even_, odd_;  // index tensors of the two halves
};
/// The module holder of NiceImpl (a shared pointer to it).
TORCH_MODULE(Nice);

}  // namespace joule
