#pragma once
// Watches the sampler during sampling-based training (PCD/CD) with two signals:
// - the CD gap: at the model's equilibrium the chains' mean energy matches the data's, so a gap
//   that stays far from zero, measured in units of the spread of data energies, says the chains no
//   longer sample the model — they are stuck away from the data (gap < 0: on a plateau the data
//   do not fill, or the model carves out modes the chains do not reach) or sit in wells the data
//   do not fill (gap > 0);
// - where the model's exact density is known (2-D, by quadrature), the total variation between
//   the persistent chains and the model, from each periodic evaluation: the direct test.
// A model can fit its data (good held-out NLL) while its own sampler cannot draw from it; the
// held-out metric catches what this misses and vice versa; both feed the run's warnings.

#include <cstdint>
#include <string>

#include "joule/train/held_out_watch.h"
#include "joule/train/trainer.h"

namespace joule::train {

/// Options for SamplerHealthWatch.
struct SamplerHealthOptions {
  /// Step metric of the data energy, read each step; the watch is idle while the objective does
  /// not report the three metrics (the defaults are ContrastiveDivergence's robust_metrics).
  TORCH_ARG(std::string, pos_metric) = "e_pos_median";
  /// Step metric of the chains' energy (the gap is pos − neg).
  TORCH_ARG(std::string, neg_metric) = "e_neg_median";
  /// Step metric of the spread of the data energies, the unit the gap is measured in.
  TORCH_ARG(std::string, scale_metric) = "e_pos_spread";
  /// Time constant (steps) of the moving averages of the gap and the scale.
  TORCH_ARG(int64_t, window) = 200;
  /// Unhealthy while |average gap| / average scale exceeds this (0 = the gap is not watched) ...
  TORCH_ARG(double, threshold) = 1.0;
  /// ... for this many consecutive steps (after a warm-up of 2 windows).
  TORCH_ARG(int64_t, patience) = 400;
  /// The periodic evaluation's total variation between chains and model (observe_evaluation()).
  TORCH_ARG(std::string, tv_metric) = "chain_tv";
  /// Unhealthy when it exceeds this (0 = not watched) ...
  TORCH_ARG(double, tv_threshold) = 0.0;
  /// ... at this many evaluations in a row.
  TORCH_ARG(int64_t, tv_patience) = 2;
  /// When a signal is flagged: warn only, or also stop training.
  TORCH_ARG(DegradeAction, action) = DegradeAction::kWarn;
};

/// A callback that watches the CD gap each step and the chains' total variation at each
/// evaluation (see the top of this file), logs a "sampler_unhealthy" event line to `log` when a
/// signal is flagged, and with DegradeAction::kStop asks the trainer to stop.
class SamplerHealthWatch : public Callback {
 public:
  /// Checks window ≥ 1, threshold ≥ 0, patience ≥ 1, tv_threshold in [0, 1) and tv_patience ≥ 1;
  /// `log` may be null (no event lines).
  explicit SamplerHealthWatch(SamplerHealthOptions options = {}, std::shared_ptr<MetricsLogger> log = nullptr);
  /// Updates the moving averages of the gap and the scale from the step's metrics and flags the
  /// gap once it has stayed beyond the threshold for `patience` steps.
  void on_step_end(Trainer& trainer, const StepResult& result) override;
  /// A value of the periodic evaluation at `step`; only `tv_metric` is read.
  void observe_evaluation(Trainer& trainer, int64_t step, const std::string& name, double value);

  /// The gap in units of the data-energy spread (moving averages); NaN before the first report.
  double z() const { return z_; }
  /// Whether either signal was beyond its threshold for its patience at some point.
  bool flagged() const { return gap_flagged() || tv_flagged(); }
  /// The first step at which a signal was flagged (−1: none).
  int64_t flagged_step() const;
  /// Whether the CD gap was flagged.
  bool gap_flagged() const { return flagged_step_ >= 0; }
  /// The step at which the gap was flagged (−1: not flagged).
  int64_t gap_flagged_step() const { return flagged_step_; }
  /// z() when the gap was flagged (0 if not flagged).
  double flagged_z() const { return flagged_z_; }
  /// Whether the total variation was flagged.
  bool tv_flagged() const { return tv_flagged_step_ >= 0; }
  /// The evaluation step at which the total variation was flagged (−1: not flagged).
  int64_t tv_flagged_step() const { return tv_flagged_step_; }
  /// The total variation that flagged it (0 if not flagged).
  double flagged_tv() const { return flagged_tv_; }
  /// Whether the watch asked the trainer to stop (action kStop).
  bool stopped() const { return stopped_; }
  /// One line for the user per flagged signal, naming the step, the size of the signal and what
  /// to try ("" when healthy).
  std::string summary() const;

 private:
  void flag(Trainer& trainer);

  SamplerHealthOptions options_;
  std::shared_ptr<MetricsLogger> log_;
  double gap_avg_ = 0, scale_avg_ = 0, weight_ = 0;  // bias-corrected exponential averages
  double z_ = std::numeric_limits<double>::quiet_NaN();
  int64_t seen_ = 0, run_ = 0;
  int64_t flagged_step_ = -1;
  double flagged_z_ = 0;
  int64_t tv_run_ = 0, tv_first_step_ = -1, tv_flagged_step_ = -1;
  double flagged_tv_ = 0;
  bool stopped_ = false;
};

}  // namespace joule::train
