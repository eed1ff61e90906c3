#pragma once
// Continuous normalising flows (Chen et al., arXiv:1806.07366 §4; FFJORD, Grathwohl et al.,
// arXiv:1810.01367 §2–3) on Joule's ODE solvers.
//
// Data x sits at t = 0 and flows forward to z = z(T) under dz/dt = f(t, z); the density follows
// the instantaneous change of variables, so
//
//   log p(x) = log N(z(T); 0, I) + ∫₀ᵀ tr ∂f/∂z(t) dt.
//
// The solver integrates the augmented state (z, ∫tr, and optionally RNODE's penalties
// ∫½‖f‖²/D dt and ∫‖∂f/∂z‖²_F/D dt; Finlay et al., arXiv:2002.02798 §3), with the penalties
// kept out of step control. The solve runs over t ∈ [0, T] as FFJORD's does (so the steps, and
// the NFE, are torchdiffeq's); the end time T = s² is a parameter when learnable, its gradient
// from d y(T)/dT = F(T, y(T)) (one more evaluation at the end, as torchdiffeq's adjoint makes).
//
// The divergence. FFJORD takes tr ∂f/∂z by D vector-Jacobian products with create_graph (exact)
// or by one (Hutchinson's εᵀ(∂f/∂z)ε), so that training back-propagates through a backward
// pass. Joule's networks are built from linear maps and pointwise nonlinearities, so they carry
// Jacobian-vector products forward beside the values instead (forward-mode differentiation by
// hand): J·V for V = I (exact, D tangents) or V = ε (Hutchinson, one tangent) costs one pass over
// (1 + K)·B stacked rows, needs no autograd at evaluation, and training needs only first-order
// back-propagation. The Hutchinson probe is drawn once per solve and held fixed for every stage
// and step (and the adjoint's backward solve), so the solver sees one deterministic ODE.
//
// Example (FFJORD's toy model: three 64-unit ConcatSquash layers, tanh, T₀ = 0.5):
//   auto flow = joule::ContinuousFlow(joule::ContinuousFlowOptions(2));
//   flow->reset_parameters(joule::make_generator(0));
//   auto log_p = flow->log_prob(x);                     // exact trace, [B]
//   auto samples = flow->sample(1000, gen);              // the reverse solve

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "joule/core/density.h"
#include "joule/core/energy.h"
#include "joule/estimators/trace.h"
#include "joule/models/activation.h"
#include "joule/ode/solvers.h"

namespace joule {

/// How a layer of the vector field sees time t (FFJORD's lib/layers/diffeq_layers/basic.py):
///  concatsquash: (W z + b) ⊙ σ(w_g t + b_g) + w_b t
///  concat:       W [t; z] + b
///  ignore:       W z + b (an autonomous field)
enum class OdeLayer { kConcatSquash, kConcat, kIgnore };
/// Parses "concatsquash", "concat" or "ignore".
OdeLayer parse_ode_layer(const std::string& name);
/// "concatsquash", "concat" or "ignore".
std::string to_string(OdeLayer layer);

/// Options for OdeNet.
struct OdeNetOptions {
  /// Options for a field on ℝ^dim.
  explicit OdeNetOptions(int64_t dim) : dim_(dim) {}
  /// Throws unless dim ≥ 1 and every hidden width ≥ 1.
  void validate() const;
  /// D, the state dimension (input and output of f).
  TORCH_ARG(int64_t, dim);
  /// Units of each hidden layer (FFJORD's --dims).
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{64, 64, 64};
  /// How every layer sees time.
  TORCH_ARG(OdeLayer, layer) = OdeLayer::kConcatSquash;
  /// After every layer but the last.
  TORCH_ARG(Activation, activation) = Activation::kTanh;
  /// Zero the last layer's weights so the flow starts at the identity (RNODE's initialisation).
  TORCH_ARG(bool, zero_last) = false;
  /// Evaluate (f, J·v) as one autograd node with a hand-written backward (first-order gradients)
  /// instead of operation by operation (any order). Off by default: at FFJORD's toy size it was
  /// not faster (docs/methods/ffjord.md).
  TORCH_ARG(bool, fused) = false;
};

/// The vector field f(t, z): an MLP of time-aware layers, with forward-mode Jacobian-vector products.
class OdeNetImpl : public torch::nn::Module {
 public:
  /// Validates `options` and builds the layers, initialised as reset_parameters(make_generator(0)).
  explicit OdeNetImpl(OdeNetOptions options);
  /// PyTorch's default Linear initialisation U(±1/√fan_in) from `gen` (the time layers are
  /// Linear(1, ·), fan-in 1); the last weight zero when options.zero_last.
  void reset_parameters(at::Generator gen);

