#pragma once
// Watches the sampler during sampling-based training (PCD/CD): at the model's equilibrium the
// chains' mean energy matches the data's, so a contrastive-divergence gap that stays far from
// zero, measured in units of the spread of data energies, says the chains no longer sample the
// model — they are stuck away from the data (gap < 0: the model carves out modes the chains do not
// reach, the start of a collapse) or sit in wells the data do not fill (gap > 0). The held-out
// metric catches what this misses and vice versa; both feed the run's warnings.

#include <cstdint>
#include <string>

#include "joule/train/held_out_watch.h"
#include "joule/train/trainer.h"

namespace joule::train {

struct SamplerHealthOptions {
  /// Step metrics read each step; the watch is idle while the objective does not report them.
  /// The defaults are ContrastiveDivergence's medians and robust spread of the energies.
  TORCH_ARG(std::string, pos_metric) = "e_pos_median";
  TORCH_ARG(std::string, neg_metric) = "e_neg_median";
  TORCH_ARG(std::string, scale_metric) = "e_pos_spread";
  /// Time constant (steps) of the moving averages of the gap and the scale.
  TORCH_ARG(int64_t, window) = 200;
  /// Unhealthy while |average gap| / average scale exceeds this ...
  TORCH_ARG(double, threshold) = 1.0;
  /// ... for this many consecutive steps (after a warm-up of 2 windows).
  TORCH_ARG(int64_t, patience) = 400;
  TORCH_ARG(DegradeAction, action) = DegradeAction::kWarn;
};

class SamplerHealthWatch : public Callback {
 public:
  explicit SamplerHealthWatch(SamplerHealthOptions options = {}, std::shared_ptr<MetricsLogger> log = nullptr);
  void on_step_end(Trainer& trainer, const StepResult& result) override;

  /// The gap in units of the data-energy spread (moving averages); NaN before the first report.
  double z() const { return z_; }
  /// Whether the gap stayed beyond the threshold for `patience` steps at some point.
  bool flagged() const { return flagged_step_ >= 0; }
  int64_t flagged_step() const { return flagged_step_; }
  double flagged_z() const { return flagged_z_; }
  bool stopped() const { return stopped_; }
  /// One line for the user, naming the step, the size and direction of the gap and what to try.
  std::string summary() const;

 private:
  SamplerHealthOptions options_;
  std::shared_ptr<MetricsLogger> log_;
  double gap_avg_ = 0, scale_avg_ = 0, weight_ = 0;  // bias-corrected exponential averages
  double z_ = std::numeric_limits<double>::quiet_NaN();
  int64_t seen_ = 0, run_ = 0;
  int64_t flagged_step_ = -1;
  double flagged_z_ = 0;
  bool stopped_ = false;
};

}  // namespace joule::train
