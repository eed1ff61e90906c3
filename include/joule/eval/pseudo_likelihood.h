#pragma once
// Cheap RBM quality measures that need no partition function: pseudo-log-likelihood and
// reconstruction error.

#include <ATen/ATen.h>

#include "joule/models/rbm.h"

namespace joule::eval {

/// scikit-learn's BernoulliRBM.score_samples, so the numbers are comparable: for each sample
/// one visible unit i is chosen uniformly at random and flipped (ṽ), and
///   PL(v) = V · log sigmoid(F(ṽ) − F(v)),
/// an unbiased one-unit estimate of Σᵢ log p(vᵢ | v₋ᵢ) (Besag 1975). Returns [N] float64.
/// Bernoulli visibles only; v must be 0/1.
torch::Tensor pseudo_log_likelihood(RbmImpl& rbm, const torch::Tensor& v, at::Generator& gen);

/// The full pseudo-log-likelihood Σᵢ log p(vᵢ | v₋ᵢ) (all V flips; O(N·V·H)), [N] float64.
torch::Tensor pseudo_log_likelihood_exact(RbmImpl& rbm, const torch::Tensor& v);

/// Mean squared reconstruction error per visible unit, mean over samples and units of
/// (v − E[v | h = p(h|v)])² (the mean-field reconstruction of Hinton's guide §5).
double reconstruction_error(RbmImpl& rbm, const torch::Tensor& v);

}  // namespace joule::eval
