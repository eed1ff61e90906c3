#pragma once
// numpy's legacy generator (np.random.RandomState / np.random.seed), reproduced draw for draw so
// that pre-processing written against it (MAF's POWER noise, VERA's table shuffles) gives the same
// rows in Joule as in the reference scripts.

#include <ATen/ATen.h>

#include <cstdint>
#include <random>

namespace joule::data {

/// np.random.RandomState(seed): MT19937 seeded by init_genrand, with numpy's legacy transforms.
class NumpyLegacyRandom {
 public:
  /// The state of np.random.RandomState(seed).
  explicit NumpyLegacyRandom(uint32_t seed) : mt_(seed) {}

  /// random_interval(max): 32-bit words masked to the next power of two minus one, redrawn until
  /// at most `max` (max < 2³²).
  uint64_t interval(uint64_t max);
  /// random_sample(): a 53-bit double in [0, 1) from two words (a >> 5, b >> 6).
  double random_sample();
  /// The permutation RandomState.shuffle applies to the rows of an n-row array (Fisher–Yates from
  /// the end; a 2-D array's rows move exactly as arange(n) does).
  at::Tensor shuffle_permutation(int64_t n);
  /// RandomState.rand(rows, cols): float64 [rows, cols], filled in row-major order.
  at::Tensor rand(int64_t rows, int64_t cols);

 private:
  std::mt19937 mt_;
};

/// The permutation numpy's legacy generator applies to arange(n) after np.random.seed(seed).
at::Tensor numpy_legacy_shuffle(int64_t n, uint32_t seed);

}  // namespace joule::data
