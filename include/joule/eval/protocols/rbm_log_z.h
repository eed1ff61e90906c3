#pragma once
// The log-partition protocol for a trained RBM (Salakhutdinov & Murray, "On the quantitative
// analysis of deep belief networks", ICML 2008, §4): exact log Z by enumeration when the smaller
// layer is small, and AIS from the data's base-rate model forward (a stochastic lower bound) and
// reverse (an upper bound when it starts from model samples; Burda, Grosse & Salakhutdinov,
// arXiv:1412.8566), with a convergence curve at 1/10 and 1/3 of the intermediate distributions.

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>

#include <utility>
#include <vector>

#include "joule/eval/partition.h"
#include "joule/models/rbm.h"

namespace joule::eval {

/// Options for rbm_log_z_protocol().
struct RbmLogZOptions {
  /// AIS runs (S&M use 100).
  TORCH_ARG(int64_t, runs) = 100;
  /// AIS intermediate distributions (S&M use 14 500).
  TORCH_ARG(int64_t, steps) = 5000;
  /// Spacing of the AIS inverse temperatures.
  TORCH_ARG(AisSchedule, schedule) = AisSchedule::kSalakhutdinovMurray;
  /// Also run reverse AIS.
  TORCH_ARG(bool, reverse) = true;
  /// Gibbs sweeps on the reverse start states first.
  TORCH_ARG(int64_t, reverse_burn_in) = 1000;
  /// Enumerate log Z exactly when the smaller layer has at most this many units.
  TORCH_ARG(int64_t, exact_max_units) = 20;
};

/// What rbm_log_z_protocol() returns.
struct RbmLogZResult {
  c10::optional<double> exact;  ///< exact log Z when enumerable
  int64_t exact_units = 0;      ///< units enumerated (2^units states)
  AisResult ais;                ///< with options.steps distributions
  /// (distributions, result) at steps/10, steps/3 (when ≥ 10) and steps: AIS against its budget.
  std::vector<std::pair<int64_t, AisResult>> curve;
};

/// Runs the protocol. AIS starts from `base` (RbmBase::from_data of the training data is
/// S&M's choice). Reverse AIS starts from `reverse_pool` rows drawn at random when it is
/// defined (e.g. persistent training chains), else from the forward runs' final states
/// resampled by weight.
RbmLogZResult rbm_log_z_protocol(RbmImpl& rbm, const RbmBase& base, const RbmLogZOptions& options,
                                 const at::Tensor& reverse_pool, at::Generator& gen);

}  // namespace joule::eval
