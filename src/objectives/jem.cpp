#include "joule/objectives/jem.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace joule {

void JemOptions::validate() const {
  TORCH_CHECK(num_classes_ >= 1, "Jem: num_classes must be >= 1, got ", num_classes_);
  TORCH_CHECK(px_weight_ >= 0 && py_weight_ >= 0 && pxy_weight_ >= 0, "Jem: term weights must be >= 0, got px ",
              px_weight_, ", py ", py_weight_, ", pxy ", pxy_weight_);
  TORCH_CHECK(px_weight_ + py_weight_ + pxy_weight_ > 0, "Jem: at least one of px_weight, py_weight, pxy_weight must be > 0");
  TORCH_CHECK(l2_energy_ >= 0, "Jem: l2_energy must be >= 0, got ", l2_energy_);
  TORCH_CHECK(std::isfinite(data_noise_) && data_noise_ >= 0, "Jem: data_noise must be >= 0, got ", data_noise_);
}

namespace {

std::shared_ptr<PersistentChains> jem_chains(const JemOptions& options, std::shared_ptr<Sampler> sampler,
                                             std::shared_ptr<ReplayBuffer> buffer) {
  if (!sampler || !buffer) return nullptr;
  if (options.pxy_weight() > 0) {
    TORCH_CHECK(buffer->capacity() % options.num_classes() == 0, "Jem: p(x|y) uses class buckets, so the buffer capacity (",
                buffer->capacity(), ") must be a multiple of num_classes (", options.num_classes(), ")");
  }
  return std::make_shared<PersistentChains>(
      sampler, buffer, PersistentChainsOptions().num_classes(options.pxy_weight() > 0 ? options.num_classes() : 0));
}

}  // namespace

Jem::Jem(JemOptions options_, std::shared_ptr<Sampler> sampler, std::shared_ptr<ReplayBuffer> buffer)
    : Jem(options_, jem_chains(options_, std::move(sampler), std::move(buffer))) {}

Jem::Jem(JemOptions options_, std::shared_ptr<PersistentChains> chains) : options(options_), chains_(std::move(chains)) {
  options.validate();
  if (options.generative()) {
    TORCH_CHECK(chains_, "Jem: the generative terms (px_weight or pxy_weight > 0) need a sampler and a replay buffer");
  }
  if (options.pxy_weight() > 0) {
    TORCH_CHECK(chains_->options().num_classes() == options.num_classes(), "Jem: p(x|y) needs chains with one class bucket per class (",
                options.num_classes(), "), got ", chains_->options().num_classes());
  }
}

void Jem::set_labelled(std::shared_ptr<data::DataSource> labelled) { labelled_ = std::move(labelled); }

