#include "joule/objectives/deferred_gradients.h"

#include <torch/autograd.h>

namespace joule {

std::vector<at::Tensor> gradients_or_zeros(const at::Tensor& loss, const std::vector<at::Tensor>& params) {
  TORCH_CHECK(loss.defined() && loss.numel() == 1, "gradients_or_zeros: the loss must be a scalar");
  std::vector<at::Tensor> out;
  out.reserve(params.size());
  if (!loss.requires_grad()) {
    for (const auto& p : params) out.push_back(at::zeros_like(p));
    return out;
  }
  auto grads = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                     /*allow_unused=*/true);
  for (size_t i = 0; i < grads.size(); ++i) out.push_back(grads[i].defined() ? grads[i] : at::zeros_like(params[i]));
  return out;
}

void DeferredGradients::hold(const at::Tensor& loss, const std::vector<at::Tensor>& params) {
  TORCH_CHECK(!params.empty(), "DeferredGradients: no parameters to hold gradients for");
  gradients_ = gradients_or_zeros(loss, params);
  loss_ = loss.item<double>();
}

ObjectiveOutput DeferredGradients::release(const std::string& who, const std::string& metric) {
  TORCH_CHECK(holding(), who, ": the control variate's group was updated before the group whose draw it learns from");
  ObjectiveOutput out;
  out.gradients = std::move(gradients_);
  gradients_.clear();
  out.loss = at::full({}, loss_, at::kDouble);
  if (!metric.empty()) out.metrics.push_back({metric, loss_});
  return out;
}

}  // namespace joule
