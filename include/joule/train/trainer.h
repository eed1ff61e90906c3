#pragma once
// The trainer: train() is a loop of step(); a step updates each parameter group with its own
// optimizer, learning-rate schedule and cadence; the whole state checkpoints and resumes exactly.

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "joule/core/energy.h"
#include "joule/core/module_set.h"
#include "joule/data/dataset.h"
#include "joule/distributed/communicator.h"
#include "joule/objectives/objective.h"

namespace joule::train {

/// A parameter group's optimizer: LibTorch's Adam or SGD.
enum class OptimizerKind { kAdam, kSGD };
/// Parses "adam" or "sgd".
OptimizerKind parse_optimizer(const std::string& name);

/// Learning-rate schedule over the run: constant, decaying to 0 at the last step (linear or
/// cosine), or multiplied by decay_rate at each milestone step (step; PyTorch's MultiStepLR),
/// after an optional linear warm-up.
enum class LrSchedule { kConstant, kLinear, kCosine, kStep };
/// Parses "constant", "linear", "cosine" or "step".
LrSchedule parse_lr_schedule(const std::string& name);

/// One parameter group's optimizer, learning-rate schedule and update cadence.
///
/// Example (LSD's critic: five Adam steps with β = (0, 0.999) per model step, each on its own batch):
///   joule::train::OptimizerOptions().lr(1e-3).beta1(0.0).updates(5).fresh_batches(true)
struct OptimizerOptions {
  /// Checks every value; `group` names the group in messages.
  void validate(const std::string& group = "model") const;
  /// The optimizer (default Adam).
  TORCH_ARG(OptimizerKind, kind) = OptimizerKind::kAdam;
  /// Base learning rate (> 0), before the schedule and any restart factor.
  TORCH_ARG(double, lr) = 1e-3;
  /// Learning rate over the run (see LrSchedule).
  TORCH_ARG(LrSchedule, lr_schedule) = LrSchedule::kConstant;
  /// Linear warm-up: at step s < warmup_steps the rate is lr·(s + 1)/warmup_steps; the decaying
  /// schedules start after it. 0 = none.
  TORCH_ARG(int64_t, warmup_steps) = 0;
  /// Adam β₁; 0 is common for EBMs (IGEBM, ICD, VERA, LSD).
  TORCH_ARG(double, beta1) = 0.0;
  /// Adam β₂, in [0, 1).
  TORCH_ARG(double, beta2) = 0.999;
  /// SGD momentum.
  TORCH_ARG(double, momentum) = 0.0;
  /// L2 weight decay (LibTorch's weight_decay of Adam or SGD, added to the gradient); ≥ 0.
  TORCH_ARG(double, weight_decay) = 0.0;
  /// Clip the group's gradient norm to this value; 0 disables.
  TORCH_ARG(double, grad_clip_norm) = 0.0;
  /// LrSchedule::kStep: the steps at which the rate is multiplied by decay_rate (empty: 80% and
  /// 90% of TrainerOptions::steps).
  TORCH_ARG(std::vector<int64_t>, milestones) = {};
  /// LrSchedule::kStep: the factor (> 0) applied at each milestone.
  TORCH_ARG(double, decay_rate) = 0.1;
  /// Updates of this group per trainer step (e.g. n critic steps per model step).
  TORCH_ARG(int64_t, updates) = 1;
  /// Update this group only on trainer steps s with s % every == 0.
  TORCH_ARG(int64_t, every) = 1;
  /// Each update draws its own batch from the data; otherwise every update of the step uses
  /// the step's batch.
  TORCH_ARG(bool, fresh_batches) = false;
};

/// A named parameter group: the parameters of the listed modules, with their own optimizer.
/// `only` / `except` select parameters by their names within the module (as
/// named_parameters() spells them), e.g. a generator's posterior width in its own group:
///   ParamGroup("posterior", {"generator"}).only({"posterior_log_sigma"})
struct ParamGroup {
  /// The group `name` over all parameters of the modules named in `modules`.
  ParamGroup(std::string name, std::vector<std::string> modules, OptimizerOptions optimizer = {})
      : name(std::move(name)), modules(std::move(modules)), optimizer(std::move(optimizer)) {}
  /// Restricts the group to these parameter names (sets `only`); returns *this for chaining.
  ParamGroup& only_parameters(std::vector<std::string> names) {
    only = std::move(names);
    return *this;
  }
  /// Leaves these parameter names out of the group (sets `except`); returns *this for chaining.
  ParamGroup& except_parameters(std::vector<std::string> names) {
    except = std::move(names);
    return *this;
  }
  std::string name;                  ///< unique group name, e.g. "model" or "critic" (Update::group)
  std::vector<std::string> modules;  ///< names of the ModuleSet modules whose parameters the group trains
  OptimizerOptions optimizer;        ///< the group's optimizer, schedule and cadence
  /// If not empty, only these parameters (each must exist in the modules) are in the group.
  std::vector<std::string> only, except;
  /// \var except
  /// Parameters left out of the group.
};

/// Options of the loop itself (each group's optimizer is in its ParamGroup).
///
/// Example:
///   joule::train::Trainer trainer(model, objective, data,
///       joule::train::TrainerOptions().steps(5000).seed(1),
///       joule::train::OptimizerOptions().lr(1e-3));
///   trainer.train();
struct TrainerOptions {
  /// Throws unless steps ≥ 0, batch_size > 0, both bounds > 0, max_restarts ≥ 0 and
  /// restart_lr_factor is in (0, 1].
  void validate() const;
  /// Total optimisation steps of the run (≥ 0).
  TORCH_ARG(int64_t, steps) = 10000;
  /// Rows per batch drawn from the data (> 0).
  TORCH_ARG(int64_t, batch_size) = 256;
  /// Divergence guard: an update whose loss is NaN/inf or whose |loss| exceeds loss_bound, or
  /// whose mean energies (metrics "e_pos"/"e_neg") exceed energy_bound, is refused before it is
  /// applied; so is one whose gradient norm is not finite.
  TORCH_ARG(double, energy_bound) = 1e4;
  /// Divergence guard: the largest |loss| an update may have (> 0; see energy_bound).
  TORCH_ARG(double, loss_bound) = 1e8;
  /// On divergence, restart from the last good state up to this many times, multiplying every
  /// group's learning rate by restart_lr_factor and re-seeding the generator each time.
  TORCH_ARG(int64_t, max_restarts) = 0;
  /// Learning-rate factor applied at each restart, in (0, 1].
  TORCH_ARG(double, restart_lr_factor) = 0.5;
  /// Seed of the trainer's generator (data order, sampling; restart r re-seeds with seed + 1000003·r).
  TORCH_ARG(uint64_t, seed) = 0;
};

/// What one group's last update in a step did.
struct GroupStep {
  std::string group;     ///< the parameter group's name
  double loss = 0;       ///< the loss of the group's last update
  double grad_norm = 0;  ///< before clipping
  int64_t updates = 0;   ///< updates of the group in this step
  /// The last update's ObjectiveOutput::distributions (per-sample values for histograms).
  std::vector<std::pair<std::string, torch::Tensor>> distributions;
};

/// What one step did.
struct StepResult {
  int64_t step = 0;  ///< steps completed, including this one
  /// The main group's last loss (NaN on a step where its cadence skips it).
  double loss = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::pair<std::string, double>> metrics;  ///< every update's metrics, later ones winning
  double grad_norm = std::numeric_limits<double>::quiet_NaN();  ///< the main group's, before clipping
  double seconds = 0;  ///< wall-clock time of the step
  std::vector<GroupStep> groups;  ///< each group updated in this step, in update order
};

/// Thrown by step() when the divergence guard refuses an update.
class DivergenceError : public std::runtime_error {
 public:
  /// what() reads "training diverged at step <step>: <reason>".
  DivergenceError(int64_t step, const std::string& reason);
  int64_t step;        ///< the step that diverged (steps completed + 1)
  std::string reason;  ///< what tripped the guard, e.g. "loss is nan"
};

/// Thrown by train_run when an interrupt (request_interrupt(), e.g. from a SIGINT handler) stopped
/// training; the state at `step` has been saved to `checkpoint`.
class InterruptedError : public std::runtime_error {
 public:
  /// what() names the step and the checkpoint.
  InterruptedError(int64_t step, const std::string& checkpoint);
  int64_t step;            ///< steps completed when training stopped
  std::string checkpoint;  ///< path of the checkpoint holding the saved state
};

/// Asks every running Trainer::train() to stop after its current step. Async-signal-safe (one
/// lock-free atomic store), so a SIGINT/SIGTERM handler may call it.
void request_interrupt();
/// Whether an interrupt was requested (and not yet cleared).
bool interrupt_requested();
/// Clears a requested interrupt.
void clear_interrupt();

class Trainer;

/// Hooks on the training loop (logging, checkpoints, pictures, evaluation, progress).
class Callback {
 public:
  virtual ~Callback() = default;
  /// Called by train() before its first step (also on a resumed run).
  virtual void on_train_begin(Trainer& trainer) {}
  /// Called by train() after each successful step with what the step did.
  virtual void on_step_end(Trainer& trainer, const StepResult& result) {}
  /// Called when a step diverged; `restarting` says whether train() will restart.
  virtual void on_divergence(Trainer& trainer, const DivergenceError& error, bool restarting) {}
  /// Called when train() finishes its steps or is stopped by request_stop() (not on an
  /// interrupt or an unrecovered divergence).
  virtual void on_train_end(Trainer& trainer) {}
};

/// The training loop: updates the parameter groups of a ModuleSet with the losses an Objective
/// computes on batches from a DataSource, guards against divergence (optionally restarting from
/// the last good state), runs callbacks and saves/restores the full state.
class Trainer {
 public:
  /// Trains named modules as parameter groups, updated in the order given. The main group (whose
  /// loss, gradient norm and learning rate the logs show) is "model" if there is one, else the first.
  Trainer(ModuleSet modules, std::vector<ParamGroup> groups, std::shared_ptr<Objective> objective,
          std::shared_ptr<data::DataSource> data, TrainerOptions options);
  /// One model (module and group "model") with one optimizer.
  Trainer(std::shared_ptr<torch::nn::Module> model, std::shared_ptr<Objective> objective,
          std::shared_ptr<data::DataSource> data, TrainerOptions options = {}, OptimizerOptions optimizer = {});

