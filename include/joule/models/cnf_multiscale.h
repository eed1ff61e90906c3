#pragma once
// FFJORD's multiscale image flow (Grathwohl et al., arXiv:1810.01367 §5.2 and App. B.1; upstream
// lib/odenvp.py), built on Joule's CNF solve (joule/models/cnf.h): a logit transform of the
// dequantised pixels, then per scale `blocks` CNFs with convolutional vector fields, a squeeze
// (C, H, W) → (4C, H/2, W/2), `blocks` more CNFs and half the channels factored out to the latent,
// as Real NVP's multiscale architecture (Dinh et al., arXiv:1605.08803 §3.6) does with coupling
// layers. The last scale keeps everything. log p(x) = log N(z) + Σ log-dets, reported in bits/dim.

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "joule/core/density.h"
#include "joule/core/energy.h"
#include "joule/models/activation.h"
#include "joule/models/cnf.h"

namespace joule {

/// A convolutional CNF vector field: 3×3 "concat" convolutions (time as an extra input channel,
/// FFJORD's ConcatConv2d), stride 1, a nonlinearity after every layer but the last.
struct ConvOdeNetOptions {
  /// Options for a field on images of shape [channels, height, width].
  ConvOdeNetOptions(int64_t channels, int64_t height, int64_t width) : channels_(channels), height_(height), width_(width) {}
  /// Throws unless the image shape and every hidden width are ≥ 1.
  void validate() const;
  /// D = C·H·W, the flattened state dimension.
  int64_t dim() const { return channels_ * height_ * width_; }
  /// Image channels C (input and output of f).
  TORCH_ARG(int64_t, channels);
  /// Image height H.
  TORCH_ARG(int64_t, height);
  /// Image width W.
  TORCH_ARG(int64_t, width);
  /// Hidden channels per layer (FFJORD's --dims; its README runs 64,64,64).
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{64, 64, 64};
  /// Nonlinearity after every layer but the last.
  TORCH_ARG(Activation, activation) = Activation::kSoftplus;
  /// Zero the last layer's weights (the flow starts at the identity).
  TORCH_ARG(bool, zero_last) = false;
};

/// The convolutional vector field described by ConvOdeNetOptions, with forward-mode
/// Jacobian-vector products.
class ConvOdeNetImpl : public torch::nn::Module {
 public:
  /// Validates `options` and builds the layers, initialised as reset_parameters(make_generator(0)).
  explicit ConvOdeNetImpl(ConvOdeNetOptions options);
  /// Does nothing: the constructor creates the parameters.
  void reset() {}
  /// PyTorch's default Conv2d initialisation (U(±1/√fan_in) for weights and biases) from `gen`.
  void reset_parameters(at::Generator gen);
  /// f(t, z) for flattened images z [B, C·H·W].
  at::Tensor forward(const at::Tensor& t, const at::Tensor& z);
  /// (f(t, z), J·v) for tangents v [K, B, C·H·W]: values and tangents go through each convolution
  /// as one batch (the tangents see no time channel and no bias), tangents scaled by act′.
  std::pair<at::Tensor, at::Tensor> forward_with_tangents(const at::Tensor& t, const at::Tensor& z, const at::Tensor& v);

  ConvOdeNetOptions options;  ///< the options it was built with

