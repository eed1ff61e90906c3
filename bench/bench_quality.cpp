// Cost of one Fréchet distance between two feature sets [N, F], Joule's eval::frechet_distance
// (the N×N route when N² < F², else the F×F one) against the F×F route from the moments, which
// is what FID implementations compute. Cases: JEM evaluation scale (N = 500 samples and test
// images, F = 3 136 = 64 × 7 × 7 features of the ce_fashion_cnn classifier) and a small feature
// space (N = 10 000, F = 64) where the F×F route is the one taken. A call slower than the time
// budget is timed once (the F×F route at F = 3 136 takes about a minute).
// One JSON object per line. Usage: bench_quality [--threads N] [--seconds S]
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "joule/core/runtime.h"
#include "joule/eval/sample_quality.h"

int main(int argc, char** argv) {
  int threads = 1;
  double budget = 2.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--threads") threads = std::stoi(v);
    if (k == "--seconds") budget = std::stod(v);
  }
  joule::keep_freed_memory();
  joule::set_num_threads(threads);
  const std::vector<std::pair<int64_t, int64_t>> cases{{500, 3136}, {10000, 64}};
  auto time = [budget](auto&& fn) {
    const auto t0 = joule::bench::Clock::now();
    fn();
    const double once = joule::bench::since(t0);
    return once > budget ? once : joule::bench::seconds_per_call(fn, budget);
  };
  for (const auto& [n, f] : cases) {
    auto gen = joule::make_generator(static_cast<uint64_t>(n + f));
    // Correlated, non-negative features like a ReLU network's (rank ≤ 256).
    auto mix = at::randn({256, f}, gen) / 16.0;
    auto a = at::relu(at::randn({n, 256}, gen).matmul(mix));
    auto b = at::relu((at::randn({n, 256}, gen) * 1.1 + 0.1).matmul(mix));
    double fd = 0, fd_moments = 0;
    const double t_joule = time([&] { fd = joule::eval::frechet_distance(a, b); });
    const double t_moments =
        time([&] { fd_moments = joule::eval::frechet_distance(joule::eval::feature_moments(a), joule::eval::feature_moments(b)); });
    std::printf(
        "{\"impl\": \"joule\", \"n\": %lld, \"features\": %lld, \"threads\": %d, \"joule_ms\": %.3f, "
        "\"moments_route_ms\": %.3f, \"fd\": %.6f, \"fd_moments_route\": %.6f}\n",
        static_cast<long long>(n), static_cast<long long>(f), threads, 1e3 * t_joule, 1e3 * t_moments, fd, fd_moments);
    std::fflush(stdout);
  }
  return 0;
}
