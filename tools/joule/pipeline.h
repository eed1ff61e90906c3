#pragma once
// A pipeline turns a resolved config into the parts of one method (model, objective, data)
// and knows that method's evaluation and pictures. The commands (train/sample/eval) are
// shared; adding a method means adding one pipeline_*.cpp and its options.

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "joule/core/energy.h"
#include "joule/data/dataset.h"
#include "joule/objectives/objective.h"
#include "joule/train/callbacks.h"
#include "joule/train/trainer.h"
#include "tools/joule/config.h"

namespace joule::cli {

/// What the commands need to know about the run in progress.
struct RunContext {
  std::string run_dir;        ///< the run folder
  std::ostream* out;          ///< where to print the report
  torch::Device device = torch::kCPU;
  std::shared_ptr<train::MetricsLogger> metrics;   ///< null outside `joule train`
  std::shared_ptr<train::ProgressBar> progress;    ///< null when progress = none
};

/// Lines of a final report: (name, value, note).
struct ReportLine {
  std::string name;
  double value;
  std::string note;
};

class Pipeline {
 public:
  virtual ~Pipeline() = default;

  /// Builds model, objective and training data from the (train) config. Writes nothing.
  /// Throws UsageError or c10::Error with a clear message on bad input.
  virtual void build(const Config& config, torch::Device device) = 0;

  std::shared_ptr<EnergyModel> model() { return model_; }
  std::shared_ptr<Objective> objective() { return objective_; }
  std::shared_ptr<data::DataSource> data() { return data_; }

  /// Periodic evaluation and pictures during training.
  virtual void add_callbacks(train::Trainer& trainer, RunContext& ctx) {}

  /// Evaluation of the current model: numbers for the report and eval.json.
  virtual std::vector<ReportLine> evaluate(train::Trainer& trainer, const Config& eval_config, RunContext& ctx) = 0;

  /// Pictures of the current state into `prefix`*.png; returns the files written.
  virtual std::vector<std::string> pictures(train::Trainer& trainer, const Config& eval_config, RunContext& ctx,
                                            const std::string& prefix) = 0;

  /// `joule sample`: n samples (tensor [n, ...]) from the trained model.
  virtual torch::Tensor sample(train::Trainer& trainer, const Config& sample_config, RunContext& ctx) = 0;

 protected:
  std::shared_ptr<EnergyModel> model_;
  std::shared_ptr<Objective> objective_;
  std::shared_ptr<data::DataSource> data_;
};

/// The pipeline for config key `method`.
std::unique_ptr<Pipeline> make_pipeline(const std::string& method);

}  // namespace joule::cli
