#pragma once
// Reading a run's metrics.jsonl in tests: every logged value by step and name.

#include <cstdint>
#include <map>
#include <string>

#include "joule/train/callbacks.h"

namespace joule::testing {

/// metrics.jsonl as step → name → value (a later row of the same step overwrites earlier ones).
inline std::map<int64_t, std::map<std::string, double>> read_metrics(const std::string& file) {
  std::map<int64_t, std::map<std::string, double>> out;
  for (const auto& row : joule::train::MetricsLogger::read(file)) {
    for (const auto& kv : row.values) out[row.step][kv.first] = kv.second;
  }
  return out;
}

}  // namespace joule::testing
