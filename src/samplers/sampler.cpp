#include "joule/samplers/sampler.h"

namespace joule {

torch::Tensor sum_event(const torch::Tensor& t) {
  if (t.dim() == 1) return t;
  return t.reshape({t.size(0), -1}).sum(1);
}

}  // namespace joule
