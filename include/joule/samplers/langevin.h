#pragma once
// Unadjusted Langevin dynamics (ULA / SGLD) with decoupled step and noise, clipping and clamps.

#include <torch/arg.h>

#include <utility>

#include "joule/samplers/sampler.h"

namespace joule {

/// Options for Langevin: x ← clamp(x + a·clip(∇ₓ log p̃(x)) + b·ε), ε ~ N(0, I), K times.
///
/// With b = √(2a) this is the unadjusted Langevin algorithm, which samples the model density
/// (up to O(a) bias). Papers decouple a and b (JEM: a = 1, b = 0.01) and so sample
/// exp(−E/T) at T = b²/(2a) ≪ 1 (Nijkamp et al., arXiv:1904.09770 §3).
///
/// Example:
///   joule::Langevin ula(joule::LangevinOptions::ula(/*step_size=*/0.01, /*steps=*/50));
///   joule::Langevin jem(joule::LangevinOptions::jem());   // a = 1, b = 0.01, 20 steps
struct LangevinOptions {
  /// A closed interval [first, second].
  using Range = std::pair<double, double>;
  /// `steps` transitions (K) per sample() call; the other options keep their defaults.
  explicit LangevinOptions(int64_t steps = 20) : steps_(steps) {}

  /// Proper ULA: b = √(2a), samples the model at temperature 1.
  static LangevinOptions ula(double step_size, int64_t steps);
  /// JEM's SGLD preset (a = 1, b = 0.01, K = 20): T = 5e-5, nearly a mode seeker.
  static LangevinOptions jem();
  /// IGEBM-style cold sampling on images in [0, 1]: a = 10, b = 0.005, clip 0.01, K = 60.
  static LangevinOptions igebm();

  /// T = b²/(2a).
  double temperature() const { return noise_ * noise_ / (2.0 * step_size_); }
  /// Fails unless steps >= 0, step_size > 0, noise >= 0 (finite), grad_clip > 0 and clamp
  /// has first < second.
  void validate() const;

  /// Number of transitions K.
  TORCH_ARG(int64_t, steps);
  /// Gradient step a (multiplies the score ∇ log p̃ = −∇E/T).
  TORCH_ARG(double, step_size) = 0.01;
  /// Noise standard deviation b.
  TORCH_ARG(double, noise) = std::sqrt(0.02);
  /// Clip each element of the score to ±grad_clip (IGEBM uses 0.01 on ∇E).
  TORCH_ARG(c10::optional<double>, grad_clip) = c10::nullopt;
  /// Clamp the state into [first, second] after each step (e.g. the data range).
  TORCH_ARG(c10::optional<Range>, clamp) = c10::nullopt;
};

/// Unadjusted Langevin dynamics sampler (see LangevinOptions for the update and its temperature).
/// Its transitions are differentiable (step() accepts keep_graph).
class Langevin : public Sampler {
 public:
  /// Validates `options`.
  explicit Langevin(LangevinOptions options);
  torch::Tensor sample(EnergyModel& model, const torch::Tensor& x0,
                       c10::optional<at::Generator> gen = c10::nullopt) override;
  double temperature() const override { return options.temperature(); }
  /// "langevin".
  std::string name() const override { return "langevin"; }
  std::unique_ptr<Sampler> with_steps(int64_t steps) const override {
    return std::make_unique<Langevin>(LangevinOptions(options).steps(steps));
  }
  int64_t steps() const override { return options.steps(); }
  /// One step; with keep_graph, x' = x + a·clip(s(x)) + b·ε with the score s = −∇ₓE/T computed
  /// with create_graph, so x' is differentiable in θ and x (clipping and clamping included).
  torch::Tensor step(EnergyModel& model, const torch::Tensor& x, c10::optional<at::Generator> gen = c10::nullopt,
                     bool keep_graph = false) override;
  bool differentiable() const override { return true; }

  LangevinOptions options;  ///< step size, noise, steps, clipping and clamping
};

}  // namespace joule
