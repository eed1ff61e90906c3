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

struct ClassifierConfig {
  std::string kind = "cnn";
  int64_t width = 128;
  int64_t depth = 3;
  std::vector<int64_t> hidden;  ///< mlp: explicit hidden widths (overrides width × depth)
  std::string activation = "leaky_relu";
  double negative_slope = 0.2;
  int64_t channels = 16;
  int64_t wrn_depth = 28;
  int64_t wrn_widen = 10;
  double dropout = 0.0;
  std::string norm = "none";
  int64_t norm_groups = 8;
  /// `extra_kinds`: model kinds a method adds to cnn, wrn and mlp (and builds itself).
  void visit(config::Fields& f, const std::vector<std::string>& extra_kinds = {}, const std::string& extra_doc = "");
  /// The classifier for inputs of `event_shape` and `classes` classes, weights from `gen`.
  std::shared_ptr<ClassifierEnergyImpl> build(const std::vector<int64_t>& event_shape, int64_t classes, at::Generator& gen) const;
};

/// [eval.attack]: the robustness protocol (eval/protocols/robustness.h) of a classifier run,
/// off unless `kind` is pgd or fgsm; `models` are other runs attacked with the same settings.
struct AttackConfig {
  std::string kind = "none";
  std::vector<std::string> norms{"linf", "l2"};
  std::vector<double> eps_linf{0, 0.02, 0.05, 0.1, 0.2, 0.5};
  std::vector<double> eps_l2{0, 0.5, 1, 2, 4, 8};
  std::string loss = "both";
  int64_t n = 1000;
  int64_t steps = 20;
  int64_t restarts = 1;
  int64_t seeds = 3;
  std::vector<int64_t> defence_steps{0, 10};
  int64_t defence_chains = 4;
  double defence_step_size = 1.0;
  double defence_noise = 0.01;
  std::string defence_gradient = "through";
  int64_t defence_n = 200;
  int64_t defence_attack_steps = 10;
  int64_t eot_samples = 1;
  bool checks = true;
  int64_t distal_steps = 200;
  double distal_step_size = 0.1;
  std::vector<std::string> models;
  void visit(config::Fields& f);
  bool enabled() const { return kind != "none"; }
  /// The protocol's options; images are attacked in pixel units within [−1, 1], tables in
  /// standardised units without a range.
  eval::RobustnessOptions options(bool images, uint64_t seed) const;
  /// Every option that changes the result, as one string (a cache key).
  std::string key() const;
};

/// The [eval] options of the classifier protocol (JEM, VERA-JEM).
struct ClassifierEvalConfig {
  int64_t ood_n = 2000;
  std::vector<std::string> ood_sets{"uniform", "gaussian", "vflip", "invert", "constant"};
  std::string ood_mnist_dir;
  std::string baseline;
  AttackConfig attack;
  void visit(config::Fields& f);
  eval::ClassifierEvalOptions options(double data_noise, bool images) const;
  /// What the evaluation will need, checked before training starts: the MNIST OOD folder and
  /// its image shape against the data's, and the baseline run.
  void check_before_training(const std::vector<int64_t>& event_shape, bool images) const;
};

/// Another run (eval.baseline) scored on the same inputs: its result, its read-out temperature
/// (model T × its sampler's T) and a name for tables, "<objective> (<run folder>)".
struct BaselineResult {
  eval::ClassifierEvalResult result;
  double temperature = 1;
  std::string name;
};
/// A ConfigError if the run has no classifier or one of another input shape or class count.
BaselineResult evaluate_baseline(const std::string& run, const eval::ClassifierEvalInputs& inputs, torch::Device device,
                                 const std::vector<int64_t>& event_shape, int64_t classes);

/// The robustness protocol on a classifier run and on eval.attack.models (with the same inputs
/// and attacks), and distal adversarials of each model.
struct RobustnessEvaluation {
  eval::RobustnessOptions options;
  std::vector<eval::RobustnessResult> results;
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
/// Report lines of every model ("robust.*" for this run, "<model>.robust.*" for the others).
void add_robustness_lines(eval::Report& report, const RobustnessEvaluation& r);
/// Writes <prefix>robustness.png, robustness.json, robustness.md and (images) distal.png; returns the files.
std::vector<std::string> write_robustness(const RobustnessEvaluation& r, const std::string& prefix, bool images);

}  // namespace joule::methods
