#pragma once
// The exact read-outs of a 2-D energy model (the protocol of Joule's toy-data experiments): log Z
// by quadrature, the test NLL, the temperature that best fits a validation split, and exact
// samples from the normalised grid density.

#include <ATen/ATen.h>
#include <torch/arg.h>

#include "joule/core/energy.h"
#include "joule/eval/grid.h"

namespace joule::eval {

/// Options for density2d_protocol() and density2d_nll().
struct Density2dOptions {
  /// The region integrated over (mass outside it is ignored).
  TORCH_ARG(Box, box) = Box::square(4.0);
  /// Grid points per axis of the quadrature.
  TORCH_ARG(int64_t, resolution) = 256;
  /// The temperature T of the read-out exp(−E/T)/Z(T). A model trained with negatives at
  /// sampler temperature T_s learns E ≈ −T_s·log p_data (arXiv:1903.08689 §3.1), so the density
  /// training matched is read at T_model·T_s.
  TORCH_ARG(double, temperature) = 1.0;
  /// Exact samples drawn from the grid density.
  TORCH_ARG(int64_t, n_exact) = 2000;
};

/// What density2d_protocol() returns.
struct Density2dResult {
  double temperature = 1;  ///< of the read-out
  double nll = 0;          ///< mean test NLL in nats, exact up to the quadrature
  double nll_at_fit = 0;   ///< the test NLL at fit.temperature
  TemperatureFit fit;      ///< the temperature maximising the validation likelihood
  GridDensity density;     ///< normalised at `temperature`
  at::Tensor exact;        ///< [n_exact, 2] exact model samples (CPU)
};

/// Runs the protocol; the model's temperature is set to options.temperature for the read-out
/// and restored afterwards. `gen` draws the exact samples.
Density2dResult density2d_protocol(EnergyModel& model, const at::Tensor& test_x, const at::Tensor& valid_x,
                                   const Density2dOptions& options, at::Generator gen);

/// Only the test NLL and log Z (the periodic evaluation during training), with the grid density
/// they came from for further read-outs (e.g. total_variation_to_grid of the training chains).
struct Density2dNll {
  ///@{
  /// Mean test NLL in nats and log Z, at options.temperature.
  double nll = 0, log_z = 0;
  ///@}
  GridDensity density;  ///< the normalised grid density they came from
};
/// The test NLL and log Z of `model` at options.temperature (restored afterwards).
Density2dNll density2d_nll(EnergyModel& model, const at::Tensor& test_x, const Density2dOptions& options);

}  // namespace joule::eval
