#include "joule/models/critic.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <mutex>
#include <ostream>
#include <type_traits>

#include "joule/core/gemm.h"

namespace joule {
namespace {

// Inverted-dropout mask [rows, cols]: entries 0 or 1/keep. For keep = 0.5 on the CPU each entry
// takes one bit of a 64-bit draw (64× fewer generator calls than bernoulli_, which dominated the
// critic step's time); both the autograd and the fused path use this, so they see equal masks.
at::Tensor dropout_mask(int64_t rows, int64_t cols, double keep, const at::TensorOptions& opts, at::Generator& gen) {
  auto m = at::empty({rows, cols}, opts.requires_grad(false));
  if (keep != 0.5 || !m.device().is_cpu()) return m.bernoulli_(keep, gen).div_(keep);
  const int64_t n = m.numel();
  std::vector<uint64_t> bits((n + 63) / 64);
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    auto* impl = at::check_generator<at::CPUGeneratorImpl>(gen);
    for (auto& w : bits) w = impl->random64();
  }
  AT_DISPATCH_FLOATING_TYPES(m.scalar_type(), "dropout_mask", [&] {
    auto* p = m.data_ptr<scalar_t>();
    const int64_t full = n / 64;
    for (int64_t w = 0; w < full; ++w) {
      const uint64_t word = bits[w];
      scalar_t* q = p + 64 * w;
      for (int j = 0; j < 64; ++j) q[j] = scalar_t(2 * ((word >> j) & 1));  // branch-free
    }
    for (int64_t i = 64 * full; i < n; ++i) p[i] = scalar_t(2 * ((bits[i >> 6] >> (i & 63)) & 1));
  });
  return m;
}

}  // namespace

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
      h = h * dropout_mask(h.size(0), h.size(1), keep, h.options(), *gen);
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
// Notation per hidden layer: z = h Wᵀ + b (pre-activation), u = βz, σ = sigmoid(u),
//   a = z σ                       (Swish, the activation)
//   a' = σ + u σ(1 − σ)           (∂a/∂z)
//   a'' = β r,  r = σ(1 − σ)(2 + u(1 − 2σ));   ∂a/∂β = z² σ(1 − σ),  ∂a'/∂β = z r.
// Tangent (forward mode along a probe ε): ż = ḣ Wᵀ, ȧ = a' ż, ḣ₀ = ε. With dropout mask m,
// h = a m and ḣ = ȧ m. Output f = h W_oᵀ + b_o, ḟ = ḣ W_oᵀ = (∂f/∂x) ε, and εᵀḟ estimates the trace.
// Backward through both streams, with S = Σ_j ∂L/∂ȧ_j ż_j:
//   ∂L/∂z = ∂L/∂a · a' + S β r,   ∂L/∂ż_j = ∂L/∂ȧ_j · a',   ∂L/∂β = Σ_rows z (∂L/∂a · z σ(1 − σ) + S r).
//
// Rows of every layer buffer: the B primal rows, then k blocks of B tangent rows, so that each
// layer is one matrix product. On the CPU the elementwise work of a layer is one fused loop
// (plus LibTorch's vectorised sigmoid); elsewhere it is a few tensor expressions.

