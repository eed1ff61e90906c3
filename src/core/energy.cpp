#include "joule/core/energy.h"

#include <torch/autograd.h>
#include <torch/serialize/archive.h>

#include <c10/util/Exception.h>

namespace joule {

void EnergyModel::set_temperature(double t) {
  TORCH_CHECK(std::isfinite(t) && t > 0, "temperature must be a finite number > 0, got ", t);
  temperature_ = t;
}

EnergyGrad energy_and_grad_autograd(EnergyModel& model, const torch::Tensor& x) {
  torch::AutoGradMode enable_grad(true);
  auto xg = x.detach().requires_grad_(true);
  auto e = model.energy(xg);
  TORCH_CHECK(e.dim() == 1 && e.size(0) == x.size(0), "energy() must return one value per sample, shape [",
              x.size(0), "], got ", e.sizes());
  // Only the input gradient is requested: autograd skips the weight-gradient products.
  auto g = torch::autograd::grad({e.sum()}, {xg})[0];
  return {e.detach(), g.detach()};
}

EnergyGrad EnergyModel::energy_and_grad(const torch::Tensor& x) { return energy_and_grad_autograd(*this, x); }

torch::Tensor score(EnergyModel& model, const torch::Tensor& x, bool create_graph) {
  if (!create_graph) return model.energy_and_grad(x).grad.div(-model.temperature());
  TORCH_CHECK(x.requires_grad(), "score(create_graph=true) needs an x that requires grad");
  auto e = model.energy(x);
  auto g = torch::autograd::grad({e.sum()}, {x}, /*grad_outputs=*/{}, /*retain_graph=*/true,
                                 /*create_graph=*/true)[0];
  return g / (-model.temperature());
}

void EnergyModel::save(torch::serialize::OutputArchive& archive) const {
  torch::nn::Module::save(archive);
  archive.write("joule_temperature", torch::tensor(temperature_, torch::kFloat64));
}

void EnergyModel::load(torch::serialize::InputArchive& archive) {
  torch::nn::Module::load(archive);
  torch::Tensor t;
  if (archive.try_read("joule_temperature", t)) set_temperature(t.item<double>());
}

torch::Device module_device(const torch::nn::Module& module) {
  for (const auto& p : module.parameters()) return p.device();
  for (const auto& b : module.buffers()) return b.device();
  return torch::kCPU;
}

EvalModeGuard::EvalModeGuard(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {
  module_.eval();
}
EvalModeGuard::~EvalModeGuard() { module_.train(was_training_); }

TemperatureGuard::TemperatureGuard(EnergyModel& model, double temperature) : model_(model), saved_(model.temperature()) {
  model_.set_temperature(temperature);
}
TemperatureGuard::~TemperatureGuard() { model_.set_temperature(saved_); }

FrozenParameters::FrozenParameters(torch::nn::Module& module) {
  for (auto& p : module.parameters()) {
    params_.push_back(p);
    flags_.push_back(p.requires_grad());
    p.requires_grad_(false);
  }
}

FrozenParameters::~FrozenParameters() {
  for (size_t i = 0; i < params_.size(); ++i) params_[i].requires_grad_(flags_[i]);
}

}  // namespace joule
