#include "joule/core/module_set.h"

#include "joule/core/energy.h"

namespace joule {

ModuleSet& ModuleSet::add(const std::string& name, std::shared_ptr<torch::nn::Module> module) {
  TORCH_CHECK(module, "ModuleSet::add: module '", name, "' is null");
  TORCH_CHECK(!name.empty(), "ModuleSet::add: empty module name");
  TORCH_CHECK(!has(name), "ModuleSet::add: a module called '", name, "' is already in the set");
  items_.emplace_back(name, std::move(module));
  return *this;
}

bool ModuleSet::has(const std::string& name) const {
  for (const auto& kv : items_) {
    if (kv.first == name) return true;
  }
  return false;
}

std::vector<std::string> ModuleSet::names() const {
  std::vector<std::string> out;
  for (const auto& kv : items_) out.push_back(kv.first);
  return out;
}

std::shared_ptr<torch::nn::Module> ModuleSet::ptr(const std::string& name) const {
  for (const auto& kv : items_) {
    if (kv.first == name) return kv.second;
  }
  std::string known;
  for (const auto& kv : items_) known += (known.empty() ? "" : ", ") + kv.first;
  TORCH_CHECK(false, "no module called '", name, "' (modules: ", known.empty() ? "none" : known, ")");
}

std::vector<at::Tensor> ModuleSet::parameters(const std::vector<std::string>& names) const {
  std::vector<at::Tensor> out;
  for (const auto& n : names) {
    auto p = at(n).parameters();
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

void ModuleSet::train(bool on) {
  for (auto& kv : items_) kv.second->train(on);
}

c10::Device ModuleSet::device() const {
  for (const auto& kv : items_) {
    if (!kv.second->parameters().empty() || !kv.second->buffers().empty()) return module_device(*kv.second);
  }
  return c10::Device(c10::kCPU);
}

}  // namespace joule
