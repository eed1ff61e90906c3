#pragma once
// Sample-quality distances between two sets of feature vectors: the Fréchet distance (FID's
// formula, Heusel et al., arXiv:1706.08500 eq. 6) and the kernel distance (KID, Bińkowski et al.,
// arXiv:1801.01401 §3: the unbiased MMD² with the cubic polynomial kernel).
//
// Joule computes them on the features of a classifier it trained itself (e.g. the small CNN of
// `ce_fashion_cnn`), not on Inception-v3 pool features: the numbers compare runs scored with
// the same feature network and nothing else (they are not FID/KID as published).

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

namespace joule::eval {

/// Mean [F] and covariance [F, F] (divisor N − 1) of features [N, F], in float64.
struct FeatureMoments {
  ///@{
  /// Mean [F] and covariance [F, F].
  at::Tensor mean, cov;
  ///@}
  int64_t n = 0;  ///< number of rows N they were computed from
};
/// The moments of features [N, F].
FeatureMoments feature_moments(const at::Tensor& features);

/// ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}): the squared 2-Wasserstein distance
/// between N(μ₁, Σ₁) and N(μ₂, Σ₂). The matrix square roots come from symmetric eigen-
/// decompositions (eigenvalues below 0 from rounding are set to 0), so it is exact for any
/// positive semi-definite covariances, singular ones included.
double frechet_distance(const FeatureMoments& a, const FeatureMoments& b);
/// The same between the moments of features [M, F] and [N, F] (FID for Inception features). With
/// fewer rows than features (M·N < F²) the trace term comes from the singular values of the
/// M×N cross-product of the centred rows instead of two F×F eigendecompositions: the same
/// number, in a fraction of the time.
double frechet_distance(const at::Tensor& features_a, const at::Tensor& features_b);

/// Unbiased MMD² with k(x, y) = (xᵀy / F + 1)³ between features [M, F] and [N, F], averaged over
/// `subsets` random subsets of `subset_size` rows of each (KID's protocol; subset_size is
/// clipped to min(M, N)). The mean and the standard deviation over the subsets. float64.
struct KernelDistance {
  ///@{
  /// Mean and standard deviation of MMD² over the subsets.
  double mean = 0, std = 0;
  ///@}
};
/// KID-style kernel distance between features [M, F] and [N, F] (see KernelDistance).
KernelDistance kernel_distance(const at::Tensor& features_a, const at::Tensor& features_b, at::Generator& gen,
                               int64_t subsets = 10, int64_t subset_size = 1000);

/// Improved precision and recall (Kynkäänniemi et al., arXiv:1904.06991 §2): each set's manifold
/// is the union of balls around its points whose radius is the distance to the point's k-th
/// nearest neighbour in the same set. Precision is the fraction of generated points inside the
/// real manifold (fidelity), recall the fraction of real points inside the generated one
/// (diversity). Both lie in [0, 1]; a set against itself gives 1 and 1.
struct PrecisionRecall {
  double precision = 0;  ///< fraction of `generated` rows inside the manifold of `real`
  double recall = 0;     ///< fraction of `real` rows inside the manifold of `generated`
  /// Per generated row [M] (float64): 1 inside the real manifold, else 0 (precision is its mean).
  at::Tensor generated_inside;
};
/// Improved precision and recall of features `generated` [M, F] against `real` [N, F] with the
/// k-th-neighbour radii (the paper uses k = 3); each set needs more than k rows. Distances are
/// computed in float64 in blocks of rows, so memory stays O(block · max(M, N)).
PrecisionRecall precision_recall(const at::Tensor& real, const at::Tensor& generated, int64_t k = 3);

/// The fraction of samples whose predicted class (argmax of `logits` [N, C]) is `intended` [N]:
/// how often class-conditional samples show the class they were drawn for.
double class_agreement(const at::Tensor& logits, const at::Tensor& intended);

/// How steadily a classifier labels the frames of each sequence: `labels` [N, T] (a predicted
/// class per frame), the share of each sequence's frames that carry its most frequent label,
/// averaged over the N sequences: 1 when every video keeps one class, lower when its frames show
/// unrelated items (at least 1/T).
double sequence_label_consistency(const at::Tensor& labels);

/// The worst class of a per-sample score: the lowest mean of `per_sample` [N] over the samples of
/// each class in `intended` [N] that has at least `min_count` of them, and that class (−1 and
/// NaN when none has). A row of noise in a class-conditional grid shows here when the averages
/// over all samples hide it.
struct WorstClass {
  int64_t label = -1;              ///< the class with the lowest mean
  double value = std::nan("");     ///< its mean
  int64_t classes = 0;             ///< classes with at least min_count samples
};
/// See WorstClass.
WorstClass worst_class(const at::Tensor& per_sample, const at::Tensor& intended, int64_t min_count);

}  // namespace joule::eval
