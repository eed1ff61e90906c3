#include "joule/models/rbm.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/nn/functional/activation.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <ostream>

#include "joule/core/gemm.h"

namespace joule {
namespace {

constexpr double kLog2 = 0.69314718055994530942;
constexpr double kLog2Pi = 1.83787706640934548356;

at::Tensor col(const at::Tensor& beta) { return beta.unsqueeze(1); }

// One SplitMix64 output per element, from the counter `key + (i + 1)·γ` (Steele, Lea & Flood
// 2014: the counter-mode stream of SplitMix64, which passes BigCrush): 24 uniform bits → U.
__attribute__((target_clones("avx2", "default"))) void bernoulli_splitmix(const float* __restrict p,
                                                                            float* __restrict out, int64_t n,
                                                                            uint64_t key) {
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = key + uint64_t(i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    // 1 when U − p < 0, read from the sign bit: compilers turn `U < p ? 1 : 0` into a branch,
    // which mispredicts half the time for p near ½.
    const float d = float(z >> 40) * 0x1.0p-24f - p[i];
    uint32_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    out[i] = float(bits >> 31);
  }
}

}  // namespace

torch::Tensor sample_bernoulli(const torch::Tensor& p, at::Generator& gen) {
  if (p.device().is_cpu() && gen.device().is_cpu() && p.scalar_type() == torch::kFloat) {
    // One 64-bit key from the generator per call, expanded by a counter-based hash: about 3×
    // faster than torch::rand's per-element Mersenne twister, and as reproducible (the key is
    // the generator's next output, so seeds and checkpointed generator states still decide it).
    auto pc = p.contiguous();
    auto out = torch::empty_like(pc);
    uint64_t key;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      key = gen.get<at::CPUGeneratorImpl>()->random64();
    }
    bernoulli_splitmix(pc.data_ptr<float>(), out.data_ptr<float>(), pc.numel(), key);
    return out;
  }
  return torch::rand(p.sizes(), gen, p.options()).lt_(p);
}

RbmVisible parse_rbm_visible(const std::string& name) {
  if (name == "bernoulli" || name == "binary") return RbmVisible::kBernoulli;
  if (name == "gaussian") return RbmVisible::kGaussian;
  TORCH_CHECK(false, "unknown RBM visible type '", name, "' (allowed: bernoulli, gaussian)");
}

std::string to_string(RbmVisible v) { return v == RbmVisible::kBernoulli ? "bernoulli" : "gaussian"; }

void RbmOptions::validate() const {
  TORCH_CHECK(visible_ > 0, "Rbm: visible must be > 0, got ", visible_);
  TORCH_CHECK(hidden_ > 0, "Rbm: hidden must be > 0, got ", hidden_);
  TORCH_CHECK(std::isfinite(sigma_) && sigma_ > 0, "Rbm: sigma must be > 0, got ", sigma_);
  TORCH_CHECK(std::isfinite(init_std_) && init_std_ >= 0, "Rbm: init_std must be >= 0, got ", init_std_);
  TORCH_CHECK(!learn_sigma_ || visible_type_ == RbmVisible::kGaussian,
              "Rbm: learn_sigma needs Gaussian visible units");
  if (!event_shape_.empty()) {
    const int64_t n = std::accumulate(event_shape_.begin(), event_shape_.end(), int64_t{1}, std::multiplies<int64_t>());
    TORCH_CHECK(n == visible_, "Rbm: event_shape ", c10::IntArrayRef(event_shape_), " has ", n,
                " elements but visible is ", visible_);
  }
}

RbmImpl::RbmImpl(const RbmOptions& options_) : options(options_) { reset(); }

void RbmImpl::reset() {
  options.validate();
  const int64_t v = options.visible(), h = options.hidden();
  weight = register_parameter("weight", torch::randn({h, v}) * options.init_std());
  visible_bias = register_parameter("visible_bias", torch::zeros({v}));
  hidden_bias = register_parameter("hidden_bias", torch::zeros({h}));
  log_var = torch::Tensor();
  if (gaussian()) {
    auto z = torch::full({v}, 2.0 * std::log(options.sigma()));
    log_var = options.learn_sigma() ? register_parameter("log_var", z) : register_buffer("log_var", z);
  }
}

void RbmImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  weight.normal_(0.0, 1.0, gen).mul_(options.init_std());
  visible_bias.zero_();
  hidden_bias.zero_();
  if (gaussian()) log_var.fill_(2.0 * std::log(options.sigma()));
}

