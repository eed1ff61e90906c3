#include "joule/models/conv_energy.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "joule/core/layers.h"

namespace joule {

ConvEnergyImpl::ConvEnergyImpl(ConvEnergyOptions options_) : options(std::move(options_)) { reset(); }

void ConvEnergyImpl::reset() {
  TORCH_CHECK(options.in_channels() >= 1, "ConvEnergy: in_channels must be >= 1, got ", options.in_channels());
  TORCH_CHECK(options.channels() >= 1, "ConvEnergy: channels must be >= 1, got ", options.channels());
  TORCH_CHECK(options.blocks() >= 0 && options.blocks() <= 6, "ConvEnergy: blocks must be in [0, 6], got ", options.blocks());
  TORCH_CHECK(options.event_shape().size() == 3 && options.event_shape()[0] == options.in_channels(),
              "ConvEnergy: event_shape must be {in_channels, H, W}, got ", c10::IntArrayRef(options.event_shape()));
  const bool norm = options.norm() == NormKind::kGroup;
  const int64_t c = options.channels();
  if (norm) {
    for (int64_t b = 0; b < options.blocks(); ++b) {
      TORCH_CHECK((c << b) % options.norm_groups() == 0, "ConvEnergy: norm_groups (", options.norm_groups(),
                  ") must divide every block width (", c << b, ")");
    }
  }
  conv_a = torch::nn::ModuleList();
  conv_b = torch::nn::ModuleList();
  project = torch::nn::ModuleList();
  project_index.clear();
  norm_a = torch::nn::ModuleList();
  norm_b = torch::nn::ModuleList();
  stem = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_channels(), c, 3).padding(1)));
  int64_t in = c;
  for (int64_t b = 0; b < options.blocks(); ++b) {
    const int64_t out = c << b;
    conv_a->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)));
    conv_b->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
    // A 1×1 projection on the skip path where the width changes; block 0 keeps the stem's width.
    if (in != out) {
      project_index.push_back(static_cast<int64_t>(project->size()));
      project->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).bias(false)));
    } else {
      project_index.push_back(-1);
    }
    if (norm) {
      norm_a->push_back(torch::nn::GroupNorm(options.norm_groups(), out));
      norm_b->push_back(torch::nn::GroupNorm(options.norm_groups(), out));
    }
    in = out;
  }
  register_module("conv_a", conv_a);
  register_module("conv_b", conv_b);
  register_module("project", project);
  if (norm) {
    register_module("norm_a", norm_a);
    register_module("norm_b", norm_b);
  }
  head = register_module("head", torch::nn::Linear(in, 1));
}

torch::Tensor ConvEnergyImpl::energy(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels(), "ConvEnergy expects images [B, ", options.in_channels(),
              ", H, W], got ", x.sizes());
  const auto act = [this](const torch::Tensor& z) { return apply_activation(options.activation(), z, options.negative_slope()); };
  // Joule's conv2d/linear: LibTorch's arithmetic, with the faster CPU kernel for the stem's input
  // gradient (few input channels), which every Langevin step needs.
  const auto conv = [](const torch::nn::Conv2dImpl& c, const torch::Tensor& z) {
    return joule::conv2d(z, c.weight, c.bias, (*c.options.stride())[0], (c.weight.size(2) - 1) / 2);
  };
  const bool norm = options.norm() == NormKind::kGroup;
  auto h = act(conv(*stem, x));
  for (int64_t b = 0; b < options.blocks(); ++b) {
    auto r = conv(*conv_a[b]->as<torch::nn::Conv2d>(), h);
    if (norm) r = norm_a[b]->as<torch::nn::GroupNorm>()->forward(r);
    r = act(r);
    r = conv(*conv_b[b]->as<torch::nn::Conv2d>(), r);
    if (norm) r = norm_b[b]->as<torch::nn::GroupNorm>()->forward(r);
    const int64_t p = project_index[b];
    h = act(r + (p < 0 ? h : conv(*project[p]->as<torch::nn::Conv2d>(), h)));
    if (h.size(2) > 1 || h.size(3) > 1) h = at::avg_pool2d(h, {3, 3}, {2, 2}, {1, 1});
  }
  h = act(h).mean({2, 3});
  return joule::linear(h, head->weight, head->bias).squeeze(1);
}

}  // namespace joule
