#include "joule/models/generator.h"

#include <c10/util/Exception.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <cmath>

#include "joule/models/sequential.h"

namespace joule {
namespace {

int64_t event_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Σ over all but the first `lead` dimensions.
at::Tensor sum_after(const at::Tensor& t, int64_t lead) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().begin() + lead);
  shape.push_back(-1);
  return t.reshape(shape).sum(-1);
}

void init_uniform_fan_in(at::Tensor& w, at::Tensor* b, at::Generator& gen) {
  const auto fans = torch::nn::init::_calculate_fan_in_and_fan_out(w);
  const double bound = 1.0 / std::sqrt(double(std::get<0>(fans)));
  w.uniform_(-bound, bound, gen);
  if (b && b->defined()) b->uniform_(-bound, bound, gen);
}

}  // namespace

void VeraGeneratorOptions::validate() const {
  TORCH_CHECK(!event_shape_.empty() && event_numel(event_shape_) > 0, "VeraGenerator: event_shape must be non-empty");
  TORCH_CHECK(noise_dim_ > 0, "VeraGenerator: noise_dim must be > 0, got ", noise_dim_);
  TORCH_CHECK(net_ == "linear" || net_ == "mlp" || net_ == "large_mlp" || net_ == "conv",
              "VeraGenerator: net must be linear, mlp, large_mlp or conv, got '",
              net_, "'");
  TORCH_CHECK(width_ > 0 && depth_ > 0, "VeraGenerator: width and depth must be > 0");
  TORCH_CHECK(output_ == "none" || output_ == "tanh" || output_ == "sigmoid", "VeraGenerator: output must be none, tanh or sigmoid, got '",
              output_, "'");
  TORCH_CHECK(init_sigma_ > 0 && init_posterior_sigma_ > 0, "VeraGenerator: initial sigmas must be > 0");
  TORCH_CHECK(num_classes_ >= 0, "VeraGenerator: num_classes must be >= 0 (0: unconditional), got ", num_classes_);
  if (net_ == "conv") {
    TORCH_CHECK(event_shape_.size() == 3 && event_shape_[1] % 4 == 0 && event_shape_[2] % 4 == 0,
                "VeraGenerator: net = conv needs images [C, H, W] with H and W multiples of 4, got ",
                c10::IntArrayRef(event_shape_));
  }
}

VeraGeneratorImpl::VeraGeneratorImpl(VeraGeneratorOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void VeraGeneratorImpl::reset() {
  const auto& o = options;
  // A class-conditional generator reads [h, one_hot(y)].
  const int64_t input = o.noise_dim() + o.num_classes();
  net = torch::nn::Sequential();
  if (o.net() == "conv") {
    const int64_t c = o.width(), ch = o.event_shape()[0], h = o.event_shape()[1] / 4, w = o.event_shape()[2] / 4;
    net->push_back(torch::nn::Linear(input, 4 * c * h * w));
    net->push_back(torch::nn::Unflatten(torch::nn::UnflattenOptions(1, {4 * c, h, w})));
    net->push_back(torch::nn::BatchNorm2d(4 * c));
    net->push_back(torch::nn::ReLU());
    net->push_back(torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(4 * c, 2 * c, 4).stride(2).padding(1).bias(false)));
    net->push_back(torch::nn::BatchNorm2d(2 * c));
    net->push_back(torch::nn::ReLU());
    net->push_back(torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(2 * c, c, 4).stride(2).padding(1).bias(false)));
    net->push_back(torch::nn::BatchNorm2d(c));
    net->push_back(torch::nn::ReLU());
    net->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c, ch, 3).padding(1)));
  } else if (o.net() == "linear") {
    net->push_back(torch::nn::Linear(input, event_numel(o.event_shape())));
  } else {
    int64_t in = input;
    for (int64_t i = 0; i < o.depth(); ++i) {
      net->push_back(torch::nn::Linear(torch::nn::LinearOptions(in, o.width()).bias(false)));
      net->push_back(torch::nn::BatchNorm1d(o.width()));
      if (o.net() == "mlp") {
        net->push_back(torch::nn::ReLU());
      } else {
        net->push_back(torch::nn::Softplus());
      }
      in = o.width();
    }
    net->push_back(torch::nn::Linear(in, event_numel(o.event_shape())));
  }
  if (o.output() == "tanh") net->push_back(torch::nn::Tanh());
  if (o.output() == "sigmoid") net->push_back(torch::nn::Sigmoid());
  net = register_module("net", net);
  log_sigma = register_parameter("log_sigma", torch::full({1}, std::log(o.init_sigma())));
  posterior_log_sigma = register_parameter("posterior_log_sigma", torch::full({o.noise_dim()}, std::log(o.init_posterior_sigma())));
  hmc_step_size = register_buffer("hmc_step_size", torch::full({}, 1.0 / double(o.noise_dim()), torch::kFloat64));
  if (o.num_classes() > 0) class_prior = register_buffer("class_prior", torch::full({o.num_classes()}, 1.0 / double(o.num_classes())));
}

