#pragma once
// An exponential moving average of a module's parameters, kept in a second module of the same
// architecture and updated after every update of the group that trains the first. Improved CD
// samples and evaluates with such an average (μ = 0.99, arXiv:2012.01316 §5; upstream
// `train.py` ema_model). Wrapping the objective, rather than adding a training-loop callback,
// keeps the average current for every way of training: Method::train(), train_run() and resume.

#include <memory>
#include <string>

#include "joule/objectives/objective.h"

namespace joule {

/// θ_ema ← μ·θ_ema + (1 − μ)·θ after each applied update of `group`, for the modules named
/// `source` and `target` in the ModuleSet (same parameter names and shapes; the target belongs
/// to no parameter group). The target is checkpointed with the other modules, so a resumed run
/// continues the same average. Everything else is the wrapped objective's.
class ParameterEma : public Objective {
 public:
  /// Wraps `inner` (not null) with an average of decay μ = `decay` in [0, 1) (ICD uses 0.99).
  ParameterEma(std::shared_ptr<Objective> inner, double decay, std::string source = "model",
               std::string target = "model_ema", std::string group = "model");

  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override {
    return inner_->compute(modules, batch, gen, update);
  }
  std::string name() const override { return inner_->name(); }
  double sampler_temperature() const override { return inner_->sampler_temperature(); }
  void after_update(ModuleSet& modules, const Update& update) override;
  void save(torch::serialize::OutputArchive& archive) const override { inner_->save(archive); }
  void load(torch::serialize::InputArchive& archive) override { inner_->load(archive); }

  /// Copies the source's parameters and buffers into the target (the average's start).
  static void copy(torch::nn::Module& source, torch::nn::Module& target);

  /// The wrapped objective.
  Objective& inner() { return *inner_; }
  /// The decay μ of the average.
  double decay() const { return decay_; }

 private:
  std::shared_ptr<Objective> inner_;
  double decay_;
  std::string source_, target_, group_;
};

}  // namespace joule
