#pragma once
// Any classifier read as an energy model of p(x, y) (JEM, arXiv:1912.03263 §3).
//
// With logits f(x) ∈ R^C the joint energy is E(x, y) = −f(x)[y] and the marginal energy is
// E(x) = −logsumexp_y f(x)[y], so that
//   p(x, y) ∝ exp(−E(x, y)),  p(x) ∝ exp(−E(x)),  p(y | x) = exp(−E(x, y)) / exp(−E(x)) = softmax(f(x))[y].
// The classifier itself is unchanged: the energy view only reinterprets its logits.

#include <torch/nn/modules/container/any.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "joule/core/energy.h"

namespace joule {

/// A classifier f: x [B, ...] -> logits [B, C] viewed as the energy E(x) = −logsumexp f(x).
///
/// Example:
///   auto net = joule::SmallCnn(joule::SmallCnnOptions(/*in_channels=*/1, /*num_classes=*/10));
///   auto model = joule::ClassifierEnergy(net, std::vector<int64_t>{1, 28, 28}, 10);
///   auto e = model->energy(x);          // [B], −logsumexp
///   auto exy = model->energy(x, y);     // [B], −f(x)[y]
///   auto logp = model->log_prob_y_given_x(x);  // [B, C], log-softmax
///
/// The model's temperature T (EnergyModel::temperature) scales read-outs of the marginal,
/// log p̃(x) = −E(x)/T. p(y|x) is always the classifier's softmax: it does not depend on T.
class ClassifierEnergyImpl : public EnergyModel {
 public:
  /// `net` maps [B, event_shape...] to [B, num_classes]; it is registered as submodule "net"
  /// so that its parameters train, save and move with this module.
  ClassifierEnergyImpl(torch::nn::AnyModule net, std::vector<int64_t> event_shape, int64_t num_classes);
  /// Same, for any torch module holder (e.g. SmallCnn), wrapped in an AnyModule.
  template <typename M>
  ClassifierEnergyImpl(torch::nn::ModuleHolder<M> net, std::vector<int64_t> event_shape, int64_t num_classes)
      : ClassifierEnergyImpl(torch::nn::AnyModule(std::move(net)), std::move(event_shape), num_classes) {}

  /// f(x): [B, ...] -> [B, C]. Checks the input's event shape and the output's shape.
  torch::Tensor logits(const torch::Tensor& x);
  /// E(x) = −logsumexp_y f(x)[y]: [B].
  torch::Tensor energy(const torch::Tensor& x) override;
  /// E(x, y) = −f(x)[y]: [B], for labels y [B] (int64, in [0, C)).
  torch::Tensor energy(const torch::Tensor& x, const torch::Tensor& y);
  /// log p(y|x) = log_softmax(f(x)): [B, C].
  torch::Tensor log_prob_y_given_x(const torch::Tensor& x);
  /// The network's features before its linear head ([B, F]) for SmallCnn, WideResNet and
  /// MlpClassifier (e.g. a Fréchet distance in the classifier's feature space); an error for
  /// another network.
  torch::Tensor features(const torch::Tensor& x);

  std::vector<int64_t> event_shape() const override { return event_shape_; }
  /// C, the number of classes.
  int64_t num_classes() const { return num_classes_; }
  /// The wrapped classifier network.
  torch::nn::AnyModule& net() { return net_; }

 private:
  torch::nn::AnyModule net_;
  std::vector<int64_t> event_shape_;
  int64_t num_classes_;
};
/// The module holder of ClassifierEnergyImpl (a shared pointer to it).
TORCH_MODULE(ClassifierEnergy);

/// E(x, y) rows of a ClassifierEnergy with fixed labels, as an unconditional EnergyModel, so
/// any sampler can draw from p(x | y) ∝ exp(−E(x, y)/T) (class-conditional SGLD in JEM).
///
/// It borrows `model` (which must outlive it) and has no parameters of its own. Samplers
/// switch this view to eval mode; to switch the classifier too (dropout off while sampling),
/// hold an EvalModeGuard on the classifier while sampling, as Jem does.
class ClassConditionalEnergy : public EnergyModel {
 public:
  /// `y` [B] int64: the class of each chain in the batches this view will be called on.
  ClassConditionalEnergy(ClassifierEnergyImpl& model, torch::Tensor y);
  torch::Tensor energy(const torch::Tensor& x) override;
  std::vector<int64_t> event_shape() const override { return model_.event_shape(); }

 private:
  ClassifierEnergyImpl& model_;
  torch::Tensor y_;
};

}  // namespace joule
