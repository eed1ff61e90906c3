#include "joule/estimators/discrete.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>
#include <torch/nn/init.h>

#include <cmath>
#include <limits>
#include <ostream>

namespace joule::estimators {
namespace {

double noise_eps(const at::Tensor& like) { return like.scalar_type() == at::kDouble ? 1e-12 : 1e-6; }

void check_logits(DiscreteFamily family, const at::Tensor& logits, const char* what) {
  TORCH_CHECK(logits.defined() && logits.dim() >= 2, what, ": logits must be a batch [B, ...], got ",
              logits.defined() ? logits.sizes() : at::IntArrayRef{});
  TORCH_CHECK(at::isFloatingType(logits.scalar_type()), what, ": logits must be floating point, got ",
              logits.scalar_type());
  if (family == DiscreteFamily::kCategorical) {
    TORCH_CHECK(logits.size(-1) >= 2, what, ": categorical logits need >= 2 classes in the last dimension, got ",
                logits.size(-1));
  }
}

// Per-sample gradient of Σ_i c_i with respect to the logits l (zeros where c does not use l).
at::Tensor grad_or_zeros(const at::Tensor& c, const at::Tensor& l) {
  if (!c.requires_grad()) return at::zeros_like(l);
  auto g = torch::autograd::grad({c.sum()}, {l}, /*grad_outputs=*/{}, /*retain_graph=*/true,
                                 /*create_graph=*/true, /*allow_unused=*/true)[0];
  return g.defined() ? g : at::zeros_like(l);
}

// [B] broadcast against a tensor shaped like the logits.
at::Tensor per_sample(const at::Tensor& v, const at::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return v.reshape(shape);
}

at::Tensor check_values(const at::Tensor& fb, int64_t batch, const char* what) {
  TORCH_CHECK(fb.defined() && fb.dim() == 1 && fb.size(0) == batch, what,
              ": f must return one value per sample, shape [", batch, "], got ",
              fb.defined() ? fb.sizes() : at::IntArrayRef{});
  return fb;
}

}  // namespace

DiscreteFamily parse_discrete_family(const std::string& name) {
  if (name == "bernoulli") return DiscreteFamily::kBernoulli;
  if (name == "categorical") return DiscreteFamily::kCategorical;
  TORCH_CHECK(false, "unknown discrete family '", name, "' (expected bernoulli or categorical)");
}

std::string to_string(DiscreteFamily family) {
  return family == DiscreteFamily::kBernoulli ? "bernoulli" : "categorical";
}

EstimatorKind parse_estimator_kind(const std::string& name) {
  if (name == "reinforce") return EstimatorKind::kReinforce;
  if (name == "rebar") return EstimatorKind::kRebar;
  if (name == "relax") return EstimatorKind::kRelax;
  if (name == "gumbel_st") return EstimatorKind::kGumbelStraightThrough;
  TORCH_CHECK(false, "unknown gradient estimator '", name, "' (expected reinforce, rebar, relax or gumbel_st)");
}

std::string to_string(EstimatorKind kind) {
  switch (kind) {
    case EstimatorKind::kReinforce: return "reinforce";
    case EstimatorKind::kRebar: return "rebar";
    case EstimatorKind::kRelax: return "relax";
    case EstimatorKind::kGumbelStraightThrough: return "gumbel_st";
  }
  return "?";
}

std::vector<std::string> estimator_names() { return {"reinforce", "rebar", "relax", "gumbel_st"}; }

SurrogateKind parse_surrogate_kind(const std::string& name) {
  if (name == "rebar") return SurrogateKind::kRebar;
  if (name == "neural") return SurrogateKind::kNeural;
  if (name == "rebar_neural") return SurrogateKind::kRebarNeural;
  if (name == "baseline") return SurrogateKind::kBaseline;
  TORCH_CHECK(false, "unknown control variate '", name, "' (expected rebar, neural, rebar_neural or baseline)");
}

std::string to_string(SurrogateKind kind) {
  switch (kind) {
    case SurrogateKind::kRebar: return "rebar";
    case SurrogateKind::kNeural: return "neural";
    case SurrogateKind::kRebarNeural: return "rebar_neural";
    case SurrogateKind::kBaseline: return "baseline";
  }
  return "?";
}

// ------------------------------------------------------------------ relaxations

RelaxationNoise draw_relaxation_noise(const at::Tensor& logits, at::Generator& gen) {
  const double eps = noise_eps(logits);
  auto opts = logits.options().requires_grad(false);
  RelaxationNoise noise;
  noise.u = at::empty(logits.sizes(), opts).uniform_(0, 1, gen).clamp_(eps, 1 - eps);
  noise.v = at::empty(logits.sizes(), opts).uniform_(0, 1, gen).clamp_(eps, 1 - eps);
  return noise;
}

at::Tensor relaxed_sample(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& u) {
  TORCH_CHECK(u.sizes() == logits.sizes(), "relaxed_sample: noise u must have the logits' shape ", logits.sizes(),
              ", got ", u.sizes());
  if (family == DiscreteFamily::kBernoulli) return logits + at::log(u) - at::log1p(-u);
  return at::log_softmax(logits, -1) - at::log(-at::log(u));
}

at::Tensor hard_sample(DiscreteFamily family, const at::Tensor& z) {
  at::NoGradGuard no_grad;
  if (family == DiscreteFamily::kBernoulli) return (z > 0).to(z.scalar_type());
  return at::one_hot(z.argmax(-1), z.size(-1)).to(z.scalar_type());
}

at::Tensor conditional_relaxed_sample(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& b,
                                      const at::Tensor& v) {
  TORCH_CHECK(v.sizes() == logits.sizes() && b.sizes() == logits.sizes(),
              "conditional_relaxed_sample: b and v must have the logits' shape ", logits.sizes(), ", got ", b.sizes(),
              " and ", v.sizes());
  if (family == DiscreteFamily::kBernoulli) {
    // In logs, for stability near θ ∈ {0, 1}: with θ = σ(l),
    //   b = 1: v′ = 1 − θ(1 − v),  1 − v′ = θ(1 − v)
    //   b = 0: v′ = v(1 − θ),      1 − v′ = 1 − v(1 − θ)
    // Both branches stay finite for any logits (1 − θ is σ(−l), not a difference), so the
    // blend's unused branch never turns into 0·∞.
    const auto theta = at::sigmoid(logits);
    const auto one = logits + at::log1p(-theta * (1 - v)) - at::log_sigmoid(logits) - at::log1p(-v);
    const auto zero = logits + at::log(v) + at::log_sigmoid(-logits) - at::log1p(-v * at::sigmoid(-logits));
    return b * one + (1 - b) * zero;
  }
  // Categorical: the top (chosen) coordinate is a standard Gumbel (the max of Gumbels located at
  // normalised log θ), the others Gumbels located at log θ_i truncated below it.
  // θ is bounded away from 0 so that −log v / θ, and its derivative, stay finite for classes
  // whose probability underflows; where() keeps each coordinate's own branch.
  // (θ² must not underflow either: autograd divides by it.)
  const double tiny = logits.scalar_type() == at::kDouble ? 1e-150 : 1e-15;
  const auto theta = at::softmax(logits, -1).clamp_min(tiny);
  const auto log_vb = (at::log(v) * b).sum(-1, /*keepdim=*/true);  // log v_b, broadcast over classes
  const auto top = -at::log(-log_vb);
  const auto rest = -at::log(-at::log(v) / theta - log_vb);
  return at::where(b > 0.5, top.expand_as(rest), rest);
}

at::Tensor common_random_v(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& z, const at::Tensor& b) {
  at::NoGradGuard no_grad;
  const double eps = noise_eps(logits);
  const auto l = logits.detach();
  const auto zd = z.detach();
  // where(), not a blend: the branch a sample does not take may be ±∞ (e.g. u / (1 − θ) at
  // θ = 1 in float32, logits above ~17), and 0·∞ would be NaN.
  if (family == DiscreteFamily::kBernoulli) {
    const auto u = at::sigmoid(zd - l);  // the u that gave z
    const auto v1 = 1 - (1 - u) / at::sigmoid(l);
    const auto v0 = u / at::sigmoid(-l);
    return at::nan_to_num(at::where(b > 0.5, v1, v0), 1 - eps, 1 - eps, eps).clamp(eps, 1 - eps);
  }
  const auto theta = at::softmax(l, -1);
  const auto zb = (zd * b).sum(-1, /*keepdim=*/true);
  const auto vb = at::exp(-at::exp(-zb)).expand_as(zd);
  const auto vi = at::exp(-theta * (at::exp(-zd) - at::exp(-zb)));
  return at::nan_to_num(at::where(b > 0.5, vb, vi), 1 - eps, 1 - eps, eps).clamp(eps, 1 - eps);
}

at::Tensor score_function(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& b) {
  if (family == DiscreteFamily::kBernoulli) return b - at::sigmoid(logits);
  return b - at::softmax(logits, -1);
}

at::Tensor log_prob(DiscreteFamily family, const at::Tensor& logits, const at::Tensor& b) {
  at::Tensor lp;
  if (family == DiscreteFamily::kBernoulli) {
    lp = b * at::log_sigmoid(logits) + (1 - b) * at::log_sigmoid(-logits);
  } else {
    lp = b * at::log_softmax(logits, -1);
  }
  return lp.reshape({lp.size(0), -1}).sum(1);
}

at::Tensor soft_relaxation(DiscreteFamily family, const at::Tensor& z, const at::Tensor& temperature) {
  if (family == DiscreteFamily::kBernoulli) return at::sigmoid(z / temperature);
  return at::softmax(z / temperature, -1);
}

// ------------------------------------------------------------------ control variate

ControlVariateImpl::ControlVariateImpl(const ControlVariateOptions& options_) : options(options_) { reset(); }

void ControlVariateImpl::reset() {
  TORCH_CHECK(options.dim() >= 1, "ControlVariate: dim must be >= 1, got ", options.dim());
  TORCH_CHECK(options.context_dim() >= 0, "ControlVariate: context_dim must be >= 0, got ", options.context_dim());
  TORCH_CHECK(options.width() >= 1 && options.depth() >= 1, "ControlVariate: width and depth must be >= 1, got ",
              options.width(), " and ", options.depth());
  TORCH_CHECK(options.temperature() > 0 && std::isfinite(options.temperature()),
              "ControlVariate: temperature must be > 0, got ", options.temperature());
  layers.clear();
  eta = at::Tensor();
  constant = at::Tensor();
  const auto kind = options.kind();
  if (has_rebar_term()) eta = register_parameter("eta", at::full({}, options.eta()));
  auto log_t = at::full({}, std::log(options.temperature()));
  log_temperature = options.learn_temperature() && depends_on_z()
                        ? register_parameter("log_temperature", log_t)
                        : register_buffer("log_temperature", log_t);
  if (kind == SurrogateKind::kRebar) return;
  int64_t in = kind == SurrogateKind::kBaseline ? options.context_dim() : options.dim() + options.context_dim();
  if (kind == SurrogateKind::kBaseline && in == 0) {
    constant = register_parameter("constant", at::zeros({}));
    return;
  }
  for (int64_t i = 0; i < options.depth(); ++i) {
    layers.push_back(register_module("layer" + std::to_string(i), torch::nn::Linear(in, options.width())));
    in = options.width();
  }
  layers.push_back(register_module("out", torch::nn::Linear(in, 1)));
}

void ControlVariateImpl::reset_parameters(at::Generator gen) {
  at::NoGradGuard no_grad;
  if (eta.defined()) eta.fill_(options.eta());
  log_temperature.fill_(std::log(options.temperature()));
  if (constant.defined()) constant.zero_();
  for (auto& layer : layers) {
    // PyTorch's nn.Linear default: U(−1/√fan_in, 1/√fan_in) for weight and bias.
    const double bound = 1.0 / std::sqrt(static_cast<double>(layer->weight.size(1)));
    layer->weight.uniform_(-bound, bound, gen);
    layer->bias.uniform_(-bound, bound, gen);
  }
}

bool ControlVariateImpl::has_rebar_term() const {
  return options.kind() == SurrogateKind::kRebar || options.kind() == SurrogateKind::kRebarNeural;
}

at::Tensor ControlVariateImpl::temperature() const { return log_temperature.exp(); }

at::Tensor ControlVariateImpl::network(const at::Tensor& input, const at::Tensor& context) {
  at::Tensor h = input;
  if (options.context_dim() > 0) {
    const int64_t batch = input.defined() ? input.size(0) : (context.defined() ? context.size(0) : 0);
    TORCH_CHECK(context.defined() && context.dim() == 2 && context.size(0) == batch &&
                    context.size(1) == options.context_dim(),
                "ControlVariate: context must be [", batch, ", ", options.context_dim(), "], got ",
                context.defined() ? context.sizes() : at::IntArrayRef{});
    h = h.defined() ? at::cat({h, context.to(h.scalar_type())}, 1) : context;
  }
  TORCH_CHECK(h.defined() && h.size(1) == layers.front()->weight.size(1), "ControlVariate: the network expects ",
              layers.front()->weight.size(1), " inputs per sample, got ",
              h.defined() ? h.sizes() : at::IntArrayRef{});
  for (size_t i = 0; i + 1 < layers.size(); ++i) h = apply_activation(options.activation(), layers[i]->forward(h));
  return layers.back()->forward(h).squeeze(-1);
}

at::Tensor ControlVariateImpl::forward(const at::Tensor& z, const BatchFunction& f, const at::Tensor& context) {
  const int64_t batch = z.size(0);
  TORCH_CHECK(z.numel() / std::max<int64_t>(batch, 1) == options.dim(), "ControlVariate: expected ", options.dim(),
              " logits per sample, got shape ", z.sizes());
  const auto kind = options.kind();
  if (kind == SurrogateKind::kBaseline) {
    if (constant.defined()) return constant.expand({batch});
    return network(at::Tensor(), context);
  }
  const auto relaxed = soft_relaxation(options.family(), z, temperature());
  at::Tensor c;
  if (has_rebar_term()) {
    TORCH_CHECK(f, "ControlVariate: a REBAR surrogate needs f");
    c = eta * check_values(f(relaxed), batch, "ControlVariate (f on relaxed samples)");
  }
  if (!layers.empty()) {
    auto input = relaxed.reshape({batch, -1});
    if (options.family() == DiscreteFamily::kBernoulli) input = 2 * input - 1;  // toy.py feeds 2x − 1
    const auto r = network(input, context);
    c = c.defined() ? c + r : r;
  }
  return c;
}

void ControlVariateImpl::pretty_print(std::ostream& stream) const {
  stream << "joule::estimators::ControlVariate(kind=" << to_string(options.kind()) << ", dim=" << options.dim()
         << ", context_dim=" << options.context_dim() << ", width=" << options.width() << ", depth=" << options.depth()
         << ")";
}

// ------------------------------------------------------------------ estimators

DiscreteGradientEstimator::DiscreteGradientEstimator(DiscreteEstimatorOptions options, ControlVariate control_variate)
    : options_(options), cv_(std::move(control_variate)) {
  TORCH_CHECK(options_.baseline_decay() >= 0 && options_.baseline_decay() < 1,
              "DiscreteGradientEstimator: baseline_decay must be in [0, 1), got ", options_.baseline_decay());
  TORCH_CHECK(options_.straight_through_temperature() > 0,
              "DiscreteGradientEstimator: straight_through_temperature must be > 0, got ",
              options_.straight_through_temperature());
  const auto kind = options_.kind();
  if (kind == EstimatorKind::kRebar || kind == EstimatorKind::kRelax) {
    TORCH_CHECK(!cv_.is_empty(), "DiscreteGradientEstimator: ", to_string(kind), " needs a control variate");
  }
  if (kind == EstimatorKind::kRebar) {
    TORCH_CHECK(cv_->options.kind() == SurrogateKind::kRebar,
                "DiscreteGradientEstimator: rebar needs a control variate of kind rebar, got ",
                to_string(cv_->options.kind()), " (use relax for the others)");
  }
  if (kind == EstimatorKind::kReinforce && !cv_.is_empty()) {
    TORCH_CHECK(cv_->options.kind() == SurrogateKind::kBaseline,
                "DiscreteGradientEstimator: reinforce takes only a control variate of kind baseline (a learned "
                "baseline), got ", to_string(cv_->options.kind()));
    TORCH_CHECK(options_.baseline_decay() == 0,
                "DiscreteGradientEstimator: choose a learned baseline or a moving average (baseline_decay), not both");
  }
  if (!cv_.is_empty()) {
    TORCH_CHECK(cv_->options.family() == options_.family(), "DiscreteGradientEstimator: the control variate is for ",
                to_string(cv_->options.family()), " choices, the estimator for ", to_string(options_.family()));
  }
}

GradientEstimate DiscreteGradientEstimator::estimate(const at::Tensor& logits, const BatchFunction& f,
                                                     at::Generator& gen, const at::Tensor& context,
                                                     const BatchFunction& relaxed_f) {
  check_logits(options_.family(), logits, "DiscreteGradientEstimator");
  return estimate(logits, f, draw_relaxation_noise(logits.detach(), gen), context, relaxed_f);
}

GradientEstimate DiscreteGradientEstimator::estimate(const at::Tensor& logits, const BatchFunction& f,
                                                     const RelaxationNoise& noise, const at::Tensor& context,
                                                     const BatchFunction& relaxed_f) {
  const auto family = options_.family();
  const auto kind = options_.kind();
  check_logits(family, logits, "DiscreteGradientEstimator");
  TORCH_CHECK(f, "DiscreteGradientEstimator: f is empty");
  const BatchFunction& f_relaxed = relaxed_f ? relaxed_f : f;
  const int64_t batch = logits.size(0);
  // A detached copy: the surrogate's gradient must not reach the model through the logits
  // (pydrobert-pytorch PR #9), and a copy, so that the model's optimizer may update the logits'
  // storage in place before the variance loss is back-propagated.
  const auto l = logits.detach().clone().requires_grad_(true);

  GradientEstimate out;
  at::Tensor z;
  {
    z = relaxed_sample(family, l, noise.u);
    out.b = hard_sample(family, z);
  }
  out.f = check_values(f(out.b), batch, "DiscreteGradientEstimator").detach();
  const auto score = score_function(family, l.detach(), out.b);

  switch (kind) {
    case EstimatorKind::kReinforce: {
      at::Tensor centred;
      if (!cv_.is_empty()) {
        centred = out.f - cv_->forward(z.detach(), f_relaxed, context);
      } else {
        centred = out.f - baseline_;
      }
      out.grad_logits = per_sample(centred, l) * score;
      if (options_.baseline_decay() > 0) {
        // Updated after use: the baseline only ever holds earlier batches, so ĝ stays unbiased.
        const double d = options_.baseline_decay();
        const double m = out.f.mean().item<double>();
        baseline_ = baseline_batches_ == 0 ? m : d * baseline_ + (1 - d) * m;
        ++baseline_batches_;
      }
      break;
    }
    case EstimatorKind::kRebar:
    case EstimatorKind::kRelax: {
      const auto v = options_.common_random_numbers() ? common_random_v(family, l, z, out.b) : noise.v;
      const auto z_tilde = conditional_relaxed_sample(family, l, out.b, v);
      const auto c_z = cv_->forward(z, f_relaxed, context);
      const auto c_zt = cv_->forward(z_tilde, f_relaxed, context);
      // ∂c(z)/∂l − ∂c(z̃)/∂l in one backward pass (and one graph for the variance loss), not two.
      out.grad_logits = per_sample(out.f - c_zt, l) * score + grad_or_zeros(c_z - c_zt, l);
      break;
    }
    case EstimatorKind::kGumbelStraightThrough: {
      const auto lambda = at::full({}, options_.straight_through_temperature(), l.options().requires_grad(false));
      const auto soft = soft_relaxation(family, z, lambda);
      const auto st = out.b + soft - soft.detach();
      const auto fst = check_values(f_relaxed(st), batch, "DiscreteGradientEstimator (straight-through)");
      out.grad_logits = torch::autograd::grad({fst.sum()}, {l}, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                              /*allow_unused=*/true)[0];
      if (!out.grad_logits.defined()) out.grad_logits = at::zeros_like(l);
      break;
    }
  }
  if (!cv_.is_empty() && kind != EstimatorKind::kGumbelStraightThrough) {
    out.variance_loss = out.grad_logits.pow(2).mean();
  }
  return out;
}

GaussianGradientEstimate lax_gaussian(const at::Tensor& mean, const at::Tensor& log_std, const BatchFunction& f,
                                      ControlVariate control_variate, at::Generator& gen, const at::Tensor& context) {
  TORCH_CHECK(mean.defined() && mean.dim() == 2, "lax_gaussian: mean must be [B, D], got ",
              mean.defined() ? mean.sizes() : at::IntArrayRef{});
  TORCH_CHECK(!control_variate.is_empty(), "lax_gaussian: LAX needs a control variate");
  TORCH_CHECK(control_variate->options.dim() == mean.size(1) &&
                  control_variate->options.kind() == SurrogateKind::kNeural,
              "lax_gaussian: the control variate must be neural with dim = D = ", mean.size(1));
  const auto m = mean.detach().clone().requires_grad_(true);
  const auto s = log_std.detach().expand_as(mean).clone().requires_grad_(true);
  const auto eps = at::empty(mean.sizes(), mean.options().requires_grad(false)).normal_(0, 1, gen);
  const auto sd = s.exp();
  const auto x = m + sd * eps;

  GaussianGradientEstimate out;
  out.x = x.detach();
  out.f = check_values(f(out.x), mean.size(0), "lax_gaussian").detach();
  const auto c = control_variate->network(x, context);
  auto grads = torch::autograd::grad({c.sum()}, {m, s}, {}, /*retain_graph=*/true, /*create_graph=*/true,
                                     /*allow_unused=*/true);
  const auto centred = per_sample(out.f - c, m);
  const auto score_m = (eps / sd).detach();
  const auto score_s = (eps * eps - 1).detach();
  out.grad_mean = centred * score_m + (grads[0].defined() ? grads[0] : at::zeros_like(m));
  out.grad_log_std = centred * score_s + (grads[1].defined() ? grads[1] : at::zeros_like(s));
  out.variance_loss = 0.5 * (out.grad_mean.pow(2).mean() + out.grad_log_std.pow(2).mean());
  return out;
}

// ------------------------------------------------------------------ running variance

RunningGradientVariance::RunningGradientVariance(double decay) : decay_(decay) {
  TORCH_CHECK(decay >= 0 && decay < 1, "RunningGradientVariance: decay must be in [0, 1), got ", decay);
}

void RunningGradientVariance::update(const at::Tensor& estimate) {
  at::NoGradGuard no_grad;
  const auto g = estimate.detach().to(at::kDouble);
  if (count_ == 0) {
    m1_ = at::zeros_like(g);
    m2_ = at::zeros_like(g);
  }
  TORCH_CHECK(g.sizes() == m1_.sizes(), "RunningGradientVariance: estimates changed shape from ", m1_.sizes(), " to ",
              g.sizes());
  m1_.mul_(decay_).add_(g, 1 - decay_);
  m2_.mul_(decay_).add_(g * g, 1 - decay_);
  ++count_;
}

at::Tensor RunningGradientVariance::mean() const {
  TORCH_CHECK(count_ > 0, "RunningGradientVariance: no estimate yet");
  return m1_ / (1 - std::pow(decay_, static_cast<double>(count_)));
}

at::Tensor RunningGradientVariance::variance() const {
  TORCH_CHECK(count_ > 0, "RunningGradientVariance: no estimate yet");
  const double correction = 1 - std::pow(decay_, static_cast<double>(count_));
  const auto m = m1_ / correction;
  return (m2_ / correction - m * m).clamp_min(0);
}

std::vector<at::Tensor> RunningGradientVariance::state() const {
  if (count_ == 0) return {at::zeros({0}, at::kDouble), at::zeros({0}, at::kDouble), at::zeros({}, at::kLong)};
  return {m1_, m2_, at::full({}, count_, at::kLong)};
}

void RunningGradientVariance::set_state(const std::vector<at::Tensor>& state) {
  TORCH_CHECK(state.size() == 3, "RunningGradientVariance: a state has 3 tensors, got ", state.size());
  count_ = state[2].item<int64_t>();
  TORCH_CHECK(count_ >= 0, "RunningGradientVariance: a negative count in the saved state");
  m1_ = count_ > 0 ? state[0].to(at::kDouble).clone() : at::Tensor();
  m2_ = count_ > 0 ? state[1].to(at::kDouble).clone() : at::Tensor();
}

double RunningGradientVariance::mean_log_variance() const {
  if (count_ < 2) return -std::numeric_limits<double>::infinity();
  return variance().log().mean().item<double>();
}

}  // namespace joule::estimators
