#include "joule/methods/compose.h"

#include <map>

#include "joule/core/runtime.h"
#include "joule/data/augment.h"
#include "joule/methods/icd.h"
#include "joule/methods/run.h"
#include "joule/models/classifier_energy.h"
#include "joule/samplers/chains.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void ComposeConfig::Part::visit(config::Fields& f) {
  f("run", run, "run folder or checkpoint of a trained model (any method with an energy)");
  f("label", label, Doc("class of a classifier run: the part is E(x, y = label); -1 = the model's energy E(x)").min(-1));
  f("weight", weight, Doc("w: the part enters as w·E/T; a negative weight is NOT (the reference: −0.001 ... −1)"));
  f("temperature", temperature, Doc("T of this part (exp(−E/T) is its density)").min(1e-12));
  f("log_weight", log_weight, "OR: the part's log mixture weight (subtracted from its term)");
  f("name", name, "a name for reports");
}

void ComposeConfig::Sample::visit(config::Fields& f) {
  f("n", n, Doc("samples").min(1));
  f("steps", steps, Doc("sampler steps from noise").min(0));
  f("seed", seed, Doc("seed of the chains").min(0));
  f("init_low", init_low, "chains start from U(init_low, init_high)");
  f("init_high", init_high, "chains start from U(init_low, init_high)");
  f("augment_every", augment_every,
    Doc("augment the chains every this many steps (the reference: 20 steps, then an augmentation, ten times); 0 = never").min(0));
  f("out", out, "output prefix of the samples (.csv, .pt, .png) and the report (.json); required");
}

void ComposeConfig::Score::visit(config::Fields& f) {
  f("run", run, "a classifier run (e.g. joule train ce_fashion_cnn) that labels the samples; empty = no scoring");
  f("classes", classes, "the intended classes: the report gives the fraction of samples the classifier puts in them");
}

ComposeConfig::ComposeConfig() {
  // JEM's SGLD scale on images in [−1, 1]: the scale the class-conditional parts were trained with.
  sampler.kind = "langevin";
  sampler.steps = 200;
  sampler.step_size = 1.0;
  sampler.noise = 0.01;
  sampler.clamp_min = -1.0;
  sampler.clamp_max = 1.0;
}

void ComposeConfig::visit(config::Fields& f) {
  f("op", op, Doc("and: Σ w_i E_i / T_i (product of experts; NOT = a negative weight); or: −log Σ exp(−w_i E_i / T_i) "
                  "(mixture)").choices({"and", "or", "sum", "logsumexp"}));
  f.list("parts", parts, Doc("the composed energies, [[parts]] tables with run, label, weight, temperature"));
  f.section("run", run);
  f.section("sampler", sampler);
  f.section("sample", sample);
  f.section("score", score);
}

namespace {

/// E(x, y = label) of a classifier for any batch: one class of a JEM-style model as an energy.
class FixedClassEnergy : public EnergyModel {
 public:
  FixedClassEnergy(ClassifierEnergyImpl& model, int64_t label) : model_(model), label_(label) {}
  torch::Tensor energy(const torch::Tensor& x) override {
    auto y = torch::full({x.size(0)}, label_, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
    return model_.energy(x, y);
  }
  std::vector<int64_t> event_shape() const override { return model_.event_shape(); }

 private:
  ClassifierEnergyImpl& model_;
  int64_t label_;
};

/// A run's energy without ownership (the Method keeps it alive).
class BorrowedEnergy : public EnergyModel {
 public:
  explicit BorrowedEnergy(EnergyModel& model) : model_(model) {}
  torch::Tensor energy(const torch::Tensor& x) override { return model_.energy(x); }
  EnergyGrad energy_and_grad(const torch::Tensor& x) override { return model_.energy_and_grad(x); }
  std::vector<int64_t> event_shape() const override { return model_.event_shape(); }

