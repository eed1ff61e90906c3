#include "joule/eval/pseudo_likelihood.h"

#include <c10/util/Exception.h>
#include <torch/nn/functional/activation.h>

namespace joule::eval {
namespace {

namespace F = torch::nn::functional;
constexpr int64_t kChunk = 4096;

void check_binary(RbmImpl& rbm, const torch::Tensor& x, const char* who) {
  TORCH_CHECK(!rbm.gaussian(), who, " is defined for Bernoulli visible units (flipping a unit); this RBM has Gaussian "
              "visibles");
  TORCH_CHECK(x.eq(0).logical_or(x.eq(1)).all().item<bool>(), who, ": visible data must be binary (0/1); binarise it "
              "first (data.binarize)");
}

// F(v) in float64 for [n, V] v.
torch::Tensor free_energy64(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                            const torch::Tensor& c) {
  return -torch::mv(x, b) - F::softplus(torch::addmm(c, x, w.t())).sum(1);
}

}  // namespace

torch::Tensor pseudo_log_likelihood(RbmImpl& rbm, const torch::Tensor& v, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  auto x_all = rbm.flat(v).to(torch::kFloat64);
  check_binary(rbm, x_all, "pseudo_log_likelihood");
  auto w = rbm.weight.to(torch::kFloat64), b = rbm.visible_bias.to(torch::kFloat64), c = rbm.hidden_bias.to(torch::kFloat64);
  const int64_t n = x_all.size(0), nv = rbm.num_visible();
  // One flip index per sample, drawn up front so that chunking does not change the result.
  auto idx = torch::randint(nv, {n}, gen, torch::TensorOptions().dtype(torch::kLong).device(x_all.device()));
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < n; s += kChunk) {
    const int64_t e = std::min(n, s + kChunk);
    auto x = x_all.slice(0, s, e);
    auto flipped = x.clone();
    auto rows = torch::arange(e - s, idx.options());
    auto cols = idx.slice(0, s, e);
    flipped.index_put_({rows, cols}, 1.0 - x.index({rows, cols}));
    auto diff = free_energy64(flipped, w, b, c) - free_energy64(x, w, b, c);
    out.push_back(F::logsigmoid(diff) * double(nv));
  }
  return torch::cat(out).cpu();
}

torch::Tensor pseudo_log_likelihood_exact(RbmImpl& rbm, const torch::Tensor& v) {
  torch::NoGradGuard no_grad;
  auto x_all = rbm.flat(v).to(torch::kFloat64);
  check_binary(rbm, x_all, "pseudo_log_likelihood_exact");
  auto w = rbm.weight.to(torch::kFloat64), b = rbm.visible_bias.to(torch::kFloat64), c = rbm.hidden_bias.to(torch::kFloat64);
  const int64_t n = x_all.size(0);
  std::vector<torch::Tensor> out;
  // Flipping unit i changes the hidden logits by ±W[:, i] and bᵀv by ±b_i, so all V flips
  // cost one [n, V, H] softplus rather than V matrix products.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 24) / (rbm.num_visible() * rbm.num_hidden()));
  for (int64_t s = 0; s < n; s += chunk) {
    auto x = x_all.slice(0, s, std::min(n, s + chunk));
    auto logits = torch::addmm(c, x, w.t());                  // [m, H]
    auto sign = 1.0 - 2.0 * x;                                 // +1 where a 0 becomes 1
    auto flipped_logits = logits.unsqueeze(1) + sign.unsqueeze(2) * w.t().unsqueeze(0);  // [m, V, H]
    auto f = -torch::mv(x, b) - F::softplus(logits).sum(1);   // [m]
    auto f_flip = (-torch::mv(x, b)).unsqueeze(1) - sign * b - F::softplus(flipped_logits).sum(2);  // [m, V]
    out.push_back(F::logsigmoid(f_flip - f.unsqueeze(1)).sum(1));
  }
  return torch::cat(out).cpu();
}

double reconstruction_error(RbmImpl& rbm, const torch::Tensor& v) {
  torch::NoGradGuard no_grad;
  auto x_all = rbm.flat(v);
  const int64_t n = x_all.size(0);
  TORCH_CHECK(n > 0, "reconstruction_error: no data");
  double sum = 0;
  for (int64_t s = 0; s < n; s += kChunk) {
    auto x = x_all.slice(0, s, std::min(n, s + kChunk));
    auto r = rbm.visible_mean(rbm.hidden_probs(x));
    sum += (x - r).pow(2).sum().to(torch::kFloat64).item<double>();
  }
  return sum / double(n * rbm.num_visible());
}

}  // namespace joule::eval
