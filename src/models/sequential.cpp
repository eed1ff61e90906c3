#include "joule/models/sequential.h"

#include <torch/nn/modules/linear.h>

#include "joule/core/layers.h"

namespace joule {

at::Tensor forward_sequential(torch::nn::Sequential net, const at::Tensor& x) {
  at::Tensor h = x;
  for (auto& m : *net) {
    if (auto* lin = m.ptr()->as<torch::nn::LinearImpl>()) {
      h = linear(h, lin->weight, lin->bias);
    } else {
      h = m.forward(h);
    }
  }
  return h;
}

}  // namespace joule
