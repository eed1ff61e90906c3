#include "joule/models/cnf_multiscale.h"

#include <c10/util/Exception.h>
#include <torch/nn/functional/conv.h>

#include <cmath>

#include "joule/core/runtime.h"

namespace joule {
namespace {

// y = logit(α + (1−2α)x) and Σ log|dy/dx| per row (FFJORD's LogitTransform; α = 0: y = x − ½).
std::pair<at::Tensor, at::Tensor> logit_forward(const at::Tensor& x, double alpha) {
  if (alpha <= 0) return {x - 0.5, at::zeros({x.size(0)}, x.options())};
  auto s = alpha + (1 - 2 * alpha) * x;
  auto y = at::log(s) - at::log1p(-s);
  auto log_det = (std::log(1 - 2 * alpha) - at::log(s - s * s)).flatten(1).sum(1);
  return {y, log_det};
}

// The CNF field of one convolutional net, as integrate_cnf takes it.
CnfField field_of(ConvOdeNet net) {
  return [net](const at::Tensor& t, const at::Tensor& z, const at::Tensor& v) mutable {
    return net->forward_with_tangents(t, z, v);
  };
}

at::Tensor logit_inverse(const at::Tensor& y, double alpha) {
  if (alpha <= 0) return y + 0.5;
  return (at::sigmoid(y) - alpha) / (1 - 2 * alpha);
}

}  // namespace

at::Tensor squeeze2x2(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) % 2 == 0 && x.size(3) % 2 == 0,
              "squeeze2x2: expected [B, C, H, W] with even H and W, got ", x.sizes());
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.reshape({b, c, h / 2, 2, w / 2, 2}).permute({0, 1, 3, 5, 2, 4}).reshape({b, 4 * c, h / 2, w / 2});
}

at::Tensor unsqueeze2x2(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) % 4 == 0, "unsqueeze2x2: expected [B, 4C, H, W], got ", x.sizes());
  const int64_t b = x.size(0), c = x.size(1) / 4, h = x.size(2), w = x.size(3);
  return x.reshape({b, c, 2, 2, h, w}).permute({0, 1, 4, 2, 5, 3}).reshape({b, c, 2 * h, 2 * w});
}

at::Tensor bits_per_dim(const at::Tensor& log_prob, int64_t dim) {
  return -(log_prob / double(dim) - std::log(256.0)) / std::log(2.0);
}

// ------------------------------------------------------------------------------- ConvOdeNet

void ConvOdeNetOptions::validate() const {
  TORCH_CHECK(channels_ >= 1 && height_ >= 1 && width_ >= 1, "ConvOdeNet: image shape must be positive, got [",
              channels_, ", ", height_, ", ", width_, "]");
  for (auto h : hidden_) TORCH_CHECK(h >= 1, "ConvOdeNet: hidden channels must be at least 1, got ", h);
}

ConvOdeNetImpl::ConvOdeNetImpl(ConvOdeNetOptions o) : options(std::move(o)) {
  options.validate();
  std::vector<int64_t> sizes{options.channels()};
  sizes.insert(sizes.end(), options.hidden().begin(), options.hidden().end());
  sizes.push_back(options.channels());
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    // Input channel 0 is time (FFJORD's ConcatConv2d), the rest the image.
    weights_.push_back(register_parameter("weight" + std::to_string(i), at::empty({sizes[i + 1], sizes[i] + 1, 3, 3})));
    biases_.push_back(register_parameter("bias" + std::to_string(i), at::empty({sizes[i + 1]})));
  }
  reset_parameters(make_generator(0));
}

void ConvOdeNetImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < weights_.size(); ++i) {
    const double bound = 1.0 / std::sqrt(double(weights_[i].size(1) * 9));
    weights_[i].uniform_(-bound, bound, gen);
    biases_[i].uniform_(-bound, bound, gen);
    if (options.zero_last() && i + 1 == weights_.size()) weights_[i].zero_();
  }
}

at::Tensor ConvOdeNetImpl::forward(const at::Tensor& t, const at::Tensor& z) { return forward_with_tangents(t, z, {}).first; }

