#pragma once
// Methods as library objects.
//
// A Method is one of Joule's training methods (CD/PCD EBMs and score-based objectives, ICA, RBMs,
// JEM) as an object a C++ program builds, trains, evaluates, samples and reloads without the
// CLI. It is a composition of shared parts — a ModuleSet, an Objective, a DataSource and a
// Trainer over parameter groups — plus the method's own typed options (a MethodConfig), its
// evaluation protocol and its pictures. `joule train` is a thin front end over this layer.
//
//   joule::methods::JemMethod jem;                       // JEM's own defaults
//   jem.config().train.steps = 200;                      // typed options
//   jem.build();                                         // data, model, chains, objective, trainer
//   jem.train();
//   joule::eval::Report report = jem.evaluate();         // accuracy, calibration, OOD AUROCs
//
// or, from a configuration document (a preset, a TOML file, key=value overrides):
//   auto method = joule::methods::create(doc);           // the method named by doc's `method` key

#include <torch/types.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "joule/config/options.h"
#include "joule/core/module_set.h"
#include "joule/data/dataset.h"
#include "joule/eval/report.h"
#include "joule/methods/common.h"
#include "joule/models/classifier_energy.h"
#include "joule/objectives/objective.h"
#include "joule/train/callbacks.h"
#include "joule/train/held_out_watch.h"
#include "joule/train/sampler_health.h"
#include "joule/train/trainer.h"

namespace joule::methods {

/// The options every method has: [run] and [train] (the loop and the main group's optimizer).
/// A method's config derives from this and declares its own sections in visit().
struct MethodConfig {
  virtual ~MethodConfig() = default;
  RunConfig run;      ///< [run]: seed, device, threads, run folder
  TrainConfig train;  ///< [train]: the loop, checkpoints, divergence guard, main group's optimizer
  /// Declares every option of the method, run and train included.
  virtual void visit(config::Fields& f) = 0;
};

/// What a method's build() produces: the parts the trainer runs.
struct Parts {
  /// The named modules; the main group trains the one called "model", and all are checkpointed.
  ModuleSet modules;
  /// @{
  /// Parameter groups beyond the main one ("model", configured by [train]), in update order
  /// relative to it: `before` are updated first in each step (LSD's critic), `after` last.
  std::vector<train::ParamGroup> before, after;
  /// @}
  std::shared_ptr<Objective> objective;    ///< the loss the trainer minimises (required)
  std::shared_ptr<data::DataSource> data;  ///< the training batches (required)
};

/// Where a run reports while it trains (all optional).
struct Monitor {
  std::shared_ptr<train::MetricsLogger> metrics;  ///< metrics.jsonl writer (null = none)
  std::shared_ptr<train::ProgressBar> progress;   ///< progress display (null = none)
  /// Where the held-out watch keeps the best state ("" = nowhere) and what it does on degradation.
  std::string best_checkpoint;
  /// What the held-out and sampler-health watches do on degradation: warn, or stop training
  /// (train.on_degrade).
  train::DegradeAction degrade_action = train::DegradeAction::kWarn;
};

/// One of Joule's training methods as a library object: its typed options (config()), the parts
/// build() assembles into a Trainer, its evaluation protocol, pictures and sampler. Obtain one
/// from create() or a concrete class (e.g. JemMethod); not copyable.
class Method {
 public:
  virtual ~Method() = default;
  Method(const Method&) = delete;
  Method& operator=(const Method&) = delete;

  /// The registry name ("ebm", "ica", "rbm", "jem").
  virtual std::string name() const = 0;
  /// The typed options.
  virtual MethodConfig& config() = 0;

  /// Reads a configuration document into the options; keys it does not set keep their values.
  /// Unknown keys, bad values and keys of other methods are config::ConfigErrors that name the
  /// key, where it was set (file:line or "command line") and the closest valid key.
  void configure(const config::Document& doc);
  /// The resolved configuration as TOML: `method` and every option, defaults included.
  std::string config_toml();
  /// The schema of this method's options (for help and suggestions).
  std::vector<config::FieldInfo> schema();

  /// Builds data, modules, objective and trainer from the options on `device`. Writes nothing;
  /// bad option combinations are config::ConfigErrors.
  void build(torch::Device device = torch::kCPU);
  /// Whether build() has run.
  bool built() const { return trainer_ != nullptr; }
  /// The trainer build() made; an error if the method is not built yet.
  train::Trainer& trainer();
  /// The device given to build() (CPU before).
  torch::Device device() const { return device_; }

