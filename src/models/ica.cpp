#include "joule/models/ica.h"

#include <c10/util/Exception.h>

#include <algorithm>

namespace joule {

IcaImpl::IcaImpl(int64_t dim) : dim_(dim) {
  TORCH_CHECK(dim > 0, "Ica: dim must be > 0, got ", dim);
  unmixing = register_parameter("unmixing", at::eye(dim));
}

int64_t IcaImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  const double max_cond = std::max<double>(static_cast<double>(dim_), 2.0);
  for (int64_t draws = 1;; ++draws) {
    auto b = at::empty({dim_, dim_}, at::kDouble).normal_(0.0, 1.0, gen);
    auto sv = at::linalg_svdvals(b);
    const double cond = (sv.max() / sv.min()).item<double>();
    if (cond < max_cond) {
      unmixing.copy_(b.to(unmixing.dtype()));
      return draws;
    }
    TORCH_CHECK(draws < 100000, "Ica: no well-conditioned matrix found in 100000 draws");
  }
}

torch::Tensor IcaImpl::energy(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == dim_, "Ica: expected [B, ", dim_, "], got ", x.sizes());
  auto s = at::matmul(x, unmixing);
  // −log Logistic(s) = softplus(s) + softplus(−s) = |s| + 2 log(1 + e^{−|s|}): exact and
  // stable for any |s| (LibTorch's softplus switches to the identity above 20).
  auto a = s.abs();
  return (a + 2.0 * at::log1p(at::exp(-a))).sum(1);
}

EnergyGrad IcaImpl::energy_and_grad(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  auto e = energy(x);
  auto s = at::matmul(x, unmixing);
  // d/ds [softplus(s) + softplus(−s)] = sigmoid(s) − sigmoid(−s) = tanh(s/2).
  return {e, at::matmul(at::tanh(s * 0.5), unmixing.t())};
}

torch::Tensor IcaImpl::log_partition() {
  TORCH_CHECK(temperature() == 1.0, "Ica: log Z is known in closed form only at temperature 1, got ", temperature());
  return -std::get<1>(at::linalg_slogdet(unmixing));
}

torch::Tensor IcaImpl::log_prob(const torch::Tensor& x) { return -energy(x) - log_partition(); }

torch::Tensor IcaImpl::sample(int64_t n, at::Generator gen) {
  TORCH_CHECK(n > 0, "Ica::sample: n must be > 0, got ", n);
  torch::NoGradGuard no_grad;
  auto opts = unmixing.options().requires_grad(false);
  // Inverse CDF of the logistic: log u − log(1 − u), u ~ U(0, 1) kept away from 0 and 1.
  const double eps = 1e-7;
  auto u = at::empty({n, dim_}, opts).uniform_(eps, 1.0 - eps, gen);
  auto s = u.log() - (-u).log1p();
  return at::linalg_solve(unmixing.t(), s.t()).t().contiguous();  // x = s B⁻¹ ⇔ Bᵀ xᵀ = sᵀ
}

}  // namespace joule

namespace joule {

double amari_index(const torch::Tensor& b_true, const torch::Tensor& b_model) {
  TORCH_CHECK(b_true.dim() == 2 && b_true.sizes() == b_model.sizes() && b_true.size(0) == b_true.size(1),
              "amari_index: expected two square matrices of the same size, got ", b_true.sizes(), " and ",
              b_model.sizes());
  const int64_t d = b_true.size(0);
  if (d == 1) return 0.0;
  auto p = at::linalg_solve(b_true.detach().to(at::kDouble), b_model.detach().to(at::kDouble)).abs();
  auto rows = (p.sum(1) / std::get<0>(p.max(1)) - 1).sum();
  auto cols = (p.sum(0) / std::get<0>(p.max(0)) - 1).sum();
  return ((rows + cols) / (2.0 * d * (d - 1))).item<double>();
}

}  // namespace joule
