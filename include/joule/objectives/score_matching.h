#pragma once
// Score matching: fitting s_θ = ∇ₓ log p̃_θ = −∇ₓE_θ/T to the data without the normaliser.
//
//  exact      J(θ) = E_p[ ½‖s_θ(x)‖² + tr ∇ₓ s_θ(x) ]                 (Hyvärinen 2005, Thm 1)
//  sliced     J(θ) = E_p E_v[ ½‖s_θ(x)‖² + vᵀ ∇ₓ(vᵀ s_θ(x)) ]         (Song et al. 2019, arXiv:1905.07088,
//             the variance-reduced form SSM-VR; v Rademacher or Gaussian, E[vvᵀ] = I)
//  denoising  J(θ) = E_p E_ε[ ½‖s_θ(x + σε) + ε/σ‖² ]                  (Vincent 2011)
//
// Each equals a Fisher divergence up to a θ-independent constant: exact and sliced,
// J = ½E_p‖s_θ − s_p‖² − ½E_p‖s_p‖²; denoising, J = ½E_{p_σ}‖s_θ − s_{p_σ}‖² + D/(2σ²) −
// ½E_{p_σ}‖s_{p_σ}‖² with p_σ = p * N(0, σ²I). All need double backward (the loss contains
// ∇ₓE_θ, differentiated again in θ).

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <string>

#include "joule/core/energy.h"
#include "joule/estimators/trace.h"
#include "joule/objectives/objective.h"

namespace joule {

/// Which score-matching loss ScoreMatching uses (see the formulas at the top of this file).
enum class ScoreMatchingKind { kExact, kSliced, kDenoising };
/// Parses "exact", "sliced" or "denoising".
ScoreMatchingKind parse_score_matching_kind(const std::string& name);
std::string to_string(ScoreMatchingKind kind);  ///< "exact", "sliced" or "denoising"

/// Per-sample exact score-matching loss ½‖s‖² + tr ∇s, [B]; D backward passes for the trace.
at::Tensor exact_score_matching_loss(EnergyModel& model, const at::Tensor& x);

/// Per-sample sliced score-matching loss, [B], averaged over `projections` probes v.
/// `variance_reduced` = true uses ½‖s‖² exactly (SSM-VR); false uses ½(vᵀs)² (plain SSM).
at::Tensor sliced_score_matching_loss(EnergyModel& model, const at::Tensor& x, ProbeKind probe, int64_t projections,
                                      bool variance_reduced, at::Generator& gen);

/// Per-sample denoising score-matching loss ½‖s(x̃) + ε/σ‖², x̃ = x + σε, [B].
at::Tensor denoising_score_matching_loss(EnergyModel& model, const at::Tensor& x, double sigma, at::Generator& gen);

/// Options for ScoreMatching.
struct ScoreMatchingOptions {
  /// The loss: exact (D backward passes for the trace), sliced (default) or denoising.
  TORCH_ARG(ScoreMatchingKind, kind) = ScoreMatchingKind::kSliced;
  /// Sliced: probe distribution of the projections v.
  TORCH_ARG(ProbeKind, probe) = ProbeKind::kRademacher;
  /// Sliced: projections per sample (≥ 1), averaged.
  TORCH_ARG(int64_t, projections) = 1;
  /// Sliced: compute ½‖s‖² in closed form (SSM-VR) rather than ½(vᵀs)² (plain SSM).
  TORCH_ARG(bool, variance_reduced) = true;
  /// Denoising: noise standard deviation σ.
  TORCH_ARG(double, noise) = 0.1;
  /// Penalty α·mean E(x)² on the data energies (0 = off).
  TORCH_ARG(double, l2_energy) = 0.0;
};

/// Score matching as a training objective (no sampler, no auxiliary network).
class ScoreMatching : public EnergyObjective {
 public:
  /// Checks projections ≥ 1, noise > 0 and l2_energy ≥ 0.
  explicit ScoreMatching(ScoreMatchingOptions options);
  using EnergyObjective::compute;
  ObjectiveOutput compute(EnergyModel& model, const Batch& batch, at::Generator& gen) override;
  /// "sm", "ssm" or "dsm" for the exact, sliced or denoising loss.
  std::string name() const override;

  ScoreMatchingOptions options;  ///< the loss options
};

}  // namespace joule
