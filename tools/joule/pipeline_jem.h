#pragma once
// Pieces of the JEM pipeline shared by pipeline_jem.cpp (build/train/sample) and
// pipeline_jem_eval.cpp (evaluation inputs, the metrics table and its pictures).

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "joule/eval/calibration.h"
#include "joule/eval/classifier_scores.h"
#include "joule/io/png.h"
#include "joule/models/classifier_energy.h"
#include "tools/joule/config.h"
#include "tools/joule/pipeline.h"

namespace joule::cli::jem {

/// A labelled split in model space (images in [−1, 1], tabular data standardised).
struct Split {
  at::Tensor x, y;
};

/// What the evaluation scores: noisy test inputs, and OOD sets of the same shape.
struct EvalInputs {
  Split test;                    ///< accuracy and calibration
  at::Tensor in_dist;            ///< the first eval.ood_n test inputs (AUROC positives)
  std::vector<std::pair<std::string, at::Tensor>> ood;  ///< name, inputs (AUROC negatives)
};

/// The metrics of one model on EvalInputs.
struct EvalResult {
  double acc = 0, nll = 0, ece = 0, brier = 0;
  std::vector<eval::ReliabilityBin> bins;
  eval::ClassifierScores in_scores;
  std::vector<std::pair<std::string, eval::ClassifierScores>> ood_scores;
  std::vector<std::pair<std::string, double>> auroc;  ///< "<set>.<score>", value
  double logpx_mean = 0;  ///< mean log p̃(x) of the test inputs at the read-out temperature
};

/// The OOD transforms available for image data; each maps pixel-space test images [N, C, H, W]
/// in [0, 1] (or generates noise of that shape) to OOD images in [0, 1].
std::vector<std::string> ood_set_names();

/// Builds the evaluation inputs. `test` is in model space; image data are mapped back to [0, 1]
/// to build OOD sets, then forward again; every input gets N(0, σ²) noise (JEM's test protocol).
EvalInputs make_eval_inputs(const Split& test, bool images, const Config& cfg, double data_noise, uint64_t seed);

/// Scores a model on the inputs. `readout_t` scales log p̃ read-outs (AUROC does not depend on it).
EvalResult evaluate_model(ClassifierEnergyImpl& model, const EvalInputs& inputs, double readout_t, int64_t batch_size);

/// Report lines for one result, names prefixed with `prefix` ("" or "baseline.").
std::vector<ReportLine> report_lines(const EvalResult& r, const std::string& prefix, double readout_t);

/// A markdown table of the result beside an optional baseline.
std::string markdown_table(const EvalResult& r, const std::string& name, const EvalResult* baseline,
                           const std::string& baseline_name);

/// A reliability diagram (accuracy bars per confidence bin, the diagonal, ECE in the title).
io::Image reliability_diagram(const std::vector<eval::ReliabilityBin>& bins, double ece, const std::string& title,
                              int64_t size = 400);

/// One ROC panel per OOD set with the three scores (and the baseline's, dashed, if given).
io::Image roc_panels(const EvalResult& r, const EvalResult* baseline);

}  // namespace joule::cli::jem
