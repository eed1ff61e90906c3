#pragma once
// Watches a held-out metric during training (test NLL, accuracy, pseudo-likelihood): keeps the
// best state as its own checkpoint and notices when training degrades far below it — a model that
// collapsed late (a spike the chains never visit, a classifier whose energy term took over) is
// then never reported as a plain success.

#include <cstdint>
#include <limits>
#include <string>

namespace joule::train {

class Trainer;
class MetricsLogger;

/// What to do when the watched metric degrades beyond the tolerance.
enum class DegradeAction { kWarn, kStop };

/// Options for HeldOutWatch; defaults_for() fills them for known metric names.
struct HeldOutWatchOptions {
  std::string metric;            ///< the name logged by the periodic evaluation, e.g. "nll_test"
  bool lower_is_better = true;   ///< direction of improvement (NLL: lower; accuracy: higher)
  /// Degraded when worse than the best by more than max(abs_tolerance, rel_tolerance·|best|).
  double abs_tolerance = 1.0;
  double rel_tolerance = 0.1;    ///< relative part of the tolerance (see abs_tolerance)
  std::string best_checkpoint;   ///< where the best state is saved ("" = not saved)
  DegradeAction action = DegradeAction::kWarn;  ///< warn only, or also stop training
};

/// Tracks the best and latest values of a held-out metric fed to it by observe(), saves the best
/// state, and flags (optionally stops at) the first value that degrades beyond the tolerance.
class HeldOutWatch {
 public:
  /// A watch with no values yet.
  explicit HeldOutWatch(HeldOutWatchOptions options);
  /// The defaults for a metric name: nll* → lower is better, 1 nat or 10%; *acc* → higher,
  /// 0.15; pll*/loglik* → higher, 1 nat or 10%. Returns false for metrics it does not know.
  static bool defaults_for(const std::string& metric, HeldOutWatchOptions& options);

  /// One evaluation at `step`: saves the best state, logs a "degraded" event line the first
  /// time the value falls beyond the tolerance, and with kStop asks the trainer to stop.
  void observe(Trainer& trainer, int64_t step, double value, MetricsLogger* log);
  /// A value from before this process (a resumed run's metrics.jsonl): counts towards the best
  /// without saving anything.
  void seed(int64_t step, double value);

  /// The options in use.
  const HeldOutWatchOptions& options() const { return options_; }
  /// Whether a finite value has been observed or seeded.
  bool has_best() const { return best_step_ >= 0; }
  /// The best value so far (NaN before any).
  double best() const { return best_; }
  /// The step of the best value (−1 before any).
  int64_t best_step() const { return best_step_; }
  /// The last value passed to observe() (NaN before any).
  double last() const { return last_; }
  /// The step of the last observed value (−1 before any).
  int64_t last_step() const { return last_step_; }
  /// Whether `value` is beyond the tolerance from the best.
  bool degraded(double value) const;
  /// Whether an observed value has degraded beyond the tolerance.
  bool ever_degraded() const { return degraded_step_ >= 0; }
  /// The step of the first degraded value (−1 if none).
  int64_t degraded_step() const { return degraded_step_; }
  /// Whether the watch asked the trainer to stop (action kStop).
  bool stopped() const { return stopped_; }
  /// One line for the user: "nll_test ended at 185, against its best 2.63 at step 2000 (kept in ...)".
  std::string summary(double final_value) const;

 private:
  HeldOutWatchOptions options_;
  double best_ = std::numeric_limits<double>::quiet_NaN();
  int64_t best_step_ = -1;
  double last_ = std::numeric_limits<double>::quiet_NaN();
  int64_t last_step_ = -1;
  int64_t degraded_step_ = -1;
  bool stopped_ = false;
};

}  // namespace joule::train
