#include "joule/train/sampler_health.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "joule/train/callbacks.h"

namespace joule::train {

SamplerHealthWatch::SamplerHealthWatch(SamplerHealthOptions options, std::shared_ptr<MetricsLogger> log)
    : options_(std::move(options)), log_(std::move(log)) {
  TORCH_CHECK(options_.window() >= 1, "SamplerHealthWatch: window must be >= 1, got ", options_.window());
  TORCH_CHECK(options_.threshold() >= 0, "SamplerHealthWatch: threshold must be >= 0 (0 = off), got ",
              options_.threshold());
  TORCH_CHECK(options_.patience() >= 1, "SamplerHealthWatch: patience must be >= 1, got ", options_.patience());
  TORCH_CHECK(options_.tv_threshold() >= 0 && options_.tv_threshold() < 1,
              "SamplerHealthWatch: tv_threshold must be in [0, 1) (0 = off), got ", options_.tv_threshold());
  TORCH_CHECK(options_.tv_patience() >= 1, "SamplerHealthWatch: tv_patience must be >= 1, got ", options_.tv_patience());
}

int64_t SamplerHealthWatch::flagged_step() const {
  if (gap_flagged() && tv_flagged()) return std::min(flagged_step_, tv_flagged_step_);
  return gap_flagged() ? flagged_step_ : tv_flagged_step_;
}

void SamplerHealthWatch::flag(Trainer& trainer) {
  if (options_.action() == DegradeAction::kStop && !stopped_) {
    stopped_ = true;
    trainer.request_stop();
  }
}

void SamplerHealthWatch::observe_evaluation(Trainer& trainer, int64_t step, const std::string& name, double value) {
  if (options_.tv_threshold() <= 0 || name != options_.tv_metric() || tv_flagged()) return;
  // NaN (no chains to compare) counts as unhealthy: it is not evidence that they sample the model.
  if (value <= options_.tv_threshold()) {
    tv_run_ = 0;
    return;
  }
  if (tv_run_++ == 0) tv_first_step_ = step;
  if (tv_run_ < options_.tv_patience()) return;
  tv_flagged_step_ = step;
  flagged_tv_ = value;
  if (log_) {
    nlohmann::ordered_json j;
    j["step"] = step;
    j["event"] = "sampler_unhealthy";
    j[options_.tv_metric()] = value;
    j["since_step"] = tv_first_step_;
    log_->log_event(j.dump());
  }
  flag(trainer);
}

void SamplerHealthWatch::on_step_end(Trainer& trainer, const StepResult& result) {
  double pos = NAN, neg = NAN, scale = NAN;
  for (const auto& [name, value] : result.metrics) {
    if (name == options_.pos_metric()) pos = value;
    if (name == options_.neg_metric()) neg = value;
    if (name == options_.scale_metric()) scale = value;
  }
  if (options_.threshold() <= 0 || !std::isfinite(pos) || !std::isfinite(neg) || !std::isfinite(scale)) return;
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
  if (run_ < options_.patience() || gap_flagged()) return;
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
  flag(trainer);
}

std::string SamplerHealthWatch::summary() const {
  if (!flagged()) return "";
  std::ostringstream os;
  os.precision(3);
  if (tv_flagged()) {
    os << "the training chains do not sample the model: from step " << tv_first_step_ << " their total variation from "
       << "the model's exact density stayed above " << options_.tv_threshold() << " (" << flagged_tv_ << " at step "
       << tv_flagged_step_ << "), so samples drawn with this sampler will not look like the model or the data even "
       << "where its density fits. Try a smaller sampler.step_size with more sampler.steps, sampler.kind = \"mala\", "
       << "or a smoother energy (model.spectral_norm)";
    if (gap_flagged()) os << "; also ";
  }
  if (!gap_flagged()) return os.str();
  os << "the sampler stopped matching the model: from step " << flagged_step_ - options_.patience()
     << " the chains' mean energy stayed " << std::abs(flagged_z_) << " data-energy standard deviations "
     << (flagged_z_ < 0 ? "above" : "below") << " the data's (threshold " << options_.threshold() << ")"
     << (flagged_z_ < 0 ? ", so the model is growing mass where the chains do not go (the start of a collapse)"
                        : ", so the chains sit in wells the data do not fill")
     << ". Try a smaller sampler.step_size with more sampler.steps or a smaller train.lr";
  return os.str();
}

}  // namespace joule::train
