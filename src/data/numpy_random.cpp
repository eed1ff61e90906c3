#include "joule/data/numpy_random.h"

#include <c10/util/Exception.h>

#include <utility>

namespace joule::data {

uint64_t NumpyLegacyRandom::interval(uint64_t max) {
  TORCH_CHECK(max < (uint64_t(1) << 32), "NumpyLegacyRandom::interval: max = ", max, " needs 64-bit draws");
  if (max == 0) return 0;
  uint64_t mask = max;
  for (int s = 1; s <= 16; s *= 2) mask |= mask >> s;
  uint64_t value;
  do {
    value = uint64_t(mt_()) & mask;
  } while (value > max);
  return value;
}

double NumpyLegacyRandom::random_sample() {
  const uint32_t a = uint32_t(mt_()) >> 5, b = uint32_t(mt_()) >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

at::Tensor NumpyLegacyRandom::shuffle_permutation(int64_t n) {
  TORCH_CHECK(n >= 0 && n < (int64_t(1) << 32), "numpy shuffle: n = ", n, " is out of range");
  auto perm = at::arange(n, at::kLong);
  auto* p = perm.data_ptr<int64_t>();
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[interval(uint64_t(i))]);
  return perm;
}

at::Tensor NumpyLegacyRandom::rand(int64_t rows, int64_t cols) {
  TORCH_CHECK(rows >= 0 && cols >= 0, "numpy rand: negative shape [", rows, ", ", cols, "]");
  auto out = at::empty({rows, cols}, at::kDouble);
  auto* p = out.data_ptr<double>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = random_sample();
  return out;
}

at::Tensor numpy_legacy_shuffle(int64_t n, uint32_t seed) { return NumpyLegacyRandom(seed).shuffle_permutation(n); }

}  // namespace joule::data