namespace joule {
namespace {

struct LayerCache {
  at::Tensor input;  // [(1+k)B, in]: the layer's input rows
  at::Tensor zz;     // [(1+k)B, H]: z (bias added) then the tangents ż
  at::Tensor sg;     // [B, H]: σ(βz)
  at::Tensor ap;     // [B, H]: a'(z)
  at::Tensor mask;   // [B, H] or undefined
};

void accumulate_grad(at::Tensor& p, const at::Tensor& g) {
  auto& grad = p.mutable_grad();
  if (grad.defined()) {
    grad.add_(g);
  } else {
    grad = g.detach().clone();
  }
}

// p.grad += op(a)·op(b), one GEMM straight into the gradient buffer.
void accumulate_grad_product(at::Tensor& p, const at::Tensor& a, bool trans_a, const at::Tensor& b, bool trans_b) {
  auto& grad = p.mutable_grad();
  if (!grad.defined()) {
    grad = at::zeros_like(p, p.options().requires_grad(false));
  }
  gemm(a, trans_a, b, trans_b, grad, 1.0, 1.0);
}

constexpr int64_t kGrain = 16;  // rows per parallel task

// Row kernels of the common case (float, one probe), cloned for AVX2 so the loops are vectorised
// where the CPU has it (resolved at load time; the build targets baseline x86-64). `beta` and `m`
// may be null (no learned β, no dropout). The general loops below compute the same values.
// Views of a dispatch branch's pointers as float. The AT_DISPATCH lambdas are not templates, so
// a float-only branch is compiled for double too; it runs only when scalar_t is float.
template <class T>
const float* as_float(const T* p) {
  return reinterpret_cast<const float*>(p);
}
template <class T>
float* as_float(T* p) {
  return reinterpret_cast<float*>(p);
}

__attribute__((target_clones("avx2", "default"))) void activation_forward_row(
    const float* __restrict z, const float* __restrict zt, const float* __restrict s, const float* __restrict beta,
    const float* __restrict m, float* __restrict ap, float* __restrict out, float* __restrict out_t, int64_t h) {
  for (int64_t c = 0; c < h; ++c) {
    const float u = beta ? beta[c] * z[c] : z[c];
    const float mm = m ? m[c] : 1.0f;
    const float a1 = s[c] + u * s[c] * (1.0f - s[c]);
    ap[c] = a1;
    out[c] = z[c] * s[c] * mm;
    out_t[c] = zt[c] * a1 * mm;
  }
}

__attribute__((target_clones("avx2", "default"))) void activation_backward_row(
    const float* __restrict g, const float* __restrict gt, const float* __restrict z, const float* __restrict zt,
    const float* __restrict s, const float* __restrict ap, const float* __restrict beta, const float* __restrict m,
    float* __restrict oz, float* __restrict ozt, float* __restrict acc, int64_t h) {
  for (int64_t c = 0; c < h; ++c) {
    const float mm = m ? m[c] : 1.0f, bt = beta ? beta[c] : 1.0f;
    const float zv = z[c], sv = s[c], a1 = ap[c];
    const float u = bt * zv, q = sv * (1.0f - sv);
    const float rr = q * (2.0f + u * (1.0f - 2.0f * sv));
    const float ga = g[c] * mm, gad = gt[c] * mm;
    const float sum = gad * zt[c];
    ozt[c] = gad * a1;
    oz[c] = ga * a1 + sum * bt * rr;
    acc[c] += zv * (ga * zv * q + sum * rr);
  }
}

// Forward elementwise block of one hidden layer: adds the bias to z in place, fills sg and ap,
// and returns the layer output (a·m on the primal rows, ȧ_j·m on the tangent rows).
at::Tensor activation_forward(const at::Tensor& zz, const at::Tensor& bias, const at::Tensor& beta,
                              const at::Tensor& mask, int64_t b, int64_t k, at::Tensor& sg, at::Tensor& ap) {
  const int64_t h = zz.size(1);
  auto z = zz.narrow(0, 0, b);
  z.add_(bias);
  auto out = at::empty_like(zz);
  if (zz.device().is_cpu() && zz.is_contiguous()) {
    sg = beta.defined() ? z * beta : z.clone();
    sg.sigmoid_();
    ap = at::empty_like(sg);
    AT_DISPATCH_FLOATING_TYPES(zz.scalar_type(), "critic_activation_forward", [&] {
      const scalar_t* zp = zz.data_ptr<scalar_t>();
      const scalar_t* bp = beta.defined() ? beta.data_ptr<scalar_t>() : nullptr;
      const scalar_t* mp = mask.defined() ? mask.data_ptr<scalar_t>() : nullptr;
      const scalar_t* sp = sg.data_ptr<scalar_t>();
      scalar_t* app = ap.data_ptr<scalar_t>();
      scalar_t* op = out.data_ptr<scalar_t>();
      at::parallel_for(0, b, kGrain, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t o = r * h;
          if constexpr (std::is_same_v<scalar_t, float>) {
            if (k == 1) {
              const int64_t t = (b + r) * h;
              activation_forward_row(as_float(zp + o), as_float(zp + t), as_float(sp + o), as_float(bp),
                                     mp ? as_float(mp + o) : nullptr, as_float(app + o), as_float(op + o),
                                     as_float(op + t), h);
              continue;
            }
          }
          for (int64_t c = 0; c < h; ++c) {
            const scalar_t zv = zp[o + c], s = sp[o + c];
            const scalar_t u = bp ? bp[c] * zv : zv;
            const scalar_t m = mp ? mp[o + c] : scalar_t(1);
            const scalar_t d = (s + u * s * (scalar_t(1) - s)) * m;
            app[o + c] = s + u * s * (scalar_t(1) - s);
            op[o + c] = zv * s * m;
            for (int64_t j = 0; j < k; ++j) {
              const int64_t t = ((j + 1) * b + r) * h + c;
              op[t] = zp[t] * d;
            }
          }
        }
      });
    });
    return out;
  }
  auto u = beta.defined() ? z * beta : z;
  sg = at::sigmoid(u);
  ap = sg + u * (sg - sg * sg);
  auto a = out.narrow(0, 0, b);
  at::mul_out(a, z, sg);
  auto adot = out.narrow(0, b, k * b).view({k, b, h});
  at::mul_out(adot, zz.narrow(0, b, k * b).view({k, b, h}), ap);
  if (mask.defined()) {
    a.mul_(mask);
    adot.mul_(mask);
  }
  return out;
}