ObjectiveOutput Jem::compute(EnergyModel& model, const Batch& batch, at::Generator& gen) {
  auto* clf = dynamic_cast<ClassifierEnergyImpl*>(&model);
  TORCH_CHECK(clf, "Jem needs a ClassifierEnergy model (a classifier whose logits define the energy)");
  const int64_t n = batch.x.size(0);
  const double sigma = options.data_noise();
  auto noisy = [&](const torch::Tensor& x) {
    return sigma > 0 ? x + torch::empty_like(x).normal_(0.0, sigma, gen) : x;
  };
  const bool supervised = options.py_weight() > 0 || options.pxy_weight() > 0;

  // Labelled batch: a separate source in semi-supervised mode, else the data batch itself (its
  // logits are then shared by the generative and the classification terms).
  torch::Tensor x_d = noisy(batch.x), x_l, y_l;
  const bool separate = labelled_ && supervised;
  if (supervised) {
    if (separate) {
      // No larger than the labelled set (10 labels of 2 classes are 20 rows), as a loader over it gives.
      Batch lb = labelled_->next(std::min(n, labelled_->size()), gen);
      TORCH_CHECK(lb.y.defined(), "Jem: the labelled data source returned no labels");
      x_l = noisy(lb.x.to(batch.x.device()));
      y_l = lb.y.to(batch.x.device());
    } else {
      TORCH_CHECK(batch.y.defined(), "Jem: the classification terms need labels, but the training batch has none "
                  "(set py_weight = pxy_weight = 0, or provide labels)");
      x_l = x_d;
      y_l = batch.y;
    }
    y_l = y_l.to(torch::kLong);
  }

  ObjectiveOutput out;
  std::vector<std::pair<std::string, double>> metrics;

  // Negatives: SGLD chains from the buffer (unconditional) and from class buckets (p(x|y)).
  torch::Tensor x_q, x_qy;
  if (options.px_weight() > 0) {
    x_q = chains_->advance(model, n, gen);
    metrics.emplace_back("sgld_grad_norm", chains_->sampler().stats().mean_grad_norm);
  }
  if (options.pxy_weight() > 0) {
    ClassConditionalEnergy conditional(*clf, y_l);
    EvalModeGuard eval_mode(*clf);  // dropout off while sampling, as for the unconditional chains
    x_qy = chains_->advance_conditional(conditional, y_l, gen);
  }

  // One forward pass over every input of the step (no batch statistics in the network, so
  // this equals separate passes and saves small-kernel launches).
  std::vector<torch::Tensor> parts;
  const bool need_d = options.px_weight() > 0 || options.l2_energy() > 0 || (supervised && !separate);
  int64_t o_d = -1, o_q = -1, o_l = -1, o_qy = -1, offset = 0;
  auto add = [&](const torch::Tensor& t, int64_t& o) {
    o = offset;
    offset += t.size(0);
    parts.push_back(t);
  };
  if (need_d) add(x_d, o_d);
  if (x_q.defined()) add(x_q, o_q);
  if (separate) add(x_l, o_l);
  if (x_qy.defined()) add(x_qy, o_qy);
  if (!separate && supervised) o_l = o_d;
  auto logits = clf->logits(parts.size() == 1 ? parts[0] : torch::cat(parts, 0));
  auto rows = [&](int64_t o, int64_t count) { return logits.narrow(0, o, count); };

  torch::Tensor loss = torch::zeros({}, logits.options());
  torch::Tensor e_d, e_q;
  if (o_d >= 0) e_d = -rows(o_d, n).logsumexp(1);
  if (o_q >= 0) e_q = -rows(o_q, n).logsumexp(1);
  if (options.px_weight() > 0) loss = loss + options.px_weight() * (e_d.mean() - e_q.mean());
  if (supervised) {
    auto f_l = rows(o_l, y_l.size(0));
    auto ce = torch::nll_loss(f_l.log_softmax(1), y_l);
    if (options.py_weight() > 0) loss = loss + options.py_weight() * ce;
    torch::NoGradGuard no_grad;
    metrics.emplace_back("ce", ce.item<double>());
    metrics.emplace_back("acc", f_l.argmax(1).eq(y_l).to(torch::kFloat64).mean().item<double>());
  }
  torch::Tensor e_ly, e_qy;
  if (options.pxy_weight() > 0) {
    auto idx = y_l.unsqueeze(1);
    e_ly = -rows(o_l, y_l.size(0)).gather(1, idx).squeeze(1);
    e_qy = -rows(o_qy, y_l.size(0)).gather(1, idx).squeeze(1);
    loss = loss + options.pxy_weight() * (e_ly.mean() - e_qy.mean());
  }
  if (options.l2_energy() > 0) {
    auto penalty = e_d.pow(2).mean();
    if (e_q.defined()) penalty = penalty + e_q.pow(2).mean();
    if (e_qy.defined()) penalty = penalty + e_ly.pow(2).mean() + e_qy.pow(2).mean();
    loss = loss + options.l2_energy() * penalty;
  }

  torch::NoGradGuard no_grad;
  if (e_d.defined()) metrics.emplace_back("e_pos", e_d.mean().item<double>());
  if (e_q.defined()) {
    metrics.emplace_back("e_neg", e_q.mean().item<double>());
    metrics.emplace_back("cd_gap", e_d.mean().item<double>() - e_q.mean().item<double>());
  }
  if (e_qy.defined()) {
    metrics.emplace_back("e_pos_y", e_ly.mean().item<double>());
    metrics.emplace_back("e_neg_y", e_qy.mean().item<double>());
  }
  out.loss = loss;
  out.metrics = std::move(metrics);
  out.negatives = x_q.defined() ? x_q : x_qy;
  if (e_d.defined()) out.distributions.emplace_back("energy/data", e_d.detach());
  if (e_q.defined()) out.distributions.emplace_back("energy/samples", e_q.detach());
  if (e_qy.defined()) out.distributions.emplace_back("energy/samples_y", e_qy.detach());
  return out;
}

void Jem::save(torch::serialize::OutputArchive& archive) const {
  if (chains_) chains_->save(archive);
  if (labelled_) {
    torch::serialize::OutputArchive lab;
    labelled_->save(lab);
    archive.write("labelled", lab);
  }
}

void Jem::load(torch::serialize::InputArchive& archive) {
  if (chains_) chains_->load(archive);
  if (labelled_) {
    torch::serialize::InputArchive lab;
    TORCH_CHECK(archive.try_read("labelled", lab),
                "checkpoint has no labelled-data state but this JEM objective is semi-supervised");
    labelled_->load(lab);
  }
}

}  // namespace joule
