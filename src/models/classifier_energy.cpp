#include "joule/models/classifier_energy.h"

#include "joule/models/classifiers.h"

#include <c10/util/Exception.h>

namespace joule {

ClassifierEnergyImpl::ClassifierEnergyImpl(torch::nn::AnyModule net, std::vector<int64_t> event_shape,
                                           int64_t num_classes)
    : net_(std::move(net)), event_shape_(std::move(event_shape)), num_classes_(num_classes) {
  TORCH_CHECK(!net_.is_empty(), "ClassifierEnergy: the classifier network is empty");
  TORCH_CHECK(num_classes_ >= 1, "ClassifierEnergy: num_classes must be >= 1, got ", num_classes_);
  TORCH_CHECK(!event_shape_.empty(), "ClassifierEnergy: event_shape must not be empty");
  register_module("net", net_.ptr());
}

torch::Tensor ClassifierEnergyImpl::logits(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == static_cast<int64_t>(event_shape_.size()) + 1 &&
                  x.sizes().slice(1) == c10::IntArrayRef(event_shape_),
              "ClassifierEnergy: expected input [B, ", c10::IntArrayRef(event_shape_), "], got ", x.sizes());
  auto f = net_.forward(x);
  TORCH_CHECK(f.dim() == 2 && f.size(0) == x.size(0) && f.size(1) == num_classes_,
              "ClassifierEnergy: the network must return logits [", x.size(0), ", ", num_classes_, "], got ", f.sizes());
  return f;
}

torch::Tensor ClassifierEnergyImpl::energy(const torch::Tensor& x) { return -logits(x).logsumexp(1); }

torch::Tensor ClassifierEnergyImpl::energy(const torch::Tensor& x, const torch::Tensor& y) {
  TORCH_CHECK(y.dim() == 1 && y.size(0) == x.size(0), "ClassifierEnergy: labels must be [", x.size(0), "], got ",
              y.sizes());
  return -logits(x).gather(1, y.to(torch::kLong).unsqueeze(1)).squeeze(1);
}

torch::Tensor ClassifierEnergyImpl::log_prob_y_given_x(const torch::Tensor& x) { return logits(x).log_softmax(1); }

torch::Tensor ClassifierEnergyImpl::features(const torch::Tensor& x) {
  auto module = net_.ptr();
  if (auto* cnn = dynamic_cast<SmallCnnImpl*>(module.get())) return cnn->features(x);
  if (auto* wrn = dynamic_cast<WideResNetImpl*>(module.get())) return wrn->features(x);
  if (auto* mlp = dynamic_cast<MlpClassifierImpl*>(module.get())) return mlp->features(x);
  TORCH_CHECK(false, "ClassifierEnergy::features: the network ", module->name(),
              " has no feature read-out (SmallCnn, WideResNet and MlpClassifier have one)");
}

ClassConditionalEnergy::ClassConditionalEnergy(ClassifierEnergyImpl& model, torch::Tensor y)
    : model_(model), y_(std::move(y)) {
  TORCH_CHECK(y_.dim() == 1, "ClassConditionalEnergy: labels must be 1-D, got ", y_.sizes());
  TORCH_CHECK(y_.numel() == 0 || (y_.min().item<int64_t>() >= 0 && y_.max().item<int64_t>() < model_.num_classes()),
              "ClassConditionalEnergy: labels must be in [0, ", model_.num_classes(), ")");
  set_temperature(model_.temperature());
}

torch::Tensor ClassConditionalEnergy::energy(const torch::Tensor& x) {
  TORCH_CHECK(x.size(0) == y_.size(0), "ClassConditionalEnergy: built for ", y_.size(0), " chains, called on ",
              x.size(0));
  return model_.energy(x, y_);
}

}  // namespace joule
