#pragma once
// The robustness protocol of a classifier (JEM, arXiv:1912.03263 §5.3): robust accuracy against
// the attack radius ε under L∞ and L2, without and with the SGLD refinement defence, over
// several attack seeds, with the checks that tell real robustness from gradient masking
// (Athalye et al., arXiv:1802.00420 §3: accuracy must reach zero at a large ε, and more attack
// steps must not raise it), the cost of the defence per image, a table, a JSON document and a
// plot. Attacks and the defence are in joule/eval/adversarial.h.

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <functional>
#include <string>
#include <vector>

#include "joule/eval/adversarial.h"
#include "joule/eval/report.h"
#include "joule/io/png.h"
#include "joule/models/classifier_energy.h"

namespace joule::eval {

/// Options for evaluate_robustness().
struct RobustnessOptions {
  /// "linf" and/or "l2".
  TORCH_ARG(std::vector<std::string>, norms) = std::vector<std::string>{"linf", "l2"};
  /// L∞ radii in data units (pixels in [0, 1] for images); multiplied by input_scale for the model.
  TORCH_ARG(std::vector<double>, eps_linf) = std::vector<double>{0, 0.02, 0.05, 0.1, 0.2, 0.5};
  /// L2 radii in data units; multiplied by input_scale for the model.
  TORCH_ARG(std::vector<double>, eps_l2) = std::vector<double>{0, 0.5, 1, 2, 4, 8};
  /// Model units per data unit: 2 for images in [−1, 1] made from pixels in [0, 1].
  TORCH_ARG(double, input_scale) = 2.0;
  /// The model's input range (attacks and refinement stay inside it); none for tables.
  TORCH_ARG(c10::optional<AttackOptions::Range>, range) = AttackOptions::Range(-1.0, 1.0);
  /// "pgd" or "fgsm".
  TORCH_ARG(std::string, attack) = "pgd";
  /// Each point attacks every input once per loss; an input counts as robust only if every
  /// attack fails. Cross-entropy alone can be masked by a saturated softmax (a confident model's
  /// gradient underflows); the margin does not saturate (Carlini–Wagner).
  TORCH_ARG(std::vector<AttackLoss>, losses) = std::vector<AttackLoss>{AttackLoss::kCrossEntropy, AttackLoss::kMargin};
  /// Test inputs attacked without the defence (the first n).
  TORCH_ARG(int64_t, n) = 1000;
  /// PGD steps without the defence (step 2.5·ε/steps, random start).
  TORCH_ARG(int64_t, steps) = 20;
  /// PGD restarts; an input fooled once stays fooled.
  TORCH_ARG(int64_t, restarts) = 1;
  /// Attack seeds: every point is the mean (and standard deviation) over them.
  TORCH_ARG(int64_t, seeds) = 3;
  /// Refinement steps K of the defence, one set of curves per value; 0 = no defence.
  TORCH_ARG(std::vector<int64_t>, defence_steps) = std::vector<int64_t>{0, 10};
  /// Refinement chains per input; the logits are averaged over them.
  TORCH_ARG(int64_t, defence_chains) = 4;
  /// SGLD step a of the refinement (JEM: 1).
  TORCH_ARG(double, defence_step_size) = 1.0;
  /// SGLD noise b of the refinement (JEM: 0.01).
  TORCH_ARG(double, defence_noise) = 0.01;
  /// How attacks differentiate the refinement: through its steps (exact) or identity (BPDA).
  TORCH_ARG(RefinementGradient, defence_gradient) = RefinementGradient::kThrough;
  /// Inputs attacked when the defence is on (each attack step differentiates through
  /// chains × K Langevin steps, so the defended curves are costlier by about 3·chains·K).
  TORCH_ARG(int64_t, defence_n) = 200;
  /// PGD steps against the defence.
  TORCH_ARG(int64_t, defence_attack_steps) = 10;
  /// Gradient samples per attack step on the defended (stochastic) classifier (EOT).
  TORCH_ARG(int64_t, eot_samples) = 1;
  /// Run the gradient-masking checks (one more attack per curve, with twice the steps).
  TORCH_ARG(bool, checks) = true;
  /// Seed from which every attack's and defence's generator is derived.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Called with a one-line summary after each curve (long evaluations show their progress).
  TORCH_ARG(std::function<void(const std::string&)>, on_curve) = nullptr;
};

/// Robust accuracy of one model under one norm and one defence setting.
struct RobustnessCurve {
  std::string norm;            ///< "linf" or "l2"
  int64_t defence_steps = 0;   ///< refinement steps K of the defence (0: none)
  ///@{
  /// Inputs attacked and attack steps per restart.
  int64_t n = 0, attack_steps = 0;
  ///@}
  std::vector<double> eps;                   ///< data units
  ///@{
  /// Mean and standard deviation of the robust accuracy over seeds, per ε.
  std::vector<double> acc_mean, acc_sd;
  ///@}
  std::vector<std::vector<double>> acc_seed; ///< [eps][seed]
  double attack_seconds = 0;                 ///< wall time of the whole curve
  /// Checks: accuracy at the largest ε (0 unless the gradients are masked), and the change of
  /// accuracy at the middle ε when the attack has twice the steps (≤ 0 up to noise).
  double acc_at_max_eps = 0;
  ///@{
  /// The middle ε of the check (0 when not run), the first seed's accuracy there, and the
  /// accuracy with twice the attack steps.
  double check_eps = 0, acc_check = 0, acc_check_2x = 0;
  ///@}
};

/// What evaluate_robustness() returns for one model.
struct RobustnessResult {
  std::string model;          ///< the model's name (as passed to evaluate_robustness())
  double clean_acc = 0;       ///< on the n undefended inputs
  int64_t classes = 0;        ///< number of classes of the model
  std::vector<AttackLoss> losses;  ///< the attacks' losses (robust = every one fails)
  std::vector<RobustnessCurve> curves;  ///< one per norm and defence setting
  /// Seconds to classify one input without and with each defence setting (no attack).
  std::vector<std::pair<int64_t, double>> seconds_per_image;
};

/// Attacks `model` on test inputs x [N, ...] (model space) with labels y [N]. The model's
/// parameters are frozen and it runs in eval mode during the attacks.
RobustnessResult evaluate_robustness(ClassifierEnergyImpl& model, const std::string& name, const at::Tensor& x,
                                     const at::Tensor& y, const RobustnessOptions& options);

/// Report lines "robust.<norm>.k<K>.eps<ε>" etc., prefixed with `prefix`.
void add_robustness_lines(Report& report, const RobustnessResult& result, const std::string& prefix);
/// A markdown table: one row per model and defence, one column per ε, per norm.
std::string robustness_table(const std::vector<RobustnessResult>& results);
/// {"models": [{"model", "clean_acc", "seconds_per_image", "curves": [...]}]}.
std::string robustness_json(const std::vector<RobustnessResult>& results, const RobustnessOptions& options);
/// One panel per norm: accuracy against ε, one colour per model, dashed with the defence.
io::Image robustness_plot(const std::vector<RobustnessResult>& results);

}  // namespace joule::eval
