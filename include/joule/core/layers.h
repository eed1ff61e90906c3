#pragma once
// Linear and 2-D convolution with CPU fast paths, complete for autograd (first and second
// order), used by Joule's networks in place of at::linear / at::conv2d.
//
// Why: an EBM's sampler spends its time in forward + input-gradient passes, and two of
// LibTorch's CPU defaults are slow exactly there (measured in docs/benchmarks.md):
//  - matrix products go to the system BLAS; Debian's OpenBLAS ran ~2x slower than oneDNN's
//    sgemm on the AVX-512 development machine, and with 2 threads it fights LibTorch's OpenMP
//    workers;
//  - the input gradient of a convolution with few input channels (the first layer of every
//    image network, which SGLD differentiates through at every step) takes oneDNN 3-4x longer
//    than the im2col path (1 -> 16 channels, 28x28, batch 64: 1.06 ms vs 0.30 ms).
// Each function picks the faster kernel per piece of its backward; results equal LibTorch's up
// to float rounding. Off the CPU, and for the pieces where LibTorch is already fast, they call
// LibTorch itself. Under create_graph, the backward is built from differentiable ops, so
// double backward (score matching, gradient penalties) works and matches LibTorch's.

#include <ATen/ATen.h>

namespace joule {

/// x · wᵀ + bias, like at::linear (bias may be undefined). For float32 CPU inputs the forward
/// and the first-order backward run on gemm() (core/gemm.h); otherwise at::linear.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// 2-D cross-correlation like at::conv2d (groups 1, dilation 1, square stride and padding;
/// bias may be undefined). On the CPU the input gradient of a layer with at most
/// kSmallConvInputChannels input channels takes the im2col path (unless OpenBLAS and LibTorch
/// both run several threads, which would oversubscribe the cores; joule::set_num_threads keeps
/// OpenBLAS on one); everything else is LibTorch's.
at::Tensor conv2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                  int64_t padding);

/// Input-channel count up to which conv2d's input gradient uses im2col instead of oneDNN.
constexpr int64_t kSmallConvInputChannels = 4;

/// Transposed 2-D convolution like at::conv_transpose2d (groups 1, dilation 1, no output padding,
/// square stride and padding; weight [C_in, C_out, k, k]; bias may be undefined). The upsampling
/// layer of DCGAN-style decoders, stride 2, kernel 4, padding 1, runs on the CPU with LibTorch 1.x
/// as one stride-1
/// 3×3 convolution with 4·C_out outputs followed by a pixel shuffle (each output pixel's parity
/// picks which kernel taps reach it), differentiable in x, weight and bias: Debian's LibTorch 1.13
/// runs the transposed convolution itself without oneDNN, 4–5× slower (docs/benchmarks.md). Every
/// other configuration, device and LibTorch 2.x (whose own oneDNN path is faster) is
/// at::conv_transpose2d.
at::Tensor conv_transpose2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                            int64_t padding);

}  // namespace joule