void VeraGeneratorImpl::set_class_prior(const at::Tensor& probs) {
  TORCH_CHECK(options.num_classes() > 0, "VeraGenerator::set_class_prior: this generator is not class-conditional (num_classes = 0)");
  TORCH_CHECK(probs.dim() == 1 && probs.size(0) == options.num_classes(), "VeraGenerator::set_class_prior: need ",
              options.num_classes(), " probabilities, got shape ", probs.sizes());
  auto p = probs.detach().to(torch::kFloat64).cpu();
  TORCH_CHECK(torch::isfinite(p).all().item<bool>() && (p >= 0).all().item<bool>() && p.sum().item<double>() > 0,
              "VeraGenerator::set_class_prior: probabilities must be finite, >= 0 and not all 0");
  torch::NoGradGuard no_grad;
  class_prior.copy_(p / p.sum());
}

void VeraGeneratorImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  for (auto& m : net->modules(/*include_self=*/false)) {
    if (auto* lin = m->as<torch::nn::Linear>()) {
      init_uniform_fan_in(lin->weight, &lin->bias, gen);
    } else if (auto* conv = m->as<torch::nn::Conv2d>()) {
      init_uniform_fan_in(conv->weight, &conv->bias, gen);
    } else if (auto* convt = m->as<torch::nn::ConvTranspose2d>()) {
      init_uniform_fan_in(convt->weight, &convt->bias, gen);
    } else if (auto* bn1 = m->as<torch::nn::BatchNorm1d>()) {
      bn1->reset_parameters();
    } else if (auto* bn2 = m->as<torch::nn::BatchNorm2d>()) {
      bn2->reset_parameters();
    }
  }
  log_sigma.fill_(std::log(options.init_sigma()));
  posterior_log_sigma.fill_(std::log(options.init_posterior_sigma()));
  hmc_step_size.fill_(1.0 / double(options.noise_dim()));
}

std::vector<at::Tensor> VeraGeneratorImpl::generator_parameters() {
  auto p = net->parameters();
  p.push_back(log_sigma);
  return p;
}

at::Tensor VeraGeneratorImpl::mean(const at::Tensor& h, const at::Tensor& y) {
  TORCH_CHECK(h.dim() == 2 && h.size(1) == options.noise_dim(), "VeraGenerator: latents must be [n, ", options.noise_dim(),
              "], got ", h.sizes());
  at::Tensor input = h;
  const int64_t k = options.num_classes();
  if (k == 0) {
    TORCH_CHECK(!y.defined(), "VeraGenerator: classes given to an unconditional generator (num_classes = 0)");
  } else {
    TORCH_CHECK(y.defined(), "VeraGenerator: a class-conditional generator (num_classes = ", k, ") needs the classes y");
    TORCH_CHECK(y.dim() == 1 && y.size(0) == h.size(0), "VeraGenerator: classes must be [", h.size(0), "], got ", y.sizes());
    TORCH_CHECK(y.numel() == 0 || (y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() < k),
                "VeraGenerator: classes must be in [0, ", k, ")");
    input = torch::cat({h, torch::one_hot(y.to(h.device(), torch::kLong), k).to(h.scalar_type())}, 1);
  }
  auto out = forward_sequential(net, input);
  std::vector<int64_t> shape{h.size(0)};
  shape.insert(shape.end(), options.event_shape().begin(), options.event_shape().end());
  return out.reshape(shape);
}

double VeraGeneratorImpl::sigma() const { return std::exp(log_sigma.item<double>()); }

VeraGeneratorImpl::Draw VeraGeneratorImpl::sample(int64_t n, at::Generator& gen) {
  TORCH_CHECK(n > 0, "VeraGenerator::sample: n must be > 0, got ", n);
  if (options.num_classes() > 0) {
    // Inverse CDF of π with uniforms from `gen` (on its device, so a CUDA generator works too).
    auto cdf = class_prior.to(torch::kFloat64).cumsum(0);
    auto u = torch::empty({n}, cdf.options()).uniform_(0.0, 1.0, gen) * cdf[-1];
    auto y = torch::searchsorted(cdf, u, /*out_int32=*/false, /*right=*/true).clamp_max(options.num_classes() - 1);
    return sample_classes(y, gen);
  }
  Draw d;
  d.h = torch::empty({n, options.noise_dim()}, log_sigma.options().requires_grad(false)).normal_(0.0, 1.0, gen);
  d.mean = mean(d.h);
  d.x = d.mean + torch::empty_like(d.mean.detach()).normal_(0.0, 1.0, gen) * log_sigma.exp();
  return d;
}

