#pragma once
// The objective of the discrete VAE (method discrete_vae) over a SigmoidBeliefVae named "model":
//   - "elbo": −ELBO of one draw b ~ q(b | x), whose backward gives the decoder's and prior's
//     gradients and the encoder's direct term −∂ log q(b | x); each layer's estimator's ĝ for its
//     recognition logits (f(b) = log q(b | x) − log p(x, b), that layer's logits as numbers) is
//     added through the logits. With control variates, a second group "surrogate" gets the
//     gradient of the variance losses (summed over layers) of the same draw, computed before the
//     model's update changes the weights the loss reads.
//   - "wake_sleep": the wake phase fits p to (x, b ~ q), the sleep phase fits q to dreams from p
//     (Hinton et al. 1995).
//   - "rws": reweighted wake–sleep with k samples, wake phases for p and q (Bornschein & Bengio,
//     arXiv:1406.2751 §3).
// Metrics: "elbo" of the batch (and "iwae_bound" for rws, "sleep_nll" for wake-sleep).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "joule/estimators/discrete.h"
#include "joule/objectives/objective.h"

namespace joule {

/// The discrete VAE's objective for `training` = "elbo" (needs one estimator per stochastic
/// layer, layer 1 first), "wake_sleep" or "rws" (`rws_samples` >= 2 importance samples per
/// example). With several layers, layer l's estimator keeps the layers below it as drawn and
/// pushes its sample through the layers above with the same noise: hard for f, relaxed at its
/// control variate's temperature for REBAR's term (arXiv:1703.07370 §5). The control variates'
/// group, "surrogate", must list their modules in layer order.
std::shared_ptr<Objective> make_discrete_vae_objective(
    const std::string& training, int64_t rws_samples,
    std::vector<std::unique_ptr<estimators::DiscreteGradientEstimator>> estimators);

/// The one-layer form: `estimator` for the only layer (null for wake_sleep and rws).
std::shared_ptr<Objective> make_discrete_vae_objective(const std::string& training, int64_t rws_samples,
                                                       std::unique_ptr<estimators::DiscreteGradientEstimator> estimator);

}  // namespace joule
