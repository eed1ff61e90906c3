#include "joule/models/activation.h"

#include <c10/util/Exception.h>

namespace joule {

Activation parse_activation(const std::string& name) {
  if (name == "silu" || name == "swish") return Activation::kSiLU;
  if (name == "leaky_relu") return Activation::kLeakyReLU;
  if (name == "elu") return Activation::kELU;
  if (name == "softplus") return Activation::kSoftplus;
  TORCH_CHECK(false, "unknown activation '", name, "' (allowed: silu, leaky_relu, elu, softplus)");
}

std::string to_string(Activation a) {
  switch (a) {
    case Activation::kSiLU: return "silu";
    case Activation::kLeakyReLU: return "leaky_relu";
    case Activation::kELU: return "elu";
    case Activation::kSoftplus: return "softplus";
  }
  return "?";
}

std::vector<std::string> activation_names() { return {"silu", "leaky_relu", "elu", "softplus"}; }

torch::Tensor apply_activation(Activation a, const torch::Tensor& z, double negative_slope) {
  switch (a) {
    case Activation::kSiLU: return at::silu(z);
    case Activation::kLeakyReLU: return at::leaky_relu(z, negative_slope);
    case Activation::kELU: return at::elu(z);
    case Activation::kSoftplus: return at::softplus(z);
  }
  TORCH_CHECK(false, "unreachable activation");
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
  }
  TORCH_CHECK(false, "unreachable activation");
}

}  // namespace joule
