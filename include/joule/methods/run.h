#pragma once
// Run folders: training a method into one, and reopening one (its config, model and full
// training state) without the CLI.
//
//   auto jem = joule::methods::create(joule::config::preset("jem_fashion_cnn"));
//   jem->build();
//   auto result = joule::methods::train_run(*jem, "runs/jem");   // config.toml, metrics, checkpoint, eval.json, pictures
//   auto again = joule::methods::load("runs/jem");               // the same model, ready to evaluate or sample

#include <torch/types.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "joule/config/options.h"
#include "joule/distributed/communicator.h"
#include "joule/eval/report.h"
#include "joule/methods/method.h"

namespace joule::methods {

/// Options for train_run().
struct TrainRunOptions {
  /// Where to print the run folder, the report and the files written (nullptr = nowhere).
  std::ostream* out = nullptr;
  /// Where the progress display goes (nullptr = none); a redrawn bar or plain lines.
  std::ostream* progress = nullptr;
  bool progress_bar = false;  ///< a redrawn bar (normally isatty(stderr)); false: a plain line every so many steps
};

/// What a training run left behind.
struct RunResult {
  std::string dir;                 ///< the run folder
  eval::Report report;             ///< evaluate() after training, with best_* entries of the held-out watch (eval.json)
  std::vector<std::string> files;  ///< pictures written
  /// Things the user must know although training finished, e.g. a held-out metric that ended far
  /// below its best (then the report also holds best_<metric> and best_step).
  std::vector<std::string> warnings;
};

/// Trains a built method into run folder `dir` — a new or empty folder, or, for a method
/// reopened with load(), its own folder (the run continues there up to config().train.steps).
/// Writes config.toml (or `config-resume-step<N>.toml`), metrics.jsonl, checkpoint.pt (step 0, every
/// train.checkpoint_every steps and at the end), eval.json and the method's pictures. A run that
/// diverges beyond its restarts throws train::DivergenceError and keeps its last good checkpoint.
/// In a data-parallel job (Trainer::set_communicator) every rank calls it: rank 0 does all of the
/// above, the other ranks train in step and join the collective checkpoints, then return an empty
/// result (they write nothing).
RunResult train_run(Method& method, const std::string& dir, const TrainRunOptions& options = {});

/// The checkpoint of a run folder (its checkpoint.pt) or a checkpoint path; a ConfigError if missing.
std::string resolve_checkpoint(const std::string& run_or_checkpoint);

/// The run folder of a snapshot that train.snapshot_every kept (RUN/snapshots/step-N.pt, where
/// RUN holds checkpoint.pt), or "" if `checkpoint` is not one. Evaluating a snapshot writes into
/// the run folder; resuming one is refused, since it would overwrite the run's later state.
std::string snapshot_run_dir(const std::string& checkpoint);

/// Refuses (a ConfigError naming `option`) an output path of `joule eval` / `joule sample` that
/// would replace part of a run: the checkpoint being read, any existing file of a run folder
/// (checkpoint, config, metrics, eval.json, training pictures) other than the outputs of earlier
/// eval/sample commands (eval-*, samples-step*), a kept snapshot, a folder, or a path whose folder
/// does not exist.
void check_output_path(const std::string& path, const std::string& checkpoint, const std::string& option);

/// The saved configuration of a run or checkpoint.
config::Document saved_config(const std::string& run_or_checkpoint);

/// Reopens a run: the method its saved config names, configured from it (then from `overrides`,
/// e.g. evaluation options or a longer train.steps), built on `device`, with its full training
/// state loaded. run_dir() is the run's folder.
std::unique_ptr<Method> load(const std::string& run_or_checkpoint, torch::Device device = torch::kCPU,
                             const config::Document& overrides = config::Document());
/// The same with the configuration given (the run's saved config, changed or not), so a caller
/// that has read it already does not read the checkpoint twice.
/// With `comm`, the method is one rank of a data-parallel job (Trainer::set_communicator before
/// the state is loaded, so each rank gets its own chains back).
std::unique_ptr<Method> load_with_config(const std::string& run_or_checkpoint, const config::Document& config,
                                         torch::Device device = torch::kCPU,
                                         std::shared_ptr<distributed::Communicator> comm = nullptr);

/// The [run] options of a configuration of any method (seed, device, threads, ...).
RunConfig run_options(const config::Document& doc);

/// Writes samples [n, ...] as `prefix`.csv (one flattened sample per row), `prefix`.pt (a
/// tensor Python's torch.load reads) and, for 2-D points or 1- or 3-channel images, `prefix`.png.
/// Returns the files written.
std::vector<std::string> save_samples(const at::Tensor& samples, const std::string& prefix);

/// The trained weights of a method as "<module>.<parameter or buffer>" → tensor, e.g.
/// "model.weight0", "critic.betas.0": the keys of a PyTorch nn.ModuleDict holding modules with
/// the same names (every module the trainer trains, parameters and buffers).
std::vector<std::pair<std::string, at::Tensor>> weights(Method& method);

/// Writes weights(method) as safetensors (format "safetensors", with the method, step and
/// config as metadata) or as a dict of tensors that Python's torch.load reads (format "pt").
void export_weights(Method& method, const std::string& path, const std::string& format);

/// Loads weights written by export_weights (either format, told apart by the file's first bytes)
/// into the method's modules: every key must match a parameter or buffer of the same shape,
/// and every parameter and buffer must be in the file; the error lists what differs.
void import_weights(Method& method, const std::string& path);

}  // namespace joule::methods
