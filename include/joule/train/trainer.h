#pragma once
// The trainer: train() is a loop of step(); the whole state checkpoints and resumes exactly.

#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "joule/core/energy.h"
#include "joule/data/dataset.h"
#include "joule/objectives/objective.h"

namespace joule::train {

enum class OptimizerKind { kAdam, kSGD };
OptimizerKind parse_optimizer(const std::string& name);

/// Learning-rate schedule over the run: constant, or decaying to 0 at the last step
/// (linear or cosine), after an optional linear warm-up.
enum class LrSchedule { kConstant, kLinear, kCosine };
LrSchedule parse_lr_schedule(const std::string& name);

/// Options for Trainer.
///
/// Example:
///   joule::train::Trainer trainer(model, objective, data,
///       joule::train::TrainerOptions().steps(5000).lr(1e-3).beta1(0.0).seed(1));
///   trainer.train();
struct TrainerOptions {
  void validate() const;
  TORCH_ARG(int64_t, steps) = 10000;
  TORCH_ARG(int64_t, batch_size) = 256;
  TORCH_ARG(OptimizerKind, optimizer) = OptimizerKind::kAdam;
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(LrSchedule, lr_schedule) = LrSchedule::kConstant;
  TORCH_ARG(int64_t, warmup_steps) = 0;
  /// Adam β₁; 0 is common for EBMs (IGEBM, ICD, VERA, LSD).
  TORCH_ARG(double, beta1) = 0.0;
  TORCH_ARG(double, beta2) = 0.999;
  /// SGD momentum.
  TORCH_ARG(double, momentum) = 0.0;
  TORCH_ARG(double, weight_decay) = 0.0;
  /// Clip the global gradient norm to this value; 0 disables.
  TORCH_ARG(double, grad_clip_norm) = 0.0;
  /// Divergence guard: a step whose loss is NaN/inf or whose |loss| exceeds loss_bound, or
  /// whose mean energies (metrics "e_pos"/"e_neg") exceed energy_bound, is refused before the
  /// update is applied.
  TORCH_ARG(double, energy_bound) = 1e4;
  TORCH_ARG(double, loss_bound) = 1e8;
  /// On divergence, restart from the last good state up to this many times, multiplying the
  /// learning rate by restart_lr_factor and re-seeding the generator each time.
  TORCH_ARG(int64_t, max_restarts) = 0;
  TORCH_ARG(double, restart_lr_factor) = 0.5;
  TORCH_ARG(uint64_t, seed) = 0;
};

/// What one step did.
struct StepResult {
  int64_t step = 0;  ///< steps completed, including this one
  double loss = 0;
  std::vector<std::pair<std::string, double>> metrics;
  double grad_norm = 0;  ///< before clipping
  double seconds = 0;
};

/// Thrown by step() when the divergence guard refuses an update.
class DivergenceError : public std::runtime_error {
 public:
  DivergenceError(int64_t step, const std::string& reason);
  int64_t step;
  std::string reason;
};

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
  Trainer(std::shared_ptr<EnergyModel> model, std::shared_ptr<Objective> objective,
          std::shared_ptr<data::DataSource> data, TrainerOptions options);

  /// One optimisation step. Throws DivergenceError (parameters untouched) if the guard trips.
  StepResult step();

  /// Runs step() until options.steps() steps are done, with callbacks and automatic restarts.
  void train();

  /// Full state: model, optimizer, objective state (replay buffer), data order, generator,
  /// step counter, restart count and metadata (the resolved config). Written atomically; the
  /// saved state also becomes the "last good" state restarts return to.
  void save(const std::string& path);
  void load(const std::string& path);
  /// In-memory equivalents of save()/load().
  std::string snapshot();
  void restore(const std::string& bytes);

  void add_callback(std::shared_ptr<Callback> callback) { callbacks_.push_back(std::move(callback)); }

  int64_t step_count() const { return step_; }
  int64_t restarts() const { return restarts_; }
  /// The learning rate in use now.
  double lr() const;
  /// options.lr × schedule(step) × the restart factor.
  double scheduled_lr(int64_t step) const;
  at::Generator& generator() { return gen_; }
  EnergyModel& model() { return *model_; }
  std::shared_ptr<EnergyModel> model_ptr() { return model_; }
  Objective& objective() { return *objective_; }
  data::DataSource& data() { return *data_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  const TrainerOptions& options() const { return options_; }
  /// Extends the run (e.g. when resuming with a larger step budget).
  void set_total_steps(int64_t steps);

  /// String metadata stored in checkpoints (e.g. "config" = the resolved TOML).
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  std::string metadata(const std::string& key) const;
  const std::map<std::string, std::string>& all_metadata() const { return metadata_; }

 private:
  void write_state(torch::serialize::OutputArchive& archive);
  void read_state(torch::serialize::InputArchive& archive);
  void set_lr(double lr);
  void check_step(const torch::Tensor& loss, const std::vector<std::pair<std::string, double>>& metrics);

  std::shared_ptr<EnergyModel> model_;
  std::shared_ptr<Objective> objective_;
  std::shared_ptr<data::DataSource> data_;
  TrainerOptions options_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
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
