#pragma once
// Exact read-outs for 2-D models: the normaliser by quadrature on a grid, test NLL, histograms.

#include <ATen/ATen.h>

#include <cstdint>

#include "joule/core/energy.h"

namespace joule::eval {

/// An axis-aligned box [xmin, xmax] × [ymin, ymax].
struct Box {
  ///@{
  /// The box's bounds (default [−4, 4]²).
  double xmin = -4, xmax = 4, ymin = -4, ymax = 4;
  ///@}
  /// The square [−half_width, half_width]².
  static Box square(double half_width) { return {-half_width, half_width, -half_width, half_width}; }
};

/// The model density exp(−E/T)/Z on the centres of a resolution × resolution grid.
struct GridDensity {
  torch::Tensor log_density;  ///< [R, R] float64, normalised; row 0 is the top (largest y)
  double log_z = 0;           ///< log Z by the midpoint rule over the box
  Box box;                    ///< the box the grid covers
  int64_t resolution = 0;     ///< grid points R per axis
};

/// Evaluates the model on the grid (in chunks of `chunk` points) and normalises it. The mass
/// outside the box is ignored, so choose a box that holds the data and then some.
GridDensity grid_density(EnergyModel& model, const Box& box, int64_t resolution = 256, int64_t chunk = 16384);

/// Raw energies E(x) (not divided by T) on the grid cell centres, [R, R] float64, row 0 on top.
torch::Tensor grid_energy(EnergyModel& model, const Box& box, int64_t resolution = 256, int64_t chunk = 16384);

/// Result of fit_temperature().
struct TemperatureFit {
  double temperature = 1;  ///< T* minimising the NLL of the given samples
  double nll = 0;          ///< their NLL at T*
};

/// The temperature T at which exp(−E/T)/Z(T) best fits samples `x` (maximum likelihood over
/// T in [t_min, t_max], golden-section search in log T; the NLL is convex in 1/T). Energies are
/// computed once, so this costs one grid evaluation. Fit on a validation split, report on test:
/// it tells whether a model trained with a cold sampler matches the data at some temperature.
TemperatureFit fit_temperature(EnergyModel& model, const Box& box, int64_t resolution, const torch::Tensor& x,
                               double t_min = 1e-6, double t_max = 1e3);

/// NLL of samples with energies `e` under the grid density with energies `grid_e` at T.
double negative_log_likelihood_at(const torch::Tensor& grid_e, const Box& box, const torch::Tensor& e, double t);

/// log Z = log ∫_box exp(−E(x)/T) dx by the midpoint rule.
double grid_log_partition(EnergyModel& model, const Box& box, int64_t resolution = 256);

/// Mean negative log-likelihood in nats: mean_i E(x_i)/T + log Z.
double negative_log_likelihood(EnergyModel& model, const torch::Tensor& x, double log_z, int64_t chunk = 16384);

/// E(x) for samples x in chunks, float64 on the CPU (not divided by T).
torch::Tensor energies(EnergyModel& model, const torch::Tensor& x, int64_t chunk = 16384);

/// Normalised 2-D histogram of samples x [N, 2] over the box: [R, R] densities (row 0 = top),
/// so that Σ density · cell area = fraction of samples inside the box.
torch::Tensor histogram_density(const torch::Tensor& x, const Box& box, int64_t resolution = 128);

/// Total-variation distance between the distribution of samples x [N, 2] and the grid density,
/// both binned on a coarse `cells` × `cells` partition of the box (`cells` must divide the
/// density's resolution). Samples outside the box or not finite count as a bin of their own, to
/// which the density gives no mass. 0: the same mass in every cell; 1: disjoint. Samples drawn
/// from the density itself give ≈ 0.4·sqrt(occupied cells / N) from binning noise alone.
/// Applied to persistent chains it says whether they sample the model: a model that grew mass
/// where the chains never go (a spike) is far from them even when the chains still look like
/// the data.
double total_variation_to_grid(const GridDensity& density, const torch::Tensor& x, int64_t cells = 16);

/// n exact samples from the grid density: a cell drawn with probability ∝ its mass, then a
/// uniform point inside it. Shows the model's distribution independently of any MCMC.
torch::Tensor sample_from_grid(const GridDensity& density, int64_t n, at::Generator gen);

/// Cell-centre coordinates of the grid, [R·R, 2] float32, row-major from the top-left cell.
torch::Tensor grid_points(const Box& box, int64_t resolution);

}  // namespace joule::eval
