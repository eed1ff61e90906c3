#include "joule/models/mlp_energy.h"

#include <c10/util/Exception.h>
#include <torch/nn/init.h>

#include "joule/core/gemm.h"
#include "joule/core/layers.h"

#include <numeric>

namespace joule {

MlpEnergyImpl::MlpEnergyImpl(const MlpEnergyOptions& options_) : options(options_) { reset(); }

void MlpEnergyImpl::reset() {
  TORCH_CHECK(options.input_dim() > 0, "MlpEnergy: input_dim must be > 0, got ", options.input_dim());
  TORCH_CHECK(options.width() > 0, "MlpEnergy: width must be > 0, got ", options.width());
  TORCH_CHECK(options.depth() >= 1, "MlpEnergy: depth must be >= 1, got ", options.depth());
  if (!options.event_shape().empty()) {
    auto shape = options.event_shape();
    int64_t n = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
    TORCH_CHECK(n == options.input_dim(), "MlpEnergy: event_shape ", shape, " has ", n,
                " elements but input_dim is ", options.input_dim());
  }
  weights.clear();
  biases.clear();
  sn_u_.clear();
  sn_v_.clear();
  int64_t fan_in = options.input_dim();
  for (int64_t i = 0; i <= options.depth(); ++i) {
    const int64_t out = i < options.depth() ? options.width() : 1;
    weights.push_back(register_parameter("weight" + std::to_string(i), torch::empty({out, fan_in})));
    biases.push_back(register_parameter("bias" + std::to_string(i), torch::empty({out})));
    if (options.spectral_norm()) {
      sn_u_.push_back(register_buffer("sn_u" + std::to_string(i), torch::randn({out})));
      sn_v_.push_back(register_buffer("sn_v" + std::to_string(i), torch::randn({fan_in})));
    }
    fan_in = out;
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weights[i].size(1)));
    weights[i].uniform_(-bound, bound);
    biases[i].uniform_(-bound, bound);
    if (options.spectral_norm()) {
      sn_u_[i].div_(sn_u_[i].norm().clamp_min(1e-12));
      sn_v_[i].div_(sn_v_[i].norm().clamp_min(1e-12));
    }
  }
}

void MlpEnergyImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weights[i].size(1)));
    weights[i].uniform_(-bound, bound, gen);
    biases[i].uniform_(-bound, bound, gen);
    if (options.spectral_norm()) {
      sn_u_[i].normal_(0, 1, gen);
      sn_u_[i].div_(sn_u_[i].norm().clamp_min(1e-12));
      sn_v_[i].normal_(0, 1, gen);
      sn_v_[i].div_(sn_v_[i].norm().clamp_min(1e-12));
    }
  }
}

torch::Tensor MlpEnergyImpl::effective_weight(size_t i, bool update) {
  if (!options.spectral_norm()) return weights[i];
  const auto& w = weights[i];
  if (update) {
    torch::NoGradGuard no_grad;
    auto v = torch::mv(w.t(), sn_u_[i]);
    v.div_(v.norm().clamp_min(1e-12));
    auto u = torch::mv(w, v);
    u.div_(u.norm().clamp_min(1e-12));
    sn_v_[i].copy_(v);
    sn_u_[i].copy_(u);
  }
  // σ = uᵀWv with u, v treated as constants (the gradient flows through W only).
  auto sigma = torch::dot(sn_u_[i], torch::mv(w, sn_v_[i]));
  return w / sigma;
}

torch::Tensor MlpEnergyImpl::energy(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2, "MlpEnergy: expected a batch [B, ...], got shape ", x.sizes());
  auto h = x.reshape({x.size(0), -1});
  TORCH_CHECK(h.size(1) == options.input_dim(), "MlpEnergy: input has ", h.size(1), " features per sample (shape ",
              x.sizes(), ") but the model expects ", options.input_dim());
  const bool update = is_training() && torch::GradMode::is_enabled();
  const size_t n = weights.size();
  for (size_t i = 0; i + 1 < n; ++i) {
    h = apply_activation(options.activation(), linear(h, effective_weight(i, update), biases[i]),
                         options.negative_slope());
  }
  return linear(h, effective_weight(n - 1, update), biases[n - 1]).squeeze(1);
}

EnergyGrad MlpEnergyImpl::energy_and_grad(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 2, "MlpEnergy: expected a batch [B, ...], got shape ", x.sizes());
  torch::NoGradGuard no_grad;
  auto h = x.reshape({x.size(0), -1});
  TORCH_CHECK(h.size(1) == options.input_dim(), "MlpEnergy: input has ", h.size(1), " features per sample (shape ",
              x.sizes(), ") but the model expects ", options.input_dim());
  const size_t n = weights.size();
  std::vector<torch::Tensor> w(n), d(n - 1);
  for (size_t i = 0; i < n; ++i) w[i] = effective_weight(i, /*update=*/false).contiguous();
  h = h.contiguous();
  // Forward, keeping act'(z) of each layer for the backward pass.
  for (size_t i = 0; i + 1 < n; ++i) {
    auto ad = apply_activation_with_derivative(options.activation(), fast_linear(h, w[i], biases[i]),
                                               options.negative_slope());
    h = ad.value;
    d[i] = ad.derivative;
  }
  auto e = fast_linear(h, w[n - 1], biases[n - 1]).squeeze(1);
  // Backward: dE/dh_L = w_out (same row for every sample), then through each layer.
  torch::Tensor g = d[n - 2].mul_(w[n - 1]);  // broadcast [1, width]
  for (size_t i = n - 2; i-- > 0;) g = fast_matmul(g, w[i + 1]).mul_(d[i]);
  g = fast_matmul(g, w[0]);
  return {e, g.view(x.sizes())};
}

std::vector<int64_t> MlpEnergyImpl::event_shape() const {
  if (!options.event_shape().empty()) return options.event_shape();
  return {options.input_dim()};
}

void MlpEnergyImpl::pretty_print(std::ostream& stream) const {
  stream << "joule::MlpEnergy(input_dim=" << options.input_dim() << ", width=" << options.width()
         << ", depth=" << options.depth() << ", activation=" << to_string(options.activation())
         << ", spectral_norm=" << (options.spectral_norm() ? "true" : "false") << ")";
}

}  // namespace joule
