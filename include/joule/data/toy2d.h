#pragma once
// The 2-D toy densities of FFJORD (Grathwohl et al., arXiv:1810.01367), generated as
// rtqichen/ffjord `lib/toy_data.py` does (moons / circles / swissroll through scikit-learn's
// make_moons / make_circles / make_swiss_roll), with an explicit generator instead of numpy's
// global state. Definitions: FFJORD's `lib/toy_data.py` (arXiv:1810.01367).

#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <string>
#include <vector>

namespace joule::data {

/// What is known about one toy dataset.
struct ToyInfo {
  std::string name;  ///< the name sample_toy() accepts
  /// Differential entropy in nats, i.e. the best achievable test NLL. Exact for 8gaussians and
  /// checkerboard; a Kozachenko–Leonenko estimate (eval::knn_entropy) for the others.
  c10::optional<double> entropy;
  bool entropy_exact = false;  ///< true when `entropy` is exact, false for an estimate
  /// Half-width e of a square [−e, e]² that holds essentially all the mass (plots, grid log Z).
  double plot_extent = 4.5;
  std::string description;  ///< one-line description of the density
};

/// `n` points [n, 2] float32 on the CPU from the named dataset. All randomness comes from `gen`
/// (an undefined generator means LibTorch's default one), so a seed reproduces the batch.
/// Names: 8gaussians, checkerboard, 2spirals, pinwheel, rings, moons, circles, swissroll.
/// Always exactly n rows, rows in random order (see toy2d.cpp for the two places where this
/// differs from FFJORD: remainders for pinwheel / 2spirals, and 2spirals being shuffled).
at::Tensor sample_toy(const std::string& name, int64_t n, at::Generator gen);

/// The entry for `name`; an unknown name is an error that lists the valid ones.
const ToyInfo& toy_info(const std::string& name);

/// All dataset names, in a fixed order.
std::vector<std::string> toy_names();

}  // namespace joule::data
