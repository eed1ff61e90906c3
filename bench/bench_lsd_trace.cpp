// Cost of one LSD critic step (statistic s_qᵀf + tr ∂f/∂x, penalty, backward to the critic's
// parameters) as the dimension D grows, with the exact trace (D backward passes) against
// Hutchinson's estimator (one probe): generic autograd double backward, and the critic's fused
// step (SteinCritic::stein_loss_backward). Baseline: the same loss without the trace term
// (one forward and one backward pass), so the trace's own cost is visible as a ratio.
// Critic D-300-300-D (learned-β Swish), batch 100. One JSON object per line.
// Usage: bench_lsd_trace [--threads N] [--seconds S] [--dims 2,5,...]
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/models/critic.h"
#include "joule/objectives/lsd.h"

namespace {

using joule::bench::Clock;
using joule::bench::since;

// Seconds per call: one warm-up, then at least 2 calls and `budget` seconds.

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  double budget = 1.0;
  std::vector<int64_t> dims{2, 5, 10, 20, 50, 100, 200, 500, 1000};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--threads") threads = std::stoi(v);
    if (k == "--seconds") budget = std::stod(v);
    if (k == "--dims") {
      dims.clear();
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) dims.push_back(std::stoll(item));
    }
  }
  joule::keep_freed_memory();
  joule::set_num_threads(threads);
  const int64_t batch = 100;
  const double l2 = 0.5;
  for (int64_t d : dims) {
    auto gen = joule::make_generator(static_cast<uint64_t>(d));
    auto critic = joule::SteinCritic(joule::SteinCriticOptions(d).width(300).depth(2));
    critic->reset_parameters(gen);
    auto x = at::randn({batch, d}, gen);
    auto sq = at::randn({batch, d}, gen);
    auto params = critic->parameters();
    auto zero = [&] {
      for (auto& p : params) p.mutable_grad() = at::Tensor();
    };
    auto baseline = [&] {
      zero();
      auto fx = critic->forward(x);
      ((sq * fx).sum(1).mean() * -1.0 + l2 * fx.pow(2).sum(1).mean()).backward();
    };
    auto autograd = [&](joule::TraceKind kind) {
      zero();
      auto xg = x.clone().requires_grad_(true);
      auto fx = critic->forward(xg);
      auto t = joule::stein_statistics(sq, fx, xg, joule::SteinTraceOptions().kind(kind), gen);
      joule::lsd_critic_loss(t, fx, l2, false).loss.backward();
    };
    auto fused = [&] {
      zero();
      critic->stein_loss_backward(x, sq, l2, false, false, 1, gen);
    };
    const double t_base = joule::bench::seconds_per_call(baseline, budget);
    const double t_hutch = joule::bench::seconds_per_call([&] { autograd(joule::TraceKind::kHutchinson); }, budget);
    const double t_fused = joule::bench::seconds_per_call(fused, budget);
    const double t_exact = joule::bench::seconds_per_call([&] { autograd(joule::TraceKind::kExact); }, budget);
    std::printf(
        "{\"impl\": \"joule\", \"dim\": %lld, \"batch\": %lld, \"threads\": %d, \"baseline_ms\": %.3f, "
        "\"hutchinson_ms\": %.3f, \"hutchinson_fused_ms\": %.3f, \"exact_ms\": %.3f}\n",
        static_cast<long long>(d), static_cast<long long>(batch), threads, 1e3 * t_base, 1e3 * t_hutch, 1e3 * t_fused,
        1e3 * t_exact);
    std::fflush(stdout);
  }
  return 0;
}
