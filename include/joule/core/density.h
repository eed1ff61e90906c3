#pragma once
// Models with an exact density: log p(x) in closed form and exact samples (ICA now; flows and
// continuous normalising flows later). They are trained by maximum likelihood and evaluated by
// their exact log-likelihood without pretending to be energies — a model may be both (ICA is an
// energy model too, so LSD and score matching can train it).

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace joule {

/// What maximum-likelihood training minimises for one batch: −mean(log_prob) + Σ penalties.
struct DensityTerms {
  at::Tensor log_prob;  ///< [B], log p(x) or an unbiased estimate of it; differentiable
  /// Weighted scalar penalties added to the loss (e.g. a CNF's kinetic energy), logged by name.
  std::vector<std::pair<std::string, at::Tensor>> penalties;
  /// Further numbers to log (e.g. a CNF's function evaluations).
  std::vector<std::pair<std::string, double>> metrics;
};

/// An exact-density model. A mix-in interface: implementations are torch::nn::Modules that
/// also derive from this (a ModuleSet finds them with get<DensityModel>()).
class DensityModel {
 public:
  virtual ~DensityModel() = default;
  /// Exact log p(x) per sample: [B, ...] -> [B], differentiable in the parameters.
  virtual at::Tensor log_prob(const at::Tensor& x) = 0;
  /// The training loss's terms for a batch; the default is the exact log_prob and no penalties.
  /// Models whose likelihood is costly override it (a CNF trains on Hutchinson's trace estimate
  /// with RNODE penalties); `gen` draws any randomness of the estimate.
  virtual DensityTerms training_terms(const at::Tensor& x, at::Generator& gen) { return {log_prob(x), {}, {}}; }
  /// n exact samples [n, ...].
  virtual at::Tensor sample(int64_t n, at::Generator gen) = 0;
  /// Shape of one sample without the batch dimension.
  virtual std::vector<int64_t> event_shape() const = 0;
};

}  // namespace joule
