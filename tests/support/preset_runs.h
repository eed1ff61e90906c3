#pragma once
// The built-in default preset (configs/pcd_8gaussians.toml) trained on another 2-D dataset: the
// gap bounds a preset must meet to be called general, shared by the integration test (a subset)
// and the slow test (every dataset, three seeds).

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <string>

#include "joule/io/checkpoint.h"
#include "support/test_support.h"

namespace joule::testing {

// Test-NLL gap to the data entropy (nats). Measured on seeds 0-2 at 1 thread (docs/methods/
// contrastive_divergence.md) the worst are 2spirals 0.171, pinwheel 0.112, checkerboard 0.102,
// 8gaussians 0.074, rings 0.067, swissroll 0.054, moons 0.051, circles 0.028. The first preset
// ended at 1.0-4.3 (spikes; rings without its inner rings: 1.8) or diverged on four of them; the
// ULA version of the current one ended at 0.17-0.55 on rings, 2spirals and pinwheel with chains
// that had left the model (chain_tv 0.6-0.9). The bounds leave room for seeds and thread counts
// (another floating-point path, another run), not for any of those.
inline const std::map<std::string, double>& preset_gap_bounds() {
  static const std::map<std::string, double> bounds = {
      {"8gaussians", 0.15}, {"checkerboard", 0.25}, {"2spirals", 0.35}, {"pinwheel", 0.3},
      {"rings", 0.25},      {"moons", 0.15},        {"circles", 0.1},   {"swissroll", 0.15}};
  return bounds;
}

// The output without the start-up warnings about the machine's BLAS (the reference BLAS, or
// OpenBLAS on kernels older than the CPU): those say nothing about the training run.
inline std::string without_machine_warnings(const std::string& output) {
  static const std::regex machine("warning: (LibTorch is using the reference BLAS|OpenBLAS did not recognise)[^\n]*\n");
  return std::regex_replace(output, machine, "");
}

inline double eval_json_number(const std::string& json, const std::string& key) {
  std::smatch m;
  const std::regex re("\"" + key + "\": ([-0-9.eE+]+)");
  if (!std::regex_search(json, m, re)) return std::nan("");
  return std::stod(m[1]);
}

// Trains the default preset on `dataset` with `seed` and checks: exit 0, no divergence, no
// warning (a degraded held-out NLL, chains that stopped sampling the model), the gap within its
// bound, and training chains that sample the model (measured chain_tv 0.04-0.24; the watch warns
// above 0.5, escaped ULA chains reach 0.6-0.9).
inline void expect_default_preset_fits(const std::string& dataset, int seed, int threads) {
  TempDir dir("joule-preset");
  const std::string args = "train data.dataset=" + dataset + " run.seed=" + std::to_string(seed) +
                           " run.threads=" + std::to_string(threads) + " out=run run.progress=none";
  auto r = run_command(joule_command(args), dir.path());
  ASSERT_EQ(r.exit_code, 0) << dataset << " seed " << seed << ":\n" << r.output;
  EXPECT_EQ(without_machine_warnings(r.output).find("warning"), std::string::npos) << dataset << " seed " << seed << ":\n"
                                                                                     << r.output;
  const auto json = io::read_text_file(dir / "run/eval.json");
  const double gap = eval_json_number(json, "nll_gap");
  std::cout << "[ measured ] " << dataset << " seed " << seed << ": gap " << gap << " nats (bound "
            << preset_gap_bounds().at(dataset) << ")\n";
  EXPECT_LT(gap, preset_gap_bounds().at(dataset)) << dataset << " seed " << seed;
  const double tv = eval_json_number(json, "chain_tv");
  std::cout << "[ measured ] " << dataset << " seed " << seed << ": chain_tv " << tv << "\n";
  EXPECT_LT(tv, 0.35) << dataset << " seed " << seed;
  // Below the entropy only by test-set noise (5000 points).
  EXPECT_GT(gap, -0.08) << dataset << " seed " << seed;
}

}  // namespace joule::testing
