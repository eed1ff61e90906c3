#pragma once
// Builders shared by the pipelines: config -> sampler / replay buffer, seeds, curve pictures.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <c10/util/Optional.h>

#include "joule/samplers/replay_buffer.h"
#include "joule/samplers/sampler.h"
#include "tools/joule/config.h"

namespace joule::train {
class Trainer;
}

namespace joule::cli {

/// A seed for sub-stream `stream` of run seed `seed` (data, test data, init, evaluation...).
uint64_t derive_seed(uint64_t seed, uint64_t stream);

/// The sampler described by sampler.* (langevin with sampler.noise = -1 is proper ULA).
std::shared_ptr<Sampler> make_sampler(const Config& cfg);

/// The replay buffer described by buffer.*.
std::shared_ptr<ReplayBuffer> make_buffer(const Config& cfg, std::vector<int64_t> event_shape, torch::Device device);

/// Loss and test-NLL curves from a metrics.jsonl file (with the entropy floor if known).
/// Returns false if there is nothing to plot.
bool write_curves(const std::string& metrics_path, const std::string& png_path, c10::optional<double> entropy);

struct RunContext;
/// Named values a pipeline measures during training.
using Measurements = std::vector<std::pair<std::string, double>>;

/// Every `every` steps of training (not at the end: the final report covers it), logs
/// `measure(trainer)` to metrics.jsonl and shows the value named `shown` on the progress bar
/// as `label`. Does nothing when every <= 0.
void add_periodic_evaluation(train::Trainer& trainer, const RunContext& ctx, int64_t every,
                             std::function<Measurements(train::Trainer&)> measure, const std::string& shown,
                             const std::string& label);

}  // namespace joule::cli
