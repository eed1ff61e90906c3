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
#include "joule/objectives/objective.h"

namespace joule::train {

enum class OptimizerKind { kAdam, kSGD };
OptimizerKind parse_optimizer(const std::string& name);

/// Learning-rate schedule over the run: constant, decaying to 0 at the last step (linear or
/// cosine), or multiplied by decay_rate at each milestone step (step; PyTorch's MultiStepLR),
/// after an optional linear warm-up.
enum class LrSchedule { kConstant, kLinear, kCosine, kStep };
LrSchedule parse_lr_schedule(const std::string& name);

/// One parameter group's optimizer, learning-rate schedule and update cadence.
///
/// Example (LSD's critic: five Adam steps with β = (0, 0.999) per model step, each on its own batch):
///   joule::train::OptimizerOptions().lr(1e-3).beta1(0.0).updates(5).fresh_batches(true)
struct OptimizerOptions {
  /// Checks every value; `group` names the group in messages.
  void validate(const std::string& group = "model") const;
  TORCH_ARG(OptimizerKind, kind) = OptimizerKind::kAdam;
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(LrSchedule, lr_schedule) = LrSchedule::kConstant;
  TORCH_ARG(int64_t, warmup_steps) = 0;
  /// Adam β₁; 0 is common for EBMs (IGEBM, ICD, VERA, LSD).
  TORCH_ARG(double, beta1) = 0.0;
  TORCH_ARG(double, beta2) = 0.999;
  /// SGD momentum.
  TORCH_ARG(double, momentum) = 0.0;
  TORCH_ARG(double, weight_decay) = 0.0;
  /// Clip the group's gradient norm to this value; 0 disables.
  TORCH_ARG(double, grad_clip_norm) = 0.0;
  /// LrSchedule::kStep: the steps at which the rate is multiplied by decay_rate (empty: 80% and
  /// 90% of TrainerOptions::steps).
  TORCH_ARG(std::vector<int64_t>, milestones) = {};
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
  ParamGroup(std::string name, std::vector<std::string> modules, OptimizerOptions optimizer = {})
      : name(std::move(name)), modules(std::move(modules)), optimizer(std::move(optimizer)) {}
  ParamGroup& only_parameters(std::vector<std::string> names) {
    only = std::move(names);
    return *this;
  }
  ParamGroup& except_parameters(std::vector<std::string> names) {
    except = std::move(names);
    return *this;
  }
  std::string name;
  std::vector<std::string> modules;
  OptimizerOptions optimizer;
  std::vector<std::string> only, except;
};

/// Options of the loop itself (each group's optimizer is in its ParamGroup).
///
/// Example:
///   joule::train::Trainer trainer(model, objective, data,
///       joule::train::TrainerOptions().steps(5000).seed(1),
///       joule::train::OptimizerOptions().lr(1e-3));
///   trainer.train();
struct TrainerOptions {
  void validate() const;
  TORCH_ARG(int64_t, steps) = 10000;
  TORCH_ARG(int64_t, batch_size) = 256;
  /// Divergence guard: an update whose loss is NaN/inf or whose |loss| exceeds loss_bound, or
  /// whose mean energies (metrics "e_pos"/"e_neg") exceed energy_bound, is refused before it is
  /// applied; so is one whose gradient norm is not finite.
  TORCH_ARG(double, energy_bound) = 1e4;
  TORCH_ARG(double, loss_bound) = 1e8;
  /// On divergence, restart from the last good state up to this many times, multiplying every
  /// group's learning rate by restart_lr_factor and re-seeding the generator each time.
  TORCH_ARG(int64_t, max_restarts) = 0;
  TORCH_ARG(double, restart_lr_factor) = 0.5;
  TORCH_ARG(uint64_t, seed) = 0;
};

/// What one group's last update in a step did.
struct GroupStep {
  std::string group;
  double loss = 0;
  double grad_norm = 0;  ///< before clipping
  int64_t updates = 0;
};

/// What one step did.
struct StepResult {
  int64_t step = 0;  ///< steps completed, including this one
  /// The main group's last loss (NaN on a step where its cadence skips it).
  double loss = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::pair<std::string, double>> metrics;  ///< every update's metrics, later ones winning
  double grad_norm = std::numeric_limits<double>::quiet_NaN();  ///< the main group's, before clipping
  double seconds = 0;
  std::vector<GroupStep> groups;  ///< each group updated in this step, in update order
};

/// Thrown by step() when the divergence guard refuses an update.
class DivergenceError : public std::runtime_error {
 public:
  DivergenceError(int64_t step, const std::string& reason);
  int64_t step;
  std::string reason;
};

/// Thrown by train_run when an interrupt (request_interrupt(), e.g. from a SIGINT handler) stopped
/// training; the state at `step` has been saved to `checkpoint`.
class InterruptedError : public std::runtime_error {
 public:
  InterruptedError(int64_t step, const std::string& checkpoint);
  int64_t step;
  std::string checkpoint;
};

/// Asks every running Trainer::train() to stop after its current step. Async-signal-safe (one
/// lock-free atomic store), so a SIGINT/SIGTERM handler may call it.
void request_interrupt();
/// Whether an interrupt was requested (and not yet cleared).
bool interrupt_requested();
void clear_interrupt();

class Trainer;

/// Hooks on the training loop (logging, checkpoints, pictures, evaluation, progress).
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Trainer& trainer) {}
  virtual void on_step_end(Trainer& trainer, const StepResult& result) {}
  /// Called when a step diverged; `restarting` says whether train() will restart.
  virtual void on_divergence(Trainer& trainer, const DivergenceError& error, bool restarting) {}
  virtual void on_train_end(Trainer& trainer) {}
};

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
  /// Writes the full state to `path` (atomically) without making it the "last good" state.
  void save_copy(const std::string& path);
  void load(const std::string& path);
  /// Ends train() after the current step (a callback's decision, e.g. a held-out watch).
  void request_stop() { stop_requested_ = true; }
  bool stop_requested() const { return stop_requested_; }
  /// In-memory equivalents of save()/load().
  std::string snapshot();
  void restore(const std::string& bytes);

  void add_callback(std::shared_ptr<Callback> callback) { callbacks_.push_back(std::move(callback)); }

  int64_t step_count() const { return step_; }
  int64_t restarts() const { return restarts_; }
  /// The main group's learning rate in use now.
  double lr() const { return lr(main_group()); }
  double lr(const std::string& group) const;
  /// group lr × schedule(step) × the restart factor.
  double scheduled_lr(int64_t step) const { return scheduled_lr(main_group(), step); }
  double scheduled_lr(const std::string& group, int64_t step) const;
  at::Generator& generator() { return gen_; }
  ModuleSet& modules() { return modules_; }
  /// The module "model" as an energy model (an error if it is not one).
  EnergyModel& model();
  std::shared_ptr<torch::nn::Module> model_ptr() { return modules_.ptr("model"); }
  Objective& objective() { return *objective_; }
  std::shared_ptr<Objective> objective_ptr() { return objective_; }
  data::DataSource& data() { return *data_; }
  torch::optim::Optimizer& optimizer(const std::string& group = "");
  const std::vector<ParamGroup>& groups() const { return groups_; }
  const std::string& main_group() const { return groups_[main_].name; }
  const TrainerOptions& options() const { return options_; }
  /// Extends the run (e.g. when resuming with a larger step budget).
  void set_total_steps(int64_t steps);

  /// String metadata stored in checkpoints (e.g. "config" = the resolved TOML).
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  std::string metadata(const std::string& key) const;
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
};

/// Reads only the metadata of a checkpoint (e.g. to rebuild the model from its config).
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path);

}  // namespace joule::train
