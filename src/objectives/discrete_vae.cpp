// The objective of method discrete_vae: the ELBO with an estimator's encoder gradient, wake-sleep
// and reweighted wake-sleep, over a SigmoidBeliefVae named "model".
#include "joule/objectives/discrete_vae.h"

#include <torch/autograd.h>

#include <cmath>

#include "joule/models/sigmoid_belief_vae.h"

namespace joule {

namespace est = joule::estimators;

namespace {

class DiscreteVaeObjective : public Objective {
 public:
  DiscreteVaeObjective(std::string training, int64_t rws_samples, std::unique_ptr<est::DiscreteGradientEstimator> estimator)
      : training_(std::move(training)), rws_samples_(rws_samples), estimator_(std::move(estimator)) {}

  std::string name() const override { return "discrete_vae"; }

  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override {
    if (update.group == "surrogate") return surrogate_update();
    auto& vae = modules.get<SigmoidBeliefVaeImpl>("model");
    const auto& x = batch.x;
    if (training_ == "wake_sleep") return wake_sleep(vae, x, gen);
    if (training_ == "rws") return reweighted_wake_sleep(vae, x, gen);
    return elbo(vae, x, gen);
  }

 private:
  ObjectiveOutput elbo(SigmoidBeliefVaeImpl& vae, const at::Tensor& x, at::Generator& gen) {
    const int64_t n = x.size(0);
    const auto logits = vae.encode(x);
    const auto q_logits = logits.detach();
    // f(b) = −log p(x, b) + log q(b | x), with q's logits as numbers: the control variate then
    // depends on the encoder only through z, and the direct term below carries ∂ log q.
    est::BatchFunction f = [&](const at::Tensor& b) {
      return SigmoidBeliefVaeImpl::log_q(q_logits, b) - vae.log_joint(x, b);
    };
    const auto context = (x - vae.data_mean).detach();
    auto estimate = estimator_->estimate(logits, f, gen, context);
    // −ELBO of the drawn b: its gradient is the decoder's and the prior's, and the encoder's
    // zero-mean direct term (−∂ log q(b | x)); the estimator's ĝ adds the score-function part.
    const auto neg_elbo = SigmoidBeliefVaeImpl::log_q(logits, estimate.b) - vae.log_joint(x, estimate.b);
    const auto through = (logits * estimate.grad_logits.detach()).sum() / static_cast<double>(n);
    ObjectiveOutput out;
    out.loss = neg_elbo.mean() + (through - through.detach());
    out.metrics.push_back({"elbo", -neg_elbo.mean().item<double>()});
    if (estimate.variance_loss.defined()) {
      // φ's gradient now, from this draw: the model's update, which comes first, changes the
      // decoder weights in place, and REBAR's term in the variance loss's graph reads them.
      auto cv = estimator_->control_variate();
      const auto params = cv->parameters();
      auto grads = torch::autograd::grad({estimate.variance_loss}, params, {}, /*retain_graph=*/false,
                                         /*create_graph=*/false, /*allow_unused=*/true);
      pending_.clear();
      for (size_t i = 0; i < grads.size(); ++i) {
        pending_.push_back(grads[i].defined() ? grads[i] : at::zeros_like(params[i]));
      }
      pending_loss_ = estimate.variance_loss.item<double>();
      out.metrics.push_back({"variance_loss", pending_loss_});
    }
    auto cv = estimator_->control_variate();
    if (!cv.is_empty()) {
      if (cv->eta.defined()) out.metrics.push_back({"eta", cv->eta.item<double>()});
      if (cv->depends_on_z()) out.metrics.push_back({"temperature", cv->temperature().item<double>()});
    }
    return out;
  }

  ObjectiveOutput wake_sleep(SigmoidBeliefVaeImpl& vae, const at::Tensor& x, at::Generator& gen) {
    const auto logits = vae.encode(x);
    const auto b = at::bernoulli(at::sigmoid(logits.detach()), gen);
    const auto log_joint = vae.log_joint(x, b);
    const auto wake = -log_joint.mean();  // the generative model on the recognition network's guesses
    at::Tensor dream_b, dream_x;
    {
      at::NoGradGuard no_grad;
      dream_b = at::bernoulli(at::sigmoid(vae.prior_logits).unsqueeze(0).expand({x.size(0), vae.options.latent()}), gen);
      dream_x = at::bernoulli(at::sigmoid(vae.decode(dream_b)), gen);
    }
    const auto sleep = -SigmoidBeliefVaeImpl::log_q(vae.encode(dream_x), dream_b).mean();  // recognise dreams
    ObjectiveOutput out;
    out.loss = wake + sleep;
    out.metrics.push_back({"elbo", (log_joint - SigmoidBeliefVaeImpl::log_q(logits, b)).mean().item<double>()});
    out.metrics.push_back({"sleep_nll", sleep.item<double>()});
    return out;
  }

  ObjectiveOutput reweighted_wake_sleep(SigmoidBeliefVaeImpl& vae, const at::Tensor& x, at::Generator& gen) {
    const int64_t k = rws_samples_, n = x.size(0), latent = vae.options.latent();
    const auto logits = vae.encode(x);
    const auto b = at::bernoulli(at::sigmoid(logits.detach()).unsqueeze(0).expand({k, n, latent}), gen)
                       .reshape({k * n, latent});
    const auto xk = x.unsqueeze(0).expand({k, n, x.size(1)}).reshape({k * n, x.size(1)});
    const auto lk = logits.unsqueeze(0).expand({k, n, latent}).reshape({k * n, latent});
    const auto log_joint = vae.log_joint(xk, b).reshape({k, n});
    const auto log_q = SigmoidBeliefVaeImpl::log_q(lk, b).reshape({k, n});
    const auto log_w = (log_joint - log_q).detach();
    const auto w = at::softmax(log_w, 0);  // self-normalised importance weights
    // Wake phase for p and wake phase for q (Bornschein & Bengio §3): both on the weighted samples.
    ObjectiveOutput out;
    out.loss = -(w * log_joint).sum(0).mean() - (w * log_q).sum(0).mean();
    out.metrics.push_back({"elbo", log_w[0].mean().item<double>()});
    out.metrics.push_back({"iwae_bound", (at::logsumexp(log_w, 0) - std::log(double(k))).mean().item<double>()});
    return out;
  }

  ObjectiveOutput surrogate_update() {
    TORCH_CHECK(!pending_.empty(), "discrete_vae: the surrogate group was updated before the model group");
    ObjectiveOutput out;
    out.gradients = std::move(pending_);
    out.loss = at::full({}, pending_loss_, at::kDouble);
    pending_.clear();
    return out;
  }

  std::string training_;
  int64_t rws_samples_;
  std::unique_ptr<est::DiscreteGradientEstimator> estimator_;
  std::vector<at::Tensor> pending_;  // φ's gradients from this step's draw
  double pending_loss_ = 0;
};

}  // namespace

std::shared_ptr<Objective> make_discrete_vae_objective(const std::string& training, int64_t rws_samples,
                                                       std::unique_ptr<est::DiscreteGradientEstimator> estimator) {
  TORCH_CHECK(training == "elbo" || training == "wake_sleep" || training == "rws",
              "discrete_vae: training must be elbo, wake_sleep or rws, got '", training, "'");
  TORCH_CHECK(training != "elbo" || estimator, "discrete_vae: training = elbo needs a gradient estimator");
  TORCH_CHECK(rws_samples >= 2 || training != "rws", "discrete_vae: rws needs >= 2 samples, got ", rws_samples);
  return std::make_shared<DiscreteVaeObjective>(training, rws_samples, std::move(estimator));
}

}  // namespace joule
