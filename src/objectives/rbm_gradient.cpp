#include "joule/objectives/rbm_gradient.h"

#include <c10/util/Exception.h>
#include <torch/nn/functional/activation.h>

#include "joule/samplers/gibbs.h"

namespace joule {
namespace {

// One side (data or negatives) of the gradient: ṽ, p(h|v) and F(v), from one matrix product.
struct Side {
  torch::Tensor v, vt, p, f;
};

Side make_side(RbmImpl& rbm, const torch::Tensor& v) {
  Side s;
  s.v = v;
  s.vt = rbm.scaled_visible(v);
  auto logits = torch::addmm(rbm.hidden_bias, s.vt, rbm.weight.t());
  s.p = torch::sigmoid(logits);
  auto soft = torch::nn::functional::softplus(logits).sum(1);
  if (rbm.gaussian()) {
    s.f = 0.5 * ((v - rbm.visible_bias).pow(2) * torch::exp(-rbm.log_var)).sum(1) - soft;
  } else {
    s.f = -torch::mv(v, rbm.visible_bias) - soft;
  }
  return s;
}

// ∂F/∂ log σ²_i = −(v_i − b_i)² / (2σ_i²) + v_i (Wᵀp)_i / σ_i², averaged over the rows.
torch::Tensor dF_dlogvar(RbmImpl& rbm, const Side& s) {
  auto prec = torch::exp(-rbm.log_var);
  auto wp = torch::mm(s.p, rbm.weight);
  return ((-0.5 * (s.v - rbm.visible_bias).pow(2) + s.v * wp) * prec).mean(0);
}

std::vector<torch::Tensor> gradient(RbmImpl& rbm, const Side& pos, const Side& neg) {
  const double np = double(pos.v.size(0)), nn = double(neg.v.size(0));
  // ∂F/∂W = −p ṽᵀ, ∂F/∂b = −ṽ-like term, ∂F/∂c = −p; loss = mean F(v⁺) − mean F(v⁻).
  auto gw = torch::mm(neg.p.t(), neg.vt).mul_(1.0 / nn);
  gw.addmm_(pos.p.t(), pos.vt, 1.0, -1.0 / np);
  auto gb = neg.v.mean(0) - pos.v.mean(0);
  if (rbm.gaussian()) gb.mul_(torch::exp(-rbm.log_var));
  auto gc = neg.p.mean(0) - pos.p.mean(0);
  std::vector<torch::Tensor> g{gw, gb, gc};
  if (rbm.gaussian() && rbm.options.learn_sigma()) g.push_back(dF_dlogvar(rbm, pos) - dF_dlogvar(rbm, neg));
  return g;
}

}  // namespace

RbmGradientKind parse_rbm_gradient(const std::string& name) {
  if (name == "cd") return RbmGradientKind::kCD;
  if (name == "pcd") return RbmGradientKind::kPCD;
  if (name == "pt") return RbmGradientKind::kPT;
  TORCH_CHECK(false, "unknown RBM gradient '", name, "' (allowed: cd, pcd, pt)");
}

std::string to_string(RbmGradientKind kind) {
  switch (kind) {
    case RbmGradientKind::kCD: return "cd";
    case RbmGradientKind::kPCD: return "pcd";
    case RbmGradientKind::kPT: return "pt";
  }
  return "?";
}

void RbmGradientOptions::validate() const {
  TORCH_CHECK(k_ >= 1, "RbmGradient: k must be >= 1, got ", k_);
  TORCH_CHECK(chains_ >= 0, "RbmGradient: chains must be >= 0 (0 = batch size), got ", chains_);
  TORCH_CHECK(sparsity_target_ >= 0 && sparsity_target_ < 1, "RbmGradient: sparsity_target must be in [0, 1), got ",
              sparsity_target_);
  TORCH_CHECK(sparsity_cost_ >= 0, "RbmGradient: sparsity_cost must be >= 0, got ", sparsity_cost_);
  TORCH_CHECK(sparsity_decay_ >= 0 && sparsity_decay_ < 1, "RbmGradient: sparsity_decay must be in [0, 1), got ",
              sparsity_decay_);
  if (kind_ == RbmGradientKind::kPT) tempering_.validate();
}

RbmGradient::RbmGradient(RbmGradientOptions options_) : options(std::move(options_)) {
  options.validate();
  if (options.kind() == RbmGradientKind::kPT) {
    pt_ = std::make_unique<ParallelTempering>(ParallelTemperingOptions(options.tempering()).rounds(options.k()));
  }
}

std::vector<torch::Tensor> RbmGradient::free_energy_gradient(RbmImpl& rbm, const torch::Tensor& v_pos,
                                                             const torch::Tensor& v_neg) {
  torch::NoGradGuard no_grad;
  return gradient(rbm, make_side(rbm, rbm.flat(v_pos)), make_side(rbm, rbm.flat(v_neg)));
}

torch::Tensor RbmGradient::initial_chains(const torch::Tensor& v_pos, int64_t n, at::Generator& gen) const {
  if (n == v_pos.size(0)) return v_pos.clone();
  auto idx = torch::randint(v_pos.size(0), {n}, gen, torch::TensorOptions().dtype(torch::kLong).device(v_pos.device()));
  return v_pos.index_select(0, idx);
}

ObjectiveOutput RbmGradient::compute(EnergyModel& model, const Batch& batch, at::Generator& gen) {
  auto& rbm = as_rbm(model, "RbmGradient");
  TORCH_CHECK(model.temperature() == 1.0, "RbmGradient trains RBMs at temperature 1, got ", model.temperature());
  std::vector<torch::Tensor> grads;
  Side pos, neg;
  ObjectiveOutput out;
  {
    torch::NoGradGuard no_grad;
    auto v_pos = rbm.flat(batch.x.detach());
    const int64_t n = options.chains() > 0 ? options.chains() : v_pos.size(0);
    torch::Tensor v_neg;
    switch (options.kind()) {
      case RbmGradientKind::kCD:
        v_neg = rbm.gibbs(v_pos, options.k(), gen);
        break;
      case RbmGradientKind::kPCD:
        if (!chains_.defined()) chains_ = initial_chains(v_pos, n, gen);
        TORCH_CHECK(chains_.size(1) == rbm.num_visible(), "RbmGradient: the persistent chains have ", chains_.size(1),
                    " visible units, the RBM has ", rbm.num_visible());
        chains_ = rbm.gibbs(chains_, options.k(), gen);
        v_neg = chains_;
        break;
      case RbmGradientKind::kPT:
        if (!pt_->initialized()) pt_->init(rbm, initial_chains(v_pos, n, gen));
        v_neg = pt_->step(rbm, gen);
        break;
    }
    pos = make_side(rbm, v_pos);
    neg = make_side(rbm, v_neg);
    grads = gradient(rbm, pos, neg);
    if (options.sparsity_cost() > 0) {
      auto q = pos.p.mean(0);
      sparsity_q_ = sparsity_q_.defined() ? sparsity_q_.mul(options.sparsity_decay()).add_(q, 1.0 - options.sparsity_decay())
                                          : q;
      auto delta = (sparsity_q_ - options.sparsity_target()) * options.sparsity_cost();
      grads[0].add_(torch::outer(delta, pos.vt.mean(0)));
      grads[2].add_(delta);
    }
    auto shape = batch.x.sizes().vec();
    shape[0] = v_neg.size(0);  // PCD/PT may run more or fewer chains than the batch
    out.negatives = v_neg.reshape(shape);
  }
  const double ep = pos.f.mean().item<double>();
  const double en = neg.f.mean().item<double>();
  // Surrogate: value = the CD gap, gradient = the analytic one.
  auto params = rbm.parameters();
  TORCH_CHECK(params.size() == grads.size(), "RbmGradient: unexpected parameter list");
  torch::Tensor surrogate;
  for (size_t i = 0; i < params.size(); ++i) {
    auto t = torch::dot(params[i].reshape(-1), grads[i].reshape(-1));
    surrogate = surrogate.defined() ? surrogate + t : t;
  }
  out.loss = surrogate - surrogate.detach() + (ep - en);
  out.metrics = {{"e_pos", ep}, {"e_neg", en}, {"cd_gap", ep - en}};
  if (pt_) out.metrics.emplace_back("swap_accept", pt_->mean_swap_acceptance());
  return out;
}

void RbmGradient::save(torch::serialize::OutputArchive& archive) const {
  if (chains_.defined()) archive.write("rbm_chains", chains_);
  if (sparsity_q_.defined()) archive.write("rbm_sparsity_q", sparsity_q_);
  if (pt_) {
    torch::serialize::OutputArchive pt;
    pt_->save(pt);
    archive.write("rbm_pt", pt);
  }
}

void RbmGradient::load(torch::serialize::InputArchive& archive) {
  torch::Tensor t;
  chains_ = archive.try_read("rbm_chains", t) ? t : torch::Tensor();
  sparsity_q_ = archive.try_read("rbm_sparsity_q", t) ? t : torch::Tensor();
  if (pt_) {
    torch::serialize::InputArchive pt;
    TORCH_CHECK(archive.try_read("rbm_pt", pt), "checkpoint has no parallel-tempering chains but this objective needs them");
    pt_->load(pt);
  }
}

}  // namespace joule
