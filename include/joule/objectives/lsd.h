#pragma once
// Learned Stein Discrepancy (Grathwohl, Wang, Jacobsen, Duvenaud, Zemel, arXiv:2002.05616).
//
//   LSD(p, q) = max_f E_p[ s_q(x)ᵀ f(x) + tr ∇ₓ f(x) ] − λ E_p‖f(x)‖²          (Eq. 7)
//
// p is the data, q the model with score s_q = ∇ₓ log q̃ (no normaliser needed), f a neural
// critic ℝᴰ → ℝᴰ. By Stein's identity the bracket has mean E_p[(s_q − s_p)ᵀ f], so the best
// critic is f* = (s_q − s_p)/(2λ) and LSD* = E_p‖s_q − s_p‖²/(4λ): a Fisher divergence in units
// of 1/λ (arXiv:2002.05616 §3, eq. 8). Training an EBM alternates critic ascent
// steps and model descent steps on the same objective; no sampling from the model is needed.

#include <ATen/ATen.h>
#include <torch/arg.h>

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
std::string to_string(TraceKind kind);  ///< "exact" or "hutchinson"

/// Options for the trace inside stein_statistics().
struct SteinTraceOptions {
  /// Hutchinson's stochastic estimate (cost flat in D) or the exact trace (D backward passes).
  TORCH_ARG(TraceKind, kind) = TraceKind::kHutchinson;
  /// Hutchinson probe distribution (Gaussian or Rademacher).
  TORCH_ARG(ProbeKind, probe) = ProbeKind::kGaussian;
  /// Hutchinson probes per sample (≥ 1; variance falls as 1/probes).
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
  at::Tensor loss;  ///< the scalar loss to minimise over the critic's parameters
  /// Mean of the Stein statistic t over the batch (logged as "critic_stat").
  double stat_mean = 0, f_norm2 = 0, stat_std = 0;
  /// \var f_norm2
  /// Mean ‖f(x)‖² over the batch (logged as "critic_f2").
  /// \var stat_std
  /// Standard deviation of t over the batch.
};
/// The critic's loss for a batch from the Stein statistics t(x) [B] and f(x) [B, D]: −mean(t)
/// (or −mean(t)/(std(t) + 1e-6) with `maximize_power`) plus l2 · mean ‖f(x)‖².
CriticLoss lsd_critic_loss(const at::Tensor& stats, const at::Tensor& fx, double l2, bool maximize_power);

/// Options for LsdObjective. Defaults follow LSD's toy script (lsd_toy.py). The critic's
/// optimizer and its number of ascent steps per model step (toy: Adam, lr 1e-3, β = (0, 0.999),
/// 5 steps, each on a fresh batch) belong to the trainer's "critic" parameter group.
struct LsdOptions {
  /// λ of the critic penalty λ·E‖f‖² (toy 10, RBM test 0.5, MNIST 0.5). LSD values scale as 1/λ.
  TORCH_ARG(double, l2) = 10.0;
  /// Trace estimator used in training (Hutchinson keeps the cost flat in D).
  TORCH_ARG(SteinTraceOptions, trace) = SteinTraceOptions();
  /// Penalty α·mean E(x)² on the data energies (LSD's MNIST run uses 0.001).
  TORCH_ARG(double, l2_energy) = 0.0;
  /// Critic steps with the Hutchinson trace use SteinCritic::stein_loss_backward (no autograd
  /// graph; same values and gradients). false forces the generic double-backward path.
  TORCH_ARG(bool, fused_critic_step) = true;
};

/// LSD as a training objective over two modules, the energy "model" and the SteinCritic
/// "critic", trained as two parameter groups: the trainer asks for "critic" updates (ascent on
/// the critic loss; the reference takes 5 per model step, each on a fresh batch) and "model"
/// updates, whose loss is mean_x s_θ(x)ᵀ f(x) (+ the θ-independent trace, so the value is the
/// LSD estimate). The gradient reaches θ through the score s_θ = −∇ₓE_θ/T (double backward).
///
///   joule::ModuleSet modules;
///   modules.add("model", model.ptr()).add("critic", critic.ptr());
///   joule::train::Trainer trainer(modules,
///       {{"critic", {"critic"}, OptimizerOptions().lr(1e-3).updates(5).fresh_batches(true)},
///        {"model", {"model"}, OptimizerOptions().lr(1e-3)}},
///       std::make_shared<joule::LsdObjective>(joule::LsdOptions().l2(10)), data, TrainerOptions());
class LsdObjective : public Objective {
 public:
  /// Checks l2 > 0, trace probes ≥ 1 and l2_energy ≥ 0.
  explicit LsdObjective(LsdOptions options = {});

  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override;
  std::string name() const override { return "lsd"; }

  /// The critic's loss on `x` against the model's (detached) score, with ∂loss/∂φ accumulated
  /// into the critic parameters' .grad() as loss.backward() would (by the fused forward-mode
  /// backward when the critic supports it). Zero the gradients first, step an optimizer after.
  CriticLoss critic_backward(EnergyModel& model, SteinCriticImpl& critic, const at::Tensor& x, at::Generator& gen);
  /// The model's loss on `x` (differentiable in θ; the critic is held fixed in eval mode).
  ObjectiveOutput model_loss(EnergyModel& model, SteinCriticImpl& critic, const at::Tensor& x, at::Generator& gen);

  LsdOptions options;  ///< the loss options
};

}  // namespace joule
