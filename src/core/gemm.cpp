#include "joule/core/gemm.h"

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

namespace joule {
namespace {

// oneDNN's C API (dnnl.h, v1.0+): row-major sgemm. Looked up at run time so that Joule needs
// no oneDNN headers and still runs where LibTorch does not export it.
using DnnlSgemm = int (*)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

DnnlSgemm dnnl_sgemm() {
  static const DnnlSgemm fn = []() -> DnnlSgemm {
    const char* env = std::getenv("JOULE_GEMM");
    if (env && std::strcmp(env, "torch") == 0) return nullptr;
    return reinterpret_cast<DnnlSgemm>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
  }();
  return fn;
}

bool fast_path(const at::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 2 && t.is_contiguous();
}

// bias + op(a)·op(b) through gemm(): the bias is copied into the output, then accumulated onto.
at::Tensor untraced_addmm(const at::Tensor& bias, const at::Tensor& a, bool trans_a, const at::Tensor& b,
                          bool trans_b) {
  auto out = at::empty({trans_a ? a.size(1) : a.size(0), trans_b ? b.size(0) : b.size(1)}, a.options());
  if (bias.defined()) {
    if (fast_path(out) && bias.is_contiguous() && bias.scalar_type() == at::kFloat && bias.numel() == out.size(1)) {
      // Row copies: a broadcasting copy_ costs more than the product itself on 10-row outputs.
      const float* src = bias.data_ptr<float>();
      float* dst = out.data_ptr<float>();
      const int64_t n = out.size(1);
      for (int64_t r = 0; r < out.size(0); ++r) std::memcpy(dst + r * n, src, sizeof(float) * size_t(n));
    } else {
      out.copy_(bias.expand_as(out));
    }
    gemm(a, trans_a, b, trans_b, out, 1.0, 1.0);
  } else {
    gemm(a, trans_a, b, trans_b, out);
  }
  return out;
}

}  // namespace

std::string gemm_backend() { return dnnl_sgemm() ? "onednn" : "torch"; }

void gemm(const at::Tensor& a, bool trans_a, const at::Tensor& b, bool trans_b, at::Tensor& c, double alpha,
          double beta) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && c.dim() == 2, "gemm: operands must be 2-D, got ", a.sizes(), ", ",
              b.sizes(), ", ", c.sizes());
  const int64_t m = trans_a ? a.size(1) : a.size(0), k = trans_a ? a.size(0) : a.size(1);
  const int64_t kb = trans_b ? b.size(1) : b.size(0), n = trans_b ? b.size(0) : b.size(1);
  TORCH_CHECK(k == kb && c.size(0) == m && c.size(1) == n, "gemm: shapes do not match: op(a) ", m, "x", k, ", op(b) ",
              kb, "x", n, ", c ", c.sizes());
  if (m == 0 || n == 0) return;
  if (auto sgemm = dnnl_sgemm(); sgemm && fast_path(a) && fast_path(b) && fast_path(c) && k > 0) {
    const int status = sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, float(alpha), a.data_ptr<float>(),
                             a.size(1), b.data_ptr<float>(), b.size(1), float(beta), c.data_ptr<float>(), n);
    TORCH_CHECK(status == 0, "oneDNN sgemm failed with status ", status, " (set JOULE_GEMM=torch to bypass it)");
    return;
  }
  auto opa = trans_a ? a.t() : a, opb = trans_b ? b.t() : b;
  if (beta == 0.0) {
    at::mm_out(c, opa, opb);
    if (alpha != 1.0) c.mul_(alpha);
  } else {
    c.addmm_(opa, opb, beta, alpha);
  }
}

at::Tensor fast_matmul(const at::Tensor& a, const at::Tensor& b, bool trans_a, bool trans_b) {
  const int64_t m = trans_a ? a.size(1) : a.size(0), n = trans_b ? b.size(0) : b.size(1);
  auto c = at::empty({m, n}, a.options());
  gemm(a, trans_a, b, trans_b, c);
  return c;
}

at::Tensor fast_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  return untraced_addmm(bias, x, false, w, true);
}

at::Tensor fast_addmm(const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b, bool trans_a, bool trans_b) {
  const bool traced = at::GradMode::is_enabled() &&
                      (a.requires_grad() || b.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (!traced) return untraced_addmm(bias, a, trans_a, b, trans_b);
  auto opa = trans_a ? a.t() : a, opb = trans_b ? b.t() : b;
  return bias.defined() ? at::addmm(bias, opa, opb) : at::mm(opa, opb);
}

}  // namespace joule
