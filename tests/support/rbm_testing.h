#pragma once
// Exact references for tiny RBMs shared by the RBM tests: enumeration of all states, exact
// marginals, exact samples and a chi-square statistic.

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "joule/core/runtime.h"
#include "joule/models/rbm.h"

namespace joule::testing {

/// All 2^n binary vectors as rows [2^n, n] (float64); row r has bit j of r in column j.
inline torch::Tensor all_binary_states(int64_t n) {
  auto idx = torch::arange(int64_t(1) << n).unsqueeze(1);
  return idx.bitwise_right_shift(torch::arange(n).unsqueeze(0)).bitwise_and(1).to(torch::kFloat64);
}

/// Index of each binary row of v [N, n] in all_binary_states(n).
inline torch::Tensor state_index(const torch::Tensor& v) {
  auto pow2 = torch::pow(2.0, torch::arange(v.size(1), torch::kFloat64));
  return torch::mv(v.to(torch::kFloat64), pow2).round().to(torch::kLong);
}

/// Exact p(v) of a Bernoulli RBM over all_binary_states(V), by brute force.
inline torch::Tensor exact_visible_distribution(RbmImpl& rbm) {
  torch::NoGradGuard no_grad;
  auto vs = all_binary_states(rbm.num_visible());
  return torch::softmax(-rbm.energy(vs).to(torch::kFloat64), 0);
}

/// Pearson chi-square of observed state indices against probabilities p (bins with expected
/// count < 5 pooled into one). Returns {statistic, degrees of freedom}.
inline std::pair<double, int64_t> chi_square(const torch::Tensor& indices, const torch::Tensor& p) {
  const int64_t n = indices.numel();
  auto counts = torch::bincount(indices.reshape(-1), {}, p.numel()).to(torch::kFloat64);
  auto expected = p.to(torch::kFloat64) * double(n);
  double stat = 0, pooled_obs = 0, pooled_exp = 0;
  int64_t bins = 0;
  for (int64_t i = 0; i < p.numel(); ++i) {
    const double e = expected[i].item<double>(), o = counts[i].item<double>();
    if (e < 5) {
      pooled_obs += o;
      pooled_exp += e;
      continue;
    }
    stat += (o - e) * (o - e) / e;
    ++bins;
  }
  if (pooled_exp > 0) {
    stat += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
    ++bins;
  }
  return {stat, bins - 1};
}

/// Upper 0.1% point of the chi-square distribution with k degrees of freedom (Wilson–Hilferty).
inline double chi_square_critical_999(int64_t k) {
  const double z = 3.090232306167813;  // Φ⁻¹(0.999)
  const double a = 2.0 / (9.0 * double(k));
  return double(k) * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

/// n exact samples of p(v) for an RBM with a small layer: Bernoulli RBMs with V <= H enumerate
/// v directly; otherwise h is drawn from its exact marginal (enumerated), then v ~ p(v | h).
inline torch::Tensor exact_rbm_samples(RbmImpl& rbm, int64_t n, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  if (!rbm.gaussian() && rbm.num_visible() <= rbm.num_hidden()) {
    auto vs = all_binary_states(rbm.num_visible()).to(rbm.weight.scalar_type());
    auto p = torch::softmax(-rbm.energy(vs).to(torch::kFloat64), 0);
    return vs.index_select(0, torch::multinomial(p, n, /*replacement=*/true, gen));
  }
  auto hs = all_binary_states(rbm.num_hidden());
  auto w = rbm.weight.to(torch::kFloat64), b = rbm.visible_bias.to(torch::kFloat64);
  auto c = rbm.hidden_bias.to(torch::kFloat64);
  torch::Tensor logp;
  if (rbm.gaussian()) {
    // log p(h) + const = cᵀh + Σ_i (b_i m_i + m_i²/2)/σ_i², m = Wᵀh (quadratic form in h).
    auto prec = torch::exp(-rbm.log_var.to(torch::kFloat64));
    logp = torch::mv(hs, c + torch::mv(w, b * prec)) + 0.5 * (torch::mm(hs, torch::mm(w * prec, w.t())) * hs).sum(1);
  } else {
    logp = torch::mv(hs, c) + torch::softplus(torch::addmm(b, hs, w)).sum(1);
  }
  auto idx = torch::multinomial(torch::softmax(logp, 0), n, /*replacement=*/true, gen);
  return rbm.sample_visible(hs.index_select(0, idx).to(rbm.weight.scalar_type()), gen);
}

}  // namespace joule::testing
