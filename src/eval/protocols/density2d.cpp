#include "joule/eval/protocols/density2d.h"

#include <c10/util/Exception.h>

namespace joule::eval {

Density2dResult density2d_protocol(EnergyModel& model, const at::Tensor& test_x, const at::Tensor& valid_x,
                                   const Density2dOptions& options, at::Generator gen) {
  TORCH_CHECK(model.event_shape() == std::vector<int64_t>{2}, "the 2-D density protocol needs a model of 2-D points, got event shape ",
              c10::IntArrayRef(model.event_shape()));
  const auto device = module_device(model);
  TemperatureGuard at(model, options.temperature());
  Density2dResult r;
  r.temperature = model.temperature();
  r.density = grid_density(model, options.box(), options.resolution());
  r.nll = negative_log_likelihood(model, test_x.to(device), r.density.log_z);
  r.exact = sample_from_grid(r.density, options.n_exact(), gen);
  r.fit = fit_temperature(model, options.box(), options.resolution(), valid_x.to(device));
  r.nll_at_fit = negative_log_likelihood_at(grid_energy(model, options.box(), options.resolution()), options.box(),
                                            energies(model, test_x), r.fit.temperature);
  return r;
}

Density2dNll density2d_nll(EnergyModel& model, const at::Tensor& test_x, const Density2dOptions& options) {
  TemperatureGuard at(model, options.temperature());
  auto density = grid_density(model, options.box(), options.resolution());
  const double nll = negative_log_likelihood(model, test_x, density.log_z);
  return {nll, density.log_z, std::move(density)};
}

}  // namespace joule::eval
