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
  int64_t seed = 0;
  std::string device = "auto";
  int64_t threads = 0;
  std::string name;
  std::string out;
  std::string progress = "auto";
  bool tensorboard = true;
  void visit(config::Fields& f);
};

/// One parameter group's optimizer, schedule and cadence: [train] for the main group "model",
/// [optim.<group>] for each other group (the LSD critic).
struct OptimizerConfig {
  std::string optimizer = "adam";
  double lr = 2e-3;
  std::string lr_schedule = "cosine";
  int64_t warmup_steps = 0;
  double beta1 = 0.0;
  double beta2 = 0.999;
  double momentum = 0.0;
  double weight_decay = 0.0;
  double grad_clip_norm = 0.0;
  std::vector<int64_t> milestones;
  double decay_rate = 0.1;
  int64_t updates = 1;
  int64_t every = 1;
  bool fresh_batches = false;
  /// Declares the fields; `cadence` adds updates/every/fresh_batches (groups other than the main one).
  void visit(config::Fields& f, bool cadence);
  void visit(config::Fields& f) { visit(f, true); }
  train::OptimizerOptions options() const;
};

/// [train]: the loop, checkpoints, logging, the divergence guard and the main group's optimizer.
struct TrainConfig {
  int64_t steps = 4000;
  int64_t batch_size = 256;
  int64_t checkpoint_every = 500;
  int64_t log_every = 50;
  int64_t eval_every = 1000;
  std::string resume;
  double energy_bound = 1e4;
  double loss_bound = 1e8;
  int64_t max_restarts = 0;
  double restart_lr_factor = 0.5;
  std::string on_degrade = "warn";  ///< held-out metric far below its best: warn | stop
  OptimizerConfig optimizer;
  void visit(config::Fields& f);
  train::TrainerOptions options(uint64_t seed) const;
};

/// [sampler]: the MCMC that produces negatives.
struct SamplerConfig {
  std::string kind = "langevin";
  int64_t steps = 20;
  double step_size = 0.01;
  double noise = -1.0;  ///< -1 = sqrt(2a): proper ULA at temperature 1
  double grad_clip = 0.0;
  double clamp_min = -INFINITY;
  double clamp_max = INFINITY;
  int64_t leapfrog_steps = 5;
  void visit(config::Fields& f);
  std::shared_ptr<Sampler> build() const;
  /// JEM's SGLD: a = 1, b = 0.01, 20 steps (arXiv:1912.03263 §4).
  static SamplerConfig jem();
};

/// [buffer]: the replay buffer of persistent chains.
struct BufferConfig {
  int64_t capacity = 10000;
  double reinit_prob = 0.05;
  std::string init = "uniform";
  double init_low = -4.0;
  double init_high = 4.0;
  double init_std = 1.0;
  double data_noise = 0.0;
  std::string policy = "in_place";
  int64_t storage_bits = 32;
  double quantize_low = 0.0;
  double quantize_high = 1.0;
  void visit(config::Fields& f);
  std::shared_ptr<ReplayBuffer> build(std::vector<int64_t> event_shape, torch::Device device) const;
  /// JEM's buffer: 10 000 chains, 5% fresh U(−1, 1) starts.
  static BufferConfig jem();
};

/// [sample]: `joule sample` and Method::sample().
struct SampleConfig {
  int64_t seed = 0;
  int64_t n = 1000;
  int64_t steps = 500;
  std::string init = "buffer";
  std::string out;
  void visit(config::Fields& f);
};

/// A ConfigError unless batch_size <= available (naming what the rows are).
void check_batch_size(int64_t batch_size, int64_t available, const std::string& what);

/// One panel of a curves picture: metrics.jsonl values against the step.
struct CurvePanel {
  std::string title, ylabel;
  std::vector<std::pair<std::string, std::string>> series;  ///< metric key, legend label
  c10::optional<std::pair<std::string, double>> reference;  ///< a horizontal line: label, value
};
/// Draws the panels (those with any data) side by side into `png_path` from the metrics file;
/// returns false when there is nothing to draw.
bool write_curves(const std::string& metrics_path, const std::string& png_path, const std::vector<CurvePanel>& panels);

}  // namespace joule::methods