std::pair<at::Tensor, at::Tensor> ConvOdeNetImpl::forward_with_tangents(const at::Tensor& t, const at::Tensor& z,
                                                                        const at::Tensor& v) {
  const int64_t c = options.channels(), h = options.height(), w = options.width(), d = options.dim();
  TORCH_CHECK(z.dim() == 2 && z.size(1) == d, "ConvOdeNet: expected z of shape [B, ", d, "] (images ", c, "×", h, "×", w,
              " flattened), got ", z.sizes());
  const int64_t b = z.size(0);
  const int64_t k = v.defined() ? v.size(0) : 0;
  if (v.defined())
    TORCH_CHECK(v.dim() == 3 && v.size(1) == b && v.size(2) == d, "ConvOdeNet: tangents must be [K, B, D] = [K, ", b, ", ",
                d, "], got ", v.sizes());
  // Value rows and tangent rows go through each convolution as one batch; the time channel is t
  // for the values and 0 for the tangents (∂t/∂z = 0), and the bias is added to the values only.
  auto x = z.reshape({b, c, h, w});
  if (k > 0) x = at::cat({x, v.reshape({k * b, c, h, w})});
  const int64_t rows = x.size(0);
  auto t_values = t.to(z.dtype()).reshape({1, 1, 1, 1}).expand({b, 1, h, w});  // t may carry T's gradient
  const auto time_channel = k > 0 ? at::cat({t_values, at::zeros({rows - b, 1, h, w}, z.options())}) : t_values;
  for (size_t i = 0; i < weights_.size(); ++i) {
    auto pre = at::conv2d(at::cat({time_channel, x}, 1), weights_[i], {},
                          /*stride=*/1, /*padding=*/1);
    auto values = pre.narrow(0, 0, b) + biases_[i].view({1, -1, 1, 1});
    if (i + 1 == weights_.size()) {
      x = k > 0 ? at::cat({values, pre.narrow(0, b, rows - b)}) : values;
      break;
    }
    auto act = apply_activation_with_derivative(options.activation(), values);
    if (k > 0) {
      auto tangents = pre.narrow(0, b, rows - b).reshape({k, b, -1, h, w}) * act.derivative.unsqueeze(0);
      x = at::cat({act.value, tangents.reshape({k * b, -1, h, w})});
    } else {
      x = act.value;
    }
  }
  auto f = x.narrow(0, 0, b).reshape({b, d});
  at::Tensor jv = k > 0 ? x.narrow(0, b, rows - b).reshape({k, b, d}) : at::Tensor();
  return {f, jv};
}

// ---------------------------------------------------------------------------- MultiscaleFlow

void MultiscaleFlowOptions::validate() const {
  TORCH_CHECK(channels_ >= 1 && height_ >= 1 && width_ >= 1, "MultiscaleFlow: image shape must be positive");
  TORCH_CHECK(blocks_ >= 1, "MultiscaleFlow: blocks must be at least 1, got ", blocks_);
  TORCH_CHECK(max_scales_ >= 0, "MultiscaleFlow: max_scales must be >= 0 (0 = as many as fit), got ", max_scales_);
  TORCH_CHECK(logit_alpha_ >= 0 && logit_alpha_ < 0.5, "MultiscaleFlow: logit_alpha must lie in [0, 0.5), got ",
              logit_alpha_);
  TORCH_CHECK(end_time_ > 0, "MultiscaleFlow: end_time must be positive, got ", end_time_);
  TORCH_CHECK(kinetic_ >= 0 && jacobian_ >= 0, "MultiscaleFlow: penalty weights must be >= 0");
}

MultiscaleFlowImpl::MultiscaleFlowImpl(MultiscaleFlowOptions o) : options(std::move(o)) {
  options.validate();
  // FFJORD's _calc_n_scale: halve while both sides are at least 4.
  int64_t n = 0;
  for (int64_t hh = options.height(), ww = options.width(); hh >= 4 && ww >= 4; hh /= 2, ww /= 2) ++n;
  if (options.max_scales() > 0) n = std::min(n, options.max_scales());
  TORCH_CHECK(n >= 1, "MultiscaleFlow: images of ", options.height(), "×", options.width(),
              " are too small for a scale (both sides need at least 4 pixels)");
  int64_t c = options.channels(), h = options.height(), w = options.width();
  auto add_net = [&](int64_t cc, int64_t hh, int64_t ww) {
    const size_t index = nets.size();
    nets.push_back(register_module("net" + std::to_string(index),
                                   ConvOdeNet(ConvOdeNetOptions(cc, hh, ww)
                                                  .hidden(options.hidden())
                                                  .activation(options.activation())
                                                  .zero_last(options.zero_last()))));
    auto s = at::full({}, std::sqrt(options.end_time()));
    sqrt_end_times.push_back(options.train_end_time() ? register_parameter("sqrt_end_time" + std::to_string(index), s)
                                                      : register_buffer("sqrt_end_time" + std::to_string(index), s));
    return index;
  };
  for (int64_t i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    scale_shapes_.push_back({c, h, w});
    std::vector<size_t> ids;
    for (int64_t b = 0; b < options.blocks(); ++b) ids.push_back(add_net(c, h, w));
    if (!last) {
      TORCH_CHECK(h % 2 == 0 && w % 2 == 0, "MultiscaleFlow: scale ", i, " squeezes a ", h, "×", w,
                  " image, which needs even sides; set max_scales = ", i + 1, " (or pad the images)");
      for (int64_t b = 0; b < options.blocks(); ++b) ids.push_back(add_net(4 * c, h / 2, w / 2));
      c *= 2;
      h /= 2;
      w /= 2;
    }
    scale_nets_.push_back(ids);
  }
}

