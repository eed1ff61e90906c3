#pragma once
// A torch::nn::Sequential run with its Linear layers on joule::linear (core/layers.h: Joule's gemm
// rather than the system BLAS, first and second order), every other layer as it is.
#include <ATen/ATen.h>
#include <torch/nn/modules/container/sequential.h>

namespace joule {

at::Tensor forward_sequential(torch::nn::Sequential net, const at::Tensor& x);

}  // namespace joule