// Backward elementwise block of one hidden layer: from ∂L/∂(layer output) `gh` to ∂L/∂(pre-
// activations) on all rows; adds ∂L/∂β to `gbeta` when β is learned.
at::Tensor activation_backward(const at::Tensor& gh, const LayerCache& c, const at::Tensor& beta, int64_t b, int64_t k,
                               at::Tensor& gbeta) {
  const int64_t h = gh.size(1);
  const auto& zz = c.zz;
  auto gz_all = at::empty_like(gh);
  if (gh.device().is_cpu() && gh.is_contiguous() && zz.is_contiguous()) {
    const int nt = at::get_num_threads();
    auto partial = at::zeros({nt, h}, gh.options());
    AT_DISPATCH_FLOATING_TYPES(gh.scalar_type(), "critic_activation_backward", [&] {
      const scalar_t* gp = gh.data_ptr<scalar_t>();
      const scalar_t* zp = zz.data_ptr<scalar_t>();
      const scalar_t* sp = c.sg.data_ptr<scalar_t>();
      const scalar_t* app = c.ap.data_ptr<scalar_t>();
      const scalar_t* bp = beta.defined() ? beta.data_ptr<scalar_t>() : nullptr;
      const scalar_t* mp = c.mask.defined() ? c.mask.data_ptr<scalar_t>() : nullptr;
      scalar_t* op = gz_all.data_ptr<scalar_t>();
      scalar_t* pp = partial.data_ptr<scalar_t>();
      at::parallel_for(0, b, kGrain, [&](int64_t r0, int64_t r1) {
        scalar_t* acc = pp + static_cast<int64_t>(at::get_thread_num()) * h;
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t o = r * h;
          if constexpr (std::is_same_v<scalar_t, float>) {
            if (k == 1) {
              const int64_t t = (b + r) * h;
              activation_backward_row(as_float(gp + o), as_float(gp + t), as_float(zp + o), as_float(zp + t),
                                      as_float(sp + o), as_float(app + o), as_float(bp),
                                      mp ? as_float(mp + o) : nullptr, as_float(op + o), as_float(op + t),
                                      as_float(acc), h);
              continue;
            }
          }
          for (int64_t col = 0; col < h; ++col) {
            const scalar_t zv = zp[o + col], s = sp[o + col], a1 = app[o + col];
            const scalar_t m = mp ? mp[o + col] : scalar_t(1);
            const scalar_t bt = bp ? bp[col] : scalar_t(1);
            const scalar_t u = bt * zv, q = s * (scalar_t(1) - s);
            const scalar_t rr = q * (scalar_t(2) + u * (scalar_t(1) - scalar_t(2) * s));
            const scalar_t ga = gp[o + col] * m;
            scalar_t sum = 0;
            for (int64_t j = 0; j < k; ++j) {
              const int64_t t = ((j + 1) * b + r) * h + col;
              const scalar_t gad = gp[t] * m;
              sum += gad * zp[t];
              op[t] = gad * a1;
            }
            op[o + col] = ga * a1 + sum * bt * rr;
            acc[col] += zv * (ga * zv * q + sum * rr);
          }
        }
      });
    });
    if (gbeta.defined()) gbeta.add_(partial.sum(0));
    return gz_all;
  }
  auto z = zz.narrow(0, 0, b);
  auto zdot = zz.narrow(0, b, k * b).view({k, b, h});
  auto ga = gh.narrow(0, 0, b);
  auto gadot = gh.narrow(0, b, k * b).view({k, b, h});
  if (c.mask.defined()) {
    ga = ga * c.mask;
    gadot = gadot * c.mask;
  }
  auto u = beta.defined() ? z * beta : z;
  auto q = c.sg - c.sg * c.sg;
  auto r = q * (2.0 + u * (1.0 - 2.0 * c.sg));
  auto s = (gadot * zdot).sum(0);
  auto sr = s * r;
  if (gbeta.defined()) gbeta.add_((ga * z * q + sr).mul_(z).sum(0));
  auto gz = gz_all.narrow(0, 0, b);
  at::mul_out(gz, ga, c.ap);
  gz.add_(beta.defined() ? sr * beta : sr);
  auto gzdot = gz_all.narrow(0, b, k * b).view({k, b, h});
  at::mul_out(gzdot, gadot, c.ap);
  return gz_all;
}

