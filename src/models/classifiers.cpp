#include "joule/models/classifiers.h"

#include <c10/util/Exception.h>
#include <torch/nn/functional/pooling.h>

#include <cmath>

#include "joule/core/layers.h"

namespace joule {

NormKind parse_norm(const std::string& name) {
  if (name == "none") return NormKind::kNone;
  if (name == "group") return NormKind::kGroup;
  TORCH_CHECK(false, "unknown normalisation '", name, "' (allowed: none, group; BatchNorm is not supported in energy models)");
}

std::string to_string(NormKind norm) { return norm == NormKind::kGroup ? "group" : "none"; }

void reset_parameters_default(torch::nn::Module& module, at::Generator gen) {
  torch::NoGradGuard no_grad;
  auto init = [&](torch::Tensor& w, torch::Tensor& b) {
    const int64_t fan_in = w.numel() / w.size(0);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    w.uniform_(-bound, bound, gen);
    if (b.defined()) b.uniform_(-bound, bound, gen);
  };
  for (auto& m : module.modules(/*include_self=*/true)) {
    if (auto* conv = m->as<torch::nn::Conv2dImpl>()) {
      init(conv->weight, conv->bias);
    } else if (auto* lin = m->as<torch::nn::LinearImpl>()) {
      init(lin->weight, lin->bias);
    } else if (auto* gn = m->as<torch::nn::GroupNormImpl>()) {
      if (gn->weight.defined()) gn->weight.fill_(1.0);
      if (gn->bias.defined()) gn->bias.zero_();
    }
  }
}

namespace {

torch::nn::GroupNorm make_norm(NormKind kind, int64_t groups, int64_t channels, const char* where) {
  if (kind == NormKind::kNone) return torch::nn::GroupNorm(nullptr);
  TORCH_CHECK(groups > 0 && channels % groups == 0, where, ": norm_groups = ", groups, " must divide the ", channels,
              " channels of every normalised layer");
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels));
}

torch::Tensor maybe_norm(torch::nn::GroupNorm& norm, const torch::Tensor& x) { return norm ? norm->forward(x) : x; }

// Every convolution of these networks pads by (k - 1) / 2: 3×3 and 4×4/2 by 1, 1×1 by 0.
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding((k - 1) / 2).bias(true));
}

// Runs `c` through joule::conv2d (core/layers.h: faster CPU input gradients for SGLD).
torch::Tensor run(const torch::nn::Conv2d& c, const torch::Tensor& x) {
  return conv2d(x, c->weight, c->bias, (*c->options.stride())[0], (c->weight.size(2) - 1) / 2);
}

torch::Tensor run(const torch::nn::Linear& l, const torch::Tensor& x) { return linear(x, l->weight, l->bias); }

}  // namespace

// ------------------------------------------------------------------------------- SmallCnn

SmallCnnImpl::SmallCnnImpl(SmallCnnOptions options_) : options(std::move(options_)) { reset(); }

void SmallCnnImpl::reset() {
  TORCH_CHECK(options.in_channels() > 0, "SmallCnn: in_channels must be > 0, got ", options.in_channels());
  TORCH_CHECK(options.num_classes() > 0, "SmallCnn: num_classes must be > 0, got ", options.num_classes());
  TORCH_CHECK(options.channels() > 0, "SmallCnn: channels must be > 0, got ", options.channels());
  TORCH_CHECK(options.image_size().size() == 2 && options.image_size()[0] >= 4 && options.image_size()[1] >= 4,
              "SmallCnn: image_size must be {H, W} with H, W >= 4, got ", c10::IntArrayRef(options.image_size()));
  TORCH_CHECK(options.dropout() >= 0 && options.dropout() < 1, "SmallCnn: dropout must be in [0, 1), got ",
              options.dropout());
  const int64_t c = options.channels();
  conv1 = register_module("conv1", conv(options.in_channels(), c, 3, 1));
  conv2 = register_module("conv2", conv(c, 2 * c, 4, 2));
  conv3 = register_module("conv3", conv(2 * c, 4 * c, 4, 2));
  norm1 = make_norm(options.norm(), options.norm_groups(), c, "SmallCnn");
  norm2 = make_norm(options.norm(), options.norm_groups(), 2 * c, "SmallCnn");
  norm3 = make_norm(options.norm(), options.norm_groups(), 4 * c, "SmallCnn");
  if (norm1) {
    register_module("norm1", norm1);
    register_module("norm2", norm2);
    register_module("norm3", norm3);
  }
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
  // Each 4×4/2 convolution with padding 1 maps a side s to floor(s / 2).
  const int64_t h = options.image_size()[0] / 2 / 2, w = options.image_size()[1] / 2 / 2;
  head = register_module("head", torch::nn::Linear(4 * c * h * w, options.num_classes()));
}

torch::Tensor SmallCnnImpl::forward(const torch::Tensor& x) {
  auto h = features(x);
  if (options.dropout() > 0) h = dropout->forward(h);
  return run(head, h);
}

torch::Tensor SmallCnnImpl::features(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels() && x.size(2) == options.image_size()[0] &&
                  x.size(3) == options.image_size()[1],
              "SmallCnn: expected input [B, ", options.in_channels(), ", ", options.image_size()[0], ", ",
              options.image_size()[1], "], got ", x.sizes());
  const auto act = options.activation();
  const double s = options.negative_slope();
  auto h = apply_activation(act, maybe_norm(norm1, run(conv1, x)), s);
  h = apply_activation(act, maybe_norm(norm2, run(conv2, h)), s);
  h = apply_activation(act, maybe_norm(norm3, run(conv3, h)), s);
  return h.flatten(1);
}

