#pragma once
// Sample quality, one measure for every method that samples images: the Fréchet and kernel
// distances, improved precision and recall, and, for class-conditional samples, how often an
// independent classifier sees the intended class. All are computed in the feature space of a
// classifier run trained by Joule (e.g. `joule train ce_fashion_cnn`), and each comes with the
// same numbers between the training and test images as its floor.
//
//   joule::methods::SampleQuality quality("runs/ce", test_images, train_images, device, seed);
//   auto s = quality.score(samples);                  // fd, kd, precision, recall
//   auto c = quality.score(samples_of_class, labels); // + class_agreement
//   quality.add_lines(report, "quality.fresh.", s);   // the method's eval report

#include <ATen/ATen.h>
#include <torch/types.h>

#include <cmath>
#include <ostream>
#include <memory>
#include <string>

#include "joule/config/options.h"
#include "joule/eval/report.h"
#include "joule/methods/data_config.h"
#include "joule/methods/method.h"
#include "joule/models/classifier_energy.h"

namespace joule::methods {

/// The [eval] options of sample quality that every image method shares.
struct QualityConfig {
  /// A classifier run whose features score sample quality ("" = no sample-quality scores;
  /// "auto" = the cached classifier of resolve_feature_run()).
  std::string feature_run;
  int64_t quality_n = 500;  ///< samples scored per set, and real images they are compared with
  /// Declares feature_run and quality_n.
  void visit(config::Fields& f);
};

/// The preset of the feature classifier that eval.feature_run = "auto" trains.
inline constexpr const char* kFeatureClassifierPreset = "ce_fashion_cnn";

/// The folder Joule caches what it trains for itself: $JOULE_CACHE_DIR, else
/// $XDG_CACHE_HOME/joule, else ~/.cache/joule.
std::string cache_folder();

/// eval.feature_run as a run folder. Any value but "auto" is returned unchanged. "auto" names the
/// feature classifier of this [data]: a run of the ce_fashion_cnn preset (a cross-entropy CNN,
/// ~1–2 min on 2 cores) trained on the same dataset and files (whole training and test sets),
/// then `overrides` (e.g. a longer train.steps); trained once into
/// cache_folder()/feature-classifiers/ and reused by every later evaluation with the same data,
/// preset, overrides and LibTorch major version. Training goes to a scratch folder first, so an
/// interrupted one leaves nothing a later call would take for finished. `log` hears that it trains.
std::string resolve_feature_run(const std::string& feature_run, const LabelledDataConfig& data,
                                const config::Document& overrides = config::Document(), std::ostream* log = nullptr);

/// The scores of one set of samples (NaN where not computed).
struct QualityScores {
  int64_t n = 0;               ///< samples scored
  double fd = std::nan("");    ///< Fréchet distance to the test images' features
  double kd = std::nan("");    ///< kernel (KID-style) distance to them, mean over subsets
  double kd_std = std::nan("");  ///< its standard deviation over the subsets
  double precision = std::nan("");  ///< improved precision (fidelity), k-NN manifolds
  double recall = std::nan("");     ///< improved recall (diversity)
  /// Fraction of samples the feature classifier assigns to their intended class (conditional
  /// samples only).
  double class_agreement = std::nan("");
  /// Entropy (nats) of the classifier's labels of the samples: log(classes) when every class is
  /// equally present, 0 when all samples look like one class.
  double class_entropy = std::nan("");
  /// Conditional samples only, over the intended classes with at least kMinClassSamples samples:
  /// the lowest per-class precision (a class row of noise scores near 0 even when the feature
  /// classifier calls the noise that class) and the lowest per-class agreement, with their
  /// classes, and how many classes were scored.
  double class_precision_min = std::nan("");
  int64_t class_precision_min_label = -1;  ///< the class of class_precision_min
  double class_agreement_min = std::nan("");  ///< the lowest per-class agreement
  int64_t class_agreement_min_label = -1;  ///< the class of class_agreement_min
  int64_t classes_scored = 0;              ///< intended classes with at least kMinClassSamples samples
};

/// Samples an intended class needs for its own precision and agreement (fewer: not scored).
inline constexpr int64_t kMinClassSamples = 5;

/// Scores samples against real images in a classifier run's feature space.
class SampleQuality {
 public:
  /// Loads the classifier of `feature_run` (a run folder of a classifier method: ce, JEM,
  /// VERA-JEM) on `device`. `test` and `train` are real images of the method's data [N, ...] in
  /// the classifier's input space; up to `n` of each are used (the first n). A ConfigError if
  /// the run is not a classifier of this image shape. With `train_classes` [N] (the training
  /// images' labels), the floor also reports how well the classifier reads them (class_agreement).
  SampleQuality(const std::string& feature_run, const at::Tensor& test, const at::Tensor& train, torch::Device device,
                uint64_t seed, int64_t n = 1000, int64_t k = 3, const at::Tensor& train_classes = {});

  /// The scores of `samples` [M, ...]; with `intended` [M] class labels, also class_agreement.
  QualityScores score(const at::Tensor& samples, const at::Tensor& intended = {});
  /// The floor: the training images scored as if they were samples (against train_classes when
  /// given).
  const QualityScores& floor() const { return floor_; }
  /// Adds `prefix`fd, kd, precision, recall (and class_agreement, class_entropy when computed)
  /// to `report`, each described with `what` ("fresh SGLD chains", ...).
  static void add_lines(eval::Report& report, const std::string& prefix, const QualityScores& s, const std::string& what);
  /// Adds the floor as `prefix`fd, kd, precision, recall ("quality.train_vs_test." by convention).
  void add_floor_lines(eval::Report& report, const std::string& prefix = "quality.train_vs_test.") const;

  /// The feature run's classifier.
  ClassifierEnergyImpl& classifier() { return *classifier_; }
  /// Features [M, F] of images (batches of 256, no graph, eval mode) on the CPU.
  at::Tensor features(const at::Tensor& x);
  /// The classifier's logits [M, C] of images (batches of 256, no graph, eval mode) on the CPU.
  at::Tensor logits(const at::Tensor& x);

 private:
  /// `fn` (features or logits) over x in batches of 256, no graph, eval mode; on the CPU.
  at::Tensor in_batches(const at::Tensor& x, at::Tensor (ClassifierEnergyImpl::*fn)(const at::Tensor&));

  std::unique_ptr<Method> run_;
  ClassifierEnergyImpl* classifier_ = nullptr;
  torch::Device device_;
  at::Generator gen_;
  int64_t k_;
  at::Tensor test_features_;
  QualityScores floor_;
};

}  // namespace joule::methods
