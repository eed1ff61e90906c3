#pragma once
// A labelled table for classifier methods' tests: three well-separated classes in 3-D, as CSV.
#include <ATen/ATen.h>

#include <fstream>
#include <string>

#include "joule/core/runtime.h"
#include "support/test_support.h"

namespace joule::testing {

/// Writes `dir`/blobs.csv (columns a, b, c, label; 300 rows, class i % 3) and returns its path.
inline std::string write_blobs(const TempDir& dir) {
  const std::string path = dir / "blobs.csv";
  std::ofstream f(path);
  f << "a,b,c,label\n";
  auto gen = joule::make_generator(9);
  auto x = at::randn({300, 3}, gen);
  for (int64_t i = 0; i < 300; ++i) {
    const int64_t y = i % 3;
    f << x[i][0].item<double>() + 5.0 * y << "," << x[i][1].item<double>() << "," << x[i][2].item<double>() - 3.0 * y << "," << y
      << "\n";
  }
  return path;
}

}  // namespace joule::testing
