#pragma once
// Standard callbacks: metrics log, checkpoints, progress display, periodic user hooks.

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "joule/train/trainer.h"

namespace joule::io {
class EventWriter;
}

namespace joule::train {

/// Appends one JSON object per logged step to a .jsonl file:
/// {"step": 100, "loss": ..., "<metric>": ..., "lr": ..., "grad_norm": ..., "it_per_s": ..., "time_s": ...}.
/// Other callbacks can add values to the next line with `add()` (e.g. a periodic test NLL).
class MetricsLogger : public Callback {
 public:
  /// Logs to the .jsonl file `path`, one line every `every` (> 0) steps.
  MetricsLogger(std::string path, int64_t every);
  /// On a resume (step > 0), drops the lines logged after the checkpoint's step by the run that
  /// was stopped (a kill after its last checkpoint) and a torn last line, so every step appears once.
  void on_train_begin(Trainer& trainer) override;
  void on_step_end(Trainer& trainer, const StepResult& result) override;
  void on_divergence(Trainer& trainer, const DivergenceError& error, bool restarting) override;
  /// Writes the divergence event line {"step", "event": "divergence", "restarting", "reason"}.
  void log_divergence(const DivergenceError& error, bool restarting);
  /// Appends an event line (a JSON object with "step" and "event").
  void log_event(const std::string& json_line) { append_line(json_line); }
  /// Writes a line with arbitrary values immediately (e.g. evaluation results).
  void log(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  /// The metrics file.
  const std::string& path() const { return path_; }
  /// Mirrors every logged line to TensorBoard as scalars (tag = the metrics.jsonl key), and
  /// divergence events as text; each line is flushed, so TensorBoard follows the run live.
  void set_event_writer(std::shared_ptr<io::EventWriter> writer) { tensorboard_ = std::move(writer); }

  /// One logged line: its step and its values.
  struct Row {
    int64_t step;                                        ///< the line's "step"
    std::vector<std::pair<std::string, double>> values;  ///< the line's other values, in order
  };
  /// All values logged so far in this process, by step (for the loss-curve picture).
  const std::vector<Row>& history() const { return history_; }
  /// Reads the rows of an existing metrics file (to continue the curves after a resume).
  static std::vector<Row> read(const std::string& path);

 private:
  void append_line(const std::string& line);
  std::string path_;
  int64_t every_;
  std::vector<Row> history_;
  std::shared_ptr<io::EventWriter> tensorboard_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
  int64_t last_step_ = -1;
};

/// Histograms of every trained module's parameters ("weights/<module>/<parameter>"), of their
/// gradients ("grads/<module>/<parameter>", where a step left them) and of the per-sample values
/// the objective reports (ObjectiveOutput::distributions, e.g. "energy/data" and
/// "energy/samples") to TensorBoard, every `every` steps and at the end.
class TensorBoardHistograms : public Callback {
 public:
  /// Writes to `writer` (not null) every `every` (> 0) steps.
  TensorBoardHistograms(std::shared_ptr<io::EventWriter> writer, int64_t every);
  void on_step_end(Trainer& trainer, const StepResult& result) override;
  void on_train_end(Trainer& trainer) override;

 private:
  void write(Trainer& trainer, int64_t step);
  std::shared_ptr<io::EventWriter> writer_;
  int64_t every_;
  int64_t last_ = -1;
  std::vector<std::pair<std::string, at::Tensor>> distributions_;  // the latest step's
};

/// Saves the full trainer state every `every` steps and at the end (atomically).
class Checkpointer : public Callback {
 public:
  /// Saves to `path` every `every` steps (0 = only at the end).
  Checkpointer(std::string path, int64_t every);
  void on_step_end(Trainer& trainer, const StepResult& result) override;
  void on_train_end(Trainer& trainer) override;
  /// The checkpoint file.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int64_t every_;
};

/// Keeps a copy of the training state every `every` steps as `dir`/step-NNNNNNN.pt (seven digits,
/// so the files sort by step), for scoring the states a run passed through after it ends: unlike
/// the Checkpointer's file, none is overwritten. Each is a full checkpoint (Trainer::save(), so
/// also the last good state restarts return to): `joule eval` scores it and `train.resume` goes on
/// from it. The folder is made at the first snapshot.
class Snapshotter : public Callback {
 public:
  /// `every` must be positive.
  Snapshotter(std::string dir, int64_t every);
  void on_step_end(Trainer& trainer, const StepResult& result) override;
  /// The file of the snapshot at `step`.
  std::string path(int64_t step) const;

 private:
  std::string dir_;
  int64_t every_;
};

/// A progress bar with loss and it/s on a terminal; plain periodic lines otherwise.
class ProgressBar : public Callback {
 public:
  /// `interactive` = draw a bar (normally isatty(stderr)); otherwise print a line every
  /// `line_every` steps.
  ProgressBar(std::ostream& os, bool interactive, int64_t line_every);
  void on_train_begin(Trainer& trainer) override;
  void on_step_end(Trainer& trainer, const StepResult& result) override;
  void on_divergence(Trainer& trainer, const DivergenceError& error, bool restarting) override;
  void on_train_end(Trainer& trainer) override;
  /// Extra "name value" pairs shown on the bar (e.g. the latest test NLL).
  void set_extra(const std::string& name, double value);

 private:
  std::ostream& os_;
  bool interactive_;
  int64_t line_every_;
  int64_t first_step_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::vector<std::pair<std::string, double>> extra_;
  double ema_loss_ = 0;
  bool has_ema_ = false;
};

/// Calls `fn(trainer, step)` every `every` steps and at the end of training.
class PeriodicCallback : public Callback {
 public:
  /// `every` ≤ 0 calls `fn` only at the end; `at_end` = false skips the call at the end (which is
  /// also skipped when the last step already called it).
  PeriodicCallback(int64_t every, std::function<void(Trainer&, int64_t)> fn, bool at_end = true);
  void on_step_end(Trainer& trainer, const StepResult& result) override;
  void on_train_end(Trainer& trainer) override;

 private:
  int64_t every_;
  std::function<void(Trainer&, int64_t)> fn_;
  bool at_end_;
  int64_t last_called_ = -1;
};

/// "1m05s", "3.2s" etc.
std::string format_duration(double seconds);

}  // namespace joule::train