void MultiscaleFlowImpl::reset_parameters(at::Generator gen) {
  torch::NoGradGuard no_grad;
  for (auto& net : nets) net->reset_parameters(gen);
  for (auto& s : sqrt_end_times) s.fill_(std::sqrt(options.end_time()));
}

std::vector<double> MultiscaleFlowImpl::end_times() const {
  std::vector<double> out;
  for (const auto& s : sqrt_end_times) out.push_back(s.item<double>() * s.item<double>());
  return out;
}

MultiscaleFlowImpl::Pass MultiscaleFlowImpl::forward_pass(const at::Tensor& x_in, const CnfSolveOptions& solve,
                                                          at::Generator& gen) {
  const int64_t b = x_in.size(0);
  const int64_t d = options.channels() * options.height() * options.width();
  TORCH_CHECK((x_in.dim() == 2 && x_in.size(1) == d) ||
                  (x_in.dim() == 4 && x_in.size(1) == options.channels() && x_in.size(2) == options.height() &&
                   x_in.size(3) == options.width()),
              "MultiscaleFlow: expected images [B, ", options.channels(), ", ", options.height(), ", ", options.width(),
              "] or [B, ", d, "], got ", x_in.sizes());
  Pass out;
  auto [y, log_det] = logit_forward(x_in.reshape({b, d}), options.logit_alpha());
  out.log_det = log_det;
  std::vector<at::Tensor> factored;
  auto solve_block = [&](size_t net, at::Tensor state) {
    const auto& s = nets[net]->options;
    auto sol = integrate_cnf(field_of(nets[net]), state.reshape({b, s.dim()}), sqrt_end_times[net].pow(2),
                             nets[net]->parameters(), solve, gen);
    out.log_det = out.log_det + sol.log_det;
    if (solve.penalties()) {
      out.kinetic = out.kinetic.defined() ? out.kinetic + sol.kinetic : sol.kinetic;
      out.jacobian = out.jacobian.defined() ? out.jacobian + sol.jacobian : sol.jacobian;
    }
    last_nfe_ += sol.stats.nfe;
    return sol.z.reshape({b, s.channels(), s.height(), s.width()});
  };
  auto state = y.reshape({b, options.channels(), options.height(), options.width()});
  for (size_t i = 0; i < scale_shapes_.size(); ++i) {
    const bool last = i + 1 == scale_shapes_.size();
    const auto& ids = scale_nets_[i];
    const size_t pre = last ? ids.size() : ids.size() / 2;
    for (size_t j = 0; j < pre; ++j) state = solve_block(ids[j], state);
    if (last) {
      factored.push_back(state.reshape({b, -1}));
      break;
    }
    state = squeeze2x2(state);
    for (size_t j = pre; j < ids.size(); ++j) state = solve_block(ids[j], state);
    const int64_t half = state.size(1) / 2;
    factored.push_back(state.narrow(1, half, state.size(1) - half).reshape({b, -1}));
    state = state.narrow(1, 0, half);
  }
  out.z = at::cat(factored, 1);
  return out;
}

std::pair<at::Tensor, at::Tensor> MultiscaleFlowImpl::transform(const at::Tensor& x, Divergence divergence,
                                                                at::Generator& gen) {
  last_nfe_ = 0;
  auto pass = forward_pass(x, CnfSolveOptions().divergence(divergence).probe(options.probe()).solver(options.eval_solver()),
                           gen);
  return {pass.z, pass.log_det};
}

