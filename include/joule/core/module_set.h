#pragma once
// The named modules a method trains together ("model", "critic", "generator", ...).

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

namespace joule {

/// Named modules in insertion order. Objectives look their parts up by name and type:
///   auto& model = modules.get<EnergyModel>("model");
///   auto& critic = modules.get<SteinCriticImpl>("critic");
/// The trainer optimises parameter groups made of these modules and checkpoints every one.
class ModuleSet {
 public:
  ModuleSet() = default;
  /// Adds a module under a new name.
  ModuleSet& add(const std::string& name, std::shared_ptr<torch::nn::Module> module);

  /// Whether a module called `name` is in the set.
  bool has(const std::string& name) const;
  /// The module called `name`; a clear error naming the known modules if there is none.
  std::shared_ptr<torch::nn::Module> ptr(const std::string& name) const;
  /// The module called `name` by reference; same error as ptr() if there is none.
  torch::nn::Module& at(const std::string& name) const { return *ptr(name); }

  /// The module called `name` as a T (a module class or an interface such as EnergyModel or
  /// DensityModel); a clear error if it is something else.
  template <typename T>
  T& get(const std::string& name) const {
    auto* typed = dynamic_cast<T*>(ptr(name).get());
    TORCH_CHECK(typed, "module '", name, "' is a ", at(name).name(), ", which is not a ", typeid(T).name(),
                " as this objective needs");
    return *typed;
  }

  /// The parameters of the named modules, in order (each module's own order).
  std::vector<at::Tensor> parameters(const std::vector<std::string>& names) const;
  /// Every module's train/eval mode.
  void train(bool on = true);
  /// The device of the first module that has a parameter or buffer (CPU if none).
  c10::Device device() const;

  /// Every (name, module) pair in insertion order.
  const std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>>& items() const { return items_; }
  /// The module names in insertion order.
  std::vector<std::string> names() const;
  /// The number of modules.
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> items_;
};

}  // namespace joule
