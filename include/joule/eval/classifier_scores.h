#pragma once
// Per-input read-outs of a classifier viewed as an energy model (JEM, arXiv:1912.03263 §5.3):
// class probabilities for accuracy and calibration, and the three OOD scores of the paper's
// Table 3, each oriented so that higher means "more in-distribution":
//   log p̃(x)          = logsumexp_y f(x)[y] = −E(x)      (unnormalised log-density at T = 1)
//   max_y p(y|x)                                          (the classifier's confidence)
//   −‖∇ₓ log p̃(x)‖₂                                       (JEM's gradient-norm score)
// With a model trained by a cold sampler at T_s, the density the training matched is
// exp(−E/T_s): log p̃ read-outs divide by T_s, which changes no ranking (AUROC), only values.

#include <ATen/ATen.h>

#include <cstdint>

#include "joule/models/classifier_energy.h"

namespace joule::eval {

/// Per-input scores of a classifier, as classifier_scores() returns them (on the CPU).
struct ClassifierScores {
  at::Tensor probs;          ///< [N, C] softmax(f(x))
  at::Tensor log_px;         ///< [N] logsumexp f(x) = −E(x)
  at::Tensor max_prob;       ///< [N] max_y p(y|x)
  at::Tensor neg_grad_norm;  ///< [N] −‖∇ₓ logsumexp f(x)‖₂ (undefined unless requested)
};

/// Scores `x` [N, ...] in batches of `batch_size` with the model in eval mode (restored after).
/// Results are on the CPU. `with_grad` adds the gradient-norm score (one backward per batch).
ClassifierScores classifier_scores(ClassifierEnergyImpl& model, const at::Tensor& x, int64_t batch_size = 256,
                                   bool with_grad = true);

/// The model's class argmax_y p(y|x) of each of `x` [N, ...] (eval mode, batches of `batch_size`),
/// on x's device: the label a JEM's own samples are grouped and judged by.
at::Tensor predicted_labels(ClassifierEnergyImpl& model, const at::Tensor& x, int64_t batch_size = 256);

/// Fraction of argmax_y probs == labels.
double accuracy(const at::Tensor& probs, const at::Tensor& labels);
/// Mean −log p(y|x) of the true labels (probabilities clamped at 1e-12).
double negative_log_likelihood(const at::Tensor& probs, const at::Tensor& labels);

}  // namespace joule::eval
