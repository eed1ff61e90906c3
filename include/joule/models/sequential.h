#pragma once
// A torch::nn::Sequential run with its Linear layers on joule::linear (core/layers.h: Joule's gemm
// rather than the system BLAS, first and second order), every other layer as it is.
#include <ATen/ATen.h>
#include <torch/nn/modules/container/sequential.h>

namespace joule {

/// Runs `net` on x layer by layer, Linear layers through joule::linear, any other layer by its
/// own forward().
at::Tensor forward_sequential(torch::nn::Sequential net, const at::Tensor& x);

}  // namespace joule