// Forward pass of B primal rows with k tangent streams stacked below them (hh0 [(1+k)B, D]),
// one matrix product per layer; fills `cache` (one entry per hidden layer) and `last_hidden`
// (the output layer's input) and returns the output rows [(1+k)B, D], the output bias added to
// the primal rows only.
at::Tensor forward_streams(SteinCriticImpl& critic, const at::Tensor& hh0, int64_t b, int64_t k,
                           const std::vector<at::Tensor>& masks, std::vector<LayerCache>& cache,
                           at::Tensor& last_hidden) {
  const size_t n_hidden = cache.size();
  at::Tensor hh = hh0;
  for (size_t i = 0; i < n_hidden; ++i) {
    auto& c = cache[i];
    c.input = hh;
    c.zz = fast_matmul(hh, critic.weights[i], false, true);
    c.mask = masks[i];
    hh = activation_forward(c.zz, critic.biases[i], critic.betas.empty() ? at::Tensor() : critic.betas[i], c.mask, b,
                            k, c.sg, c.ap);
  }
  last_hidden = hh;
  auto ff = fast_matmul(hh, critic.weights[n_hidden], false, true);
  ff.narrow(0, 0, b).add_(critic.biases[n_hidden]);
  return ff;
}

}  // namespace

at::Tensor SteinCriticImpl::stein_statistic_exact(const at::Tensor& x_in, const at::Tensor& sq_in, int64_t chunk) {
  TORCH_CHECK(has_fused_step(), "SteinCritic::stein_statistic_exact needs the swish activation");
  TORCH_CHECK(chunk >= 1, "SteinCritic::stein_statistic_exact: chunk must be >= 1, got ", chunk);
  TORCH_CHECK(x_in.dim() >= 2 && x_in.size(0) >= 1, "SteinCritic::stein_statistic_exact: expected a batch [N, ...] "
              "with N >= 1, got shape ", x_in.sizes());
  torch::NoGradGuard no_grad;
  const int64_t n = x_in.size(0), d = options.dim();
  auto x = x_in.reshape({n, -1});
  auto sq = sq_in.reshape({n, -1});
  TORCH_CHECK(x.size(1) == d && sq.sizes() == x.sizes(), "SteinCritic::stein_statistic_exact: x and sq must be [N, ",
              d, "], got ", x_in.sizes(), " and ", sq_in.sizes());
  // Tangent stream j carries e_j for every sample, so tr ∂f/∂x = Σ_j (J e_j)_j.
  const int64_t b_max = std::max<int64_t>(1, chunk / (d + 1));
  auto eye = at::eye(d, x.options());
  std::vector<at::Tensor> masks(options.depth()), out;
  for (int64_t s = 0; s < n; s += b_max) {
    const int64_t b = std::min(b_max, n - s);
    auto xs = x.narrow(0, s, b);
    auto tangents = eye.unsqueeze(1).expand({d, b, d}).reshape({d * b, d});
    std::vector<LayerCache> cache(options.depth());
    at::Tensor last_hidden;
    auto ff = forward_streams(*this, at::cat({xs, tangents}, 0), b, d, masks, cache, last_hidden);
    auto f = ff.narrow(0, 0, b);
    auto jac_diag = ff.narrow(0, b, d * b).view({d, b, d}).diagonal(0, 0, 2);  // [b, d]: (J e_j)_j
    out.push_back((sq.narrow(0, s, b) * f).sum(1) + jac_diag.sum(1));
  }
  return at::cat(out);
}

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
    for (int64_t i = 0; i < n_hidden; ++i) masks[i] = dropout_mask(b, options.width(), keep, x.options(), gen);
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
  at::Tensor hh;  // the output layer's input
  auto ff = forward_streams(*this, at::cat({x, eps.view({k * b, d})}, 0), b, k, masks, cache, hh);  // [(1+k)B, D]
  auto f = ff.narrow(0, 0, b);
  auto fdot = ff.narrow(0, b, k * b).view({k, b, d});

  // ---- statistics and the loss's derivative per sample
  auto t = (sq * f).sum(1) + (eps * fdot).sum(at::IntArrayRef{0, 2}) / static_cast<double>(k);  // [B]
  const double mean = t.mean().item<double>();
  const double sd = t.std().item<double>();
  const double fn2 = f.pow(2).sum(1).mean().item<double>();
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
  accumulate_grad_product(weights[n_hidden], g, true, hh, false);
  accumulate_grad(biases[n_hidden], g.narrow(0, 0, b).sum(0));
  auto gh = fast_matmul(g, weights[n_hidden]);  // [(1+k)B, H]
  for (int64_t i = n_hidden - 1; i >= 0; --i) {
    auto& c = cache[i];
    const bool learned = !betas.empty();
    at::Tensor gbeta = learned ? at::zeros_like(betas[i]) : at::Tensor();
    auto gz_all = activation_backward(gh, c, learned ? betas[i] : at::Tensor(), b, k, gbeta);
    if (learned) accumulate_grad(betas[i], gbeta);
    accumulate_grad_product(weights[i], gz_all, true, c.input, false);
    accumulate_grad(biases[i], gz_all.narrow(0, 0, b).sum(0));
    if (i > 0) gh = fast_matmul(gz_all, weights[i]);
  }
  return stats;
}

}  // namespace joule
