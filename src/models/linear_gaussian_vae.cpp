#include "joule/models/linear_gaussian_vae.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace joule {

LinearGaussianVaeImpl::LinearGaussianVaeImpl(LinearGaussianVaeOptions options_) : options(options_) {
  TORCH_CHECK(options.dim() > 0 && options.latent() > 0, "LinearGaussianVae: dim and latent must be > 0, got ", options.dim(),
              " and ", options.latent());
  reset();
}

void LinearGaussianVaeImpl::reset() {
  const int64_t d = options.dim(), k = options.latent();
  weight = register_parameter("weight", at::zeros({d, k}));
  bias = register_parameter("bias", at::zeros({d}));
  log_var = register_parameter("log_var", at::zeros({}));
  enc_weight = register_parameter("enc_weight", at::zeros({k, d}));
  enc_bias = register_parameter("enc_bias", at::zeros({k}));
  enc_log_var = register_parameter("enc_log_var", at::zeros({k}));
}

void LinearGaussianVaeImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  weight.normal_(0.0, 0.1, gen);
  enc_weight.normal_(0.0, 0.1, gen);
  bias.zero_();
  enc_bias.zero_();
  log_var.zero_();
  enc_log_var.zero_();
}

ElboTerms LinearGaussianVaeImpl::elbo_terms(const at::Tensor& x, at::Generator& gen) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options.dim(), "LinearGaussianVae: expected x [B, ", options.dim(), "], got ",
              x.sizes());
  const double d = double(options.dim());
  auto mu = at::addmm(enc_bias, x, enc_weight.t());
  auto s = (0.5 * enc_log_var).exp();
  auto z = mu + s * at::empty_like(mu).normal_(0.0, 1.0, gen);  // reparameterised draw
  auto mean = at::addmm(bias, z, weight.t());
  ElboTerms t;
  t.reconstruction = -0.5 * d * (std::log(2 * M_PI) + log_var) - 0.5 * (x - mean).pow(2).sum(1) / log_var.exp();
  t.kl = 0.5 * (s.pow(2) + mu.pow(2) - 1.0 - enc_log_var).sum(1);
  return t;
}

at::Tensor LinearGaussianVaeImpl::sample(int64_t n, at::Generator gen) {
  torch::NoGradGuard no_grad;
  auto z = at::empty({n, options.latent()}, weight.options()).normal_(0.0, 1.0, gen);
  auto noise = at::empty({n, options.dim()}, weight.options()).normal_(0.0, 1.0, gen);
  return at::addmm(bias, z, weight.t()) + (0.5 * log_var).exp() * noise;
}

at::Tensor LinearGaussianVaeImpl::log_marginal(const at::Tensor& x) const {
  const int64_t d = options.dim();
  auto cov = at::matmul(weight, weight.t()) + log_var.exp() * at::eye(d, weight.options());
  auto l = at::linalg_cholesky(cov);
  auto r = (x - bias).t();  // [D, B]
  auto w = at::linalg_solve_triangular(l, r, /*upper=*/false);
  auto logdet = 2.0 * l.diagonal().log().sum();
  return -0.5 * (double(d) * std::log(2 * M_PI) + logdet + w.pow(2).sum(0));
}

}  // namespace joule