  /// f(t, z) for z [B, D] and a scalar time t (a 0-dim tensor: it may depend on a learnable T).
  at::Tensor forward(const at::Tensor& t, const at::Tensor& z);
  /// f(t, z) [B, D] and J·v for each tangent: v [K, B, D] → [K, B, D], with J = ∂f/∂z per sample.
  std::pair<at::Tensor, at::Tensor> forward_with_tangents(const at::Tensor& t, const at::Tensor& z,
                                                          const at::Tensor& v);
  /// The same operation by operation (what the fused evaluation is checked against).
  std::pair<at::Tensor, at::Tensor> forward_reference(const at::Tensor& t, const at::Tensor& z, const at::Tensor& v);

  OdeNetOptions options;  ///< the options it was built with

 private:
  struct Layer {
    at::Tensor weight, bias;             // [out, in] ([out, in + 1] for concat: t first), [out]
    at::Tensor gate_weight, gate_bias;   // concatsquash: [out], [out]
    at::Tensor time_bias;                // concatsquash: [out] (no bias of its own, as in FFJORD)
  };
  std::vector<Layer> layers_;
};
/// The module holder of OdeNetImpl (a shared pointer to it).
TORCH_MODULE(OdeNet);

/// log N(z; 0, I) per row of z [B, D]: the base density of every flow here.
at::Tensor standard_normal_log_prob(const at::Tensor& z);

/// How the divergence tr ∂f/∂z is taken.
enum class Divergence { kExact, kHutchinson };
/// Parses "exact" or "hutchinson".
Divergence parse_divergence(const std::string& name);
/// "exact" or "hutchinson".
std::string to_string(Divergence divergence);

/// A CNF vector field for integrate_cnf(): (t, z, tangents v [K, B, D]) ↦ (f(t, z), J·v).
using CnfField = std::function<std::pair<at::Tensor, at::Tensor>(const at::Tensor& t, const at::Tensor& z,
                                                                 const at::Tensor& v)>;

/// Options of one integrate_cnf() solve.
struct CnfSolveOptions {
  /// tr ∂f/∂z exactly (D tangents) or by Hutchinson's estimator (one probe per solve).
  TORCH_ARG(Divergence, divergence) = Divergence::kExact;
  /// Distribution of the Hutchinson probe.
  TORCH_ARG(ProbeKind, probe) = ProbeKind::kRademacher;
  /// Integrate ∫log-det (off: sampling needs z only).
  TORCH_ARG(bool, log_det) = true;
  /// Integrate RNODE's kinetic-energy and Jacobian-Frobenius penalties as extra state members.
  TORCH_ARG(bool, penalties) = false;
  /// From T to 0 (z ↦ x: sampling) instead of 0 to T.
  TORCH_ARG(bool, reverse) = false;
  /// Gradients by the adjoint method instead of back-propagation through the solver.
  TORCH_ARG(bool, adjoint) = false;
  /// Adjoint only: step control of the backward solve ignores the parameters' adjoints
  /// (see ode::AdjointOptions::seminorm).
  TORCH_ARG(bool, seminorm) = false;
  /// Every row its own step size (ode::odeint_per_sample): evaluation and sampling only.
  TORCH_ARG(bool, per_sample) = false;
  /// Solver method and tolerances.
  TORCH_ARG(ode::SolverOptions, solver) = ode::SolverOptions().atol(1e-5).rtol(1e-5);
};

/// The result of integrate_cnf().
struct CnfSolution {
  at::Tensor z;         ///< the end point [B, D]
  at::Tensor log_det;   ///< ∫ tr ∂f/∂z dt over the solve, [B] (forward: log p(x) = log N(z) + log_det); undefined if not asked
  at::Tensor kinetic;   ///< ∫ ½‖f‖²/D dt, [B] (penalties only)
  at::Tensor jacobian;  ///< ∫ ‖∂f/∂z‖²_F/D dt (estimated by ‖Jε‖²/D under Hutchinson), [B] (penalties only)
  ode::SolverStats stats;     ///< per-sample control: nfe, and steps summed over rows
  ode::PerSampleStats per_sample;  ///< per-sample control only
  /// The adjoint's backward solve (filled when backward runs); null without the adjoint.
  std::shared_ptr<ode::SolverStats> backward_stats;
};

/// Solves one CNF from x over t ∈ [0, T] (or back from T). `end_time` is T as a 0-dim tensor (it
/// may require grad); `params` are the tensors the field depends on (the adjoint's gradients go
/// there and to T). `gen` draws the Hutchinson probe.
CnfSolution integrate_cnf(const CnfField& field, const at::Tensor& x, const at::Tensor& end_time,
                          const std::vector<at::Tensor>& params, const CnfSolveOptions& options, at::Generator& gen);

/// Options for ContinuousFlow.
struct ContinuousFlowOptions {
  /// Options for data of `dim` dimensions (net = OdeNetOptions(dim)).
  explicit ContinuousFlowOptions(int64_t dim) : net_(dim) {}
  /// Throws unless net is valid, blocks ≥ 1, end_time is finite and > 0 and the penalty weights ≥ 0.
  void validate() const;
  /// Each block's vector field.
  TORCH_ARG(OdeNetOptions, net);
  /// CNF blocks stacked (x → z₁ → … → z): log-determinants add up.
  TORCH_ARG(int64_t, blocks) = 1;
  /// Initial end time T of each block (T = s², s learnable when train_end_time).
  TORCH_ARG(double, end_time) = 0.5;
  /// Learn T (as T = s²); otherwise s is a buffer.
  TORCH_ARG(bool, train_end_time) = true;
  /// The divergence while training (evaluation always takes the exact trace).
  TORCH_ARG(Divergence, divergence) = Divergence::kExact;
  /// Distribution of the Hutchinson probe.
  TORCH_ARG(ProbeKind, probe) = ProbeKind::kRademacher;
  /// RNODE penalty weights λ_K (kinetic energy) and λ_J (Jacobian Frobenius norm); 0 = off.
  TORCH_ARG(double, kinetic) = 0.0;
  /// λ_J (see `kinetic`); 0 = off.
  TORCH_ARG(double, jacobian) = 0.0;
  /// Training solves (method, tolerances) ...
  TORCH_ARG(ode::SolverOptions, solver) = ode::SolverOptions().atol(1e-5).rtol(1e-5);
  /// ... and evaluation solves (log_prob, sample).
  TORCH_ARG(ode::SolverOptions, eval_solver) = ode::SolverOptions().atol(1e-5).rtol(1e-5);
  /// Training gradients by the adjoint (memory independent of the steps) instead of back-propagation.
  TORCH_ARG(bool, adjoint) = false;
  /// Adjoint only: step control of the backward solve ignores the parameters' adjoints.
  TORCH_ARG(bool, seminorm) = false;
  /// Evaluation and sampling solves (without gradients) give every row its own step size.
  TORCH_ARG(bool, per_sample) = false;
};

/// A stack of CNF blocks with a standard normal base: an exact density model (and the energy
/// E = −log p, so the 2-D grid read-outs apply).
class ContinuousFlowImpl : public EnergyModel, public DensityModel {
 public:
  /// Validates `options` and builds the blocks (submodules "net0", ...), each with T = end_time.
  explicit ContinuousFlowImpl(ContinuousFlowOptions options);
  /// Re-draws every block's field from `gen` (see OdeNetImpl::reset_parameters()) and resets T
  /// to end_time.
  void reset_parameters(at::Generator gen);

