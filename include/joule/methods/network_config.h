#pragma once
// [model] of the classifier methods (JEM, VERA-JEM): a small CNN, a Wide-ResNet or an MLP read
// as a joint energy model (ClassifierEnergy).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "joule/config/options.h"
#include "joule/eval/protocols/classifier.h"
#include "joule/eval/protocols/robustness.h"
#include "joule/models/classifier_energy.h"

namespace joule::methods {

/// [model] of the classifier methods (JEM, VERA-JEM): a small CNN, a Wide-ResNet or an MLP read
/// as a joint energy model (ClassifierEnergy).
struct ClassifierConfig {
  std::string kind = "cnn";  ///< cnn | wrn (images only) | mlp, plus a method's extra kinds
  int64_t width = 128;       ///< mlp: hidden units per layer
  int64_t depth = 3;         ///< mlp: hidden layers, 1..64
  std::vector<int64_t> hidden;  ///< mlp: explicit hidden widths (overrides width × depth)
  std::string activation = "leaky_relu";  ///< hidden activation (a name from activation_names())
  double negative_slope = 0.2;  ///< leaky_relu slope for x < 0, in [0, 1]
  int64_t channels = 16;        ///< cnn: base width c (convolutions of c, 2c, 4c channels)
  int64_t wrn_depth = 28;       ///< wrn: depth 6n+4 (>= 10)
  int64_t wrn_widen = 10;       ///< wrn: widening factor k
  /// Dropout rate in [0, 0.95] (cnn: before the head; wrn: inside blocks; mlp: after each layer).
  double dropout = 0.0;
  std::string norm = "none";    ///< normalisation in cnn/wrn: none | group (no BatchNorm in energy models)
  int64_t norm_groups = 8;      ///< GroupNorm groups (must divide every normalised channel count)
  /// `extra_kinds`: model kinds a method adds to cnn, wrn and mlp (and builds itself).
  void visit(config::Fields& f, const std::vector<std::string>& extra_kinds = {}, const std::string& extra_doc = "");
  /// The classifier for inputs of `event_shape` and `classes` classes, weights from `gen`.
  std::shared_ptr<ClassifierEnergyImpl> build(const std::vector<int64_t>& event_shape, int64_t classes, at::Generator& gen) const;
};

/// [eval.attack]: the robustness protocol (eval/protocols/robustness.h) of a classifier run,
/// off unless `kind` is pgd or fgsm; `models` are other runs attacked with the same settings.
struct AttackConfig {
  std::string kind = "none";  ///< none | pgd | fgsm (attacks at every radius)
  std::vector<std::string> norms{"linf", "l2"};  ///< threat models: linf, l2
  /// L∞ radii in data units (pixels in [0, 1] for images).
  std::vector<double> eps_linf{0, 0.02, 0.05, 0.1, 0.2, 0.5};
  std::vector<double> eps_l2{0, 0.5, 1, 2, 4, 8};  ///< L2 radii in data units
  /// Attack objective: ce (cross-entropy), margin (Carlini–Wagner logit margin) or both (robust =
  /// neither attack succeeds).
  std::string loss = "both";
  int64_t n = 1000;     ///< test inputs attacked without the defence
  int64_t steps = 20;   ///< PGD steps (step 2.5 eps / steps, random start)
  int64_t restarts = 1; ///< PGD restarts; an input fooled once stays fooled
  int64_t seeds = 3;    ///< attack seeds per point (mean and sd)
  /// SGLD refinement steps K of the defence, one set of curves per value; 0 = no defence.
  std::vector<int64_t> defence_steps{0, 10};
  int64_t defence_chains = 4;       ///< refinement chains per input, logits averaged
  double defence_step_size = 1.0;   ///< SGLD step a of the refinement (JEM: 1)
  double defence_noise = 0.01;      ///< SGLD noise b of the refinement (JEM: 0.01)
  /// How attacks differentiate the refinement: through (its steps, exact) or identity (BPDA).
  std::string defence_gradient = "through";
  int64_t defence_n = 200;          ///< test inputs attacked through the defence
  int64_t defence_attack_steps = 10; ///< PGD steps against the defence
  int64_t eot_samples = 1;          ///< gradient samples per step against the (stochastic) defence
  /// Gradient-masking checks: accuracy at the largest radius, and with twice the steps.
  bool checks = true;
  int64_t distal_steps = 200;       ///< steps of the distal adversarials grown from noise (0 = none)
  double distal_step_size = 0.1;    ///< L2 step of the distal adversarials in model units
  /// Other classifier runs (CE, JEM, VERA-JEM) attacked beside this one with the same settings.
  std::vector<std::string> models;
  /// Declares the [eval.attack] fields.
  void visit(config::Fields& f);
  /// Whether the protocol runs (kind is not none).
  bool enabled() const { return kind != "none"; }
  /// The protocol's options; images are attacked in pixel units within [−1, 1], tables in
  /// standardised units without a range.
  eval::RobustnessOptions options(bool images, uint64_t seed) const;
  /// Every option that changes the result, as one string (a cache key).
  std::string key() const;
};

/// The [eval] options of the classifier protocol (JEM, VERA-JEM).
struct ClassifierEvalConfig {
  int64_t ood_n = 2000;  ///< in-distribution and per-OOD-set inputs scored for AUROC (>= 10)
  /// OOD sets for AUROC (eval::ood_set_names(); mnist needs ood_mnist_dir).
  std::vector<std::string> ood_sets{"uniform", "gaussian", "vflip", "invert", "constant"};
  std::string ood_mnist_dir;  ///< folder with MNIST IDX files (t10k-*) used as an OOD set when given
  /// Run folder or checkpoint of a baseline (e.g. the cross-entropy-only run) evaluated beside
  /// this one; "" = none.
  std::string baseline;
  AttackConfig attack;  ///< [eval.attack]: the robustness protocol
  /// Declares the [eval] fields of the protocol, [eval.attack] included.
  void visit(config::Fields& f);
  /// The protocol's options; `data_noise` is the σ of the Gaussian noise added to every scored
  /// input, `images` whether inputs are images in [−1, 1].
  eval::ClassifierEvalOptions options(double data_noise, bool images) const;
  /// What the evaluation will need, checked before training starts: the MNIST OOD folder and
  /// its image shape against the data's, and the baseline run.
  void check_before_training(const std::vector<int64_t>& event_shape, bool images) const;
};

/// Another run (eval.baseline) scored on the same inputs: its result, its read-out temperature
/// (model T × its sampler's T) and a name for tables, `<objective> (<run folder>)`.
struct BaselineResult {
  eval::ClassifierEvalResult result;  ///< the baseline's metrics on the shared inputs
  double temperature = 1;             ///< its read-out temperature: model T × its sampler's T
  std::string name;                   ///< `<objective> (<run folder>)`
};
/// A ConfigError if the run has no classifier or one of another input shape or class count.
BaselineResult evaluate_baseline(const std::string& run, const eval::ClassifierEvalInputs& inputs, torch::Device device,
                                 const std::vector<int64_t>& event_shape, int64_t classes);

/// The robustness protocol on a classifier run and on eval.attack.models (with the same inputs
/// and attacks), and distal adversarials of each model.
struct RobustnessEvaluation {
  eval::RobustnessOptions options;               ///< the protocol's options, shared by every model
  std::vector<eval::RobustnessResult> results;   ///< per model: this run first, then eval.attack.models
  std::vector<at::Tensor> distal;              ///< per model: one input per class (at most 10), [k, ...]
  std::vector<double> distal_confidence;       ///< per model: mean p(y|x) of its distal adversarials
};
/// `clf` is this run's classifier named `name`; x, y the test split in model space. Other runs
/// must be classifiers of the same input shape and classes (a ConfigError otherwise).
RobustnessEvaluation evaluate_robustness_runs(ClassifierEnergyImpl& clf, const std::string& name, const at::Tensor& x,
                                              const at::Tensor& y, const ClassifierEvalConfig& cfg, bool images, uint64_t seed,
                                              torch::Device device);
/// The robustness evaluation of a run, kept while the step and the options stay the same (the
/// report and the pictures both need it).
class RobustnessCache {
 public:
  /// The kept evaluation when `step` and `key` (e.g. AttackConfig::key()) match the last call, else
  /// `compute()`'s result, kept in its place.
  const RobustnessEvaluation& get(int64_t step, const std::string& key, const std::function<RobustnessEvaluation()>& compute) {
    if (!value_ || step != step_ || key != key_) {
      value_ = std::make_unique<RobustnessEvaluation>(compute());
      step_ = step;
      key_ = key;
    }
    return *value_;
  }

 private:
  int64_t step_ = -1;
  std::string key_;
  std::unique_ptr<RobustnessEvaluation> value_;
};
/// Report lines of every model (names beginning robust. for this run, model1.robust.,
/// model2.robust., ... for the models of eval.attack.models) and each model's
/// distal-adversarial confidence when they were grown.
void add_robustness_lines(eval::Report& report, const RobustnessEvaluation& r);
/// Writes `prefix` + robustness.png, robustness.json, robustness.md and (images) distal.png; returns the files.
std::vector<std::string> write_robustness(const RobustnessEvaluation& r, const std::string& prefix, bool images);

}  // namespace joule::methods
