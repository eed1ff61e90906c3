#pragma once
// Matrix products for Joule's hand-written hot paths (sampler gradients, Gibbs sweeps).
//
// LibTorch's CPU matmul calls the system BLAS; Debian's LibTorch also ships oneDNN, whose
// sgemm dispatches at run time to the widest vector unit of the machine (AVX-512 where
// present). On the 2-core development machine it is ~2x faster than OpenBLAS's kernels for
// the shapes of a Langevin step (docs/benchmarks.md). These functions use it when it is
// available and the operands are contiguous float32 CPU matrices, and LibTorch's matmul
// otherwise (other dtypes, CUDA, or a LibTorch without an exported oneDNN). They build no
// autograd graph: use them only where no gradient to their inputs is needed.

#include <ATen/ATen.h>

#include <string>

namespace joule {

/// c = alpha · op(a) · op(b) + beta · c, where op transposes when asked. `c` must already have
/// the result's shape; a, b, c are 2-D.
void gemm(const at::Tensor& a, bool trans_a, const at::Tensor& b, bool trans_b, at::Tensor& c, double alpha = 1.0,
          double beta = 0.0);

/// op(a) · op(b) as a new tensor.
at::Tensor fast_matmul(const at::Tensor& a, const at::Tensor& b, bool trans_a = false, bool trans_b = false);

/// x · wᵀ + bias (bias [out] broadcast over rows; may be undefined), like torch.nn.functional.linear.
at::Tensor fast_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias);

/// bias + op(a) · op(b), like torch::addmm with a row-broadcast bias ([n]; may be undefined),
/// computed by gemm() when no autograd graph is needed (grad mode off, or no operand requires
/// a gradient) and by torch::addmm otherwise, so it is safe on paths that autograd may trace
/// (an RBM's free energy under contrastive divergence, for example).
at::Tensor fast_addmm(const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b, bool trans_a = false,
                      bool trans_b = false);

/// "onednn" when the fast sgemm is in use, "torch" otherwise (JOULE_GEMM=torch forces it).
std::string gemm_backend();

}  // namespace joule
