#include "joule/models/activation.h"

#include <c10/util/Exception.h>

namespace joule {
namespace {

// h = z·s and d = s·(1 + z − h) from z and s = sigmoid(z), in one pass. Cloned for AVX2 so the
// loop is vectorised on machines that have it (resolved at load time).
__attribute__((target_clones("avx2", "default"))) void silu_fused(const float* z, float* s_to_h, float* d,
                                                                   int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = s_to_h[i], zi = z[i], h = zi * s;
    s_to_h[i] = h;
    d[i] = s * (1.0f + zi - h);
  }
}

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "silu" || name == "swish") return Activation::kSiLU;
  if (name == "leaky_relu") return Activation::kLeakyReLU;
  if (name == "elu") return Activation::kELU;
  if (name == "softplus") return Activation::kSoftplus;
  if (name == "tanh") return Activation::kTanh;
  TORCH_CHECK(false, "unknown activation '", name, "' (allowed: silu, leaky_relu, elu, softplus, tanh)");
}

std::string to_string(Activation a) {
  switch (a) {
    case Activation::kSiLU: return "silu";
    case Activation::kLeakyReLU: return "leaky_relu";
    case Activation::kELU: return "elu";
    case Activation::kSoftplus: return "softplus";
    case Activation::kTanh: return "tanh";
  }
  return "?";
}

std::vector<std::string> activation_names() { return {"silu", "leaky_relu", "elu", "softplus", "tanh"}; }

torch::Tensor apply_activation(Activation a, const torch::Tensor& z, double negative_slope) {
  switch (a) {
    case Activation::kSiLU: return at::silu(z);
    case Activation::kLeakyReLU: return at::leaky_relu(z, negative_slope);
    case Activation::kELU: return at::elu(z);
    case Activation::kSoftplus: return at::softplus(z);
    case Activation::kTanh: return at::tanh(z);
  }
  TORCH_CHECK(false, "unreachable activation");
}

ActivationAndDerivative apply_activation_with_derivative(Activation a, const torch::Tensor& z, double negative_slope) {
  if (a == Activation::kSiLU && z.device().is_cpu() && z.scalar_type() == at::kFloat && z.is_contiguous()) {
    auto h = at::sigmoid(z);  // becomes silu(z) in place
    auto d = at::empty_like(z);
    silu_fused(z.data_ptr<float>(), h.data_ptr<float>(), d.data_ptr<float>(), z.numel());
    return {h, d};
  }
  auto h = apply_activation(a, z, negative_slope);
  return {h, activation_derivative(a, z, h, negative_slope)};
}

torch::Tensor activation_derivative(Activation a, const torch::Tensor& z, const torch::Tensor& h,
                                    double negative_slope) {
  switch (a) {
    case Activation::kSiLU: {
      // silu'(z) = s(1 + z(1 − s)) = s(1 + z − h) with s = sigmoid(z), h = z·s.
      auto s = at::sigmoid(z);
      return (z - h).add_(1.0).mul_(s);
    }
    case Activation::kLeakyReLU:
      return at::where(z > 0, at::ones({}, z.options()), at::full({}, negative_slope, z.options()));
    case Activation::kELU:
      // elu'(z) = 1 for z > 0, exp(z) = h + 1 otherwise.
      return at::where(z > 0, at::ones({}, z.options()), h + 1.0);
    case Activation::kSoftplus:
      return at::sigmoid(z);
    case Activation::kTanh:
      return 1.0 - h * h;
  }
  TORCH_CHECK(false, "unreachable activation");
}

torch::Tensor activation_second_derivative(Activation a, const torch::Tensor& z, const torch::Tensor& h,
                                           const torch::Tensor& d, double negative_slope) {
  switch (a) {
    case Activation::kSiLU: {
      // silu''(z) = s(1 − s)(2 + z(1 − 2s)).
      auto s = at::sigmoid(z);
      return s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s));
    }
    case Activation::kLeakyReLU:
      return at::zeros_like(z);
    case Activation::kELU:
      return at::where(z > 0, at::zeros({}, z.options()), h + 1.0);
    case Activation::kSoftplus:
      return d * (1.0 - d);  // d = sigmoid(z)
    case Activation::kTanh:
      return -2.0 * h * d;   // d = 1 − h²
  }
  TORCH_CHECK(false, "unreachable activation");
}

}  // namespace joule
