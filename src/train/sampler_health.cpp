#include "joule/train/sampler_health.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

#include "joule/train/callbacks.h"

namespace joule::train {

SamplerHealthWatch::SamplerHealthWatch(SamplerHealthOptions options, std::shared_ptr<MetricsLogger> log)
    : options_(std::move(options)), log_(std::move(log)) {
  TORCH_CHECK(options_.window() >= 1, "SamplerHealthWatch: window must be >= 1, got ", options_.window());
  TORCH_CHECK(options_.threshold() > 0, "SamplerHealthWatch: threshold must be > 0, got ", options_.threshold());
  TORCH_CHECK(options_.patience() >= 1, "SamplerHealthWatch: patience must be >= 1, got ", options_.patience());
}

void SamplerHealthWatch::on_step_end(Trainer& trainer, const StepResult& result) {
  double pos = NAN, neg = NAN, scale = NAN;
  for (const auto& [name, value] : result.metrics) {
    if (name == options_.pos_metric()) pos = value;
    if (name == options_.neg_metric()) neg = value;
    if (name == options_.scale_metric()) scale = value;
  }
  if (!std::isfinite(pos) || !std::isfinite(neg) || !std::isfinite(scale)) return;
  // Exponential averages with Adam's bias correction, so the first steps are not pulled to 0.
  const double decay = 1.0 - 1.0 / static_cast<double>(options_.window());
  gap_avg_ = decay * gap_avg_ + (1 - decay) * (pos - neg);
  scale_avg_ = decay * scale_avg_ + (1 - decay) * scale;
  weight_ = decay * weight_ + (1 - decay);
  // A floor on the scale: a model whose data energies are all equal has no spread to divide by.
  const double s = std::max(scale_avg_ / weight_, 1e-6);
  z_ = (gap_avg_ / weight_) / s;
  ++seen_;
  if (seen_ <= 2 * options_.window()) return;  // early training: the chains are still catching up
  run_ = std::abs(z_) > options_.threshold() ? run_ + 1 : 0;
  if (run_ < options_.patience() || flagged()) return;
  flagged_step_ = result.step;
  flagged_z_ = z_;
  if (log_) {
    nlohmann::ordered_json j;
    j["step"] = result.step;
    j["event"] = "sampler_unhealthy";
    j["cd_gap_z"] = z_;
    j["since_step"] = result.step - options_.patience();
    log_->log_event(j.dump());
  }
  if (options_.action() == DegradeAction::kStop) {
    stopped_ = true;
    trainer.request_stop();
  }
}

std::string SamplerHealthWatch::summary() const {
  if (!flagged()) return "";
  std::ostringstream os;
  os.precision(3);
  os << "the sampler stopped matching the model: from step " << flagged_step_ - options_.patience()
     << " the chains' mean energy stayed " << std::abs(flagged_z_) << " data-energy standard deviations "
     << (flagged_z_ < 0 ? "above" : "below") << " the data's (threshold " << options_.threshold() << ")"
     << (flagged_z_ < 0 ? ", so the model is growing mass where the chains do not go (the start of a collapse)"
                        : ", so the chains sit in wells the data do not fill")
     << ". Try a smaller sampler.step_size with more sampler.steps or a smaller train.lr";
  return os.str();
}

}  // namespace joule::train
