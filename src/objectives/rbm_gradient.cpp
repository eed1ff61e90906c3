#include "joule/objectives/rbm_gradient.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>
#include <torch/nn/functional/activation.h>

#include <cstring>

#include "joule/core/gemm.h"
#include "joule/samplers/gibbs.h"

namespace joule {
namespace {

// One side (data or negatives) of the gradient from one matrix product: ṽ, p(h|v), the column
// means the gradient needs, and mean F(v) for the metrics.
struct Side {
  torch::Tensor v, vt, p, v_mean, p_mean;
  double f_mean = 0;
};

bool cpu_float_contiguous(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.is_contiguous();
}

// Column means of a row-major [n, d] float matrix, n ≥ 1.
torch::Tensor column_means(const torch::Tensor& x) {
  const int64_t n = x.size(0), d = x.size(1);
  auto out = torch::empty({d}, x.options());
  float* o = out.data_ptr<float>();
  const float* r = x.data_ptr<float>();
  std::memcpy(o, r, sizeof(float) * size_t(d));
  for (int64_t i = 1; i < n; ++i) {
    r += d;
    for (int64_t j = 0; j < d; ++j) o[j] += r[j];
  }
  const float inv = 1.0f / float(n);
  for (int64_t j = 0; j < d; ++j) o[j] *= inv;
  return out;
}

// A side from its hidden logits c + W ṽ (computed by the caller, possibly fused with others)
// and, when the caller has them, p(h|v) = sigmoid(logits).
Side side_from_logits(RbmImpl& rbm, const torch::Tensor& v, const torch::Tensor& vt, const torch::Tensor& logits,
                      torch::Tensor p = {}) {
  Side s;
  s.v = v;
  s.vt = vt;
  s.p = p.defined() ? std::move(p) : torch::sigmoid(logits);
  const double n = double(v.size(0));
  auto soft = torch::nn::functional::softplus(logits);
  if (!rbm.gaussian() && v.size(0) > 0 && cpu_float_contiguous(v) && cpu_float_contiguous(s.p) &&
      cpu_float_contiguous(soft) && cpu_float_contiguous(rbm.visible_bias)) {
    // The common small-batch case in plain loops: the six tensor ops below cost a tenth of a
    // batch-10 update in dispatch alone.
    s.v_mean = column_means(v);
    s.p_mean = column_means(s.p);
    const float* sp = soft.data_ptr<float>();
    double soft_sum = 0;
    for (int64_t i = 0, m = soft.numel(); i < m; ++i) soft_sum += sp[i];
    const float *vm = s.v_mean.data_ptr<float>(), *b = rbm.visible_bias.data_ptr<float>();
    double bv = 0;
    for (int64_t i = 0, m = s.v_mean.numel(); i < m; ++i) bv += double(vm[i]) * b[i];
    s.f_mean = -bv - soft_sum / n;
    return s;
  }
  s.v_mean = v.mean(0);
  s.p_mean = s.p.mean(0);
  const double soft_mean = soft.sum().item<double>() / n;
  if (rbm.gaussian()) {
    s.f_mean = 0.5 * ((v - rbm.visible_bias).pow(2) * torch::exp(-rbm.log_var)).sum().item<double>() / n - soft_mean;
  } else {
    s.f_mean = -torch::dot(s.v_mean, rbm.visible_bias).item<double>() - soft_mean;
  }
  return s;
}

Side make_side(RbmImpl& rbm, const torch::Tensor& v) {
  auto vt = rbm.scaled_visible(v);
  return side_from_logits(rbm, v, vt, fast_addmm(rbm.hidden_bias, vt.contiguous(), rbm.weight, false, true));
}

// [a·sa; b·sb] stacked by rows (one loop for contiguous CPU floats: two scalar multiplies and a
// cat cost ~20 µs in dispatch on 10-row blocks).
torch::Tensor scaled_rows(const torch::Tensor& a, double sa, const torch::Tensor& b, double sb) {
  if (!cpu_float_contiguous(a) || !cpu_float_contiguous(b)) return torch::cat({a * sa, b * sb});
  auto out = torch::empty({a.size(0) + b.size(0), a.size(1)}, a.options());
  float* o = out.data_ptr<float>();
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  const float fa = float(sa), fb = float(sb);
  for (int64_t i = 0, n = a.numel(); i < n; ++i) o[i] = pa[i] * fa;
  o += a.numel();
  for (int64_t i = 0, n = b.numel(); i < n; ++i) o[i] = pb[i] * fb;
  return out;
}

// ∂F/∂ log σ²_i = −(v_i − b_i)² / (2σ_i²) + v_i (Wᵀp)_i / σ_i², averaged over the rows.
torch::Tensor dF_dlogvar(RbmImpl& rbm, const Side& s) {
  auto prec = torch::exp(-rbm.log_var);
  auto wp = fast_matmul(s.p, rbm.weight);
  return ((-0.5 * (s.v - rbm.visible_bias).pow(2) + s.v * wp) * prec).mean(0);
}

// `gw` is a reusable [H, V] buffer (allocating it anew each step costs page faults that show
// up at small batch sizes); undefined or mis-shaped buffers are (re)allocated.
std::vector<torch::Tensor> gradient(RbmImpl& rbm, const Side& pos, const Side& neg, torch::Tensor& gw) {
  const double np = double(pos.v.size(0)), nn = double(neg.v.size(0));
  // ∂F/∂W = −p ṽᵀ, ∂F/∂b = −ṽ (Bernoulli) or −(v − b)/σ², ∂F/∂c = −p;
  // loss = mean F(v⁺) − mean F(v⁻).
  if (!gw.defined() || gw.sizes() != rbm.weight.sizes() || gw.options().dtype() != rbm.weight.options().dtype() ||
      gw.device() != rbm.weight.device()) {
    gw = torch::empty_like(rbm.weight);
  }
  // One product over both sides: [p⁻/n⁻; −p⁺/n⁺]ᵀ [ṽ⁻; ṽ⁺] (one pass over the [H, V] output).
  gemm(scaled_rows(neg.p, 1.0 / nn, pos.p, -1.0 / np), true, torch::cat({neg.vt, pos.vt}), false, gw);
  auto gb = neg.v_mean - pos.v_mean;
  if (rbm.gaussian()) gb.mul_(torch::exp(-rbm.log_var));
  auto gc = neg.p_mean - pos.p_mean;
  std::vector<torch::Tensor> g{gw, gb, gc};
  if (rbm.gaussian() && rbm.options.learn_sigma()) g.push_back(dF_dlogvar(rbm, pos) - dF_dlogvar(rbm, neg));
  return g;
}

// Hands precomputed parameter gradients to autograd: forward returns the loss value, backward
// returns the stored gradients (scaled by the incoming gradient). Cheaper than a surrogate
// Σ θ·g, whose backward multiplies and allocates a copy of every gradient.
struct InjectGradient : public torch::autograd::Function<InjectGradient> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, at::TensorList params,
                               std::vector<torch::Tensor> grads, double value) {
    ctx->saved_data["grads"] = c10::List<torch::Tensor>(grads);
    return torch::scalar_tensor(value, params[0].options().requires_grad(false));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto grads = ctx->saved_data["grads"].toTensorList();
    const auto& go = grad_out[0];
    // loss.backward() seeds 1: pass the stored tensors through without a copy (CPU check only,
    // to avoid a device sync on GPUs).
    const bool unit = go.device().is_cpu() && go.item<double>() == 1.0;
    torch::autograd::variable_list out;
    for (size_t i = 0; i < grads.size(); ++i) out.push_back(unit ? grads.get(i) : grads.get(i) * go);
    out.emplace_back();  // grads (not an input)
    out.emplace_back();  // value
    return out;
  }
};

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

