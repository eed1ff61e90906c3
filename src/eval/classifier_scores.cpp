#include "joule/eval/classifier_scores.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>

#include <vector>

namespace joule::eval {

at::Tensor predicted_labels(ClassifierEnergyImpl& model, const at::Tensor& x, int64_t batch_size) {
  return classifier_scores(model, x, batch_size, /*with_grad=*/false).probs.argmax(1).to(x.device());
}

ClassifierScores classifier_scores(ClassifierEnergyImpl& model, const at::Tensor& x, int64_t batch_size, bool with_grad) {
  TORCH_CHECK(batch_size > 0, "classifier_scores: batch_size must be > 0, got ", batch_size);
  TORCH_CHECK(x.dim() >= 2 && x.size(0) > 0, "classifier_scores: expected a non-empty batch [N, ...], got ", x.sizes());
  EvalModeGuard eval_mode(model);
  const auto device = module_device(model);
  std::vector<at::Tensor> probs, log_px, grad_norm;
  for (int64_t i = 0; i < x.size(0); i += batch_size) {
    auto xb = x.narrow(0, i, std::min(batch_size, x.size(0) - i)).to(device);
    if (with_grad) {
      torch::AutoGradMode enable_grad(true);
      auto xg = xb.detach().requires_grad_(true);
      auto f = model.logits(xg);
      auto lse = f.logsumexp(1);
      // Only the input gradient is requested: no weight-gradient work.
      auto g = torch::autograd::grad({lse.sum()}, {xg})[0];
      grad_norm.push_back(g.reshape({g.size(0), -1}).norm(2, 1).neg().detach().cpu());
      probs.push_back(f.detach().softmax(1).cpu());
      log_px.push_back(lse.detach().cpu());
    } else {
      torch::NoGradGuard no_grad;
      auto f = model.logits(xb);
      probs.push_back(f.softmax(1).cpu());
      log_px.push_back(f.logsumexp(1).cpu());
    }
  }
  ClassifierScores s;
  s.probs = at::cat(probs, 0);
  s.log_px = at::cat(log_px, 0);
  s.max_prob = std::get<0>(s.probs.max(1));
  if (with_grad) s.neg_grad_norm = at::cat(grad_norm, 0);
  return s;
}

double accuracy(const at::Tensor& probs, const at::Tensor& labels) {
  TORCH_CHECK(probs.dim() == 2 && labels.dim() == 1 && probs.size(0) == labels.size(0) && probs.size(0) > 0,
              "accuracy: expected probs [N, C] and labels [N], got ", probs.sizes(), " and ", labels.sizes());
  return probs.argmax(1).eq(labels.to(probs.device(), at::kLong)).to(at::kDouble).mean().item<double>();
}

double negative_log_likelihood(const at::Tensor& probs, const at::Tensor& labels) {
  TORCH_CHECK(probs.dim() == 2 && labels.dim() == 1 && probs.size(0) == labels.size(0) && probs.size(0) > 0,
              "negative_log_likelihood: expected probs [N, C] and labels [N], got ", probs.sizes(), " and ", labels.sizes());
  auto p = probs.to(at::kDouble).gather(1, labels.to(probs.device(), at::kLong).unsqueeze(1)).squeeze(1);
  return -p.clamp_min(1e-12).log().mean().item<double>();
}

}  // namespace joule::eval