void RbmImpl::init_visible_from_data(const torch::Tensor& data, double eps) {
  torch::NoGradGuard no_grad;
  auto base = RbmBase::from_data(*this, data, eps);
  visible_bias.copy_(base.bias);
  if (gaussian() && options.learn_sigma()) log_var.copy_(base.log_var);
}

std::vector<int64_t> RbmImpl::event_shape() const {
  if (!options.event_shape().empty()) return options.event_shape();
  return {options.visible()};
}

void RbmImpl::pretty_print(std::ostream& stream) const {
  stream << "joule::Rbm(visible=" << options.visible() << ", hidden=" << options.hidden()
         << ", visible_type=" << to_string(options.visible_type());
  if (gaussian()) stream << ", sigma=" << options.sigma() << ", learn_sigma=" << (options.learn_sigma() ? "true" : "false");
  stream << ")";
}

torch::Tensor RbmImpl::flat(const torch::Tensor& v) const {
  TORCH_CHECK(v.dim() >= 1, "Rbm: expected a batch [N, ...], got a scalar");
  const int64_t n = v.size(0);
  TORCH_CHECK(v.numel() == n * options.visible(), "Rbm: expected ", options.visible(),
              " visible values per sample, got input of shape ", v.sizes());
  auto x = v.reshape({n, options.visible()});
  if (x.scalar_type() != weight.scalar_type() || x.device() != weight.device()) {
    x = x.to(weight.device(), weight.scalar_type());
  }
  return x;
}

torch::Tensor RbmImpl::variance() const {
  TORCH_CHECK(gaussian(), "Rbm: variance() is defined for Gaussian visible units only");
  return log_var.exp();
}

torch::Tensor RbmImpl::scaled_visible(const torch::Tensor& v_flat) const {
  return gaussian() ? v_flat * torch::exp(-log_var) : v_flat;
}

torch::Tensor RbmImpl::hidden_logits(const torch::Tensor& v) {
  return fast_addmm(hidden_bias, scaled_visible(flat(v)).contiguous(), weight, false, true);
}

torch::Tensor RbmImpl::hidden_probs(const torch::Tensor& v) { return torch::sigmoid(hidden_logits(v)); }

torch::Tensor RbmImpl::visible_mean(const torch::Tensor& h) {
  TORCH_CHECK(h.dim() == 2 && h.size(1) == options.hidden(), "Rbm: hidden states must be [N, ", options.hidden(),
              "], got ", h.sizes());
  auto m = fast_addmm(visible_bias, h.to(weight.scalar_type()).contiguous(), weight);
  return gaussian() ? m : torch::sigmoid(m);
}

torch::Tensor RbmImpl::sample_hidden(const torch::Tensor& v, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  return sample_bernoulli(hidden_probs(v), gen);
}

torch::Tensor RbmImpl::sample_visible(const torch::Tensor& h, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  auto m = visible_mean(h);
  if (!gaussian()) return sample_bernoulli(m, gen);
  auto noise = torch::empty_like(m).normal_(0.0, 1.0, gen);
  return m.addcmul_(noise, torch::exp(0.5 * log_var));
}

torch::Tensor RbmImpl::gibbs(const torch::Tensor& v, int64_t steps, at::Generator& gen, bool mean_last) {
  TORCH_CHECK(steps >= 0, "Rbm::gibbs: steps must be >= 0, got ", steps);
  torch::NoGradGuard no_grad;
  auto x = flat(v);
  for (int64_t s = 0; s < steps; ++s) {
    auto h = sample_hidden(x, gen);
    x = (mean_last && s + 1 == steps) ? visible_mean(h) : sample_visible(h, gen);
  }
  return x.reshape(v.sizes());
}

torch::Tensor RbmImpl::energy(const torch::Tensor& v) {
  auto x = flat(v);
  auto soft = torch::nn::functional::softplus(hidden_logits(x)).sum(1);
  if (gaussian()) {
    return 0.5 * ((x - visible_bias).pow(2) * torch::exp(-log_var)).sum(1) - soft;
  }
  return -torch::mv(x, visible_bias) - soft;
}

EnergyGrad RbmImpl::energy_and_grad(const torch::Tensor& v) {
  torch::NoGradGuard no_grad;
  auto x = flat(v);
  auto logits = hidden_logits(x);
  auto soft = torch::nn::functional::softplus(logits).sum(1);
  auto wp = torch::mm(torch::sigmoid(logits), weight);  // Wᵀ p(h|v), [N, V]
  torch::Tensor e, g;
  if (gaussian()) {
    auto prec = torch::exp(-log_var);
    auto d = x - visible_bias;
    e = 0.5 * (d.pow(2) * prec).sum(1) - soft;
    g = (d - wp) * prec;
  } else {
    e = -torch::mv(x, visible_bias) - soft;
    g = -(wp + visible_bias);
  }
  return {e, g.reshape(v.sizes()).to(v.scalar_type())};
}

