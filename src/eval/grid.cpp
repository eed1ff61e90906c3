#include "joule/eval/grid.h"

#include <c10/util/Exception.h>
#include <torch/types.h>

#include <cmath>

namespace joule::eval {
namespace {

void check_box(const Box& box, int64_t resolution) {
  TORCH_CHECK(box.xmin < box.xmax && box.ymin < box.ymax, "grid box must have xmin < xmax and ymin < ymax, got [",
              box.xmin, ", ", box.xmax, "] x [", box.ymin, ", ", box.ymax, "]");
  TORCH_CHECK(resolution >= 2, "grid resolution must be >= 2, got ", resolution);
}

double cell_area(const Box& box, int64_t resolution) {
  return (box.xmax - box.xmin) * (box.ymax - box.ymin) / double(resolution * resolution);
}

}  // namespace

torch::Tensor energies(EnergyModel& model, const torch::Tensor& x, int64_t chunk) {
  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(model);
  const torch::Device device = module_device(model);
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += chunk) {
    auto xi = x.slice(0, i, std::min(i + chunk, x.size(0))).to(device);
    parts.push_back(model.energy(xi).to(torch::kCPU, torch::kFloat64));
  }
  return torch::cat(parts);
}

torch::Tensor grid_points(const Box& box, int64_t resolution) {
  check_box(box, resolution);
  const double dx = (box.xmax - box.xmin) / resolution, dy = (box.ymax - box.ymin) / resolution;
  auto xs = torch::arange(resolution, torch::kFloat64).mul(dx).add(box.xmin + 0.5 * dx);
  auto ys = torch::arange(resolution, torch::kFloat64).mul(-dy).add(box.ymax - 0.5 * dy);  // top row first
  auto yy = ys.view({resolution, 1}).expand({resolution, resolution});
  auto xx = xs.view({1, resolution}).expand({resolution, resolution});
  return torch::stack({xx.reshape({-1}), yy.reshape({-1})}, 1).to(torch::kFloat32);
}

torch::Tensor grid_energy(EnergyModel& model, const Box& box, int64_t resolution, int64_t chunk) {
  auto e = energies(model, grid_points(box, resolution), chunk);
  TORCH_CHECK(torch::isfinite(e).all().item<bool>(), "grid evaluation: the model energy is not finite on the grid");
  return e.view({resolution, resolution});
}

double negative_log_likelihood_at(const torch::Tensor& grid_e, const Box& box, const torch::Tensor& e, double t) {
  const double log_z = torch::logsumexp(grid_e.reshape({-1}).div(-t), 0).item<double>() + std::log(cell_area(box, grid_e.size(0)));
  return e.mean().item<double>() / t + log_z;
}

TemperatureFit fit_temperature(EnergyModel& model, const Box& box, int64_t resolution, const torch::Tensor& x,
                               double t_min, double t_max) {
  TORCH_CHECK(t_min > 0 && t_min < t_max, "fit_temperature: need 0 < t_min < t_max");
  auto grid_e = grid_energy(model, box, resolution);
  auto e = energies(model, x);
  auto nll = [&](double log_t) { return negative_log_likelihood_at(grid_e, box, e, std::exp(log_t)); };
  // Golden-section search on log T: unimodal because the NLL is convex in β = 1/T.
  const double phi = (std::sqrt(5.0) - 1) / 2;
  double a = std::log(t_min), b = std::log(t_max);
  double c = b - phi * (b - a), d = a + phi * (b - a);
  double fc = nll(c), fd = nll(d);
  for (int i = 0; i < 80 && b - a > 1e-6; ++i) {
    if (fc < fd) {
      b = d, d = c, fd = fc;
      c = b - phi * (b - a), fc = nll(c);
    } else {
      a = c, c = d, fc = fd;
      d = a + phi * (b - a), fd = nll(d);
    }
  }
  const double log_t = 0.5 * (a + b);
  return {std::exp(log_t), nll(log_t)};
}

GridDensity grid_density(EnergyModel& model, const Box& box, int64_t resolution, int64_t chunk) {
  auto logp = grid_energy(model, box, resolution, chunk).reshape({-1}).div(-model.temperature());
  const double cell = cell_area(box, resolution);
  GridDensity out;
  out.log_z = torch::logsumexp(logp, 0).item<double>() + std::log(cell);
  out.log_density = (logp - out.log_z).view({resolution, resolution});
  out.box = box;
  out.resolution = resolution;
  return out;
}

