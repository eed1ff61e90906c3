#include "joule/methods/score_based.h"

#include "joule/core/runtime.h"
#include "joule/models/critic.h"
#include "joule/objectives/lsd.h"
#include "joule/objectives/score_matching.h"

namespace joule::methods {

using config::Doc;

void LsdConfig::visit(config::Fields& f) {
  f("l2", l2, Doc("λ of the critic penalty λ·E‖f‖² (LSD values scale as 1/λ; toy 10, ICA/RBM 0.5)").min(1e-12));
  f("trace", trace, Doc("tr ∇f in training: Hutchinson (cost flat in D) or exact (D backward passes)").choices({"hutchinson", "exact"}));
  f("probe", probe, Doc("Hutchinson probe distribution").choices({"gaussian", "rademacher"}));
  f("probes", probes, Doc("Hutchinson probes per sample").min(1));
  f("critic_width", critic_width, Doc("critic hidden units per layer (swish with learned β)").min(1));
  f("critic_depth", critic_depth, Doc("critic hidden layers").min(1).max(64));
}

void ScoreMatchingConfig::visit(config::Fields& f) {
  f("probe", probe, Doc("sliced score matching projections").choices({"rademacher", "gaussian"}));
  f("projections", projections, Doc("sliced score matching: projections per sample").min(1));
  f("variance_reduced", variance_reduced, "sliced score matching: ½‖s‖² in closed form (SSM-VR)");
  f("noise", noise, Doc("denoising score matching: noise std σ").min(1e-12));
}

OptimizerConfig critic_optimizer_defaults() {
  OptimizerConfig o;
  o.lr = 1e-3;
  o.lr_schedule = "constant";
  o.beta1 = 0.0;
  o.beta2 = 0.999;
  o.updates = 5;
  o.fresh_batches = true;
  return o;
}

bool is_score_objective(const std::string& kind) { return kind == "lsd" || kind == "sm" || kind == "ssm" || kind == "dsm"; }

void add_score_objective(Parts& parts, const std::string& kind, const LsdConfig& lsd, const ScoreMatchingConfig& sm,
                         const OptimizerConfig& critic_opt, double l2_energy, int64_t dim, torch::Device device,
                         uint64_t critic_seed) {
  if (kind == "lsd") {
    auto critic = SteinCritic(SteinCriticOptions(dim).width(lsd.critic_width).depth(lsd.critic_depth));
    critic->reset_parameters(make_generator(critic_seed));
    critic->to(device);
    auto trace = SteinTraceOptions()
                     .kind(parse_trace_kind(lsd.trace))
                     .probe(parse_probe_kind(lsd.probe))
                     .probes(lsd.probes);
    parts.objective = std::make_shared<LsdObjective>(LsdOptions().l2(lsd.l2).trace(trace).l2_energy(l2_energy));
    parts.modules.add("critic", critic.ptr());
    parts.before.emplace_back("critic", std::vector<std::string>{"critic"}, critic_opt.options());
    return;
  }
  auto opts = ScoreMatchingOptions()
                  .kind(kind == "sm" ? ScoreMatchingKind::kExact
                                     : kind == "ssm" ? ScoreMatchingKind::kSliced : ScoreMatchingKind::kDenoising)
                  .probe(parse_probe_kind(sm.probe))
                  .projections(sm.projections)
                  .variance_reduced(sm.variance_reduced)
                  .noise(sm.noise)
                  .l2_energy(l2_energy);
  parts.objective = std::make_shared<ScoreMatching>(opts);
}

}  // namespace joule::methods
