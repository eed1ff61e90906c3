#include "joule/models/nice.h"

#include <c10/util/Exception.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include <cmath>

#include "joule/models/classifiers.h"
#include "joule/models/sequential.h"

namespace joule {

void NiceOptions::validate() const {
  TORCH_CHECK(dim_ >= 2, "Nice: dim must be >= 2 (a coupling splits the dimensions in two), got ", dim_);
  TORCH_CHECK(hidden_ > 0 && depth_ > 0, "Nice: hidden and depth must be > 0");
  TORCH_CHECK(couplings_ > 0, "Nice: couplings must be > 0");
  TORCH_CHECK(base_ == "gaussian" || base_ == "logistic", "Nice: base must be gaussian or logistic, got '", base_, "'");
}

NiceImpl::NiceImpl(NiceOptions options_) : options(std::move(options_)) {
  options.validate();
  const int64_t d = options.dim();
  even_ = at::arange(0, d, 2, at::kLong);
  odd_ = at::arange(1, d, 2, at::kLong);
  for (int64_t i = 0; i < options.couplings(); ++i) {
    // Coupling i reads the half A and shifts the half B: even → odd for even i, odd → even after.
    const int64_t in = (i % 2 == 0) ? even_.numel() : odd_.numel();
    const int64_t out = d - in;
    torch::nn::Sequential net;
    int64_t width = in;
    for (int64_t l = 0; l < options.depth(); ++l) {
      net->push_back(torch::nn::Linear(width, options.hidden()));
      net->push_back(torch::nn::ReLU());
      width = options.hidden();
    }
    net->push_back(torch::nn::Linear(width, out));
    coupling_nets.push_back(register_module("coupling" + std::to_string(i), net));
  }
  log_scale = register_parameter("log_scale", torch::zeros({d}));
}

void NiceImpl::reset_parameters(at::Generator gen) {
  for (auto& net : coupling_nets) {
    reset_parameters_default(*net, gen);
    torch::NoGradGuard ng;
    auto& last = *net->ptr<torch::nn::LinearImpl>(net->size() - 1);
    last.weight.zero_();
    last.bias.zero_();
  }
  torch::NoGradGuard ng;
  log_scale.zero_();
}

std::pair<at::Tensor, at::Tensor> NiceImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options.dim(), "Nice: expected inputs [B, ", options.dim(), "], got ", x.sizes());
  const auto even = even_.to(x.device()), odd = odd_.to(x.device());
  at::Tensor a = x.index_select(1, even), b = x.index_select(1, odd);
  for (size_t i = 0; i < coupling_nets.size(); ++i) {
    if (i % 2 == 0) {
      b = b + forward_sequential(coupling_nets[i], a);
    } else {
      a = a + forward_sequential(coupling_nets[i], b);
    }
  }
  auto y = at::empty_like(x).index_copy(1, even, a).index_copy(1, odd, b);
  auto z = y * log_scale.exp();
  return {z, log_scale.sum().expand({x.size(0)})};
}

at::Tensor NiceImpl::inverse(const at::Tensor& z) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == options.dim(), "Nice: expected [B, ", options.dim(), "], got ", z.sizes());
  const auto even = even_.to(z.device()), odd = odd_.to(z.device());
  auto y = z * (-log_scale).exp();
  at::Tensor a = y.index_select(1, even), b = y.index_select(1, odd);
  for (int64_t i = static_cast<int64_t>(coupling_nets.size()) - 1; i >= 0; --i) {
    if (i % 2 == 0) {
      b = b - forward_sequential(coupling_nets[i], a);
    } else {
      a = a - forward_sequential(coupling_nets[i], b);
    }
  }
  return at::empty_like(z).index_copy(1, even, a).index_copy(1, odd, b);
}

at::Tensor NiceImpl::base_log_prob(const at::Tensor& z) const {
  if (options.base() == "gaussian") return (-0.5 * z.pow(2) - 0.5 * std::log(2 * M_PI)).sum(1);
  // Standard logistic: log σ(z) + log σ(−z) = −(softplus(z) + softplus(−z)).
  return -(at::softplus(z) + at::softplus(-z)).sum(1);
}

at::Tensor NiceImpl::log_prob(const at::Tensor& x) {
  auto [z, logdet] = forward(x);
  return base_log_prob(z) + logdet;
}

torch::Tensor NiceImpl::energy(const torch::Tensor& x) { return -log_prob(x); }

at::Tensor NiceImpl::sample(int64_t n, at::Generator gen) {
  const auto opts = log_scale.options();
  at::Tensor z;
  if (options.base() == "gaussian") {
    z = at::randn({n, options.dim()}, gen, opts);
  } else {
    auto u = at::empty({n, options.dim()}, opts).uniform_(1e-6, 1 - 1e-6, gen);
    z = u.log() - (-u).log1p();
  }
  return inverse(z);
}

}  // namespace joule
