#include "joule/objectives/vera.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>

#include <cmath>

#include "joule/models/classifier_energy.h"

namespace joule {

EntropyEstimator parse_entropy_estimator(const std::string& name) {
  if (name == "vera") return EntropyEstimator::kImportance;
  if (name == "hmc") return EntropyEstimator::kHmc;
  TORCH_CHECK(false, "unknown entropy estimator '", name, "' (allowed: vera, hmc)");
}

void VeraOptions::validate() const {
  TORCH_CHECK(std::isfinite(entropy_weight_) && entropy_weight_ >= 0, "Vera: entropy_weight must be >= 0, got ", entropy_weight_);
  TORCH_CHECK(gradient_penalty_ >= 0 && l2_data_ >= 0 && l2_generated_ >= 0, "Vera: penalties must be >= 0");
  TORCH_CHECK(posterior_samples_ >= 1, "Vera: posterior_samples must be >= 1, got ", posterior_samples_);
  TORCH_CHECK(min_sigma_ > 0 && min_sigma_ <= max_sigma_, "Vera: need 0 < min_sigma <= max_sigma, got ", min_sigma_, ", ",
              max_sigma_);
  TORCH_CHECK(classification_weight_ >= 0 && unlabelled_entropy_weight_ >= 0, "Vera: classification weights must be >= 0");
}

Vera::Vera(VeraOptions options_) : options(std::move(options_)) { options.validate(); }

namespace {

// log p̃(x) = −E(x)/T for a batch, and the logits when the model is a classifier.
struct LogDensity {
  at::Tensor log_p, logits;
};

LogDensity log_density(EnergyModel& model, const at::Tensor& x) {
  LogDensity out;
  if (auto* clf = dynamic_cast<ClassifierEnergyImpl*>(&model)) {
    out.logits = clf->logits(x);
    out.log_p = out.logits.logsumexp(1) / model.temperature();
  } else {
    out.log_p = -model.energy(x) / model.temperature();
  }
  return out;
}

}  // namespace

ObjectiveOutput Vera::model_update(ModuleSet& modules, const Batch& batch, at::Generator& gen) {
  auto& model = modules.get<EnergyModel>("model");
  auto& g = modules.get<VeraGeneratorImpl>("generator");
  const int64_t n = batch.x.size(0);
  draw_ = g.sample(n, gen);
  generator_loss_ = at::Tensor();
  const bool penalty = options.gradient_penalty() > 0;
  auto x_d = penalty ? batch.x.detach().requires_grad_(true) : batch.x;
  // One forward pass over data and samples (Joule's networks keep no batch statistics).
  auto both = log_density(model, torch::cat({x_d, draw_.x.detach()}, 0));
  auto ld = both.log_p.narrow(0, 0, n), lg = both.log_p.narrow(0, n, n);
  auto loss = -(ld.mean() - lg.mean());
  if (options.l2_data() > 0) loss = loss + options.l2_data() * ld.pow(2).mean();
  if (options.l2_generated() > 0) loss = loss + options.l2_generated() * lg.pow(2).mean();
  if (penalty) {
    auto grad = torch::autograd::grad({ld.sum()}, {x_d}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    loss = loss + options.gradient_penalty() * (grad.reshape({n, -1}).pow(2).sum(1) * 0.5).mean();
  }
  ObjectiveOutput out;
  const double t = model.temperature();
  if (both.logits.defined()) {
    auto logits_d = both.logits.narrow(0, 0, n);
    at::Tensor logits_l, y_l;
    if (labelled_) {
      // Labelled batches are no larger than the labelled set (10 labels of 2 classes: 20 rows),
      // as a data loader over that set would give (VERA:train.py's labelled loader).
      Batch lb = labelled_->next(std::min(n, labelled_->size()), gen);
      TORCH_CHECK(lb.y.defined(), "Vera: the labelled data source returned no labels");
      logits_l = log_density(model, lb.x.to(batch.x.device())).logits;
      y_l = lb.y.to(batch.x.device(), torch::kLong);
      if (options.unlabelled_entropy_weight() > 0) {
        auto logp = logits_d.log_softmax(1);
        auto entropy = -(logp.exp() * logp).sum(1);
        loss = loss + options.unlabelled_entropy_weight() * entropy.mean();
      }
    } else if (batch.y.defined()) {
      logits_l = logits_d;
      y_l = batch.y.to(torch::kLong);
    }
    if (logits_l.defined() && options.classification_weight() > 0) {
      auto ce = torch::nll_loss(logits_l.log_softmax(1), y_l);
      loss = loss + options.classification_weight() * ce;
      torch::NoGradGuard no_grad;
      out.metrics.emplace_back("ce", ce.item<double>());
      out.metrics.emplace_back("acc", logits_l.argmax(1).eq(y_l).to(torch::kFloat64).mean().item<double>());
    }
  }
  out.loss = loss;
  out.negatives = draw_.x.detach();
  torch::NoGradGuard no_grad;
  const double e_pos = -t * ld.mean().item<double>(), e_neg = -t * lg.mean().item<double>();
  out.metrics.emplace_back("e_pos", e_pos);
  out.metrics.emplace_back("e_neg", e_neg);
  out.metrics.emplace_back("cd_gap", e_pos - e_neg);
  out.distributions = {{"energy/data", (-t * ld).detach()}, {"energy/samples", (-t * lg).detach()}};
  return out;
}

void Vera::prepare_generator_loss(ModuleSet& modules, at::Generator& gen) {
  auto& model = modules.get<EnergyModel>("model");
  auto& g = modules.get<VeraGeneratorImpl>("generator");
  if (!draw_.x.defined()) draw_ = g.sample(batch_size_hint_, gen);
  // Against the energy as just updated; the gradient reaches φ through x_g. A class-conditional
  // generator is trained against p(x|y) ∝ exp(f(x)[y]/T), each draw against its own class.
  at::Tensor lg;
  if (draw_.y.defined()) {
    auto* clf = dynamic_cast<ClassifierEnergyImpl*>(&model);
    TORCH_CHECK(clf != nullptr, "Vera: a class-conditional generator needs a classifier as the model (VERA-JEM)");
    TORCH_CHECK(clf->num_classes() == g.num_classes(), "Vera: the generator has ", g.num_classes(), " classes but the classifier has ",
                clf->num_classes());
    lg = -clf->energy(draw_.x, draw_.y) / model.temperature();
  } else {
    lg = log_density(model, draw_.x).log_p;
  }
  at::Tensor loss = -lg.mean();
  generator_metrics_ = {{"sigma", g.sigma()}};
  if (options.entropy_weight() > 0) {
    auto ent = options.estimator() == EntropyEstimator::kHmc
                   ? g.entropy_surrogate_hmc(draw_.x, draw_.h, options.hmc(), gen, draw_.y)
                   : g.entropy_surrogate(draw_.x, draw_.h, options.posterior_samples(), gen, draw_.y);
    loss = loss - options.entropy_weight() * ent.surrogate;
    generator_metrics_.emplace_back("score_norm", ent.score_norm);
    if (options.estimator() == EntropyEstimator::kHmc) generator_metrics_.emplace_back("hmc_accept", g.hmc_acceptance);
  }
  generator_loss_ = loss;
}

ObjectiveOutput Vera::compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) {
  batch_size_hint_ = batch.x.size(0);
  if (update.group == "model") return model_update(modules, batch, gen);
  auto& g = modules.get<VeraGeneratorImpl>("generator");
  ObjectiveOutput out;
  if (update.group == "posterior") {
    // The generator's loss first (its entropy estimate uses the current proposal width), then
    // the proposal's ELBO on the same samples.
    prepare_generator_loss(modules, gen);
    out.loss = g.posterior_loss(draw_.x, draw_.h, gen, draw_.y);
    out.metrics = {{"posterior_sigma", g.posterior_log_sigma.exp().mean().item<double>()}};
    return out;
  }
  TORCH_CHECK(update.group == "generator", "Vera trains the groups 'model', 'posterior' and 'generator', not '", update.group,
              "'");
  if (!generator_loss_.defined()) prepare_generator_loss(modules, gen);
  out.loss = generator_loss_;
  out.metrics = generator_metrics_;
  // The step's samples are used up.
  generator_loss_ = at::Tensor();
  draw_ = VeraGeneratorImpl::Draw();
  return out;
}

void Vera::after_update(ModuleSet& modules, const Update& update) {
  if (update.group == "generator") modules.get<VeraGeneratorImpl>("generator").clamp_sigma(options.min_sigma(), options.max_sigma());
}

void Vera::save(torch::serialize::OutputArchive& archive) const {
  if (labelled_) {
    torch::serialize::OutputArchive lab;
    labelled_->save(lab);
    archive.write("labelled", lab);
  }
}

void Vera::load(torch::serialize::InputArchive& archive) {
  if (labelled_) {
    torch::serialize::InputArchive lab;
    TORCH_CHECK(archive.try_read("labelled", lab), "checkpoint has no labelled-data state but this VERA objective is semi-supervised");
    labelled_->load(lab);
  }
  draw_ = VeraGeneratorImpl::Draw();
  generator_loss_ = at::Tensor();
}

}  // namespace joule
