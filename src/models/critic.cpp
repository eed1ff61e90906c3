#include "joule/models/critic.h"

#include <c10/util/Exception.h>

#include <ostream>

namespace joule {

SteinCriticImpl::SteinCriticImpl(const SteinCriticOptions& options_) : options(options_) { reset(); }

void SteinCriticImpl::reset() {
  TORCH_CHECK(options.dim() > 0, "SteinCritic: dim must be > 0, got ", options.dim());
  TORCH_CHECK(options.width() > 0, "SteinCritic: width must be > 0, got ", options.width());
  TORCH_CHECK(options.depth() >= 1, "SteinCritic: depth must be >= 1, got ", options.depth());
  TORCH_CHECK(options.dropout() >= 0 && options.dropout() < 1, "SteinCritic: dropout must be in [0, 1), got ",
              options.dropout());
  TORCH_CHECK(!options.learn_beta() || options.activation() == Activation::kSiLU,
              "SteinCritic: learn_beta needs the silu (swish) activation, got ", to_string(options.activation()));
  weights.clear();
  biases.clear();
  betas.clear();
  int64_t fan_in = options.dim();
  for (int64_t i = 0; i <= options.depth(); ++i) {
    const int64_t out = i < options.depth() ? options.width() : options.dim();
    weights.push_back(register_parameter("weight" + std::to_string(i), at::empty({out, fan_in})));
    biases.push_back(register_parameter("bias" + std::to_string(i), at::empty({out})));
    if (i < options.depth() && options.learn_beta()) {
      betas.push_back(register_parameter("beta" + std::to_string(i), at::ones({out})));
    }
    fan_in = out;
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weights[i].size(1)));
    weights[i].uniform_(-bound, bound);
    biases[i].uniform_(-bound, bound);
  }
}

void SteinCriticImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weights[i].size(1)));
    weights[i].uniform_(-bound, bound, gen);
    biases[i].uniform_(-bound, bound, gen);
  }
  for (auto& b : betas) b.fill_(1.0);
}

at::Tensor SteinCriticImpl::forward(const at::Tensor& x, c10::optional<at::Generator> gen) {
  TORCH_CHECK(x.dim() >= 2, "SteinCritic: expected a batch [B, ...], got shape ", x.sizes());
  auto h = x.reshape({x.size(0), -1});
  TORCH_CHECK(h.size(1) == options.dim(), "SteinCritic: input has ", h.size(1), " features per sample (shape ",
              x.sizes(), ") but the critic expects ", options.dim());
  const bool drop = is_training() && options.dropout() > 0;
  TORCH_CHECK(!drop || gen.has_value(), "SteinCritic: dropout in training mode needs a generator");
  const double keep = 1.0 - options.dropout();
  const int64_t n = options.depth();
  for (int64_t i = 0; i < n; ++i) {
    auto z = at::linear(h, weights[i], biases[i]);
    h = options.learn_beta() ? z * at::sigmoid(z * betas[i]) : apply_activation(options.activation(), z);
    if (drop) {
      // Inverted dropout: E[mask] = 1, so eval mode (no mask) needs no rescaling.
      auto mask = at::empty_like(h, h.options().requires_grad(false)).bernoulli_(keep, *gen).div_(keep);
      h = h * mask;
    }
  }
  return at::linear(h, weights[n], biases[n]).view(x.sizes());
}

void SteinCriticImpl::pretty_print(std::ostream& stream) const {
  stream << "joule::SteinCritic(dim=" << options.dim() << ", width=" << options.width() << ", depth=" << options.depth()
         << ", activation=" << (options.learn_beta() ? std::string("swish(learned beta)") : to_string(options.activation()))
         << ", dropout=" << options.dropout() << ")";
}

}  // namespace joule

