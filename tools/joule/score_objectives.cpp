#include "tools/joule/score_objectives.h"

#include <numeric>

#include "joule/core/runtime.h"
#include "joule/models/critic.h"
#include "joule/objectives/lsd.h"
#include "joule/objectives/score_matching.h"

namespace joule::cli {

bool is_score_objective(const std::string& kind) {
  return kind == "lsd" || kind == "sm" || kind == "ssm" || kind == "dsm";
}

std::shared_ptr<Objective> make_score_objective(const Config& cfg, std::vector<int64_t> event_shape,
                                                torch::Device device, std::shared_ptr<data::DataSource> critic_data,
                                                uint64_t seed) {
  const std::string kind = cfg.get_string("objective.kind");
  if (!is_score_objective(kind)) return nullptr;
  const int64_t dim = std::accumulate(event_shape.begin(), event_shape.end(), int64_t{1}, std::multiplies<int64_t>());
  if (kind == "lsd") {
    auto critic = SteinCritic(SteinCriticOptions(dim)
                                  .width(cfg.get_int("lsd.critic_width"))
                                  .depth(cfg.get_int("lsd.critic_depth")));
    critic->reset_parameters(make_generator(seed));
    critic->to(device);
    auto trace = SteinTraceOptions()
                     .kind(parse_trace_kind(cfg.get_string("lsd.trace")))
                     .probe(parse_probe_kind(cfg.get_string("lsd.probe")))
                     .probes(cfg.get_int("lsd.probes"));
    auto opts = LsdOptions()
                    .l2(cfg.get_float("lsd.l2"))
                    .critic_steps(cfg.get_int("lsd.critic_steps"))
                    .trace(trace)
                    .critic_lr(cfg.get_float("lsd.critic_lr"))
                    .critic_beta1(cfg.get_float("lsd.critic_beta1"))
                    .critic_beta2(cfg.get_float("lsd.critic_beta2"))
                    .critic_weight_decay(cfg.get_float("lsd.critic_weight_decay"))
                    .l2_energy(cfg.get_float("objective.l2_energy"));
    return std::make_shared<LsdObjective>(opts, critic, cfg.get_bool("lsd.fresh_critic_batches") ? critic_data : nullptr);
  }
  auto opts = ScoreMatchingOptions()
                  .kind(kind == "sm" ? ScoreMatchingKind::kExact
                                     : kind == "ssm" ? ScoreMatchingKind::kSliced : ScoreMatchingKind::kDenoising)
                  .probe(parse_probe_kind(cfg.get_string("sm.probe")))
                  .projections(cfg.get_int("sm.projections"))
                  .variance_reduced(cfg.get_bool("sm.variance_reduced"))
                  .noise(cfg.get_float("sm.noise"))
                  .l2_energy(cfg.get_float("objective.l2_energy"));
  return std::make_shared<ScoreMatching>(opts);
}

}  // namespace joule::cli
