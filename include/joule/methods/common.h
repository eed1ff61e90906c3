#pragma once
// Option families and helpers shared by the methods: each family is a typed struct with its
// defaults and one visit(), bound under its section ([run], [train], [optim.<group>],
// [sampler], [buffer], [sample]) by every method that uses it, and turned into the library's
// options by one builder.

#include <c10/util/Optional.h>
#include <torch/types.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "joule/config/options.h"
#include "joule/samplers/replay_buffer.h"
#include "joule/samplers/sampler.h"
#include "joule/train/trainer.h"

namespace joule::methods {

/// [run]: seeds, device, threads and the run folder.
struct RunConfig {
  int64_t seed = 0;  ///< seed of every random stream (data, init, chains); >= 0
  std::string device = "auto";  ///< cpu, cuda, cuda:N or auto (CUDA when available)
  /// LibTorch CPU threads, 0..1024; 0 = OMP_NUM_THREADS if set, else one per available core.
  int64_t threads = 0;
  std::string name;  ///< run name; "" = the config file's name, or "default"
  /// Run folder; "" = `runs/<name>-<date>-<time>`. An existing non-empty folder is never overwritten.
  std::string out;
  std::string progress = "auto";  ///< auto | bar | lines | none (auto: a bar on a terminal, else lines)
  /// Write TensorBoard event files in the run folder (metrics, weight histograms, config,
  /// evaluation, pictures).
  bool tensorboard = true;
  /// Declares the [run] fields.
  void visit(config::Fields& f);
};

/// One parameter group's optimizer, schedule and cadence: [train] for the main group "model",
/// [optim.\<group\>] for each other group (the LSD critic).
struct OptimizerConfig {
  std::string optimizer = "adam";  ///< adam | sgd
  double lr = 2e-3;                ///< learning rate (> 0)
  /// Learning rate over the run: constant | linear | cosine (decay to 0 at the last step) |
  /// step (× decay_rate at each milestone).
  std::string lr_schedule = "cosine";
  int64_t warmup_steps = 0;     ///< linear learning-rate warm-up steps
  double beta1 = 0.0;           ///< Adam β₁ in [0, 1) (0 is common for EBMs)
  double beta2 = 0.999;         ///< Adam β₂ in [0, 1)
  double momentum = 0.0;        ///< SGD momentum (>= 0)
  double weight_decay = 0.0;    ///< L2 weight decay (>= 0)
  double grad_clip_norm = 0.0;  ///< clip the gradient norm to this (0 = off)
  /// lr_schedule = step: steps at which the rate is multiplied by decay_rate (empty: 80% and 90%
  /// of train.steps).
  std::vector<int64_t> milestones;
  double decay_rate = 0.1;  ///< lr_schedule = step: the factor at each milestone (> 0)
  int64_t updates = 1;      ///< updates of this group per training step (>= 1; not for the main group)
  int64_t every = 1;        ///< update this group on every n-th training step (>= 1; not for the main group)
  bool fresh_batches = false;  ///< each update draws its own batch, else the step's (not for the main group)
  /// Declares the fields; `cadence` adds updates/every/fresh_batches (groups other than the main one).
  void visit(config::Fields& f, bool cadence);
  /// Declares every field, the cadence ones included (an [optim.\<group\>] section).
  void visit(config::Fields& f) { visit(f, true); }
  /// The trainer's options for this group.
  train::OptimizerOptions options() const;
};

/// [train]: the loop, checkpoints, logging, the divergence guard and the main group's optimizer.
struct TrainConfig {
  int64_t steps = 4000;           ///< optimisation steps (>= 0)
  int64_t batch_size = 256;       ///< minibatch size (>= 1)
  int64_t checkpoint_every = 500; ///< steps between checkpoints (the last good state)
  int64_t snapshot_every = 0;     ///< steps between kept copies of the state in snapshots/ (0 = none)
  int64_t log_every = 50;         ///< steps between metrics.jsonl lines
  int64_t eval_every = 1000;      ///< steps between evaluations (0 = only at the end)
  std::string resume;             ///< run folder or checkpoint to continue (its config is reused); "" = none
  std::string init_from;          ///< warm start: a run folder or checkpoint whose module weights a new run starts from
  std::vector<std::string> init_modules;  ///< the modules init_from loads (empty = all of this method's)
  double energy_bound = 1e4;      ///< divergence guard: stop if |mean energy| exceeds this
  double loss_bound = 1e8;        ///< divergence guard: stop if |loss| exceeds this
  int64_t max_restarts = 0;       ///< on divergence, restart from the last good checkpoint this many times
  double restart_lr_factor = 0.5; ///< learning-rate factor applied at each restart, in (0, 1]
  std::string on_degrade = "warn";  ///< held-out metric far below its best: warn | stop
  OptimizerConfig optimizer;      ///< the main group's ("model") optimizer, read from [train] itself
  /// Declares the [train] fields, the main group's optimizer included (without its cadence).
  void visit(config::Fields& f);
  /// The trainer's loop options (steps, batch, divergence guard) with `seed`; the optimizer is
  /// configured per group from `optimizer`.
  train::TrainerOptions options(uint64_t seed) const;
};

/// [sampler]: the MCMC that produces negatives (and VERA's [refine]: the MCMC that moves generator
/// samples).
struct SamplerConfig {
  std::string kind = "langevin";  ///< langevin | mala | hmc
  int64_t steps = 20;             ///< transitions per sampler call, e.g. per training step (>= 0)
  double step_size = 0.01;        ///< Langevin/MALA step a, HMC leapfrog step (> 0)
  double noise = -1.0;  ///< -1 = sqrt(2a): proper ULA at temperature 1
  double grad_clip = 0.0;         ///< Langevin: clip each score element to ±value (0 = off)
  double clamp_min = -INFINITY;   ///< Langevin: clamp states from below (-inf = off)
  double clamp_max = INFINITY;    ///< Langevin: clamp states from above (inf = off)
  int64_t leapfrog_steps = 5;     ///< HMC leapfrog steps per transition (>= 1)
  /// Declares the [sampler] fields.
  void visit(config::Fields& f);
  /// The sampler these options describe. ConfigError when noise, grad_clip or clamping is set for
  /// mala or hmc (exact samplers: they would break the Metropolis correction), or when
  /// clamp_min >= clamp_max. Messages name the keys under `section` (the table these options
  /// were read from).
  std::shared_ptr<Sampler> build(const std::string& section = "sampler") const;
  /// JEM's SGLD: a = 1, b = 0.01, 20 steps (arXiv:1912.03263 §4).
  static SamplerConfig jem();
};

/// [buffer]: the replay buffer of persistent chains.
struct BufferConfig {
  int64_t capacity = 10000;   ///< persistent chains kept (PCD)
  double reinit_prob = 0.05;  ///< probability a drawn chain restarts from the init distribution, in [0, 1]
  /// Where fresh chains start: uniform | gaussian | data | class_gaussian (JEM++'s informative
  /// init, a Gaussian per class fitted to the labelled training data; methods with labels only).
  std::string init = "uniform";
  double init_low = -4.0;     ///< uniform init lower bound
  double init_high = 4.0;     ///< uniform init upper bound
  double init_std = 1.0;      ///< gaussian init std (> 0)
  double data_noise = 0.0;    ///< std of the noise added to data-initialised chains
  /// in_place: fixed chains written back where drawn (PCD, JEM); fifo / reservoir: a growing store
  /// of finished chains, the oldest or a uniform random one replaced when full (IGEBM, improved CD).
  std::string policy = "in_place";
  /// 32: float states; 8: one byte per value in [quantize_low, quantize_high], dequantised with
  /// uniform noise on read (improved CD's uint8 buffer).
  int64_t storage_bits = 32;
  double quantize_low = 0.0;   ///< 8-bit storage: the lowest value stored (values are clamped into the range)
  double quantize_high = 1.0;  ///< 8-bit storage: the highest value stored
  /// Declares the [buffer] fields.
  void visit(config::Fields& f);
  /// The buffer of `capacity` chains of `event_shape` on `device`. ConfigError for an empty init or
  /// quantisation range, storage_bits other than 8 or 32, (CPU) chains needing more than 80% of
  /// the machine's memory, or init = class_gaussian in a method without labels (`labelled` false).
  /// The caller fits a class_gaussian init (ReplayBuffer::fit_class_gaussians).
  std::shared_ptr<ReplayBuffer> build(std::vector<int64_t> event_shape, torch::Device device,
                                      bool labelled = false) const;
  /// JEM's buffer: 10 000 chains, 5% fresh U(−1, 1) starts.
  static BufferConfig jem();
};

/// [sample]: `joule sample` and Method::sample().
struct SampleConfig {
  int64_t seed = 0;             ///< seed of the sampling chains
  int64_t n = 1000;             ///< number of samples (>= 1)
  int64_t steps = 500;          ///< sampler steps from the initial states
  std::string init = "buffer";  ///< buffer (the persistent chains, if any) | noise (fresh noise)
  std::string out;              ///< output prefix; "" = `<run>/samples-step<N>`
  /// Declares the [sample] fields.
  void visit(config::Fields& f);
};

/// [sample] of a method with classes (JEM, VERA-JEM): the common options plus the class.
struct ClassSampleConfig : SampleConfig {
  int64_t label = -1;  ///< the key `class`: class of class-conditional samples (−1 = unconditional)
  /// Declares the [sample] fields, the common ones included.
  void visit(config::Fields& f);
};

/// A ConfigError unless batch_size <= available (naming what the rows are).
void check_batch_size(int64_t batch_size, int64_t available, const std::string& what);

/// One panel of a curves picture: metrics.jsonl values against the step.
struct CurvePanel {
  /// @{
  /// Panel title and y-axis label.
  std::string title, ylabel;
  /// @}
  std::vector<std::pair<std::string, std::string>> series;  ///< metric key, legend label
  c10::optional<std::pair<std::string, double>> reference;  ///< a horizontal line: label, value
};
/// Draws the panels (those with any data) side by side into `png_path` from the metrics file;
/// returns false when there is nothing to draw.
bool write_curves(const std::string& metrics_path, const std::string& png_path, const std::vector<CurvePanel>& panels);

}  // namespace joule::methods
