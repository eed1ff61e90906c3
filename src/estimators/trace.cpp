#include "joule/estimators/trace.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>

namespace joule {
namespace {

void check_pair(const at::Tensor& fx, const at::Tensor& x, const char* what) {
  TORCH_CHECK(x.dim() >= 2, what, ": x must be a batch [B, ...], got shape ", x.sizes());
  TORCH_CHECK(x.requires_grad(), what, ": x must require grad (call x.requires_grad_() before computing f(x))");
  TORCH_CHECK(fx.sizes() == x.sizes(), what, ": f(x) must have the shape of x (a vector field), got ", fx.sizes(),
              " for x of shape ", x.sizes());
}

}  // namespace

ProbeKind parse_probe_kind(const std::string& name) {
  if (name == "gaussian") return ProbeKind::kGaussian;
  if (name == "rademacher") return ProbeKind::kRademacher;
  TORCH_CHECK(false, "unknown probe kind '", name, "' (allowed: gaussian, rademacher)");
}

std::string to_string(ProbeKind kind) { return kind == ProbeKind::kGaussian ? "gaussian" : "rademacher"; }

at::Tensor draw_probe(const at::Tensor& like, ProbeKind kind, at::Generator& gen) {
  auto eps = at::empty(like.sizes(), like.options().requires_grad(false));
  if (kind == ProbeKind::kGaussian) return eps.normal_(0.0, 1.0, gen);
  // bernoulli_(0.5) gives {0, 1}; 2b − 1 is uniform on {−1, +1}.
  return eps.bernoulli_(0.5, gen).mul_(2.0).sub_(1.0);
}

at::Tensor jacobian_trace_hutchinson(const at::Tensor& fx, const at::Tensor& x, const HutchinsonOptions& options,
                                     at::Generator& gen) {
  check_pair(fx, x, "jacobian_trace_hutchinson");
  TORCH_CHECK(options.probes() >= 1, "jacobian_trace_hutchinson: probes must be >= 1, got ", options.probes());
  const int64_t b = x.size(0);
  at::Tensor total;
  for (int64_t k = 0; k < options.probes(); ++k) {
    auto eps = draw_probe(fx, options.probe(), gen);
    // εᵀ(∂f/∂x) by one vector-Jacobian product; the graph of f is kept for the next probe and
    // for the caller's own backward pass.
    auto vjp = torch::autograd::grad({fx}, {x}, {eps}, /*retain_graph=*/true, options.create_graph())[0];
    auto t = (vjp * eps).reshape({b, -1}).sum(1);
    total = k == 0 ? t : total + t;
  }
  return options.probes() == 1 ? total : total / static_cast<double>(options.probes());
}

at::Tensor jacobian_trace_exact(const at::Tensor& fx, const at::Tensor& x, bool create_graph) {
  check_pair(fx, x, "jacobian_trace_exact");
  const int64_t b = x.size(0);
  auto f_flat = fx.reshape({b, -1});
  const int64_t d = f_flat.size(1);
  at::Tensor tr = at::zeros({b}, fx.options().requires_grad(false));
  for (int64_t i = 0; i < d; ++i) {
    // Row sums decouple the samples: ∂(Σ_b f_i(x_b))/∂x_b = ∂f_i(x_b)/∂x_b.
    auto g = torch::autograd::grad({f_flat.select(1, i).sum()}, {x}, {}, /*retain_graph=*/true, create_graph)[0];
    tr = tr + g.reshape({b, -1}).select(1, i);
  }
  return tr;
}

at::Tensor jacobian_trace_exact_batched(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x,
                                        int64_t chunk) {
  TORCH_CHECK(x.dim() >= 2, "jacobian_trace_exact_batched: x must be a batch [B, ...], got shape ", x.sizes());
  TORCH_CHECK(chunk >= 1, "jacobian_trace_exact_batched: chunk must be >= 1, got ", chunk);
  torch::AutoGradMode grad_mode(true);
  const int64_t b = x.size(0);
  const auto event = x.sizes().slice(1).vec();
  auto xf = x.detach().reshape({b, -1});
  const int64_t d = xf.size(1);
  at::Tensor tr = at::zeros({b}, x.options().requires_grad(false));
  // Coordinates per pass: as many copies of the batch as fit in `chunk` rows.
  const int64_t per_pass = std::max<int64_t>(1, std::min<int64_t>(d, chunk / std::max<int64_t>(b, 1)));
  for (int64_t i0 = 0; i0 < d; i0 += per_pass) {
    const int64_t m = std::min(per_pass, d - i0);
    // Rows (j, s) = copy j of sample s; copy j is weighted by the one-hot e_{i0+j}.
    auto xr = xf.unsqueeze(0).expand({m, b, d}).reshape({m * b, d}).clone().requires_grad_(true);
    std::vector<int64_t> shape{m * b};
    shape.insert(shape.end(), event.begin(), event.end());
    auto out = f(xr.view(shape)).reshape({m * b, d});
    auto idx = at::arange(i0, i0 + m, x.options().dtype(at::kLong));
    auto onehot = at::zeros({m, d}, out.options().requires_grad(false));
    onehot.scatter_(1, idx.unsqueeze(1), 1.0);
    auto w = onehot.unsqueeze(1).expand({m, b, d}).reshape({m * b, d});
    auto g = torch::autograd::grad({out}, {xr}, {w}, /*retain_graph=*/false, /*create_graph=*/false)[0];
    // Row (j, s) holds ∂f_{i0+j}/∂x at sample s; keep the diagonal entry x_{i0+j}.
    auto diag = (g * w).sum(1).view({m, b});
    tr += diag.sum(0);
  }
  return tr;
}

}  // namespace joule