RbmGradient::RbmGradient(RbmGradientOptions options_) : options(std::move(options_)) { options.validate(); }

void RbmGradient::make_chains(int64_t n, int64_t num_visible, torch::Device device) {
  std::shared_ptr<Sampler> sampler;
  if (options.kind() == RbmGradientKind::kPT) {
    sampler = std::make_shared<ParallelTemperingSampler>(ParallelTemperingOptions(options.tempering()).rounds(options.k()));
  } else {
    sampler = std::make_shared<BlockGibbs>(BlockGibbsOptions(options.k()));
  }
  chains_ = std::make_unique<PersistentChains>(
      sampler, std::make_shared<ReplayBuffer>(ReplayBufferOptions(n).reinit_prob(0.0), std::vector<int64_t>{num_visible}, device));
}

torch::Tensor RbmGradient::chains() const {
  return chains_ && options.kind() == RbmGradientKind::kPCD ? chains_->states() : torch::Tensor();
}

ParallelTempering* RbmGradient::tempering() {
  if (!chains_ || options.kind() != RbmGradientKind::kPT) return nullptr;
  return &static_cast<ParallelTemperingSampler&>(chains_->sampler()).tempering();
}

std::vector<torch::Tensor> RbmGradient::free_energy_gradient(RbmImpl& rbm, const torch::Tensor& v_pos,
                                                             const torch::Tensor& v_neg) {
  torch::NoGradGuard no_grad;
  torch::Tensor gw;
  return gradient(rbm, make_side(rbm, rbm.flat(v_pos)), make_side(rbm, rbm.flat(v_neg)), gw);
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
    auto vt_pos = rbm.scaled_visible(v_pos);
    torch::Tensor chain_p;  // PCD: p(h | chains), from the same product as the data side
    const bool reuse_hidden = options.kind() == RbmGradientKind::kPCD && options.persistent_hidden() &&
                              chain_hidden_.defined();
    if (options.kind() != RbmGradientKind::kCD && !chains_) make_chains(n, rbm.num_visible(), v_pos.device());
    if (chains_ && !chains_->initialized() && !reuse_hidden) chains_->initialize(initial_chains(v_pos, n, gen));
    if (options.kind() == RbmGradientKind::kPCD && !reuse_hidden) {
      const auto& states = chains_->states();
      TORCH_CHECK(states.size(1) == rbm.num_visible(), "RbmGradient: the persistent chains have ", states.size(1),
                  " visible units, the RBM has ", rbm.num_visible());
      // One product for the data and the chains: W is packed once, which matters at small B.
      auto both = fast_addmm(rbm.hidden_bias, torch::cat({vt_pos, rbm.scaled_visible(states)}), rbm.weight, false, true);
      auto p_both = torch::sigmoid(both);
      const int64_t b = v_pos.size(0);
      pos = side_from_logits(rbm, v_pos, vt_pos, both.slice(0, 0, b), p_both.slice(0, 0, b));
      chain_p = p_both.slice(0, b);
    } else {
      pos = side_from_logits(rbm, v_pos, vt_pos, fast_addmm(rbm.hidden_bias, vt_pos.contiguous(), rbm.weight, false, true));
    }
    // Gibbs sweeps from hidden states h: k visible half-steps, with a hidden half-step between
    // consecutive ones. Every half-step uses the current parameters.
    auto sweeps_from_hidden = [&](torch::Tensor h) {
      torch::Tensor v;
      for (int64_t s = 0; s < options.k(); ++s) {
        v = rbm.sample_visible(h, gen);
        if (s + 1 < options.k()) h = rbm.sample_hidden(v, gen);
      }
      return v;
    };
    torch::Tensor v_neg;
    switch (options.kind()) {
      case RbmGradientKind::kCD:
        // The first hidden half-step reuses p(h | v⁺) of the data side: the same draws as
        // BlockGibbs from the data, one matrix product fewer.
        v_neg = sweeps_from_hidden(sample_bernoulli(pos.p, gen));
        break;
      case RbmGradientKind::kPCD:
        // persistent_hidden: continue from the hidden states drawn at the end of the last
        // update (sklearn's SML); otherwise a full sweep under the current parameters.
        // The sweeps are fused with the data side's product (above) rather than run by the
        // chains' BlockGibbs sampler: the same draws, one matrix product fewer.
        v_neg = sweeps_from_hidden(reuse_hidden ? chain_hidden_ : sample_bernoulli(chain_p, gen));
        chains_->set_states(v_neg);
        break;
      case RbmGradientKind::kPT:
        v_neg = chains_->advance_all(rbm, gen);
        break;
    }
    neg = make_side(rbm, v_neg);
    if (options.kind() == RbmGradientKind::kPCD && options.persistent_hidden()) {
      chain_hidden_ = sample_bernoulli(neg.p, gen);
    }
    grads = gradient(rbm, pos, neg, weight_grad_);
    if (options.sparsity_cost() > 0) {
      auto q = pos.p_mean;
      sparsity_q_ = sparsity_q_.defined() ? sparsity_q_.mul(options.sparsity_decay()).add_(q, 1.0 - options.sparsity_decay())
                                          : q.clone();
      auto delta = (sparsity_q_ - options.sparsity_target()) * options.sparsity_cost();
      grads[0].add_(torch::outer(delta, pos.vt.mean(0)));
      grads[2].add_(delta);
    }
    auto shape = batch.x.sizes().vec();
    shape[0] = v_neg.size(0);  // PCD/PT may run more or fewer chains than the batch
    out.negatives = v_neg.reshape(shape);
  }
  const double ep = pos.f_mean, en = neg.f_mean;
  // The loss value is the CD gap; its gradient is the analytic one.
  auto params = rbm.parameters();
  TORCH_CHECK(params.size() == grads.size(), "RbmGradient: unexpected parameter list");
  // (An explicit TensorList: a std::vector argument would not count as autograd inputs.)
  out.loss = InjectGradient::apply(at::TensorList(params), grads, ep - en);
  out.gradients = std::move(grads);
  out.metrics = {{"e_pos", ep}, {"e_neg", en}, {"cd_gap", ep - en}};
  if (auto* pt = tempering()) out.metrics.emplace_back("swap_accept", pt->mean_swap_acceptance());
  return out;
}

