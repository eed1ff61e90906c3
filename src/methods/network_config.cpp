#include "joule/methods/network_config.h"

#include <c10/util/StringUtil.h>

#include <algorithm>
#include <filesystem>

#include "joule/data/idx.h"
#include "joule/methods/run.h"
#include "joule/models/activation.h"
#include "joule/models/classifiers.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void ClassifierConfig::visit(config::Fields& f, const std::vector<std::string>& extra_kinds, const std::string& extra_doc) {
  std::vector<std::string> kinds{"cnn", "wrn", "mlp"};
  kinds.insert(kinds.end(), extra_kinds.begin(), extra_kinds.end());
  f("kind", kind, Doc("classifier: small CNN, Wide-ResNet (images) or MLP" + extra_doc).choices(kinds));
  f("width", width, Doc("mlp: hidden units per layer").min(1));
  f("depth", depth, Doc("mlp: hidden layers").min(1).max(64));
  f("hidden", hidden, Doc("mlp: hidden widths, e.g. [1000, 500, 500, 250, 250, 250]; empty = depth layers of width").min(1));
  f("activation", activation, Doc("hidden activation").choices(activation_names()));
  f("negative_slope", negative_slope, Doc("leaky_relu slope for x < 0").min(0.0).max(1.0));
  f("channels", channels, Doc("cnn: base width c (convolutions of c, 2c, 4c channels)").min(1));
  f("wrn_depth", wrn_depth, Doc("wrn: depth 6n+4").min(10));
  f("wrn_widen", wrn_widen, Doc("wrn: widening factor k").min(1));
  f("dropout", dropout, Doc("dropout rate (cnn: before the head; wrn: inside blocks; mlp: after each layer)").min(0.0).max(0.95));
  f("norm", norm, Doc("normalisation in cnn/wrn (no BatchNorm in energy models)").choices({"none", "group"}));
  f("norm_groups", norm_groups, Doc("GroupNorm groups (must divide every normalised channel count)").min(1));
}

std::shared_ptr<ClassifierEnergyImpl> ClassifierConfig::build(const std::vector<int64_t>& event_shape, int64_t classes,
                                                             at::Generator& gen) const {
  const auto act = parse_activation(activation);
  const auto n = parse_norm(norm);
  if (kind == "cnn" || kind == "wrn") {
    if (event_shape.size() != 3) throw ConfigError("model.kind = \"" + kind + "\" needs image data; use model.kind = \"mlp\"");
    if (kind == "cnn") {
      auto net = SmallCnn(SmallCnnOptions(event_shape[0], classes)
                              .channels(channels)
                              .image_size({event_shape[1], event_shape[2]})
                              .activation(act)
                              .negative_slope(negative_slope)
                              .dropout(dropout)
                              .norm(n)
                              .norm_groups(norm_groups));
      net->reset_parameters(gen);
      return std::make_shared<ClassifierEnergyImpl>(net, event_shape, classes);
    }
    auto net = WideResNet(WideResNetOptions(event_shape[0], classes)
                              .depth(wrn_depth)
                              .widen(wrn_widen)
                              .dropout(dropout)
                              .norm(n)
                              .norm_groups(norm_groups)
                              .activation(act)
                              .negative_slope(negative_slope));
    net->reset_parameters(gen);
    return std::make_shared<ClassifierEnergyImpl>(net, event_shape, classes);
  }
  int64_t dim = 1;
  for (int64_t d : event_shape) dim *= d;
  auto net = MlpClassifier(MlpClassifierOptions(dim, classes)
                               .hidden(hidden.empty() ? std::vector<int64_t>(depth, width) : hidden)
                               .activation(act)
                               .negative_slope(negative_slope)
                               .dropout(dropout));
  net->reset_parameters(gen);
  return std::make_shared<ClassifierEnergyImpl>(net, event_shape, classes);
}

void ClassifierEvalConfig::visit(config::Fields& f) {
  f("ood_n", ood_n, Doc("in-distribution and per-OOD-set inputs scored for AUROC").min(10));
  f("ood_sets", ood_sets, Doc("OOD sets for AUROC (mnist needs eval.ood_mnist_dir)").choices(eval::ood_set_names()));
  f("ood_mnist_dir", ood_mnist_dir, "folder with MNIST IDX files (t10k-*) used as an OOD set when given");
  f("baseline", baseline, "run folder or checkpoint of a baseline (e.g. the cross-entropy-only run) evaluated beside this one");
}

eval::ClassifierEvalOptions ClassifierEvalConfig::options(double data_noise, bool images) const {
  return eval::ClassifierEvalOptions().ood_n(ood_n).ood_sets(ood_sets).ood_mnist_dir(ood_mnist_dir).data_noise(data_noise).images(images);
}

void ClassifierEvalConfig::check_before_training(const std::vector<int64_t>& event_shape, bool images) const {
  if (images && std::find(ood_sets.begin(), ood_sets.end(), "mnist") != ood_sets.end()) {
    if (ood_mnist_dir.empty()) {
      throw config::ConfigError("eval.ood_sets lists mnist, which needs eval.ood_mnist_dir = <folder with t10k-*-idx*-ubyte>");
    }
    if (event_shape != std::vector<int64_t>{1, 28, 28}) {
      throw config::ConfigError("eval.ood_sets lists mnist (1x28x28 images) but the model's inputs are " +
                                c10::Join("x", event_shape) + "; drop mnist from eval.ood_sets");
    }
    data::load_mnist_split(ood_mnist_dir, "t10k");  // readable now, not after training (errors name the file)
  }
  if (!baseline.empty()) resolve_checkpoint(baseline);
}

BaselineResult evaluate_baseline(const std::string& run, const eval::ClassifierEvalInputs& inputs, torch::Device device,
                                 const std::vector<int64_t>& event_shape, int64_t classes) {
  auto other = load(run, device);
  auto* clf = other->classifier();
  if (!clf) throw ConfigError("eval.baseline '" + run + "' is not a classifier run (JEM, VERA-JEM)");
  if (clf->event_shape() != event_shape || clf->num_classes() != classes) {
    throw ConfigError("eval.baseline '" + run + "' was trained on inputs or classes of another shape");
  }
  BaselineResult b;
  b.temperature = clf->temperature() * other->trainer().objective().sampler_temperature();
  b.result = eval::evaluate_classifier(*clf, inputs, b.temperature, 256);
  b.name = other->trainer().objective().name() + " (" + std::filesystem::path(other->run_dir()).filename().string() + ")";
  return b;
}

}  // namespace joule::methods