 private:
  EnergyModel& model_;
};

}  // namespace

Composition build_composition(const ComposeConfig& config, torch::Device device) {
  if (config.parts.empty()) throw ConfigError("compose: no [[parts]]; give at least one part with a run");
  Composition out;
  std::map<std::string, Method*> loaded;
  std::vector<EnergyPart> parts;
  for (size_t i = 0; i < config.parts.size(); ++i) {
    const auto& p = config.parts[i];
    const std::string label = "parts[" + std::to_string(i) + "]" + (p.name.empty() ? "" : " ('" + p.name + "')");
    if (p.run.empty()) throw ConfigError("compose: " + label + " has no run");
    if (p.weight == 0 || !std::isfinite(p.weight)) throw ConfigError("compose: " + label + " needs a finite non-zero weight");
    Method* m = nullptr;
    if (auto it = loaded.find(p.run); it != loaded.end()) {
      m = it->second;
    } else {
      out.runs.push_back(load(p.run, device));
      m = out.runs.back().get();
      m->trainer().modules().train(false);  // dropout off: the parts are fixed models
      loaded[p.run] = m;
    }
    std::shared_ptr<EnergyModel> energy;
    if (p.label >= 0) {
      auto* clf = m->classifier();
      if (!clf) throw ConfigError("compose: " + label + " sets label = " + std::to_string(p.label) + " but '" + p.run +
                                  "' is not a classifier run (JEM, VERA-JEM)");
      if (p.label >= clf->num_classes()) {
        throw ConfigError("compose: " + label + " label = " + std::to_string(p.label) + " but '" + p.run + "' has " +
                          std::to_string(clf->num_classes()) + " classes");
      }
      energy = std::make_shared<FixedClassEnergy>(*clf, p.label);
    } else {
      energy = std::make_shared<BorrowedEnergy>(m->trainer().model());
    }
    if (!parts.empty() && energy->event_shape() != parts.front().energy()->event_shape()) {
      throw ConfigError("compose: " + label + " ('" + p.run + "') models samples of another shape than parts[0]");
    }
    parts.push_back(EnergyPart(energy).weight(p.weight).temperature(p.temperature).log_weight(p.log_weight).name(
        p.name.empty() ? p.run + (p.label >= 0 ? "#" + std::to_string(p.label) : "") : p.name));
  }
  out.event_shape = parts.front().energy()->event_shape();
  out.energy = std::make_shared<ComposedEnergy>(parse_composition_op(config.op), std::move(parts));
  return out;
}

CompositionSamples sample_composition(Composition& composition, const ComposeConfig& config) {
  const auto& s = config.sample;
  if (!(s.init_low < s.init_high)) throw ConfigError("sample.init_low must be < sample.init_high");
  const auto device = composition.runs.empty() ? torch::Device(torch::kCPU) : composition.runs.front()->device();
  auto gen = make_generator(static_cast<uint64_t>(s.seed), device);
  std::vector<int64_t> shape{s.n};
  shape.insert(shape.end(), composition.event_shape.begin(), composition.event_shape.end());
  auto x = torch::empty(shape, torch::TensorOptions().device(device)).uniform_(s.init_low, s.init_high, gen);
  auto sampler = config.sampler.build();
  auto& energy = *composition.energy;
  PersistentChains::Transition augment;
  if (composition.event_shape.size() == 3) {
    augment = [opts = AugmentConfig().options(s.init_low, s.init_high)](const torch::Tensor& z, at::Generator& g) {
      return data::augment(z, opts, g);
    };
  }
  x = sample_with_transitions(*sampler, energy, x, s.steps, s.augment_every, augment, gen);
  CompositionSamples out;
  out.x = x.cpu();
  auto& r = out.report;
  r.method = "compose";
  {
    torch::NoGradGuard no_grad;
    auto terms = energy.terms(x);
    r.add("energy", energy.energy(x).mean().item<double>(), "mean composed energy of the samples");
    for (size_t i = 0; i < energy.parts().size(); ++i) {
      r.add("term." + std::to_string(i), terms.select(1, static_cast<int64_t>(i)).mean().item<double>(),
            "mean w·E/T − b of part " + energy.parts()[i].name());
    }
  }
  if (!config.score.run.empty()) {
    auto scorer = load(config.score.run, device);
    auto* clf = scorer->classifier();
    if (!clf || clf->event_shape() != composition.event_shape) {
      throw ConfigError("score.run '" + config.score.run + "' is not a classifier run on samples of this shape");
    }
    torch::NoGradGuard no_grad;
    EvalModeGuard eval_mode(*clf);
    auto pred = clf->logits(x).argmax(1).cpu();
    auto counts = at::bincount(pred, {}, clf->num_classes()).to(at::kDouble) / static_cast<double>(s.n);
    double in_target = 0;
    for (int64_t c : config.score.classes) {
      if (c < 0 || c >= clf->num_classes()) throw ConfigError("score.classes holds " + std::to_string(c) + ", not a class of the scorer");
      in_target += counts[c].item<double>();
    }
    if (!config.score.classes.empty()) r.add("fraction_in_classes", in_target, "fraction of samples the scorer puts in score.classes");
    for (int64_t c = 0; c < clf->num_classes(); ++c) r.add("class." + std::to_string(c), counts[c].item<double>(), "fraction labelled " + std::to_string(c));
  }
  return out;
}

}  // namespace joule::methods
