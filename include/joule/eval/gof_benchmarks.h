#pragma once
// The Gaussian–Bernoulli RBM goodness-of-fit benchmark of Liu, Lee & Jordan (2016, §6) used by
// the LSD paper (Grathwohl et al., arXiv:2002.05616 §6.1; lsd_test.py `--test rbm-pert`):
//
//   p(x, s) ∝ exp(½ xᵀB s + bᵀx + cᵀs − ½‖x‖²),  s ∈ {−1, +1}^H,
//   B entries ±1 with probability ½, b ~ N(0, I_V), c ~ N(0, I_H);
//   the data come from p, the model q is the same RBM with B + σ·N(0, 1) on every entry.
//
// σ = 0 is the null hypothesis (type-I error); power is the rejection rate as σ grows.

#include <ATen/ATen.h>
#include <torch/arg.h>

#include "joule/models/rbm.h"

namespace joule::eval {

/// Options for make_rbm_benchmark() (defaults: the LSD paper's 50 visible, 40 hidden units).
struct RbmBenchmarkOptions {
  /// Number of visible (Gaussian) units V.
  TORCH_ARG(int64_t, visible) = 50;
  /// Number of ±1 hidden units H.
  TORCH_ARG(int64_t, hidden) = 40;
  /// Standard deviation σ of the perturbation of B in the model q.
  TORCH_ARG(double, sigma) = 0.0;
};

/// p (the data distribution) and q (the model under test), both as Joule RBMs (float32, CPU).
struct RbmBenchmark {
  ///@{
  /// The data distribution p and the model under test q.
  Rbm p{nullptr}, q{nullptr};
  ///@}
  ///@{
  /// The ±1-hidden parameters of p (B [V, H], b [V], c [H]), and q's perturbed B_q [V, H].
  at::Tensor B, b, c, B_q;
  ///@}
};

/// Draws B, b, c and the perturbation from `gen` (in that order).
RbmBenchmark make_rbm_benchmark(const RbmBenchmarkOptions& options, at::Generator gen);

/// n samples of p by block Gibbs from x ~ N(0, I) with `burn_in` sweeps (the paper: 2000).
at::Tensor sample_rbm_benchmark(RbmBenchmark& bench, int64_t n, int64_t burn_in, at::Generator gen);

/// The score of the ±1-hidden RBM written as in the papers, s(x) = b − x + ½ tanh(½ xB + c) Bᵀ
/// (the reference the Joule RBM's score is tested against).
at::Tensor pm1_rbm_score(const at::Tensor& x, const at::Tensor& B, const at::Tensor& b, const at::Tensor& c);

}  // namespace joule::eval
