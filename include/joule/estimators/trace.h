#pragma once
// Jacobian-trace estimators for Stein discrepancies and score matching: tr ∂f/∂x for a vector
// field f: ℝᴰ → ℝᴰ, per sample, exactly (D backward passes) or by Hutchinson's estimator
// tr A = E[εᵀAε] for probes with E[εεᵀ] = I (Hutchinson 1990; LSD, arXiv:2002.05616 §3.2).
//
// Both take the output f(x) and the input x (which must require grad) and can keep the graph
// (create_graph) so that the trace is itself differentiable: the LSD critic and sliced score
// matching backpropagate through it (double backward).

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace joule {

/// Distribution of Hutchinson probes. Rademacher (±1) has the smaller variance,
/// Var[εᵀAε] = 2 Σ_{i≠j} A_ij² against 2‖A‖²_F for Gaussian probes; LSD's code uses Gaussian.
enum class ProbeKind {
  kGaussian,   ///< ε ~ N(0, I)
  kRademacher  ///< ε uniform on {−1, +1}ᴰ
};

/// Parses "gaussian" or "rademacher".
ProbeKind parse_probe_kind(const std::string& name);
std::string to_string(ProbeKind kind);  ///< "gaussian" or "rademacher"

/// A probe tensor shaped like `like`, entries i.i.d. N(0, 1) or uniform on {−1, +1}.
at::Tensor draw_probe(const at::Tensor& like, ProbeKind kind, at::Generator& gen);

/// Options for jacobian_trace_hutchinson().
struct HutchinsonOptions {
  /// Probe distribution (Gaussian as in LSD's code; Rademacher has lower variance).
  TORCH_ARG(ProbeKind, probe) = ProbeKind::kGaussian;
  /// Probes averaged per sample (variance falls as 1/probes, cost grows linearly).
  TORCH_ARG(int64_t, probes) = 1;
  /// Keep the graph so the estimate can be differentiated (in x and in f's parameters).
  TORCH_ARG(bool, create_graph) = true;
};

/// Hutchinson's unbiased estimate of tr ∂f/∂x per sample: mean over probes of εᵀ (∂f/∂x)ᵀ ε,
/// one vector-Jacobian product per probe, cost independent of D.
/// fx: f(x), same shape as x [B, ...] (non-batch dims are flattened); x requires grad.
/// Returns [B].
at::Tensor jacobian_trace_hutchinson(const at::Tensor& fx, const at::Tensor& x, const HutchinsonOptions& options,
                                     at::Generator& gen);

/// The exact trace Σ_i ∂f_i/∂x_i per sample by D backward passes (one per output coordinate).
/// Returns [B]. Use for evaluation and for low dimensions; cost grows linearly in D.
at::Tensor jacobian_trace_exact(const at::Tensor& fx, const at::Tensor& x, bool create_graph = true);

/// The exact trace for a function f that maps rows independently (an MLP critic, a score):
/// evaluates f once on D stacked copies of x and takes a single backward pass with one-hot
/// output weights, which replaces D small backward passes by one large one. `chunk` bounds the
/// rows evaluated at once (copies × batch). No graph is kept (evaluation only). Returns [B].
at::Tensor jacobian_trace_exact_batched(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x,
                                        int64_t chunk = 65536);

}  // namespace joule
