#pragma once
// Linear read-outs ("probes") of learned representations: how much of a factor a set of features
// holds, measured by the best linear model on it. Used for disentanglement, e.g. identity accuracy
// from identity latents against pose latents, pose R² from pose latents against identity latents,
// and few-shot classification of held-out classes (Chen et al. 2020, "A Simple Framework for
// Contrastive Learning", §4 linear evaluation; Snell et al. 2017, prototypical networks, for the
// nearest-centroid classifier).
//
//  • Logistic probe: multinomial logistic regression on standardised features, minimising
//      L(W, b) = (1/N) Σᵢ −log softmax(W zᵢ + b)_{yᵢ} + (λ/2) ‖W‖²_F      (bias unpenalised)
//    (scikit-learn's LogisticRegression with C = 1/(λN)), full batch and deterministic: L-BFGS
//    (Nocedal & Wright 2006, Alg. 7.4/7.5) from zero with a backtracking Armijo line search.
//  • Ridge probe: closed form W = (ZᵀZ + λI)⁻¹ Zᵀ(Y − Ȳ) on standardised, centred features Z,
//    intercept Ȳ unpenalised (scikit-learn's Ridge(alpha=λ) on standardised features).
//  • R² per output column: 1 − SSE/SST with SST about the *test* mean (scikit-learn's r2_score),
//    so predicting the training mean scores ≤ 0 and R² can be negative.
//
// Everything runs in float64 on the device of the features; float32 (or any floating) input is
// accepted. Standardisation uses the training mean and population standard deviation (ddof 0); a
// column whose deviation is 0 (or below 1e-12 of its largest magnitude: constant up to rounding)
// keeps scale 1, so it is centred to 0 rather than divided by zero.

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>

namespace joule::eval {

/// Options of fit_logistic_probe().
struct LogisticProbeOptions {
  /// λ of the penalty (λ/2)‖W‖²_F added to the mean cross-entropy (>= 0). With 0 and separable
  /// classes no optimum exists: the weights grow until the gradient falls below the tolerance.
  TORCH_ARG(double, l2) = 1e-3;
  /// L-BFGS iterations at most (>= 1).
  TORCH_ARG(int64_t, max_iterations) = 500;
  /// Converged when the Euclidean norm of the gradient of L over (W, b) is at most this (> 0).
  TORCH_ARG(double, tolerance) = 1e-6;
  /// Standardise features with the training mean and standard deviation (false: use them as is).
  TORCH_ARG(bool, standardize) = true;
};

/// A fitted multinomial logistic regression: logits = W·(x − mean)/scale + b.
struct LogisticProbe {
  at::Tensor weight;   ///< W [K, D] float64, on standardised features
  at::Tensor bias;     ///< b [K] float64
  at::Tensor mean;     ///< [D] float64: training mean (zeros without standardisation)
  at::Tensor scale;    ///< [D] float64: training standard deviation, 1 for constant columns
  at::Tensor classes;  ///< [K] int64: the distinct training labels, ascending; class k of W is classes[k]
  int64_t iterations = 0;  ///< L-BFGS iterations run
  bool converged = false;  ///< the gradient norm reached the tolerance
  double loss = 0;         ///< L at the returned (W, b)

  /// The number of classes K.
  int64_t num_classes() const { return classes.defined() ? classes.size(0) : 0; }
  /// Logits [N, K] (float64) of x [N, D].
  at::Tensor logits(const at::Tensor& x) const;
  /// Predicted labels [N] (int64, values of `classes`: the original labels, not 0..K−1) of x [N, D].
  at::Tensor predict(const at::Tensor& x) const;
};

/// Fits a logistic probe on x [N, D] (finite, floating) and labels y [N] (integral, any values:
/// they are remapped to 0..K−1 internally; K >= 2 distinct labels needed). Deterministic.
LogisticProbe fit_logistic_probe(const at::Tensor& x, const at::Tensor& y, const LogisticProbeOptions& options = {});

/// Accuracy on (x_test, y_test) of a logistic probe fitted on (x_train, y_train). A test label
/// absent from the training labels can never be predicted and counts as an error.
double probe_accuracy(const at::Tensor& x_train, const at::Tensor& y_train, const at::Tensor& x_test,
                      const at::Tensor& y_test, const LogisticProbeOptions& options = {});

/// A fitted ridge regression: y ≈ W·(x − mean)/scale + b.
struct RidgeProbe {
  at::Tensor weight;  ///< W [P, D] float64, on standardised features
  at::Tensor bias;    ///< b [P] float64: the training mean of y (the intercept is unpenalised)
  at::Tensor mean;    ///< [D] float64: training mean of x
  at::Tensor scale;   ///< [D] float64: training standard deviation of x, 1 for constant columns