VeraGeneratorImpl::Draw VeraGeneratorImpl::sample_classes(const at::Tensor& y, at::Generator& gen) {
  TORCH_CHECK(options.num_classes() > 0, "VeraGenerator::sample_classes: this generator is not class-conditional (num_classes = 0)");
  TORCH_CHECK(y.dim() == 1 && y.size(0) > 0, "VeraGenerator::sample_classes: classes must be [n], n > 0, got ", y.sizes());
  Draw d;
  d.y = y.to(log_sigma.device(), torch::kLong);
  d.h = torch::empty({y.size(0), options.noise_dim()}, log_sigma.options().requires_grad(false)).normal_(0.0, 1.0, gen);
  d.mean = mean(d.h, d.y);
  d.x = d.mean + torch::empty_like(d.mean.detach()).normal_(0.0, 1.0, gen) * log_sigma.exp();
  return d;
}

at::Tensor VeraGeneratorImpl::log_joint(const at::Tensor& x, const at::Tensor& h, const at::Tensor& y) {
  const double half_log_2pi = 0.5 * std::log(2 * M_PI);
  auto log_ph = (-0.5 * h.pow(2) - half_log_2pi).sum(1);
  auto mu = mean(h, y);
  auto d = double(event_numel(options.event_shape()));
  auto log_px = -0.5 * sum_after((x - mu).pow(2), 1) * torch::exp(-2.0 * log_sigma) - d * (log_sigma + half_log_2pi);
  return log_ph + log_px;
}

VeraGeneratorImpl::Entropy VeraGeneratorImpl::entropy_surrogate(const at::Tensor& x, const at::Tensor& h, int64_t samples,
                                                                 at::Generator& gen, const at::Tensor& y) {
  TORCH_CHECK(samples >= 1, "VeraGenerator::entropy_surrogate: samples must be >= 1, got ", samples);
  const int64_t b = x.size(0), nz = options.noise_dim();
  at::Tensor c;
  {
    // The score estimate is a constant for the surrogate: no graph (the reference builds one
    // and detaches it).
    torch::NoGradGuard no_grad;
    auto xd = x.detach();
    auto h0 = h.detach();
    auto post_sigma = posterior_log_sigma.exp();
    auto eps = torch::empty({samples, b, nz}, h0.options()).normal_(0.0, 1.0, gen);
    auto hk = h0.unsqueeze(0) + post_sigma * eps;  // [K, B, nz]
    // log ξ(h_k | x) of the proposal N(h₀, σ_post²); its constant cancels in the softmax.
    auto log_xi = (-0.5 * eps.pow(2) - posterior_log_sigma).sum(2);
    std::vector<int64_t> rep{samples};
    rep.insert(rep.end(), xd.sizes().begin(), xd.sizes().end());
    std::vector<int64_t> flat_shape{samples * b};
    flat_shape.insert(flat_shape.end(), xd.sizes().begin() + 1, xd.sizes().end());
    auto hk_flat = hk.reshape({samples * b, nz});
    auto mu = mean(hk_flat, y.defined() ? y.repeat({samples}) : y);  // [K·B, ...], k-major as hk_flat
    auto inv_var = torch::exp(-2.0 * log_sigma);
    auto xk = xd.unsqueeze(0).expand(rep).reshape(flat_shape);
    auto log_joint_k = ((-0.5 * hk_flat.pow(2)).sum(1) - 0.5 * sum_after((xk - mu).pow(2), 1) * inv_var).reshape({samples, b});
    auto w = (log_joint_k - log_xi).softmax(0);  // self-normalised weights over k
    auto f = (xk - mu).reshape(rep) * inv_var;   // [K, B, ...]
    std::vector<int64_t> wshape{samples, b};
    for (size_t i = 1; i < xd.sizes().size(); ++i) wshape.push_back(1);
    c = (f * w.reshape(wshape)).sum(0);
  }
  Entropy out;
  out.score = c;
  out.surrogate = (c * x).sum() / double(b);
  out.score_norm = c.reshape({b, -1}).norm(2, 1).mean().item<double>();
  return out;
}