torch::Tensor RbmImpl::joint_energy(const torch::Tensor& v, const torch::Tensor& h) {
  auto x = flat(v);
  TORCH_CHECK(h.dim() == 2 && h.size(0) == x.size(0) && h.size(1) == options.hidden(), "Rbm: hidden states must be [",
              x.size(0), ", ", options.hidden(), "], got ", h.sizes());
  auto hh = h.to(weight.scalar_type());
  auto inter = (torch::mm(hh, weight) * scaled_visible(x)).sum(1) + torch::mv(hh, hidden_bias);
  if (gaussian()) return 0.5 * ((x - visible_bias).pow(2) * torch::exp(-log_var)).sum(1) - inter;
  return -torch::mv(x, visible_bias) - inter;
}

Rbm gaussian_rbm_from_pm1_hidden(const torch::Tensor& B, const torch::Tensor& b, const torch::Tensor& c) {
  TORCH_CHECK(B.dim() == 2, "gaussian_rbm_from_pm1_hidden: B must be [V, H], got ", B.sizes());
  const int64_t nv = B.size(0), nh = B.size(1);
  TORCH_CHECK(b.dim() == 1 && b.size(0) == nv, "gaussian_rbm_from_pm1_hidden: b must be [", nv, "], got ", b.sizes());
  TORCH_CHECK(c.dim() == 1 && c.size(0) == nh, "gaussian_rbm_from_pm1_hidden: c must be [", nh, "], got ", c.sizes());
  Rbm rbm(RbmOptions(nv, nh).visible_type(RbmVisible::kGaussian).sigma(1.0));
  rbm->to(B.scalar_type());
  torch::NoGradGuard no_grad;
  rbm->weight.copy_(B.t());
  rbm->visible_bias.copy_(b - 0.5 * B.sum(1));
  rbm->hidden_bias.copy_(2.0 * c);
  return rbm;
}

// ---------------------------------------------------------------- base and tempered family

RbmBase RbmBase::of_model(const RbmImpl& rbm) {
  RbmBase base;
  base.bias = rbm.visible_bias.detach().clone();
  if (rbm.gaussian()) base.log_var = rbm.log_var.detach().clone();
  return base;
}

RbmBase RbmBase::from_data(const RbmImpl& rbm, const torch::Tensor& data, double eps) {
  TORCH_CHECK(eps > 0 && eps < 0.5, "RbmBase::from_data: eps must be in (0, 0.5), got ", eps);
  auto x = rbm.flat(data).to(torch::kFloat64);
  TORCH_CHECK(x.size(0) > 0, "RbmBase::from_data: no data");
  RbmBase base;
  const auto dtype = rbm.weight.scalar_type();
  if (rbm.gaussian()) {
    base.bias = x.mean(0).to(dtype);
    // A constant pixel has variance 0: floor it so the base density stays proper.
    base.log_var = (x.size(0) > 1 ? x.var(0) : torch::ones_like(x[0])).clamp_min(eps).log().to(dtype);
  } else {
    auto p = x.mean(0).clamp(eps, 1.0 - eps);
    base.bias = (p / (1.0 - p)).log().to(dtype);
  }
  return base;
}

TemperedRbm::TemperedRbm(RbmImpl& rbm, RbmBase base) : rbm_(rbm), base_(std::move(base)) {
  TORCH_CHECK(base_.bias.defined() && base_.bias.numel() == rbm.num_visible(), "TemperedRbm: base bias must have ",
              rbm.num_visible(), " entries");
  TORCH_CHECK(!rbm.gaussian() || (base_.log_var.defined() && base_.log_var.numel() == rbm.num_visible()),
              "TemperedRbm: a Gaussian-visible RBM needs a base log-variance with ", rbm.num_visible(), " entries");
  base_.bias = base_.bias.to(rbm.weight.device(), rbm.weight.scalar_type());
  if (rbm.gaussian()) base_.log_var = base_.log_var.to(rbm.weight.device(), rbm.weight.scalar_type());
}

torch::Tensor TemperedRbm::hidden_probs(const torch::Tensor& v, const torch::Tensor& beta) const {
  torch::NoGradGuard no_grad;
  auto x = rbm_.flat(v);
  auto logits = fast_addmm(rbm_.hidden_bias, rbm_.scaled_visible(x).contiguous(), rbm_.weight, false, true);
  return torch::sigmoid(logits.mul_(col(beta.to(logits.scalar_type()))));
}

