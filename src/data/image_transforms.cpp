#include "joule/data/image_transforms.h"

#include <c10/util/Exception.h>

namespace joule::data {

Binarize parse_binarize(const std::string& name) {
  if (name == "none") return Binarize::kNone;
  if (name == "threshold") return Binarize::kThreshold;
  if (name == "stochastic") return Binarize::kStochastic;
  TORCH_CHECK(false, "unknown binarisation '", name, "' (allowed: none, threshold, stochastic)");
}

at::Tensor binarize_threshold(const at::Tensor& x, double threshold) { return x.gt(threshold).to(x.scalar_type()); }

at::Tensor binarize_stochastic(const at::Tensor& x, at::Generator& gen) {
  TORCH_CHECK(x.numel() == 0 || (x.min().item<double>() >= 0 && x.max().item<double>() <= 1),
              "stochastic binarisation needs values in [0, 1], got [", x.min().item<double>(), ", ",
              x.max().item<double>(), "]");
  return at::bernoulli(x, gen);
}

Standardizer Standardizer::fit(const at::Tensor& x, double min_std) {
  TORCH_CHECK(x.dim() >= 1 && x.size(0) >= 2, "Standardizer::fit needs at least 2 samples, got ", x.sizes());
  TORCH_CHECK(min_std > 0, "Standardizer: min_std must be > 0, got ", min_std);
  Standardizer s;
  s.mean = x.mean(0);
  s.std = x.std(0).clamp_min(min_std);
  return s;
}

at::Tensor Standardizer::apply(const at::Tensor& x) const { return (x - mean) / std; }
at::Tensor Standardizer::invert(const at::Tensor& z) const { return z * std + mean; }

}  // namespace joule::data