VeraGeneratorImpl::Entropy VeraGeneratorImpl::entropy_surrogate_hmc(const at::Tensor& x, const at::Tensor& h,
                                                                    const HmcPosteriorOptions& o, at::Generator& gen,
                                                                    const at::Tensor& y) {
  const int64_t b = x.size(0);
  auto xd = x.detach();
  const double inv_var = std::exp(-2.0 * log_sigma.item<double>());
  // log q(h, x) up to a constant and its gradient in h (the likelihood term included).
  auto log_joint_and_grad = [&](const at::Tensor& hh) {
    torch::AutoGradMode grad_mode(true);
    auto hg = hh.detach().requires_grad_(true);
    auto lj = -0.5 * (hg.pow(2).sum(1) + sum_after((xd - mean(hg, y)).pow(2), 1) * inv_var);
    auto g = torch::autograd::grad({lj.sum()}, {hg})[0];
    return std::make_pair(lj.detach(), g.detach());
  };
  auto current = h.detach().clone();
  auto [current_lj, current_grad] = log_joint_and_grad(current);
  double step = hmc_step_size.item<double>();
  std::vector<at::Tensor> kept;
  double accepted = 0;
  const int64_t total = o.burn_in() + o.samples();
  for (int64_t i = 0; i < total; ++i) {
    auto p0 = torch::empty_like(current).normal_(0.0, 1.0, gen);
    auto p = p0 + 0.5 * step * current_grad;  // ∇U = −∇ log q
    auto hh = current;
    at::Tensor lj, grad;
    for (int64_t l = 0; l < o.leapfrog_steps(); ++l) {
      hh = hh + step * p;
      std::tie(lj, grad) = log_joint_and_grad(hh);
      if (l + 1 < o.leapfrog_steps()) p = p + step * grad;
    }
    p = p + 0.5 * step * grad;
    auto log_accept = (lj - current_lj) + 0.5 * (p0.pow(2).sum(1) - p.pow(2).sum(1));
    auto u = torch::empty({b}, log_accept.options()).uniform_(0.0, 1.0, gen);
    auto accept = u.log() < log_accept;
    auto m = accept.unsqueeze(1);
    current = torch::where(m, hh, current);
    current_lj = torch::where(accept, lj, current_lj);
    current_grad = torch::where(m, grad, current_grad);
    const double rate = accept.to(torch::kFloat64).mean().item<double>();
    accepted += rate;
    if (i < o.burn_in()) {
      step += o.adapt_rate() * (rate - o.target_acceptance()) * step;
    } else {
      kept.push_back(current);
    }
  }
  {
    torch::NoGradGuard no_grad;
    hmc_step_size.fill_(step);
  }
  hmc_acceptance = accepted / double(total);
  at::Tensor c;
  {
    torch::NoGradGuard no_grad;
    const int64_t kept_n = int64_t(kept.size());
    auto mu = mean(torch::cat(kept, 0), y.defined() ? y.repeat({kept_n}) : y);
    std::vector<int64_t> shape{int64_t(kept.size()), b};
    shape.insert(shape.end(), xd.sizes().begin() + 1, xd.sizes().end());
    c = (xd - mu.reshape(shape).mean(0)) * inv_var;
  }
  Entropy out;
  out.score = c;
  out.surrogate = (c * x).sum() / double(b);
  out.score_norm = c.reshape({b, -1}).norm(2, 1).mean().item<double>();
  return out;
}

at::Tensor VeraGeneratorImpl::posterior_loss(const at::Tensor& x, const at::Tensor& h, at::Generator& gen, const at::Tensor& y) {
  auto h0 = h.detach();
  auto h_tilde = h0 + posterior_log_sigma.exp() * torch::empty_like(h0).normal_(0.0, 1.0, gen);
  auto joint = log_joint(x.detach(), h_tilde, y);
  // Entropy of N(h₀, diag σ_post²): Σ (½ log 2πe + log σ_post).
  auto entropy = (posterior_log_sigma + 0.5 * std::log(2 * M_PI * M_E)).sum();
  return -(joint.mean() + entropy);
}

void VeraGeneratorImpl::clamp_sigma(double min_sigma, double max_sigma) {
  TORCH_CHECK(min_sigma > 0 && min_sigma <= max_sigma, "VeraGenerator::clamp_sigma: need 0 < min <= max, got ", min_sigma, ", ",
              max_sigma);
  torch::NoGradGuard no_grad;
  log_sigma.clamp_(std::log(min_sigma), std::log(max_sigma));
}

}  // namespace joule
