#pragma once
// A parameter group trained on a loss of the *previous* group's draw: the learned control variates
// of REBAR, RELAX and LAX (arXiv:1711.00123 Alg. 1) are updated on the variance of the very
// estimate the model's update used. The trainer updates the groups one after the other, and the
// model's update changes weights that the variance loss's graph reads, so φ's gradient is taken
// at the model's update and handed to the control variate's group at its own.

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "joule/objectives/objective.h"

namespace joule {

/// ∂loss/∂params for every parameter, zeros for those the loss does not use.
std::vector<at::Tensor> gradients_or_zeros(const at::Tensor& loss, const std::vector<at::Tensor>& params);

/// Gradients computed at one update and returned at a later one of another group.
///
/// Example (in an objective's compute()):
///   if (update.group == "surrogate") return deferred_.release("my_objective");
///   ... deferred_.hold(estimate.variance_loss, control_variate->parameters());
class DeferredGradients {
 public:
  /// Takes ∂loss/∂params now (the loss's graph is freed) and keeps them with the loss's value.
  void hold(const at::Tensor& loss, const std::vector<at::Tensor>& params);
  /// The held gradients as the group's ObjectiveOutput (loss = the held value, metric
  /// `metric` when non-empty), and forgets them. Fails, naming `who`, if nothing is held: the
  /// group was updated before the one that computes its loss.
  ObjectiveOutput release(const std::string& who, const std::string& metric = "");
  /// True while gradients are held.
  bool holding() const { return !gradients_.empty(); }
  /// The value of the last held loss.
  double loss() const { return loss_; }

 private:
  std::vector<at::Tensor> gradients_;
  double loss_ = 0;
};

}  // namespace joule