// ---------------------------------------------------------------- fused critic step
//
// Notation per hidden layer: z = h W₁ᵀ + b (pre-activation), u = βz, σ = sigmoid(u),
//   a = z σ                       (Swish, the activation)
//   a' = σ + u σ(1 − σ)           (∂a/∂z)
//   a'' = β σ(1 − σ)(2 + u(1 − 2σ))        ∂a/∂β = z² σ(1 − σ),  ∂a'/∂β = z σ(1 − σ)(2 + u(1 − 2σ))
// Tangent (forward mode along a probe ε): ż = ḣ Wᵀ, ȧ = a' ż, ḣ₀ = ε. With dropout mask m,
// h = a m and ḣ = ȧ m. Output f = h W_oᵀ + b_o, ḟ = ḣ W_oᵀ = (∂f/∂x) ε, and εᵀḟ estimates the trace.

namespace joule {
namespace {

struct LayerCache {
  at::Tensor input;           // [(1+k)B, in]: primal rows, then k tangent blocks
  at::Tensor z, u, sg, q, ap;  // [B, H]
  at::Tensor zdot;            // [k, B, H]
  at::Tensor mask;            // [B, H] or undefined
};

void accumulate_grad(at::Tensor& p, const at::Tensor& g) {
  auto& grad = p.mutable_grad();
  if (grad.defined()) {
    grad.add_(g);
  } else {
    grad = g.detach().clone();
  }
}

}  // namespace

CriticStepStats SteinCriticImpl::stein_loss_backward(const at::Tensor& x_in, const at::Tensor& sq_in, double l2,
                                                     bool maximize_power, bool rademacher, int64_t probes,
                                                     at::Generator& gen) {
  TORCH_CHECK(has_fused_step(), "SteinCritic::stein_loss_backward needs the swish activation");
  TORCH_CHECK(probes >= 1, "SteinCritic::stein_loss_backward: probes must be >= 1, got ", probes);
  torch::NoGradGuard no_grad;
  const int64_t b = x_in.size(0), d = options.dim(), k = probes, n_hidden = options.depth();
  TORCH_CHECK(b >= 2, "SteinCritic::stein_loss_backward: needs a batch of at least 2, got ", b);
  auto x = x_in.reshape({b, -1});
  auto sq = sq_in.reshape({b, -1});
  TORCH_CHECK(x.size(1) == d && sq.sizes() == x.sizes(), "SteinCritic::stein_loss_backward: x and sq must be [B, ", d,
              "], got ", x_in.sizes(), " and ", sq_in.sizes());
  const bool drop = is_training() && options.dropout() > 0;
  const double keep = 1.0 - options.dropout();

  // Random draws in the autograd path's order: dropout masks (layer by layer), then probes.
  std::vector<at::Tensor> masks(n_hidden);
  if (drop) {
    for (int64_t i = 0; i < n_hidden; ++i) {
      masks[i] = at::empty({b, options.width()}, x.options()).bernoulli_(keep, gen).div_(keep);
    }
  }
  auto eps = at::empty({k, b, d}, x.options());
  for (int64_t j = 0; j < k; ++j) {
    auto e = eps.select(0, j);
    if (rademacher) {
      e.bernoulli_(0.5, gen).mul_(2.0).sub_(1.0);
    } else {
      e.normal_(0.0, 1.0, gen);
    }
  }

  // ---- forward: primal and k tangent streams stacked as rows
  std::vector<LayerCache> cache(n_hidden);
  at::Tensor hh = at::cat({x, eps.reshape({k * b, d})}, 0);
  for (int64_t i = 0; i < n_hidden; ++i) {
    auto& c = cache[i];
    c.input = hh;
    auto zz = hh.mm(weights[i].t());  // [(1+k)B, H]
    c.z = zz.narrow(0, 0, b).add_(biases[i]);
    c.zdot = zz.narrow(0, b, k * b).view({k, b, -1});
    c.u = betas.empty() ? c.z : c.z * betas[i];
    c.sg = at::sigmoid(c.u);
    c.q = c.sg - c.sg * c.sg;
    c.ap = c.sg + c.u * c.q;
    auto out = at::empty_like(zz);
    auto a = out.narrow(0, 0, b);
    at::mul_out(a, c.z, c.sg);
    auto adot = out.narrow(0, b, k * b).view({k, b, -1});
    at::mul_out(adot, c.zdot, c.ap);
    if (drop) {
      c.mask = masks[i];
      a.mul_(c.mask);
      adot.mul_(c.mask);
    }
    hh = out;
  }
  auto ff = hh.mm(weights[n_hidden].t());  // [(1+k)B, D]
  auto f = ff.narrow(0, 0, b).add_(biases[n_hidden]);
  auto fdot = ff.narrow(0, b, k * b).view({k, b, d});

  // ---- statistics and the loss's derivative per sample
  auto t = (sq * f).sum(1) + (eps * fdot).sum(at::IntArrayRef{0, 2}) / static_cast<double>(k);  // [B]
  auto norm2 = f.pow(2).sum(1);
  const double mean = t.mean().item<double>();
  const double sd = t.std().item<double>();
  const double fn2 = norm2.mean().item<double>();
  at::Tensor dt;  // dL/dt_b
  CriticStepStats stats;
  if (maximize_power) {
    // L = −μ/(s + c): dL/dt_b = −1/(B(s + c)) + μ (t_b − μ)/((B − 1) s (s + c)²).
    const double c = sd + 1e-6;
    dt = (t - mean) * (mean / ((b - 1) * std::max(sd, 1e-300) * c * c)) - 1.0 / (b * c);
    stats.loss = -mean / c + l2 * fn2;
  } else {
    dt = at::full({b}, -1.0 / b, t.options());
    stats.loss = -mean + l2 * fn2;
  }
  stats.stat_mean = mean;
  stats.stat_std = sd;
  stats.f_norm2 = fn2;

  // ---- backward through both streams
  auto g = at::empty_like(ff);
  {
    auto gf = g.narrow(0, 0, b);
    at::mul_out(gf, sq, dt.unsqueeze(1));
    gf.add_(f, 2.0 * l2 / b);
    auto gfdot = g.narrow(0, b, k * b).view({k, b, d});
    at::mul_out(gfdot, eps, dt.view({1, b, 1}) / static_cast<double>(k));
  }
  accumulate_grad(weights[n_hidden], g.t().mm(hh));
  accumulate_grad(biases[n_hidden], g.narrow(0, 0, b).sum(0));
  auto gh = g.mm(weights[n_hidden]);  // [(1+k)B, H]
  for (int64_t i = n_hidden - 1; i >= 0; --i) {
    auto& c = cache[i];
    auto ga = gh.narrow(0, 0, b);
    auto gadot = gh.narrow(0, b, k * b).view({k, b, -1});
    if (drop) {
      ga.mul_(c.mask);
      gadot.mul_(c.mask);
    }
    // r = σ(1 − σ)(2 + u(1 − 2σ)); S = Σ_j ∂L/∂ȧ_j ⊙ ż_j.
    auto r = c.q * (2.0 + c.u * (1.0 - 2.0 * c.sg));
    auto s = (gadot * c.zdot).sum(0);
    auto gz_all = at::empty_like(gh);
    auto gz = gz_all.narrow(0, 0, b);
    auto sr = s * r;
    if (!betas.empty()) {
      // ∂L/∂β = Σ_b [∂L/∂a · z²σ(1 − σ) + S · z r]
      accumulate_grad(betas[i], (ga * c.z * c.q + sr).mul_(c.z).sum(0));
      sr.mul_(betas[i]);
    }
    at::mul_out(gz, ga, c.ap);
    gz.add_(sr);
    auto gzdot = gz_all.narrow(0, b, k * b).view({k, b, -1});
    at::mul_out(gzdot, gadot, c.ap);
    accumulate_grad(weights[i], gz_all.t().mm(c.input));
    accumulate_grad(biases[i], gz.sum(0));
    if (i > 0) gh = gz_all.mm(weights[i]);
  }
  return stats;
}

}  // namespace joule
