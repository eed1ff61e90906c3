#pragma once
// Small helpers shared by the benchmark programs.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace joule::bench {

using Clock = std::chrono::steady_clock;

/// Seconds since t0.
inline double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Median of v (mean of the two middle values for an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Seconds per call of `fn`: one warm-up call, then repeated calls for at least `budget`
/// seconds (and at least two).
template <class F>
double seconds_per_call(F&& fn, double budget) {
  fn();
  int64_t n = 0;
  const auto t0 = Clock::now();
  do {
    fn();
    ++n;
  } while (n < 2 || since(t0) < budget);
  return since(t0) / double(n);
}

}  // namespace joule::bench