  /// Exact log p(x) by the exact trace at the evaluation tolerances, [B]. Needs no autograd.
  at::Tensor log_prob(const at::Tensor& x) override;
  /// The training estimate of log p(x) with the configured divergence and solver, and the
  /// weighted RNODE penalties; NFE of the solves in metrics.
  DensityTerms training_terms(const at::Tensor& x, at::Generator& gen) override;
  /// n samples: z ~ N(0, I) through the reverse solves.
  at::Tensor sample(int64_t n, at::Generator gen) override;
  /// z ↦ x by the reverse solves of every block (last first).
  at::Tensor inverse(const at::Tensor& z);
  std::vector<int64_t> event_shape() const override { return {options.net().dim()}; }
  torch::Tensor energy(const torch::Tensor& x) override { return -log_prob(x); }

  /// The end time T of each block.
  std::vector<double> end_times() const;
  /// Function evaluations of the last log_prob / training_terms / sample call (all blocks).
  int64_t last_nfe() const { return last_nfe_; }
  /// Rows evaluated by the last log_prob / sample call (joint solves: NFE × rows): the work.
  int64_t last_row_evaluations() const { return last_row_evaluations_; }
  /// Backward evaluations of the adjoint of the last training step whose backward has run.
  int64_t last_backward_nfe() const;

  ContinuousFlowOptions options;  ///< the options it was built with
  std::vector<OdeNet> nets;       ///< the vector field of each block
  std::vector<at::Tensor> sqrt_end_times;  ///< s with T = s² per block (parameters or buffers)

 private:
  CnfField field(size_t block);
  std::vector<at::Tensor> block_params(size_t block);
  int64_t last_nfe_ = 0, last_row_evaluations_ = 0;
  std::vector<std::shared_ptr<ode::SolverStats>> backward_stats_;
};
/// The module holder of ContinuousFlowImpl (a shared pointer to it).
TORCH_MODULE(ContinuousFlow);

}  // namespace joule
