#include "tools/joule/pipeline_common.h"

#include <cmath>

#include "joule/io/plot.h"
#include "joule/samplers/langevin.h"
#include "joule/samplers/mala.h"
#include "joule/train/callbacks.h"
#include "tools/joule/options.h"
#include "tools/joule/pipeline.h"

namespace joule::cli {

std::unique_ptr<Pipeline> make_ebm_pipeline();
std::unique_ptr<Pipeline> make_jem_pipeline();
std::unique_ptr<Pipeline> make_ica_pipeline();
std::unique_ptr<Pipeline> make_rbm_pipeline();

// One line per method (see options.h for the matching option registration).
std::unique_ptr<Pipeline> make_pipeline(const std::string& method) {
  if (method == "ebm") return make_ebm_pipeline();
  if (method == "jem") return make_jem_pipeline();
  if (method == "ica") return make_ica_pipeline();
  if (method == "rbm") return make_rbm_pipeline();
  throw UsageError("unknown method '" + method + "'");
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  // SplitMix64 of (seed, stream): nearby seeds give unrelated streams.
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream * 0xBF58476D1CE4E5B9ULL + 0x94D049BB133111EBULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFFULL;
}

std::shared_ptr<Sampler> make_sampler(const Config& cfg) {
  const std::string kind = cfg.get_string("sampler.kind");
  const int64_t steps = cfg.get_int("sampler.steps");
  const double a = cfg.get_float("sampler.step_size");
  if (kind == "mala") return std::make_shared<Mala>(MalaOptions(steps).step_size(a));
  if (kind == "hmc") {
    return std::make_shared<Hmc>(HmcOptions(steps).step_size(a).leapfrog_steps(cfg.get_int("sampler.leapfrog_steps")));
  }
  const double b = cfg.get_float("sampler.noise");
  auto opts = LangevinOptions(steps).step_size(a).noise(b < 0 ? std::sqrt(2.0 * a) : b);
  if (cfg.get_float("sampler.grad_clip") > 0) opts.grad_clip(cfg.get_float("sampler.grad_clip"));
  const double lo = cfg.get_float("sampler.clamp_min"), hi = cfg.get_float("sampler.clamp_max");
  if (std::isfinite(lo) || std::isfinite(hi)) {
    if (!(lo < hi)) throw UsageError("sampler.clamp_min must be < sampler.clamp_max");
    opts.clamp(std::make_pair(lo, hi));
  }
  return std::make_shared<Langevin>(opts);
}

std::shared_ptr<ReplayBuffer> make_buffer(const Config& cfg, std::vector<int64_t> event_shape, torch::Device device) {
  if (!(cfg.get_float("buffer.init_low") < cfg.get_float("buffer.init_high"))) {
    throw UsageError("buffer.init_low must be < buffer.init_high");
  }
  auto opts = ReplayBufferOptions(cfg.get_int("buffer.capacity"))
                  .reinit_prob(cfg.get_float("buffer.reinit_prob"))
                  .init(parse_buffer_init(cfg.get_string("buffer.init")))
                  .init_low(cfg.get_float("buffer.init_low"))
                  .init_high(cfg.get_float("buffer.init_high"))
                  .init_std(cfg.get_float("buffer.init_std"))
                  .data_noise(cfg.get_float("buffer.data_noise"));
  return std::make_shared<ReplayBuffer>(opts, std::move(event_shape), device);
}

bool write_curves(const std::string& metrics_path, const std::string& png_path, c10::optional<double> entropy) {
  auto rows = train::MetricsLogger::read(metrics_path);
  io::Series loss{"loss", {}, {}, io::palette(0)};
  io::Series nll{"test NLL", {}, {}, io::palette(1)};
  for (const auto& row : rows) {
    for (const auto& kv : row.values) {
      if (kv.first == "loss") loss.x.push_back(double(row.step)), loss.y.push_back(kv.second);
      if (kv.first == "nll_test") nll.x.push_back(double(row.step)), nll.y.push_back(kv.second);
    }
  }
  if (loss.x.empty() && nll.x.empty()) return false;
  std::vector<io::Image> panels;
  if (!loss.x.empty()) panels.push_back(io::line_plot({loss}, "training loss", "step", "loss"));
  if (!nll.x.empty()) {
    std::vector<io::RefLine> floor;
    if (entropy) floor.push_back({"data entropy", *entropy, io::palette(2)});
    panels.push_back(io::line_plot({nll}, "test NLL (nats)", "step", "nats", 600, 400, false, floor));
  }
  io::write_png(png_path, io::hstack(panels));
  return true;
}

void add_periodic_evaluation(train::Trainer& trainer, const RunContext& ctx, int64_t every,
                             std::function<Measurements(train::Trainer&)> measure, const std::string& shown,
                             const std::string& label) {
  if (every <= 0) return;
  auto metrics = ctx.metrics;
  auto progress = ctx.progress;
  trainer.add_callback(std::make_shared<train::PeriodicCallback>(
      every,
      [metrics, progress, measure = std::move(measure), shown, label](train::Trainer& t, int64_t step) {
        const Measurements values = measure(t);
        if (metrics) metrics->log(step, values);
        if (!progress) return;
        for (const auto& [name, value] : values) {
          if (name == shown) progress->set_extra(label, value);
        }
      },
      /*at_end=*/false));
}

}  // namespace joule::cli