  /// Predictions [N, P] (float64) for x [N, D].
  at::Tensor predict(const at::Tensor& x) const;
};

/// Ridge regression of y [N, P] (or [N], taken as [N, 1]) on x [N, D], both finite and floating,
/// N >= 2: W = (ZᵀZ + λI)⁻¹ Zᵀ(y − ȳ) with Z the standardised x and λ = `l2` >= 0 on this
/// sum-of-squares scale (scikit-learn's alpha). With λ = 0 the minimum-norm least-squares solution.
RidgeProbe fit_ridge_probe(const at::Tensor& x, const at::Tensor& y, double l2 = 1e-3);

/// Coefficient of determination per output column, [P] float64: R²ⱼ = 1 − SSEⱼ/SSTⱼ with
/// SSEⱼ = Σᵢ (yᵢⱼ − ŷᵢⱼ)² and SSTⱼ = Σᵢ (yᵢⱼ − ȳⱼ)² about the mean of `y_true` itself. A constant
/// column (SST = 0) scores 1 when predicted exactly, else 0 (scikit-learn's convention).
/// y_true and y_pred: [N, P] or [N], N >= 2.
at::Tensor r2_per_output(const at::Tensor& y_true, const at::Tensor& y_pred);

/// R² per output column ([P] float64, see r2_per_output()) on (x_test, y_test) of a ridge probe
/// fitted on (x_train, y_train) with penalty `l2`; SST is about the test mean.
at::Tensor ridge_r2_per_output(const at::Tensor& x_train, const at::Tensor& y_train, const at::Tensor& x_test,
                               const at::Tensor& y_test, double l2 = 1e-3);

/// The mean over output columns of ridge_r2_per_output().
double ridge_r2(const at::Tensor& x_train, const at::Tensor& y_train, const at::Tensor& x_test, const at::Tensor& y_test,
                double l2 = 1e-3);

/// The classifier few_shot_accuracy() fits on the labelled examples.
enum class FewShotClassifier {
  kLogistic,         ///< fit_logistic_probe() with the given options
  kNearestCentroid,  ///< nearest class mean of the labelled examples (Euclidean)
};

/// "logistic" or "nearest_centroid" (also "centroid"); anything else is an error listing these.
FewShotClassifier parse_few_shot_classifier(const std::string& name);

/// Mean accuracy of a few-shot protocol over its repeats.
struct FewShotResult {
  double accuracy = 0;        ///< mean over repeats of the accuracy on the unlabelled examples
  double standard_error = 0;  ///< sample standard deviation of the repeats' accuracies / √repeats (NaN for 1 repeat)
  int64_t shots = 0;          ///< labelled examples per class
  int64_t repeats = 0;        ///< independent draws of the labelled examples
};

/// Few-shot classification of x [N, D] with labels y [N] (any integral values; typically classes
/// held out from the representation's training). For each of `repeats` draws (from `gen`, a CPU
/// generator; undefined: the default one), `shots` examples of every class are labelled, chosen
/// uniformly without replacement, and all the others are classified by `classifier` trained on the
/// labelled ones; the accuracy is pooled over all unlabelled examples. Both classifiers see the
/// features standardised once with the mean and standard deviation of all N examples (labels
/// unused, so no label information leaks; statistics of the K·shots labelled examples alone are
/// too noisy at 1 shot), so `options.standardize` is not used. Every class needs at least
/// shots + 1 examples (an error names the first class that has fewer, and its count).
FewShotResult few_shot_accuracy(const at::Tensor& x, const at::Tensor& y, int64_t shots, int64_t repeats,
                                at::Generator gen, FewShotClassifier classifier = FewShotClassifier::kLogistic,
                                const LogisticProbeOptions& options = {});

}  // namespace joule::eval