  /// One optimisation step: every due group's updates. Throws DivergenceError if the guard trips
  /// (the refused update is not applied).
  StepResult step();

  /// Runs step() until options.steps() steps are done, with callbacks and automatic restarts.
  void train();

  /// Full state: every module, every group's optimizer, the objective's state (chains), data
  /// order, generator, step counter, restart count and metadata (the resolved config). Written
  /// atomically; the saved state also becomes the "last good" state restarts return to.
  void save(const std::string& path);
  /// Writes the full state to `path` (atomically) without making it the "last good" state. Not
  /// collective: in a data-parallel job it holds the calling rank's chains only, and any rank
  /// may call it.
  void save_copy(const std::string& path);
  /// Restores the full state from a checkpoint written by save() (also older format 1) and makes
  /// it the "last good" state; fails if it does not match this setup's modules and groups.
  void load(const std::string& path);
  /// Warm start: loads only the weights of the modules named in `names` (all of this trainer's
  /// modules if empty) from a checkpoint written by save(), e.g. by another method with the same
  /// network. Optimizers, chains, data order, generator and step count stay as built, so training
  /// starts at step 0 from those weights. A module missing from the checkpoint, or of another
  /// shape, is an error naming it. Returns the names loaded.
  std::vector<std::string> load_modules(const std::string& path, const std::vector<std::string>& names = {});
  /// Ends train() after the current step (a callback's decision, e.g. a held-out watch).
  void request_stop() { stop_requested_ = true; }
  /// Whether request_stop() was called.
  bool stop_requested() const { return stop_requested_; }
  /// In-memory equivalents of save()/load().
  std::string snapshot();
  /// Restores the state from bytes written by snapshot().
  void restore(const std::string& bytes);

