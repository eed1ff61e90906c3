#include "joule/train/held_out_watch.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

#include "joule/train/callbacks.h"
#include "joule/train/trainer.h"

namespace joule::train {

HeldOutWatch::HeldOutWatch(HeldOutWatchOptions options) : options_(std::move(options)) {}

bool HeldOutWatch::defaults_for(const std::string& metric, HeldOutWatchOptions& o) {
  o.metric = metric;
  if (metric.rfind("nll", 0) == 0) {
    o.lower_is_better = true;
    o.abs_tolerance = 1.0;
    o.rel_tolerance = 0.1;
    return true;
  }
  if (metric.find("acc") != std::string::npos) {
    o.lower_is_better = false;
    o.abs_tolerance = 0.15;
    o.rel_tolerance = 0.0;
    return true;
  }
  if (metric.rfind("pll", 0) == 0 || metric.find("loglik") != std::string::npos) {
    o.lower_is_better = false;
    o.abs_tolerance = 1.0;
    o.rel_tolerance = 0.1;
    return true;
  }
  return false;
}

bool HeldOutWatch::degraded(double value) const {
  if (!has_best()) return false;
  if (!std::isfinite(value)) return true;
  const double tol = std::max(options_.abs_tolerance, options_.rel_tolerance * std::abs(best_));
  return options_.lower_is_better ? value > best_ + tol : value < best_ - tol;
}

void HeldOutWatch::observe(Trainer& trainer, int64_t step, double value, MetricsLogger* log) {
  last_ = value;
  last_step_ = step;
  const bool better = std::isfinite(value) &&
                      (!has_best() || (options_.lower_is_better ? value < best_ : value > best_));
  if (better) {
    best_ = value;
    best_step_ = step;
    if (!options_.best_checkpoint.empty()) trainer.save_copy(options_.best_checkpoint);
    return;
  }
  if (degraded_step_ < 0 && degraded(value)) {
    degraded_step_ = step;
    if (log) {
      nlohmann::ordered_json j;
      j["step"] = step;
      j["event"] = "degraded";
      j["metric"] = options_.metric;
      j["value"] = std::isfinite(value) ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
      j["best"] = best_;
      j["best_step"] = best_step_;
      log->log_event(j.dump());
    }
    if (options_.action == DegradeAction::kStop) {
      stopped_ = true;
      trainer.request_stop();
    }
  }
}

void HeldOutWatch::seed(int64_t step, double value) {
  if (std::isfinite(value) && (!has_best() || (options_.lower_is_better ? value < best_ : value > best_))) {
    best_ = value;
    best_step_ = step;
  }
}

std::string HeldOutWatch::summary(double final_value) const {
  std::ostringstream os;
  os << options_.metric << " ended at " << final_value << ", against its best " << best_ << " at step " << best_step_;
  if (!options_.best_checkpoint.empty()) os << " (kept in " << options_.best_checkpoint << ")";
  return os.str();
}

}  // namespace joule::train