 private:
  std::vector<at::Tensor> weights_, biases_;
};
/// The module holder of ConvOdeNetImpl (a shared pointer to it).
TORCH_MODULE(ConvOdeNet);

/// Options for MultiscaleFlow.
struct MultiscaleFlowOptions {
  /// Options for images of shape [channels, height, width].
  MultiscaleFlowOptions(int64_t channels, int64_t height, int64_t width)
      : channels_(channels), height_(height), width_(width) {}
  /// Throws unless the image shape and blocks are ≥ 1, max_scales ≥ 0, logit_alpha in [0, 0.5),
  /// end_time > 0 and the penalty weights ≥ 0.
  void validate() const;
  /// Image channels C.
  TORCH_ARG(int64_t, channels);
  /// Image height H.
  TORCH_ARG(int64_t, height);
  /// Image width W.
  TORCH_ARG(int64_t, width);
  /// Channels of each hidden 3×3 convolution of every block's field (FFJORD's --dims).
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{64, 64, 64};
  /// Nonlinearity after every layer but the last of each field.
  TORCH_ARG(Activation, activation) = Activation::kSoftplus;
  /// CNFs before and after each squeeze (FFJORD's --num_blocks; README: 2).
  TORCH_ARG(int64_t, blocks) = 2;
  /// At most this many scales (0: as many as halve while height and width stay ≥ 4).
  TORCH_ARG(int64_t, max_scales) = 0;
  /// Logit transform y = logit(α + (1−2α)x) of pixels x ∈ [0, 1] (FFJORD's --alpha 1e-6); 0: x − ½.
  TORCH_ARG(double, logit_alpha) = 1e-6;
  /// Initial end time T of each CNF block.
  TORCH_ARG(double, end_time) = 1.0;
  /// Learn T (as T = s²); otherwise s is a buffer.
  TORCH_ARG(bool, train_end_time) = true;
  /// Zero the last layer's weights of every field (the flow starts at the identity).
  TORCH_ARG(bool, zero_last) = false;
  /// Training divergence (FFJORD: Hutchinson with Rademacher probes) and evaluation's (the exact
  /// trace costs D tangents: tiny images only). Hutchinson's log p estimate is unbiased.
  TORCH_ARG(Divergence, divergence) = Divergence::kHutchinson;
  /// Distribution of the Hutchinson probes.
  TORCH_ARG(ProbeKind, probe) = ProbeKind::kRademacher;
  /// The divergence of log_prob() (see `divergence`).
  TORCH_ARG(Divergence, eval_divergence) = Divergence::kHutchinson;
  /// λ_K: weight of RNODE's kinetic-energy penalty (0 = off).
  TORCH_ARG(double, kinetic) = 0.0;
  /// λ_J: weight of RNODE's Jacobian-Frobenius penalty (0 = off).
  TORCH_ARG(double, jacobian) = 0.0;
  /// Training solves (method, tolerances).
  TORCH_ARG(ode::SolverOptions, solver) = ode::SolverOptions().atol(1e-5).rtol(1e-5);
  /// Evaluation and sampling solves (log_prob, transform, inverse, sample).
  TORCH_ARG(ode::SolverOptions, eval_solver) = ode::SolverOptions().atol(1e-5).rtol(1e-5);
  /// Training gradients by the adjoint instead of back-propagation through the solver.
  TORCH_ARG(bool, adjoint) = false;
};

/// log p(x) of images x [B, C·H·W] (or [B, C, H, W]) with pixels in [0, 1] (dequantised).
class MultiscaleFlowImpl : public EnergyModel, public DensityModel {
 public:
  /// Validates `options` and builds the scales (as many as halve while both sides are ≥ 4, at
  /// most max_scales); throws if a squeezed scale has an odd side.
  explicit MultiscaleFlowImpl(MultiscaleFlowOptions options);
  /// Re-draws every field from `gen` (see ConvOdeNetImpl::reset_parameters()) and resets T to end_time.
  void reset_parameters(at::Generator gen);

  /// log p(x) in nats (pixel space [0, 1]^D), with options.eval_divergence; a Hutchinson estimate
  /// draws its probes from a fixed seed, so repeated calls agree.
  at::Tensor log_prob(const at::Tensor& x) override;
  DensityTerms training_terms(const at::Tensor& x, at::Generator& gen) override;
  at::Tensor sample(int64_t n, at::Generator gen) override;
  /// x from the latent z [B, D] (the reverse solves, unsqueezes and the inverse logit).
  at::Tensor inverse(const at::Tensor& z);
  /// The latent z [B, D] and log-det of x ↦ z (log p(x) = log N(z) + log_det).
  std::pair<at::Tensor, at::Tensor> transform(const at::Tensor& x, Divergence divergence, at::Generator& gen);
  std::vector<int64_t> event_shape() const override { return {options.channels(), options.height(), options.width()}; }
  torch::Tensor energy(const torch::Tensor& x) override { return -log_prob(x); }

  /// Number of scales.
  int64_t scales() const { return static_cast<int64_t>(scale_shapes_.size()); }
  /// Number of CNF blocks (all scales).
  int64_t cnf_count() const { return static_cast<int64_t>(nets.size()); }
  /// The end time T of each CNF block.
  std::vector<double> end_times() const;
  /// Function evaluations of the last log_prob / transform / training_terms / inverse / sample
  /// call (all blocks).
  int64_t last_nfe() const { return last_nfe_; }

  MultiscaleFlowOptions options;  ///< the options it was built with
  std::vector<ConvOdeNet> nets;   ///< the field of every CNF block, scale by scale ("net0", ...)
  std::vector<at::Tensor> sqrt_end_times;  ///< s with T = s² per block (parameters or buffers)

 private:
  struct Shape {
    int64_t c, h, w;
  };
  // Per scale: the shape entering it and whether it squeezes (all but the last).
  std::vector<Shape> scale_shapes_;
  // CNF indices per scale: [pre-squeeze blocks..., post-squeeze blocks...].
  std::vector<std::vector<size_t>> scale_nets_;
  int64_t last_nfe_ = 0;

  struct Pass {
    at::Tensor z, log_det, kinetic, jacobian;
  };
  Pass forward_pass(const at::Tensor& x, const CnfSolveOptions& solve, at::Generator& gen);
};
/// The module holder of MultiscaleFlowImpl (a shared pointer to it).
TORCH_MODULE(MultiscaleFlow);

/// Bits per dimension of 8-bit data from log p(x) (nats, x ∈ [0, 1]^D after uniform
/// dequantisation (k + u)/256): −(log p(x)/D − log 256)/log 2.
at::Tensor bits_per_dim(const at::Tensor& log_prob, int64_t dim);

/// Squeeze [B, C, H, W] → [B, 4C, H/2, W/2] (FFJORD's SqueezeLayer; volume-preserving) and back.
at::Tensor squeeze2x2(const at::Tensor& x);
/// The inverse of squeeze2x2(): [B, 4C, H, W] → [B, C, 2H, 2W].
at::Tensor unsqueeze2x2(const at::Tensor& x);

}  // namespace joule
