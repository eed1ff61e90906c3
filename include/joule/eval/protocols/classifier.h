#pragma once
// The evaluation protocol of a classifier read as an energy model (JEM, arXiv:1912.03263 §5;
// JEM:eval_wrn_ebm.py): σ-noisy test inputs; accuracy, NLL, ECE with 10 bins and the Brier
// score; OOD detection AUROCs with three scores (log p̃(x), max p(y|x), −‖∇ₓ log p̃(x)‖) against
// OOD sets derived from the test images; a markdown table beside a baseline; a reliability
// diagram and ROC curves.

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <string>
#include <utility>
#include <vector>

#include "joule/eval/calibration.h"
#include "joule/eval/classifier_scores.h"
#include "joule/eval/report.h"
#include "joule/io/png.h"
#include "joule/models/classifier_energy.h"

namespace joule::eval {

/// The OOD sets make_classifier_eval_inputs() knows: uniform, gaussian, vflip, hflip, invert,
/// constant (all from the test images' shape and pixels) and mnist (the user's MNIST files).
std::vector<std::string> ood_set_names();

/// Options for make_classifier_eval_inputs() and the classifier evaluation protocol.
struct ClassifierEvalOptions {
  /// In-distribution inputs and inputs per OOD set scored for AUROC.
  TORCH_ARG(int64_t, ood_n) = 2000;
  /// OOD sets to build, from ood_set_names() ("mnist" needs ood_mnist_dir).
  TORCH_ARG(std::vector<std::string>, ood_sets) = std::vector<std::string>{"uniform", "gaussian", "vflip", "invert", "constant"};
  /// Folder with MNIST's t10k IDX files (for the "mnist" OOD set).
  TORCH_ARG(std::string, ood_mnist_dir) = "";
  /// σ of the Gaussian noise added to every input (JEM: 0.03).
  TORCH_ARG(double, data_noise) = 0.03;
  /// Inputs are images in [−1, 1] (OOD sets are built for images only).
  TORCH_ARG(bool, images) = true;
  /// Inputs scored at once.
  TORCH_ARG(int64_t, batch_size) = 256;
};

/// What the evaluation scores: noisy test inputs, and OOD sets of the same shape.
struct ClassifierEvalInputs {
  ///@{
  /// The noisy test inputs and their labels, for accuracy and calibration.
  at::Tensor x, y;
  ///@}
  at::Tensor in_dist;     ///< the first ood_n test inputs (AUROC positives)
  std::vector<std::pair<std::string, at::Tensor>> ood;  ///< name, inputs (AUROC negatives)
};

/// Builds the inputs from test data in model space (images in [−1, 1]): images are mapped back to
/// [0, 1] to build OOD sets, then forward again; every input gets N(0, σ²) noise from `gen`.
ClassifierEvalInputs make_classifier_eval_inputs(const at::Tensor& test_x, const at::Tensor& test_y,
                                                 const ClassifierEvalOptions& options, at::Generator gen);

/// The metrics of one model.
struct ClassifierEvalResult {
  ///@{
  /// Test accuracy, mean −log p(y|x), ECE (10 bins) and Brier score.
  double acc = 0, nll = 0, ece = 0, brier = 0;
  ///@}
  std::vector<ReliabilityBin> bins;  ///< the 10 reliability bins behind `ece`
  ClassifierScores in_scores;        ///< scores of the in-distribution inputs (empty without OOD sets)
  std::vector<std::pair<std::string, ClassifierScores>> ood_scores;  ///< name, scores of each OOD set
  std::vector<std::pair<std::string, double>> auroc;  ///< "<set>.<score>", value
  double logpx_mean = 0;  ///< mean log p̃(x) of the test inputs at the read-out temperature
};

/// Scores a model on the inputs. `readout_t` scales log p̃ read-outs (AUROC does not depend on it).
ClassifierEvalResult evaluate_classifier(ClassifierEnergyImpl& model, const ClassifierEvalInputs& inputs, double readout_t,
                                         int64_t batch_size = 256);

/// Report lines of a result, names prefixed with `prefix` ("" or "baseline.").
void add_classifier_lines(Report& report, const ClassifierEvalResult& r, const std::string& prefix, double readout_t);

/// A markdown table of the result beside an optional baseline.
std::string classifier_table(const ClassifierEvalResult& r, const std::string& name, const ClassifierEvalResult* baseline,
                             const std::string& baseline_name);

/// A reliability diagram (accuracy bars per confidence bin, the diagonal, ECE in the title).
io::Image reliability_diagram(const std::vector<ReliabilityBin>& bins, double ece, const std::string& title, int64_t size = 400);

/// One ROC panel per OOD set with the three scores (and the baseline's, dashed, if given).
io::Image roc_panels(const ClassifierEvalResult& r, const ClassifierEvalResult* baseline);

}  // namespace joule::eval
