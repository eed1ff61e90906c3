#pragma once
// The energy-model interface every Joule method builds on.
//
// An energy model defines p(x) ∝ exp(−E(x)/T). Joule keeps one sign convention internally
// (log p̃ = −E/T, LeCun et al. 2006, "A tutorial on energy-based learning" §1); wrappers for classifiers (JEM) or log-density
// networks convert at the model boundary.

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <vector>

namespace joule {

/// E(x) and ∇ₓE(x) for a batch, both detached from the parameters.
struct EnergyGrad {
  torch::Tensor energy;  ///< [B]
  torch::Tensor grad;    ///< same shape as x
};

/// Base class of every energy model: any network mapping x [B, ...] to a scalar per sample.
///
/// Subclasses implement `energy()`; they may override `energy_and_grad()` with an analytic
/// input gradient (samplers call it thousands of times per training step, see MlpEnergy).
/// Because a class cannot derive from both this interface and `torch::nn::Cloneable`, energy
/// models are plain `torch::nn::Module`s held through `std::shared_ptr<EnergyModel>`.
class EnergyModel : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;

  /// E(x): [B, ...] -> [B]. Differentiable in x and in the parameters (twice, where the
  /// objective needs it: score matching, LSD, the improved-CD KL term).
  virtual torch::Tensor energy(const torch::Tensor& x) = 0;

  /// E(x) and ∇ₓE(x), with no graph to the parameters. The default uses autograd.
  virtual EnergyGrad energy_and_grad(const torch::Tensor& x);

  /// Shape of one sample without the batch dimension, e.g. {2} or {1, 28, 28}.
  virtual std::vector<int64_t> event_shape() const = 0;

  /// Same as energy(): lets an energy model sit where a torch module is expected.
  torch::Tensor forward(const torch::Tensor& x) { return energy(x); }

  /// The model's temperature T in p(x) ∝ exp(−E(x)/T). Samplers and likelihood read-outs use
  /// it; a model trained with a cold sampler (T_s ≪ 1) learns E ≈ −T_s·log p_data, so reading
  /// its likelihood needs T = T_s (Nijkamp et al., arXiv:1904.09770 §3).
  double temperature() const { return temperature_; }
  /// Sets T; must be finite and > 0 (throws otherwise).
  void set_temperature(double t);

  /// log p̃(x) = −E(x)/T.
  torch::Tensor log_prob_unnormalized(const torch::Tensor& x) { return -energy(x) / temperature_; }

  /// Saves parameters, buffers and the temperature.
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Loads parameters, buffers and, when the archive has one, the temperature (older archives
  /// without it keep the current T).
  void load(torch::serialize::InputArchive& archive) override;

 private:
  double temperature_ = 1.0;
};

/// The device of a module's first parameter or buffer (CPU for a module with neither).
torch::Device module_device(const torch::nn::Module& module);

/// The score ∇ₓ log p̃(x) = −∇ₓE(x)/T.
///
/// With `create_graph` the result stays differentiable (in x and the parameters) for objectives
/// that backpropagate through it; otherwise the model's fast `energy_and_grad()` is used.
torch::Tensor score(EnergyModel& model, const torch::Tensor& x, bool create_graph = false);

/// E(x) and ∇ₓE(x) computed with autograd (the reference every fast path is tested against).
EnergyGrad energy_and_grad_autograd(EnergyModel& model, const torch::Tensor& x);

/// Puts a module in eval mode for the lifetime of the guard and restores the previous mode.
/// Samplers run the network in eval mode (no dropout; as `JEM:train_wrn_ebm.py` samples).
class EvalModeGuard {
 public:
  /// Records the module's current mode and switches it to eval.
  explicit EvalModeGuard(torch::nn::Module& module);
  ~EvalModeGuard();
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

/// Sets requires_grad = false on every parameter of a module for the guard's lifetime and
/// restores each flag after: the energy's parameters frozen while the graph to them through an
/// input stays (improved CD's E_θ̄(x_kl(θ))), or attacks that need gradients for inputs only.
class FrozenParameters {
 public:
  /// Records each parameter's requires_grad flag and clears it.
  explicit FrozenParameters(torch::nn::Module& module);
  ~FrozenParameters();
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<torch::Tensor> params_;
  std::vector<bool> flags_;
};

/// Sets a model's temperature for the lifetime of the guard (a density read-out at another T)
/// and restores the previous one.
class TemperatureGuard {
 public:
  /// Records the model's temperature and sets it to `temperature` (finite, > 0).
  TemperatureGuard(EnergyModel& model, double temperature);
  ~TemperatureGuard();
  TemperatureGuard(const TemperatureGuard&) = delete;
  TemperatureGuard& operator=(const TemperatureGuard&) = delete;

 private:
  EnergyModel& model_;
  double saved_;
};

}  // namespace joule