  /// Adds a callback; callbacks run in the order added.
  void add_callback(std::shared_ptr<Callback> callback) { callbacks_.push_back(std::move(callback)); }

  /// Steps completed (restored by load()).
  int64_t step_count() const { return step_; }
  /// Divergence restarts so far.
  int64_t restarts() const { return restarts_; }
  /// The main group's learning rate in use now.
  double lr() const { return lr(main_group()); }
  /// The learning rate the optimizer of `group` holds now ("" = the main group).
  double lr(const std::string& group) const;
  /// group lr × schedule(step) × the restart factor.
  double scheduled_lr(int64_t step) const { return scheduled_lr(main_group(), step); }
  /// The learning rate of `group` at `step` ("" = the main group), as for the main group above.
  double scheduled_lr(const std::string& group, int64_t step) const;
  /// The trainer's random generator (batches, sampling); checkpointed.
  at::Generator& generator() { return gen_; }
  /// The trained modules.
  ModuleSet& modules() { return modules_; }
  /// The module "model" as an energy model (an error if it is not one).
  EnergyModel& model();
  /// The module "model".
  std::shared_ptr<torch::nn::Module> model_ptr() { return modules_.ptr("model"); }
  /// The objective.
  Objective& objective() { return *objective_; }
  /// The objective, shared.
  std::shared_ptr<Objective> objective_ptr() { return objective_; }
  /// The training data source (a distributed::ShardedSource around the method's once
  /// set_communicator() has run).
  data::DataSource& data() { return *data_; }
  /// The training data source, shared.
  std::shared_ptr<data::DataSource> data_ptr() { return data_; }
  /// The optimizer of `group` ("" = the main group).
  torch::optim::Optimizer& optimizer(const std::string& group = "");
  /// The parameter groups, in update order.
  const std::vector<ParamGroup>& groups() const { return groups_; }
  /// Name of the main group: "model" if there is one, else the first.
  const std::string& main_group() const { return groups_[main_].name; }
  /// The loop options (steps may have been changed by set_total_steps()).
  const TrainerOptions& options() const { return options_; }
  /// Extends the run (e.g. when resuming with a larger step budget).
  void set_total_steps(int64_t steps);