at::Tensor MultiscaleFlowImpl::log_prob(const at::Tensor& x) {
  auto gen = make_generator(0x5eed);  // the evaluation probes: fixed, so repeated evaluations agree
  auto [z, log_det] = transform(x, options.eval_divergence(), gen);
  return standard_normal_log_prob(z) + log_det;
}

DensityTerms MultiscaleFlowImpl::training_terms(const at::Tensor& x, at::Generator& gen) {
  const bool penalties = options.kinetic() > 0 || options.jacobian() > 0;
  last_nfe_ = 0;
  auto pass = forward_pass(x,
                           CnfSolveOptions()
                               .divergence(options.divergence())
                               .probe(options.probe())
                               .penalties(penalties)
                               .adjoint(options.adjoint())
                               .solver(options.solver()),
                           gen);
  DensityTerms terms;
  terms.log_prob = standard_normal_log_prob(pass.z) + pass.log_det;
  if (options.kinetic() > 0) terms.penalties.emplace_back("kinetic", options.kinetic() * pass.kinetic.mean());
  if (options.jacobian() > 0) terms.penalties.emplace_back("jacobian", options.jacobian() * pass.jacobian.mean());
  terms.metrics.emplace_back("nfe", static_cast<double>(last_nfe_));
  terms.metrics.emplace_back("bits_per_dim",
                             bits_per_dim(terms.log_prob.detach(), pass.z.size(1)).mean().item<double>());
  return terms;
}

at::Tensor MultiscaleFlowImpl::inverse(const at::Tensor& z) {
  const int64_t d = options.channels() * options.height() * options.width();
  TORCH_CHECK(z.dim() == 2 && z.size(1) == d, "MultiscaleFlow: expected z of shape [B, ", d, "], got ", z.sizes());
  const int64_t b = z.size(0);
  auto gen = make_generator(0);  // unused without the log-determinant
  const auto solve = CnfSolveOptions().log_det(false).reverse(true).solver(options.eval_solver());
  last_nfe_ = 0;
  auto unsolve = [&](size_t net, at::Tensor state) {
    const auto& s = nets[net]->options;
    auto sol = integrate_cnf(field_of(nets[net]), state.reshape({b, s.dim()}), sqrt_end_times[net].pow(2),
                             nets[net]->parameters(), solve, gen);
    last_nfe_ += sol.stats.nfe;
    return sol.z.reshape({b, s.channels(), s.height(), s.width()});
  };
  // Split z into the factored pieces in forward order, then undo the scales from the last.
  std::vector<at::Tensor> pieces;
  std::vector<std::vector<int64_t>> piece_shapes;
  for (size_t i = 0; i < scale_shapes_.size(); ++i) {
    const auto& s = scale_shapes_[i];
    if (i + 1 == scale_shapes_.size()) {
      piece_shapes.push_back({s.c, s.h, s.w});
    } else {
      piece_shapes.push_back({2 * s.c, s.h / 2, s.w / 2});
    }
  }
  int64_t offset = 0;
  for (const auto& ps : piece_shapes) {
    const int64_t n = ps[0] * ps[1] * ps[2];
    pieces.push_back(z.narrow(1, offset, n).reshape({b, ps[0], ps[1], ps[2]}));
    offset += n;
  }
  at::Tensor state;
  for (size_t i = scale_shapes_.size(); i-- > 0;) {
    const bool last = i + 1 == scale_shapes_.size();
    const auto& ids = scale_nets_[i];
    const size_t pre = last ? ids.size() : ids.size() / 2;
    if (last) {
      state = pieces[i];
    } else {
      state = at::cat({state, pieces[i]}, 1);
      for (size_t j = ids.size(); j-- > pre;) state = unsolve(ids[j], state);
      state = unsqueeze2x2(state);
    }
    for (size_t j = pre; j-- > 0;) state = unsolve(ids[j], state);
  }
  return logit_inverse(state.reshape({b, d}), options.logit_alpha());
}

at::Tensor MultiscaleFlowImpl::sample(int64_t n, at::Generator gen) {
  torch::NoGradGuard no_grad;
  const int64_t d = options.channels() * options.height() * options.width();
  auto z = at::randn({n, d}, gen, sqrt_end_times.front().options());
  return inverse(z);
}

}  // namespace joule
