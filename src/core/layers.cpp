#include "joule/core/layers.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include "joule/core/gemm.h"
#include "joule/core/runtime.h"

namespace joule {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool float_cpu(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; }

// The im2col input gradient calls the system BLAS from inside LibTorch's parallel loop. With
// OpenBLAS on several threads as well (a process that did not go through set_num_threads),
// that oversubscribes the cores: 3 -> 16 channels took 10.5 ms instead of 1.3 ms at 2 threads.
bool blas_single_threaded() { return blas_num_threads() <= 1 || at::get_num_threads() <= 1; }

// LibTorch 1.13's custom functions reject undefined inputs: a missing bias travels as an empty
// tensor and is turned back into an undefined one inside.
at::Tensor bias_in(const at::Tensor& bias, const at::Tensor& like) {
  return bias.defined() ? bias : at::empty({0}, like.options());
}
at::Tensor bias_out(const at::Tensor& bias) { return bias.numel() > 0 ? bias : at::Tensor(); }

struct LinearFunction : public torch::autograd::Function<LinearFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["has_bias"] = bias.numel() > 0;
    return fast_linear(x, weight, bias_out(bias));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    const auto go = grads[0].contiguous();
    at::Tensor gx, gw, gb;
    // Under create_graph (grad mode on here) the products must be recorded: at::mm is.
    const bool record = at::GradMode::is_enabled();
    if (ctx->needs_input_grad(0)) gx = record ? at::mm(go, w) : fast_matmul(go, w);
    if (ctx->needs_input_grad(1)) gw = record ? at::mm(go.t(), x) : fast_matmul(go, x, /*trans_a=*/true);
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) gb = go.sum(0);
    return {gx, gw, gb};
  }
};

struct Conv2dFunction : public torch::autograd::Function<Conv2dFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["has_bias"] = bias.numel() > 0;
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    return at::conv2d(x, weight, bias_out(bias), stride, padding);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    const auto& go = grads[0];
    const int64_t s = ctx->saved_data["stride"].toInt(), p = ctx->saved_data["padding"].toInt();
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    const bool need_b = has_bias && ctx->needs_input_grad(2);
    at::Tensor gx, gw, gb;
    // Both ATen backward ops below have derivatives of their own, so create_graph works.
    if (need_x && x.size(1) <= kSmallConvInputChannels && blas_single_threaded()) {
      gx = std::get<0>(at::_slow_conv2d_backward(go, x, w, {w.size(2), w.size(3)}, {s, s}, {p, p},
                                                 {true, false, false}));
    }
    const bool backend_x = need_x && !gx.defined();
    if (backend_x || need_w || need_b) {
      auto g = at::convolution_backward(go, x, w, c10::IntArrayRef{w.size(0)}, {s, s}, {p, p}, {1, 1},
                                        /*transposed=*/false, {0, 0}, /*groups=*/1, {backend_x, need_w, need_b});
      if (backend_x) gx = std::get<0>(g);
      gw = std::get<1>(g);
      gb = std::get<2>(g);
    }
    return {gx, gw, gb, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (x.dim() != 2 || !float_cpu(x) || !float_cpu(weight) || (bias.defined() && !float_cpu(bias))) {
    return at::linear(x, weight, bias);
  }
  TORCH_CHECK(weight.dim() == 2 && x.size(1) == weight.size(1), "linear: input ", x.sizes(), " does not match weight ",
              weight.sizes());
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "linear: bias ",
              bias.sizes(), " does not match weight ", weight.sizes());
  const bool traced = at::GradMode::is_enabled() &&
                      (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (!traced) return fast_linear(x.contiguous(), weight.contiguous(), bias.defined() ? bias.contiguous() : bias);
  return LinearFunction::apply(x.contiguous(), weight, bias_in(bias, x));
}

at::Tensor conv2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                  int64_t padding) {
  const bool traced = at::GradMode::is_enabled() &&
                      (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (!traced || !x.device().is_cpu() || x.dim() != 4 || weight.dim() != 4) {
    return at::conv2d(x, weight, bias, stride, padding);
  }
  TORCH_CHECK(x.size(1) == weight.size(1), "conv2d: input has ", x.size(1), " channels but the weight expects ",
              weight.size(1), " (weight ", weight.sizes(), ")");
  return Conv2dFunction::apply(x, weight, bias_in(bias, x), stride, padding);
}

}  // namespace joule

namespace joule {

at::Tensor conv_transpose2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                            int64_t padding) {
  TORCH_CHECK(x.dim() == 4 && weight.dim() == 4 && x.size(1) == weight.size(0),
              "conv_transpose2d: x must be [N, C_in, H, W] and weight [C_in, C_out, k, k], got ", x.sizes(), " and ",
              weight.sizes());
  // LibTorch 2.x runs transposed convolutions on oneDNN itself, faster than the rewrite.
  const bool subpixel = TORCH_VERSION_MAJOR < 2 && x.device().is_cpu() && stride == 2 && padding == 1 && weight.size(2) == 4 && weight.size(3) == 4;
  if (!subpixel) {
    return at::conv_transpose2d(x, weight, bias, {stride, stride}, {padding, padding});
  }
  // Along each axis, output 2m takes x[m]·w[1] + x[m − 1]·w[3] and output 2m + 1 takes
  // x[m + 1]·w[0] + x[m]·w[2]. So a 3×3 stride-1 correlation over x[m − 1 … m + 1] per output
  // parity (taps (w3, w1, 0) and (0, w2, w0); index 4 is a zero tap) gives the four phases,
  // which a pixel shuffle interleaves.
  const int64_t ci = weight.size(0), co = weight.size(1);
  static const std::vector<int64_t> taps{3, 1, 4, 4, 2, 0};
  const auto idx = at::tensor(taps, at::TensorOptions().dtype(at::kLong).device(weight.device()));
  const auto padded = at::constant_pad_nd(weight, {0, 1, 0, 1});  // [ci, co, 5, 5], index 4 = 0
  const auto k = padded.index_select(2, idx)
                     .index_select(3, idx)
                     .reshape({ci, co, 2, 3, 2, 3})    // [ci, co, ry, ty, rx, tx]
                     .permute({1, 2, 4, 0, 3, 5})      // [co, ry, rx, ci, ty, tx]
                     .reshape({co * 4, ci, 3, 3});
  auto y = at::pixel_shuffle(at::conv2d(x, k, {}, {1, 1}, {1, 1}), 2);
  if (bias.defined()) y = y + bias.view({1, co, 1, 1});
  return y;
}

}  // namespace joule
