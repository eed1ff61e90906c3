#include "joule/methods/network_config.h"

#include <c10/util/StringUtil.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "joule/core/energy.h"
#include "joule/core/runtime.h"
#include "joule/data/idx.h"
#include "joule/io/checkpoint.h"
#include "joule/io/plot.h"
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
  f.section("attack", attack);
}

void AttackConfig::visit(config::Fields& f) {
  f("kind", kind, Doc("robustness protocol: none, pgd or fgsm attacks at every radius (docs/methods/robustness.md)").choices({"none", "pgd", "fgsm"}));
  f("norms", norms, Doc("threat models").choices({"linf", "l2"}));
  f("eps_linf", eps_linf, Doc("L-infinity radii in data units (pixels in [0, 1] for images)").min(0.0));
  f("eps_l2", eps_l2, Doc("L2 radii in data units").min(0.0));
  f("loss", loss,
    Doc("attack objective: cross-entropy, the logit margin (Carlini-Wagner) or both (robust = neither attack succeeds)")
        .choices({"ce", "margin", "both"}));
  f("n", n, Doc("test inputs attacked without the defence").min(1));
  f("steps", steps, Doc("PGD steps (step 2.5 eps / steps, random start)").min(1));
  f("restarts", restarts, Doc("PGD restarts; an input fooled once stays fooled").min(1));
  f("seeds", seeds, Doc("attack seeds per point (mean and sd)").min(1));
  f("defence_steps", defence_steps, Doc("SGLD refinement steps K of the defence, one set of curves per value; 0 = none").min(0));
  f("defence_chains", defence_chains, Doc("refinement chains per input, logits averaged").min(1));
  f("defence_step_size", defence_step_size, Doc("SGLD step a of the refinement (JEM: 1)").min(0.0));
  f("defence_noise", defence_noise, Doc("SGLD noise b of the refinement (JEM: 0.01)").min(0.0));
  f("defence_gradient", defence_gradient,
    Doc("how attacks differentiate the refinement: through its steps (exact) or identity (BPDA)").choices({"through", "identity"}));
  f("defence_n", defence_n, Doc("test inputs attacked through the defence").min(1));
  f("defence_attack_steps", defence_attack_steps, Doc("PGD steps against the defence").min(1));
  f("eot_samples", eot_samples, Doc("gradient samples per step against the (stochastic) defence").min(1));
  f("checks", checks, "gradient-masking checks: accuracy at the largest radius, and with twice the steps");
  f("distal_steps", distal_steps, Doc("steps of the distal adversarials grown from noise (0 = none)").min(0));
  f("distal_step_size", distal_step_size, Doc("L2 step of the distal adversarials in model units").min(0.0));
  f("models", models, "other classifier runs (CE, JEM, VERA-JEM) attacked beside this one with the same settings");
}

eval::RobustnessOptions AttackConfig::options(bool images, uint64_t seed) const {
  auto o = eval::RobustnessOptions()
               .norms(norms)
               .eps_linf(eps_linf)
               .eps_l2(eps_l2)
               .input_scale(images ? 2.0 : 1.0)
               .attack(kind)
               .losses(loss == "both" ? std::vector<eval::AttackLoss>{eval::AttackLoss::kCrossEntropy, eval::AttackLoss::kMargin}
                                      : std::vector<eval::AttackLoss>{eval::attack_loss_from_string(loss)})
               .n(n)
               .steps(steps)
               .restarts(restarts)
               .seeds(seeds)
               .defence_steps(defence_steps)
               .defence_chains(defence_chains)
               .defence_step_size(defence_step_size)
               .defence_noise(defence_noise)
               .defence_gradient(eval::refinement_gradient_from_string(defence_gradient))
               .defence_n(defence_n)
               .defence_attack_steps(defence_attack_steps)
               .eot_samples(eot_samples)
               .checks(checks)
               .seed(seed);
  if (!images) o.range(c10::nullopt);
  return o;
}