torch::Tensor sample_from_grid(const GridDensity& density, int64_t n, at::Generator gen) {
  TORCH_CHECK(n > 0, "sample_from_grid: n must be > 0, got ", n);
  const int64_t r = density.resolution;
  const Box& box = density.box;
  auto probs = density.log_density.reshape({-1}).exp();
  auto cells = torch::multinomial(probs, n, /*replacement=*/true, gen);
  auto row = cells.div(r, "floor").to(torch::kFloat64);
  auto col = cells.remainder(r).to(torch::kFloat64);
  auto u = torch::rand({n, 2}, gen, torch::kFloat64);
  const double dx = (box.xmax - box.xmin) / r, dy = (box.ymax - box.ymin) / r;
  auto x = (col + u.select(1, 0)) * dx + box.xmin;
  auto y = box.ymax - (row + u.select(1, 1)) * dy;
  return torch::stack({x, y}, 1).to(torch::kFloat32);
}

double grid_log_partition(EnergyModel& model, const Box& box, int64_t resolution) {
  return grid_density(model, box, resolution).log_z;
}

double negative_log_likelihood(EnergyModel& model, const torch::Tensor& x, double log_z, int64_t chunk) {
  TORCH_CHECK(x.dim() >= 2 && x.size(0) > 0, "negative_log_likelihood: expected samples [N, ...], got ", x.sizes());
  return energies(model, x, chunk).mean().item<double>() / model.temperature() + log_z;
}

torch::Tensor histogram_density(const torch::Tensor& x, const Box& box, int64_t resolution) {
  check_box(box, resolution);
  TORCH_CHECK(x.dim() == 2 && x.size(1) == 2, "histogram_density: expected points [N, 2], got ", x.sizes());
  auto p = x.to(torch::kCPU, torch::kFloat64);
  auto col = ((p.select(1, 0) - box.xmin) / (box.xmax - box.xmin) * resolution).floor().to(torch::kLong);
  auto row = ((box.ymax - p.select(1, 1)) / (box.ymax - box.ymin) * resolution).floor().to(torch::kLong);
  auto inside = (col >= 0) & (col < resolution) & (row >= 0) & (row < resolution);
  auto flat = (row * resolution + col).masked_select(inside);
  auto counts = torch::zeros({resolution * resolution}, torch::kFloat64);
  counts.index_add_(0, flat, torch::ones({flat.size(0)}, torch::kFloat64));
  const double cell = cell_area(box, resolution);
  return counts.div(double(x.size(0)) * cell).view({resolution, resolution});
}

}  // namespace joule::eval

namespace joule::eval {

double total_variation_to_grid(const GridDensity& density, const torch::Tensor& x, int64_t cells) {
  const int64_t r = density.resolution;
  TORCH_CHECK(cells >= 1 && r % cells == 0, "total_variation_to_grid: cells (", cells,
              ") must be >= 1 and divide the grid resolution (", r, ")");
  TORCH_CHECK(x.dim() == 2 && x.size(1) == 2 && x.size(0) > 0, "total_variation_to_grid: expected points [N, 2], got ",
              x.sizes());
  const Box& box = density.box;
  // The model's mass per coarse cell: the fine cells' masses summed in blocks.
  const int64_t b = r / cells;
  auto model_mass = density.log_density.exp().mul(cell_area(box, r)).view({cells, b, cells, b}).sum({1, 3});
  model_mass = model_mass / model_mass.sum();  // the box holds all of the model's mass by construction
  // The samples' fraction per coarse cell; what falls outside (or is not finite) stays unbinned.
  auto p = x.to(torch::kCPU, torch::kFloat64);
  auto u = (p.select(1, 0) - box.xmin) / (box.xmax - box.xmin) * cells;
  auto v = (box.ymax - p.select(1, 1)) / (box.ymax - box.ymin) * cells;
  auto inside = (u >= 0) & (u < cells) & (v >= 0) & (v < cells);  // false for NaN
  auto flat = (v.masked_select(inside).floor() * cells + u.masked_select(inside).floor()).to(torch::kLong);
  auto counts = torch::zeros({cells * cells}, torch::kFloat64);
  counts.index_add_(0, flat, torch::ones({flat.size(0)}, torch::kFloat64));
  const double n = static_cast<double>(x.size(0));
  const double outside = 1.0 - static_cast<double>(flat.size(0)) / n;
  return 0.5 * ((counts / n - model_mass.view({-1})).abs().sum().item<double>() + outside);
}

}  // namespace joule::eval
