// The [estimator] section shared by relax_toy and discrete_vae, and the control variate's part.
#include "joule/methods/discrete_estimator.h"

#include "joule/core/runtime.h"
#include "joule/models/activation.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;
namespace est = joule::estimators;

void DiscreteEstimatorConfig::visit(config::Fields& f) {
  f("kind", kind,
    Doc("gradient estimator: reinforce, rebar, relax (learned control variate) or gumbel_st (biased)")
        .choices(est::estimator_names()));
  f("surrogate", surrogate,
    Doc("relax's control variate: neural (a network on the relaxed sample), rebar_neural (REBAR's term plus a "
        "network, the paper's VAE surrogate) or baseline (learned, independent of the sample)")
        .choices({"neural", "rebar_neural", "baseline"}));
  f("learned_baseline", learned_baseline, "reinforce: subtract a learned baseline trained on the variance loss");
  f("baseline_decay", baseline_decay, Doc("reinforce: moving-average baseline decay, 0 = none").min(0.0).max(0.9999));
  f("width", width, Doc("the control variate network's hidden units").min(1).max(1 << 16));
  f("depth", depth, Doc("the control variate network's hidden layers").min(1).max(64));
  f("activation", activation, Doc("the control variate network's activation").choices(activation_names()));
  f("eta", eta, "initial scale of the REBAR term");
  f("temperature", temperature, Doc("initial relaxation temperature (gumbel_st: fixed)").min(1e-6));
  f("common_random_numbers", common_random_numbers,
    "draw z-tilde from z's own noise (unbiased, usually less variance; the REBAR VAE code's default)");
}

void DiscreteEstimatorConfig::validate() const {
  if (estimator_kind() != est::EstimatorKind::kReinforce && (learned_baseline || baseline_decay > 0)) {
    throw ConfigError("estimator.learned_baseline and estimator.baseline_decay are REINFORCE's baselines; "
                      "estimator.kind is " + kind);
  }
  if (learned_baseline && baseline_decay > 0) {
    throw ConfigError("choose one REINFORCE baseline: estimator.learned_baseline or estimator.baseline_decay");
  }
}

est::EstimatorKind DiscreteEstimatorConfig::estimator_kind() const { return est::parse_estimator_kind(kind); }

bool DiscreteEstimatorConfig::needs_control_variate() const {
  const auto k = estimator_kind();
  return k == est::EstimatorKind::kRebar || k == est::EstimatorKind::kRelax ||
         (k == est::EstimatorKind::kReinforce && learned_baseline);
}

est::SurrogateKind DiscreteEstimatorConfig::surrogate_kind() const {
  switch (estimator_kind()) {
    case est::EstimatorKind::kRebar: return est::SurrogateKind::kRebar;
    case est::EstimatorKind::kReinforce: return est::SurrogateKind::kBaseline;
    default: return est::parse_surrogate_kind(surrogate);
  }
}

est::ControlVariateOptions DiscreteEstimatorConfig::control_variate_options(int64_t dim, int64_t context_dim) const {
  return est::ControlVariateOptions(dim)
      .context_dim(context_dim)
      .kind(surrogate_kind())
      .width(width)
      .depth(depth)
      .activation(parse_activation(activation))
      .eta(eta)
      .temperature(temperature);
}

est::DiscreteEstimatorOptions DiscreteEstimatorConfig::estimator_options() const {
  return est::DiscreteEstimatorOptions()
      .kind(estimator_kind())
      .common_random_numbers(common_random_numbers)
      .baseline_decay(baseline_decay)
      .straight_through_temperature(temperature);
}

est::ControlVariate add_control_variate(Parts& parts, const std::string& module_name,
                                        const est::ControlVariateOptions& options, uint64_t seed, torch::Device device,
                                        const std::string& group, const OptimizerConfig& optimizer) {
  auto cv = est::ControlVariate(options);
  cv->reset_parameters(make_generator(seed));
  cv->to(device);
  parts.modules.add(module_name, cv.ptr());
  if (!group.empty()) parts.after.push_back(train::ParamGroup(group, {module_name}, optimizer.options().updates(1).every(1)));
  return cv;
}

void use_constant_adam(OptimizerConfig& optimizer, double lr, double beta2) {
  optimizer.optimizer = "adam";
  optimizer.lr = lr;
  optimizer.beta1 = 0.9;
  optimizer.beta2 = beta2;
  optimizer.lr_schedule = "constant";
}

}  // namespace joule::methods
