#pragma once
// The sampling-free objectives shared by the EBM and ICA methods: LSD (with its critic as a
// second module and parameter group) and exact / sliced / denoising score matching.

#include <string>

#include "joule/methods/method.h"

namespace joule::methods {

/// [lsd]: learned Stein discrepancy (defaults: LSD:lsd_toy.py).
struct LsdConfig {
  double l2 = 10.0;  ///< λ of the critic penalty λ·E‖f‖² (LSD values scale as 1/λ; toy 10, ICA/RBM 0.5)
  /// tr ∇f in training: hutchinson (cost flat in D) or exact (D backward passes).
  std::string trace = "hutchinson";
  std::string probe = "gaussian";  ///< Hutchinson probe distribution: gaussian | rademacher
  int64_t probes = 1;              ///< Hutchinson probes per sample
  int64_t critic_width = 300;      ///< critic hidden units per layer (swish with learned β)
  int64_t critic_depth = 2;        ///< critic hidden layers (1 to 64)
  /// Declares the [lsd] fields.
  void visit(config::Fields& f);
};

/// [sm]: score matching.
struct ScoreMatchingConfig {
  std::string probe = "rademacher";  ///< sliced score matching: projection distribution, rademacher | gaussian
  int64_t projections = 1;           ///< sliced score matching: projections per sample
  bool variance_reduced = true;      ///< sliced score matching: ½‖s‖² in closed form (SSM-VR)
  double noise = 0.1;                ///< denoising score matching: noise std σ
  /// Declares the [sm] fields.
  void visit(config::Fields& f);
};

/// The critic group's optimizer, [optim.critic] (LSD toy: Adam, lr 1e-3, β = (0, 0.999), constant,
/// 5 updates per model step, each on a fresh batch).
OptimizerConfig critic_optimizer_defaults();

/// [optim.\<group\>] sections of the groups beyond the main one: the LSD critic's.
struct OptimGroups {
  OptimizerConfig critic = critic_optimizer_defaults();  ///< [optim.critic]: the LSD critic's optimizer
  /// Declares the [optim.critic] section.
  void visit(config::Fields& f) { f.section("critic", critic); }
};

/// True for objective.kind in {lsd, sm, ssm, dsm}.
bool is_score_objective(const std::string& kind);

/// Puts the objective for `kind` (lsd | sm | ssm | dsm) into `parts`; for LSD also the SteinCritic
/// (module "critic", weights from `critic_seed`) and its parameter group, updated before the model.
void add_score_objective(Parts& parts, const std::string& kind, const LsdConfig& lsd, const ScoreMatchingConfig& sm,
                         const OptimizerConfig& critic, double l2_energy, int64_t dim, torch::Device device,
                         uint64_t critic_seed);

}  // namespace joule::methods