void RbmGradient::save(torch::serialize::OutputArchive& archive) const {
  if (chains_ && chains_->initialized()) {
    torch::serialize::OutputArchive c;
    chains_->save(c);
    archive.write("rbm_chains", c);
  }
  if (chain_hidden_.defined()) archive.write("rbm_chain_hidden", chain_hidden_);
  if (sparsity_q_.defined()) archive.write("rbm_sparsity_q", sparsity_q_);
}

void RbmGradient::load(torch::serialize::InputArchive& archive) {
  // A separate tensor per entry: InputArchive::read writes into the tensor it is given.
  torch::Tensor hidden, q;
  chain_hidden_ = archive.try_read("rbm_chain_hidden", hidden) ? hidden : torch::Tensor();
  sparsity_q_ = archive.try_read("rbm_sparsity_q", q) ? q : torch::Tensor();
  chains_.reset();
  torch::serialize::InputArchive c;
  if (archive.try_read("rbm_chains", c)) {
    TORCH_CHECK(options.kind() != RbmGradientKind::kCD, "checkpoint has persistent chains but this objective is CD-k");
    // The chains are made at the first update; here their shape comes from the checkpoint.
    torch::serialize::InputArchive buf;
    torch::Tensor storage;
    TORCH_CHECK(c.try_read("buffer", buf) && buf.try_read("storage", storage) && storage.dim() == 2,
                "checkpoint's RBM chains are incomplete");
    make_chains(storage.size(0), storage.size(1), storage.device());
    chains_->load(c);
    return;
  }
  // Checkpoint format 1: PCD chains as a tensor, PT replicas as their own archive.
  torch::Tensor v1_chains;
  torch::serialize::InputArchive v1_pt;
  if (archive.try_read("rbm_chains", v1_chains)) {
    make_chains(v1_chains.size(0), v1_chains.size(1), v1_chains.device());
    chains_->initialize(v1_chains);
  } else if (archive.try_read("rbm_pt", v1_pt)) {
    torch::Tensor visible;
    TORCH_CHECK(v1_pt.try_read("pt_visible", visible), "checkpoint's parallel-tempering state has no chains");
    make_chains(visible.size(1), visible.size(2), visible.device());
    chains_->sampler().load(v1_pt);
    chains_->initialize(visible[0]);
  }
}

}  // namespace joule
