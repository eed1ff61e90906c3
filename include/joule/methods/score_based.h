#pragma once
// The sampling-free objectives shared by the EBM and ICA methods: LSD (with its critic as a
// second module and parameter group) and exact / sliced / denoising score matching.

#include <string>

#include "joule/methods/method.h"

namespace joule::methods {

/// [lsd]: learned Stein discrepancy (defaults: LSD:lsd_toy.py).
struct LsdConfig {
  double l2 = 10.0;
  std::string trace = "hutchinson";
  std::string probe = "gaussian";
  int64_t probes = 1;
  int64_t critic_width = 300;
  int64_t critic_depth = 2;
  void visit(config::Fields& f);
};

/// [sm]: score matching.
struct ScoreMatchingConfig {
  std::string probe = "rademacher";
  int64_t projections = 1;
  bool variance_reduced = true;
  double noise = 0.1;
  void visit(config::Fields& f);
};

/// The critic group's optimizer, [optim.critic] (LSD toy: Adam, lr 1e-3, β = (0, 0.999), constant,
/// 5 updates per model step, each on a fresh batch).
OptimizerConfig critic_optimizer_defaults();

/// [optim.<group>] sections of the groups beyond the main one: the LSD critic's.
struct OptimGroups {
  OptimizerConfig critic = critic_optimizer_defaults();
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