// ------------------------------------------------------------------------------- WideResNet

WideBasicImpl::WideBasicImpl(int64_t in_planes_, int64_t planes_, int64_t stride_, const WideResNetOptions& options_)
    : in_planes(in_planes_), planes(planes_), stride(stride_), options(options_) {
  reset();
}

void WideBasicImpl::reset() {
  norm1 = make_norm(options.norm(), options.norm_groups(), in_planes, "WideResNet");
  norm2 = make_norm(options.norm(), options.norm_groups(), planes, "WideResNet");
  if (norm1) {
    register_module("norm1", norm1);
    register_module("norm2", norm2);
  }
  conv1 = register_module("conv1", conv(in_planes, planes, 3, 1));
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride));
  if (stride != 1 || in_planes != planes) {
    shortcut = register_module("shortcut", conv(in_planes, planes, 1, stride));
  } else {
    shortcut = torch::nn::Conv2d(nullptr);
  }
}

torch::Tensor WideBasicImpl::forward(const torch::Tensor& x) {
  const auto act = options.activation();
  const double s = options.negative_slope();
  auto out = run(conv1, apply_activation(act, maybe_norm(norm1, x), s));
  if (options.dropout() > 0) out = dropout->forward(out);
  out = run(conv2, apply_activation(act, maybe_norm(norm2, out), s));
  return out + (shortcut ? run(shortcut, x) : x);
}

WideResNetImpl::WideResNetImpl(WideResNetOptions options_) : options(std::move(options_)) { reset(); }

void WideResNetImpl::reset() {
  TORCH_CHECK(options.depth() >= 10 && (options.depth() - 4) % 6 == 0, "WideResNet: depth must be 6n + 4 (10, 16, 22, 28, ...), got ",
              options.depth());
  TORCH_CHECK(options.widen() >= 1, "WideResNet: widen must be >= 1, got ", options.widen());
  TORCH_CHECK(options.in_channels() > 0 && options.num_classes() > 0, "WideResNet: in_channels and num_classes must be > 0");
  TORCH_CHECK(options.dropout() >= 0 && options.dropout() < 1, "WideResNet: dropout must be in [0, 1), got ",
              options.dropout());
  const int64_t n = (options.depth() - 4) / 6;
  const int64_t k = options.widen();
  const int64_t widths[4] = {16, 16 * k, 32 * k, 64 * k};
  stem = register_module("stem", conv(options.in_channels(), widths[0], 3, 1));
  blocks = register_module("blocks", torch::nn::ModuleList());
  int64_t in = widths[0];
  for (int stage = 0; stage < 3; ++stage) {
    for (int64_t b = 0; b < n; ++b) {
      const int64_t stride = (b == 0 && stage > 0) ? 2 : 1;
      blocks->push_back(WideBasic(in, widths[stage + 1], stride, options));
      in = widths[stage + 1];
    }
  }
  norm = make_norm(options.norm(), options.norm_groups(), in, "WideResNet");
  if (norm) register_module("norm", norm);
  head = register_module("head", torch::nn::Linear(in, options.num_classes()));
}

torch::Tensor WideResNetImpl::features(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels(), "WideResNet: expected input [B, ",
              options.in_channels(), ", H, W], got ", x.sizes());
  auto h = run(stem, x);
  for (const auto& block : *blocks) h = block->as<WideBasicImpl>()->forward(h);
  h = apply_activation(options.activation(), maybe_norm(norm, h), options.negative_slope());
  return h.mean({2, 3});
}

torch::Tensor WideResNetImpl::forward(const torch::Tensor& x) { return run(head, features(x)); }

// ------------------------------------------------------------------------------- MLP

MlpClassifierImpl::MlpClassifierImpl(MlpClassifierOptions options_) : options(std::move(options_)) { reset(); }

void MlpClassifierImpl::reset() {
  TORCH_CHECK(options.input_dim() > 0 && options.num_classes() > 0, "MlpClassifier: input_dim and num_classes must be > 0");
  TORCH_CHECK(options.dropout() >= 0 && options.dropout() < 1, "MlpClassifier: dropout must be in [0, 1), got ",
              options.dropout());
  layers = register_module("layers", torch::nn::ModuleList());
  int64_t in = options.input_dim();
  for (int64_t h : options.hidden()) {
    TORCH_CHECK(h > 0, "MlpClassifier: hidden sizes must be > 0, got ", c10::IntArrayRef(options.hidden()));
    layers->push_back(torch::nn::Linear(in, h));
    in = h;
  }
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
  head = register_module("head", torch::nn::Linear(in, options.num_classes()));
}

torch::Tensor MlpClassifierImpl::forward(const torch::Tensor& x) { return run(head, features(x)); }

torch::Tensor MlpClassifierImpl::features(const torch::Tensor& x) {
  auto h = x.flatten(1);
  TORCH_CHECK(h.size(1) == options.input_dim(), "MlpClassifier: expected ", options.input_dim(), " features, got ",
              h.size(1));
  for (const auto& layer : *layers) {
    const auto& l = *layer->as<torch::nn::LinearImpl>();
    h = apply_activation(options.activation(), linear(h, l.weight, l.bias), options.negative_slope());
    if (options.dropout() > 0) h = dropout->forward(h);
  }
  return h;
}

}  // namespace joule
