#include "joule/samplers/sampler.h"

#include <c10/util/Exception.h>

namespace joule {

torch::Tensor sum_event(const torch::Tensor& t) {
  if (t.dim() == 1) return t;
  return t.reshape({t.size(0), -1}).sum(1);
}

torch::Tensor Sampler::step(EnergyModel& model, const torch::Tensor& x, c10::optional<at::Generator> gen, bool keep_graph) {
  TORCH_CHECK(!keep_graph, "the ", name(),
              " sampler cannot keep an autograd graph through its transitions (they are not differentiable); "
              "use a Langevin sampler for a graph through the last steps");
  auto one = with_steps(1);
  auto out = one->sample(model, x, gen);
  stats_ = one->stats();
  return out;
}

ChainRun Sampler::run(EnergyModel& model, const torch::Tensor& x0, c10::optional<at::Generator> gen,
                      const ChainRunOptions& options) {
  TORCH_CHECK(options.keep_graph_last() >= 0, "Sampler::run: keep_graph_last must be >= 0, got ", options.keep_graph_last());
  TORCH_CHECK(options.record_every() >= 0, "Sampler::run: record_every must be >= 0, got ", options.record_every());
  TORCH_CHECK(options.keep_graph_last() == 0 || differentiable(), "the ", name(),
              " sampler cannot keep an autograd graph through its transitions (they are not differentiable); "
              "use a Langevin sampler for a graph through the last steps");
  ChainRun out;
  const int64_t total = steps();
  const int64_t k = std::min(options.keep_graph_last(), total);
  const int64_t r = options.record_every();
  if (k == 0 && r == 0) {
    out.x = sample(model, x0, gen);
    return out;
  }
  torch::Tensor x = x0;
  if (r == 0) {
    // The graph-free part in one call (the sampler's fast loop).
    if (total - k > 0) x = with_steps(total - k)->sample(model, x0, gen);
  } else {
    for (int64_t s = 0; s < total - k; ++s) {
      x = step(model, x, gen, false);
      if ((s + 1) % r == 0) out.trajectory.push_back(x.detach());
    }
  }
  for (int64_t s = total - k; s < total; ++s) {
    x = step(model, x, gen, true);
    if (r > 0 && (s + 1) % r == 0) out.trajectory.push_back(x.detach());
  }
  out.x = x;
  return out;
}

}  // namespace joule