std::string AttackConfig::key() const {
  std::ostringstream os;
  os << kind << "|" << c10::Join(",", norms) << "|" << c10::Join(",", eps_linf) << "|" << c10::Join(",", eps_l2) << "|" << loss << "|" << n
     << "|" << steps << "|" << restarts << "|" << seeds << "|" << c10::Join(",", defence_steps) << "|" << defence_chains << "|"
     << defence_step_size << "|" << defence_noise << "|" << defence_gradient << "|" << defence_n << "|" << defence_attack_steps << "|"
     << eot_samples << "|" << checks << "|" << distal_steps << "|" << distal_step_size << "|" << c10::Join(",", models);
  return os.str();
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
  for (const auto& m : attack.models) resolve_checkpoint(m);
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

RobustnessEvaluation evaluate_robustness_runs(ClassifierEnergyImpl& clf, const std::string& name, const at::Tensor& x,
                                              const at::Tensor& y, const ClassifierEvalConfig& cfg, bool images, uint64_t seed,
                                              torch::Device device) {
  RobustnessEvaluation out;
  out.options = cfg.attack.options(images, seed).on_curve([](const std::string& line) { std::cerr << "robustness: " << line << std::endl; });
  // Load every other run first: a wrong path or shape fails before any attack runs.
  std::vector<std::unique_ptr<Method>> others;
  for (const auto& run : cfg.attack.models) {
    others.push_back(load(run, device));
    auto* other = others.back()->classifier();
    if (!other) throw ConfigError("eval.attack.models: '" + run + "' is not a classifier run (JEM, VERA-JEM)");
    if (other->event_shape() != clf.event_shape() || other->num_classes() != clf.num_classes()) {
      throw ConfigError("eval.attack.models: '" + run + "' was trained on inputs or classes of another shape");
    }
  }
  std::vector<std::pair<ClassifierEnergyImpl*, std::string>> models{{&clf, name}};
  for (size_t i = 0; i < others.size(); ++i) {
    models.emplace_back(others[i]->classifier(), others[i]->trainer().objective().name() + " (" +
                                                     std::filesystem::path(others[i]->run_dir()).filename().string() + ")");
  }
  const int64_t shown = std::min<int64_t>(clf.num_classes(), 10);
  const auto labels = torch::arange(shown, torch::TensorOptions().dtype(torch::kLong).device(device));
  for (auto& [model, model_name] : models) {
    out.results.push_back(eval::evaluate_robustness(*model, model_name, x, y, out.options));
    if (cfg.attack.distal_steps > 0) {
      EvalModeGuard eval_mode(*model);
      FrozenParameters frozen(*model);
      // The same noise for every model (one generator seed), so the pictures differ only by the model.
      auto gen = make_generator(derive_seed(seed, 950), device);
      auto d = eval::distal_adversarials([model](const at::Tensor& in) { return model->logits(in); }, model->event_shape(), labels,
                                         cfg.attack.distal_steps, cfg.attack.distal_step_size, out.options.range(), gen);
      at::NoGradGuard no_grad;
      out.distal_confidence.push_back(
          model->log_prob_y_given_x(d).gather(1, labels.unsqueeze(1)).exp().mean().item<double>());
      out.distal.push_back(d.cpu());
    }
  }
  return out;
}

void add_robustness_lines(eval::Report& report, const RobustnessEvaluation& r) {
  for (size_t i = 0; i < r.results.size(); ++i) {
    const std::string prefix = i == 0 ? "" : "model" + std::to_string(i) + ".";
    eval::add_robustness_lines(report, r.results[i], prefix);
    if (i < r.distal_confidence.size()) {
      report.add(prefix + "robust.distal_confidence", r.distal_confidence[i],
                 "mean p(y|x) of inputs grown from noise to class y (" + r.results[i].model + ")");
    }
  }
}

std::vector<std::string> write_robustness(const RobustnessEvaluation& r, const std::string& prefix, bool images) {
  std::vector<std::string> files{prefix + "robustness.png", prefix + "robustness.json", prefix + "robustness.md"};
  io::write_png(files[0], eval::robustness_plot(r.results));
  io::write_text_file(files[1], eval::robustness_json(r.results, r.options));
  std::string md = eval::robustness_table(r.results);
  for (size_t i = 0; i < r.results.size(); ++i) {
    md += "- " + r.results[i].model + ": clean accuracy " + io::format_number(r.results[i].clean_acc, 3);
    for (const auto& [k, s] : r.results[i].seconds_per_image) {
      md += k == 0 ? ", " + io::format_number(1e3 * s, 3) + " ms per image"
                   : ", " + io::format_number(1e3 * s, 3) + " ms per image with K = " + std::to_string(k);
    }
    if (i < r.distal_confidence.size()) md += ", distal adversarials' confidence " + io::format_number(r.distal_confidence[i], 3);
    md += "\n";
  }
  io::write_text_file(files[2], md);
  if (images && !r.distal.empty()) {
    // One row per model, one column per class.
    files.push_back(prefix + "distal.png");
    auto all = torch::cat(r.distal, 0);
    if (all.dim() == 4 && all.size(2) <= 64) all = all.repeat_interleave(3, 2).repeat_interleave(3, 3);  // small images, 3x larger
    io::save_image_grid(all, files.back(), r.distal[0].size(0), 2, std::make_pair(-1.0, 1.0));
  }
  return files;
}

}  // namespace joule::methods
