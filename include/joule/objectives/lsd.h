#pragma once
// Learned Stein Discrepancy (Grathwohl, Wang, Jacobsen, Duvenaud, Zemel, arXiv:2002.05616).
//
//   LSD(p, q) = max_f E_p[ s_q(x)ᵀ f(x) + tr ∇ₓ f(x) ] − λ E_p‖f(x)‖²          (Eq. 7)
//
// p is the data, q the model with score s_q = ∇ₓ log q̃ (no normaliser needed), f a neural
// critic ℝᴰ → ℝᴰ. By Stein's identity the bracket has mean E_p[(s_q − s_p)ᵀ f], so the best
// critic is f* = (s_q − s_p)/(2λ) and LSD* = E_p‖s_q − s_p‖²/(4λ): a Fisher divergence in units
// of 1/λ (reference ebm_training.md §4.1, lesson 8). Training an EBM alternates critic ascent
// steps and model descent steps on the same objective; no sampling from the model is needed.

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/optim/adam.h>

#include <memory>
#include <string>

#include "joule/data/dataset.h"
#include "joule/estimators/trace.h"
#include "joule/models/critic.h"
#include "joule/objectives/objective.h"

namespace joule {

/// How tr ∇ₓ f(x) is computed.
enum class TraceKind { kExact, kHutchinson };
TraceKind parse_trace_kind(const std::string& name);  ///< "exact" or "hutchinson"
std::string to_string(TraceKind kind);

/// Options for the trace inside stein_statistics().
struct SteinTraceOptions {
  TORCH_ARG(TraceKind, kind) = TraceKind::kHutchinson;
  TORCH_ARG(ProbeKind, probe) = ProbeKind::kGaussian;
  TORCH_ARG(int64_t, probes) = 1;
  /// Keep the graph so the statistic can be differentiated (critic training).
  TORCH_ARG(bool, create_graph) = true;
};

/// Per-sample Stein statistic t(x) = s_q(x)ᵀ f(x) + tr ∇ₓ f(x), [B].
/// `score_q` [B, ...] is s_q at x, `fx` = f(x) computed from `x` (which requires grad).
at::Tensor stein_statistics(const at::Tensor& score_q, const at::Tensor& fx, const at::Tensor& x,
                            const SteinTraceOptions& trace, at::Generator& gen);

/// The critic's loss for one batch, to minimise: −mean t + λ·mean‖f‖², or with `maximize_power`
/// the test-power surrogate −mean t / (std t + 1e-6) + λ·mean‖f‖² of the LSD test
/// (`lsd_test.py --maximize_power`). Returns {loss, mean t, mean ‖f‖², std t}.
struct CriticLoss {
  at::Tensor loss;
  double stat_mean = 0, f_norm2 = 0, stat_std = 0;
};
CriticLoss lsd_critic_loss(const at::Tensor& stats, const at::Tensor& fx, double l2, bool maximize_power);

/// Options for LsdObjective. Defaults follow LSD's toy script (lsd_toy.py).
struct LsdOptions {
  /// λ of the critic penalty λ·E‖f‖² (toy 10, RBM test 0.5, MNIST 0.5). LSD values scale as 1/λ.
  TORCH_ARG(double, l2) = 10.0;
  /// Critic ascent steps before each model step (toy 5).
  TORCH_ARG(int64_t, critic_steps) = 5;
  /// Trace estimator used in training (Hutchinson keeps the cost flat in D).
  TORCH_ARG(SteinTraceOptions, trace) = SteinTraceOptions();
  /// The critic's own Adam (LSD toy: lr 1e-3, β = (0, 0.999)).
  TORCH_ARG(double, critic_lr) = 1e-3;
  TORCH_ARG(double, critic_beta1) = 0.0;
  TORCH_ARG(double, critic_beta2) = 0.999;
  TORCH_ARG(double, critic_weight_decay) = 0.0;
  /// Penalty α·mean E(x)² on the data energies (LSD's MNIST run uses 0.001).
  TORCH_ARG(double, l2_energy) = 0.0;
  /// Critic steps with the Hutchinson trace use SteinCritic::stein_loss_backward (no autograd
  /// graph; same values and gradients). false forces the generic double-backward path.
  TORCH_ARG(bool, fused_critic_step) = true;
};

/// LSD as a training objective. It owns the critic and the critic's optimizer: each compute()
/// takes `critic_steps` critic steps (each on a fresh batch from `critic_data` when given, as
/// the reference code does, otherwise on the model-step batch), then returns the model loss
/// mean_x s_θ(x)ᵀ f(x) (+ the θ-independent trace, so the value is the LSD estimate).
/// The gradient reaches θ through the score s_θ = −∇ₓE_θ/T, i.e. by double backward.
/// The critic, its optimizer and the step counter are part of save()/load().
class LsdObjective : public Objective {
 public:
  LsdObjective(LsdOptions options, SteinCritic critic, std::shared_ptr<data::DataSource> critic_data = nullptr);

  ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) override;
  std::string name() const override { return "lsd"; }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  /// One critic ascent step on `x` against the model's (detached) score; returns its loss terms.
  CriticLoss critic_step(EnergyModel& model, const at::Tensor& x, at::Generator& gen);

  SteinCritic& critic() { return critic_; }
  torch::optim::Adam& critic_optimizer() { return *optimizer_; }

  LsdOptions options;

 private:
  SteinCritic critic_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::shared_ptr<data::DataSource> critic_data_;
  int64_t critic_updates_ = 0;
};

}  // namespace joule