torch::Tensor TemperedRbm::sample_hidden(const torch::Tensor& v, const torch::Tensor& beta, at::Generator& gen) const {
  return sample_bernoulli(hidden_probs(v, beta), gen);
}

torch::Tensor TemperedRbm::sample_visible(const torch::Tensor& h, const torch::Tensor& beta, at::Generator& gen) const {
  torch::NoGradGuard no_grad;
  auto w = rbm_.weight;
  auto bt = col(beta.to(w.scalar_type()));
  auto m = fast_addmm(rbm_.visible_bias, h.to(w.scalar_type()).contiguous(), w);  // b + Wᵀh
  if (!rbm_.gaussian()) {
    // (1 − β) b_A + β (b + Wᵀh)
    auto logits = m.mul_(bt).add_((1.0 - bt) * base_.bias);
    return sample_bernoulli(torch::sigmoid(logits), gen);
  }
  // Precision (1 − β)/σ_A² + β/σ², mean = ((1 − β) b_A/σ_A² + β (b + Wᵀh)/σ²) / precision.
  auto pa = torch::exp(-base_.log_var), pb = torch::exp(-rbm_.log_var);
  auto prec = (1.0 - bt) * pa + bt * pb;
  auto mean = ((1.0 - bt) * (base_.bias * pa) + bt * (m * pb)) / prec;
  auto noise = torch::empty_like(mean).normal_(0.0, 1.0, gen);
  return mean.addcmul_(noise, prec.rsqrt());
}

torch::Tensor TemperedRbm::free_energy(const torch::Tensor& v, const torch::Tensor& beta) const {
  torch::NoGradGuard no_grad;
  auto x = rbm_.flat(v).to(torch::kFloat64);
  auto b = beta.to(torch::kFloat64);
  auto w = rbm_.weight.to(torch::kFloat64);
  auto logits = torch::addmm(rbm_.hidden_bias.to(torch::kFloat64), rbm_.gaussian() ? x * torch::exp(-rbm_.log_var.to(torch::kFloat64)) : x,
                             w.t());
  auto soft = torch::nn::functional::softplus(logits * col(b)).sum(1);
  auto ba = base_.bias.to(torch::kFloat64), bm = rbm_.visible_bias.to(torch::kFloat64);
  if (!rbm_.gaussian()) return -(1.0 - b) * torch::mv(x, ba) - b * torch::mv(x, bm) - soft;
  auto ea = 0.5 * ((x - ba).pow(2) * torch::exp(-base_.log_var.to(torch::kFloat64))).sum(1);
  auto eb = 0.5 * ((x - bm).pow(2) * torch::exp(-rbm_.log_var.to(torch::kFloat64))).sum(1);
  return (1.0 - b) * ea + b * eb - soft;
}

torch::Tensor TemperedRbm::interaction_energy(const torch::Tensor& v, const torch::Tensor& h) const {
  torch::NoGradGuard no_grad;
  auto x = rbm_.flat(v).to(torch::kFloat64);
  auto e = rbm_.joint_energy(x.to(rbm_.weight.scalar_type()), h).to(torch::kFloat64);
  auto ba = base_.bias.to(torch::kFloat64);
  if (!rbm_.gaussian()) return e + torch::mv(x, ba);
  return e - 0.5 * ((x - ba).pow(2) * torch::exp(-base_.log_var.to(torch::kFloat64))).sum(1);
}

double TemperedRbm::log_z_base() const {
  double log_za;
  if (rbm_.gaussian()) {
    log_za = 0.5 * (base_.log_var.to(torch::kFloat64).sum().item<double>() + kLog2Pi * double(rbm_.num_visible()));
  } else {
    log_za = torch::nn::functional::softplus(base_.bias.to(torch::kFloat64)).sum().item<double>();
  }
  return double(rbm_.num_hidden()) * kLog2 + log_za;
}

torch::Tensor TemperedRbm::sample_base(int64_t n, at::Generator& gen) const {
  torch::NoGradGuard no_grad;
  auto opts = rbm_.weight.options();
  if (!rbm_.gaussian()) {
    return sample_bernoulli(torch::sigmoid(base_.bias).expand({n, rbm_.num_visible()}).contiguous(), gen);
  }
  auto noise = torch::empty({n, rbm_.num_visible()}, opts).normal_(0.0, 1.0, gen);
  return noise.mul_(torch::exp(0.5 * base_.log_var)).add_(base_.bias);
}

}  // namespace joule
