#pragma once
// [model] of the classifier methods (JEM, VERA-JEM): a small CNN, a Wide-ResNet or an MLP read
// as a joint energy model (ClassifierEnergy).

#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "joule/config/options.h"
#include "joule/eval/protocols/classifier.h"
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

/// The [eval] options of the classifier protocol (JEM, VERA-JEM).
struct ClassifierEvalConfig {
  int64_t ood_n = 2000;
  std::vector<std::string> ood_sets{"uniform", "gaussian", "vflip", "invert", "constant"};
  std::string ood_mnist_dir;
  std::string baseline;
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

}  // namespace joule::methods