  /// Makes this trainer one rank of a data-parallel job (see docs/scale.md). Call before load()
  /// and train(). From then on:
  /// - the data source is sharded (distributed::ShardedSource): every rank draws the same global
  ///   batch of batch_size × world rows from a generator of the run seed and trains on its slice,
  ///   so train.batch_size is per rank;
  /// - rank r samples with its own generator (seed + 7919·r; rank 0 keeps the seed);
  /// - after each update's backward (or closed-form gradients) the group's gradients are
  ///   all-reduced to their mean in buckets (distributed::GradientReducer), together with the
  ///   divergence guard's verdict, so every rank takes the same decision;
  /// - train() broadcasts rank 0's modules at its start, and stops on every rank when any rank
  ///   is interrupted or a callback requests a stop;
  /// - save() is collective: every rank's objective state (chains) and generator are gathered
  ///   into rank 0's file, and only rank 0 writes; load() gives each rank its own state back,
  ///   also on another world size (a rank the checkpoint has no state for starts from rank
  ///   r mod saved-world's with its own generator).
  /// A world of 1 (distributed::SingleProcess) shards the same way and is the one-process
  /// reference of a job with the same global batch.
  void set_communicator(std::shared_ptr<distributed::Communicator> comm);
  /// The communicator (null when not data-parallel).
  distributed::Communicator* communicator() const { return comm_.get(); }
  /// Whether this process writes files: not data-parallel, or rank 0.
  bool is_main_rank() const { return !comm_ || comm_->is_main(); }

  /// String metadata stored in checkpoints (e.g. "config" = the resolved TOML).
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  /// The metadata value of `key`, or "" if there is none.
  std::string metadata(const std::string& key) const;
  /// All metadata, by key.
  const std::map<std::string, std::string>& all_metadata() const { return metadata_; }

 private:
  bool stop_requested_ = false;
  struct Group {
    std::vector<at::Tensor> params;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
  };
  void setup();
  size_t group_index(const std::string& name) const;
  void write_state(torch::serialize::OutputArchive& archive);
  void read_state(torch::serialize::InputArchive& archive);
  void set_lr(size_t group, double lr);
  void check_update(const torch::Tensor& loss, const std::vector<std::pair<std::string, double>>& metrics);
  // One update of group g on `batch`: compute, guard, gradients, optimizer step.
  GroupStep update(size_t g, int64_t index, const Batch& batch, std::vector<std::pair<std::string, double>>& metrics);
  Batch next_batch();
  // Data-parallel: whether any rank asks to stop (interrupt or a callback's request).
  std::pair<bool, bool> agreed_stop(bool interrupt, bool stop);
  std::string rank_state_bytes();
  void read_rank_state(torch::serialize::InputArchive& archive);
  void reseed(uint64_t restarts);

  ModuleSet modules_;
  std::vector<ParamGroup> groups_;
  std::vector<Group> state_;
  size_t main_ = 0;
  std::shared_ptr<Objective> objective_;
  std::shared_ptr<data::DataSource> data_;
  TrainerOptions options_;
  at::Generator gen_;
  int64_t step_ = 0;
  int64_t restarts_ = 0;
  double lr_scale_ = 1.0;  // product of restart factors
  std::map<std::string, std::string> metadata_;
  std::string last_good_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::shared_ptr<distributed::Communicator> comm_;
  std::unique_ptr<distributed::GradientReducer> reducer_;
};

/// Reads only the metadata of a checkpoint (e.g. to rebuild the model from its config).
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path);

}  // namespace joule::train