  /// Trains until config().train.steps steps are done (in memory; train_run() writes a run folder).
  void train();

  /// The method's evaluation protocol on the current model (the numbers `joule train` prints).
  virtual eval::Report evaluate() = 0;
  /// Pictures of the current state, written as `prefix<name>.png`; returns the files.
  virtual std::vector<std::string> pictures(const std::string& prefix) = 0;
  /// Samples from the trained model as the [sample] options say ([n, ...]).
  virtual torch::Tensor sample() = 0;

  /// Hooks a method adds to the training loop (periodic evaluation into metrics.jsonl, shown on
  /// the progress bar). Called by train_run() before training.
  virtual void add_callbacks(const Monitor& monitor) {}

  /// The classifier of a classifier method (JEM, VERA-JEM), else null: what eval.baseline compares.
  virtual ClassifierEnergyImpl* classifier() { return nullptr; }

  /// What build() decided from the data that a user should know (e.g. features a filter dropped);
  /// train_run() prints them.
  const std::vector<std::string>& notes() const { return notes_; }
  /// The watch on the periodic evaluation's held-out metric (null when the method has none or
  /// train.eval_every = 0).
  std::shared_ptr<train::HeldOutWatch> held_out_watch() const { return watch_; }
  /// The watch on the sampler's health during training (null when the method's training does
  /// not sample the model at its own temperature).
  std::shared_ptr<train::SamplerHealthWatch> sampler_health() const { return health_; }

  /// The run folder this method trains into or was loaded from ("" if none).
  const std::string& run_dir() const { return run_dir_; }
  /// Sets run_dir() (done by train_run() and load()).
  void set_run_dir(std::string dir) { run_dir_ = std::move(dir); }

 protected:
  Method() = default;
  /// The method's parts for build(); `device` is where modules and data go.
  virtual Parts build_parts(torch::Device device) = 0;
  /// Calls `measure` every `every` steps (not at the end: the final report covers it), logs the
  /// values to metrics.jsonl and shows the one named `shown` on the progress bar as `label`. The
  /// `shown` metric is also watched (train::HeldOutWatch): the best state is kept and a late
  /// collapse is reported.
  void add_periodic_evaluation(const Monitor& monitor, int64_t every,
                               std::function<std::vector<std::pair<std::string, double>>()> measure,
                               const std::string& shown, const std::string& label);
  /// Watches the sampler of training that samples the model (train::SamplerHealthWatch): a CD gap
  /// persistently beyond `gap_threshold` data-energy spreads (0 = off), and the periodic
  /// evaluation's `chain_tv` beyond `tv_threshold` (0 = off), are logged and reported, and stop
  /// training when the monitor's degrade action says so. Call before add_periodic_evaluation().
  void add_sampler_health(const Monitor& monitor, double gap_threshold, double tv_threshold = 0);
  std::vector<std::string> notes_;  ///< what notes() returns; filled by build_parts()

 private:
  std::shared_ptr<train::HeldOutWatch> watch_;
  std::shared_ptr<train::SamplerHealthWatch> health_;
  std::unique_ptr<train::Trainer> trainer_;
  torch::Device device_ = torch::kCPU;
  std::string run_dir_;
};

// ------------------------------------------------------------------ registry

/// One registered method.
struct MethodInfo {
  std::string name;     ///< registry name, the value of the `method` key ("ebm", "jem", ...)
  std::string summary;  ///< one-line description for help
  std::function<std::unique_ptr<Method>()> create;  ///< with the method's defaults
};

/// Every method Joule knows (src/methods/registry.cpp).
const std::vector<MethodInfo>& registry();
/// The method called `name` with its defaults; a ConfigError naming the closest if unknown.
std::unique_ptr<Method> create(const std::string& name);
/// The method named by the document's `method` key ("ebm" if absent), configured from it.
std::unique_ptr<Method> create(const config::Document& doc);

/// A saved configuration with the options renamed since it was written under their new names
/// (e.g. VERA's eval.mala_steps, now refine.steps), so older runs still load.
config::Document rename_saved_keys(const config::Document& saved);

/// A configuration saved by a run of checkpoint format 1 (before methods had their own options:
/// every method's keys, LSD's critic as lsd.critic_*), as this version reads it (renamed keys
/// included).
config::Document upgrade_saved_config(const config::Document& saved);

}  // namespace joule::methods
