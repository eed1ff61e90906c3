// The objective of method discrete_vae: the ELBO with an estimator's encoder gradient, wake-sleep
// and reweighted wake-sleep, over a SigmoidBeliefVae named "model".
#include "joule/objectives/discrete_vae.h"

#include <torch/autograd.h>
#include <torch/serialize/archive.h>

#include <cmath>

#include "joule/models/sigmoid_belief_vae.h"
#include "joule/objectives/deferred_gradients.h"

namespace joule {

namespace est = joule::estimators;

namespace {

class DiscreteVaeObjective : public Objective {
 public:
  DiscreteVaeObjective(std::string training, int64_t rws_samples,
                       std::vector<std::unique_ptr<est::DiscreteGradientEstimator>> estimators)
      : training_(std::move(training)), rws_samples_(rws_samples), estimators_(std::move(estimators)) {}

  std::string name() const override { return "discrete_vae"; }

  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override {
    if (update.group == "surrogate") return deferred_.release("discrete_vae");
    auto& vae = modules.get<SigmoidBeliefVaeImpl>("model");
    const auto& x = batch.x;
    if (training_ == "wake_sleep") return wake_sleep(vae, x, gen);
    if (training_ == "rws") return reweighted_wake_sleep(vae, x, gen);
    return elbo(vae, x, gen);
  }

 private:
  // How layer l's function completes a sample s of that layer with the layers above it, from
  // their recorded noise: hard (f), relaxed at a temperature (REBAR's term), or straight-through.
  enum class Path { kHard, kRelaxed, kStraightThrough };

  ObjectiveOutput elbo(SigmoidBeliefVaeImpl& vae, const at::Tensor& x, at::Generator& gen) {
    const int64_t n = x.size(0), layers = vae.options.layers();
    TORCH_CHECK(static_cast<int64_t>(estimators_.size()) == layers, "discrete_vae: ", estimators_.size(),
                " gradient estimators for a model of ", layers, " stochastic layers");
    const auto bern = est::DiscreteFamily::kBernoulli;
    // The ancestral draw b ~ q(b | x), layer by layer, keeping each layer's noise: its estimator
    // rebuilds the same b from it, and the layers below reuse it for the layers above.
    std::vector<at::Tensor> logits, b;
    std::vector<est::RelaxationNoise> noise;
    at::Tensor below = x;
    for (int64_t l = 0; l < layers; ++l) {
      logits.push_back(vae.encode_layer(l, below));
      noise.push_back(est::draw_relaxation_noise(logits.back().detach(), gen));
      b.push_back(est::hard_sample(bern, est::relaxed_sample(bern, logits.back().detach(), noise.back().u)));
      below = b.back();
    }
    // f(b) = −log p(x, b) + log q(b | x) as a function of layer l's sample s; layer l's own
    // recognition logits are numbers (the direct term below carries their ∂ log q).
    auto complete = [&](int64_t l, const at::Tensor& s, Path path, const at::Tensor& temperature) {
      std::vector<at::Tensor> parts(b.begin(), b.begin() + l);
      parts.push_back(s);
      at::Tensor log_q = SigmoidBeliefVaeImpl::log_q(logits[static_cast<size_t>(l)].detach(), s);
      for (int64_t m = 0; m < l; ++m) {
        log_q = log_q + SigmoidBeliefVaeImpl::log_q(logits[static_cast<size_t>(m)].detach(), b[static_cast<size_t>(m)]);
      }
      at::Tensor prev = s;
      for (int64_t m = l + 1; m < layers; ++m) {
        const auto lm = vae.encode_layer(m, prev);
        const auto z = est::relaxed_sample(bern, lm, noise[static_cast<size_t>(m)].u);
        if (path == Path::kHard) {
          prev = est::hard_sample(bern, z);
        } else {
          const auto soft = est::soft_relaxation(bern, z, temperature);
          prev = path == Path::kRelaxed ? soft : est::hard_sample(bern, z) + soft - soft.detach();
        }
        log_q = log_q + SigmoidBeliefVaeImpl::log_q(lm, prev);
        parts.push_back(prev);
      }
      return log_q - vae.log_joint(x, parts.size() == 1 ? parts[0] : at::cat(parts, 1));
    };

    at::Tensor through, variance_loss;
    std::vector<at::Tensor> surrogate_params;
    const auto centred_x = (x - vae.data_mean).detach();
    for (int64_t l = 0; l < layers; ++l) {
      auto& estimator = *estimators_[static_cast<size_t>(l)];
      auto cv = estimator.control_variate();
      est::BatchFunction f = [&, l](const at::Tensor& s) { return complete(l, s, Path::kHard, {}); };
      est::BatchFunction relaxed_f;
      if (l + 1 < layers) {
        // The layers above see the relaxed sample through relaxed versions of themselves.
        const bool st = estimator.options().kind() == est::EstimatorKind::kGumbelStraightThrough;
        const auto temperature =
            st ? at::full({}, estimator.options().straight_through_temperature(), x.options())
               : (!cv.is_empty() ? cv->temperature() : at::Tensor());
        relaxed_f = [&, l, st, temperature](const at::Tensor& s) {
          return complete(l, s, st ? Path::kStraightThrough : Path::kRelaxed, temperature);
        };
      }
      // The surrogate of layer l sees x − mean and the layers below it as 2b − 1.
      at::Tensor context = centred_x;
      if (l > 0) {
        std::vector<at::Tensor> ctx{centred_x};
        for (int64_t m = 0; m < l; ++m) ctx.push_back(2 * b[static_cast<size_t>(m)] - 1);
        context = at::cat(ctx, 1);
      }
      auto estimate = estimator.estimate(logits[static_cast<size_t>(l)], f, noise[static_cast<size_t>(l)], context,
                                         relaxed_f);
      if (l == 0) {
        // The estimator's part of the gradient of the recognition network's output bias (layer 1):
        // ∂through/∂bias = mean over the batch of ĝ. Its running variance compares estimators.
        meter_.update(estimate.grad_logits.detach().mean(0));
      }
      const auto term = (logits[static_cast<size_t>(l)] * estimate.grad_logits.detach()).sum();
      through = through.defined() ? through + term : term;
      if (estimate.variance_loss.defined()) {
        variance_loss = variance_loss.defined() ? variance_loss + estimate.variance_loss : estimate.variance_loss;
        const auto params = cv->parameters();
        surrogate_params.insert(surrogate_params.end(), params.begin(), params.end());
      }
    }
    through = through / static_cast<double>(n);
    // −ELBO of the drawn b: its gradient is the decoder's and the prior's, and the encoder's
    // zero-mean direct term (−∂ log q(b | x)); the estimators' ĝ add the score-function part.
    const auto all_b = layers == 1 ? b[0] : at::cat(b, 1);
    at::Tensor neg_elbo = -vae.log_joint(x, all_b);
    for (int64_t l = 0; l < layers; ++l) {
      neg_elbo = neg_elbo + SigmoidBeliefVaeImpl::log_q(logits[static_cast<size_t>(l)], b[static_cast<size_t>(l)]);
    }
    ObjectiveOutput out;
    out.loss = neg_elbo.mean() + (through - through.detach());
    out.metrics.push_back({"elbo", -neg_elbo.mean().item<double>()});
    if (variance_loss.defined()) {
      // φ's gradient now, from this draw: the model's update, which comes first, changes the
      // decoder weights in place, and REBAR's term in the variance loss's graph reads them.
      deferred_.hold(variance_loss, surrogate_params);
      out.metrics.push_back({"variance_loss", deferred_.loss()});
    }
    if (meter_.count() >= 2) out.metrics.push_back({"log_var", meter_.mean_log_variance()});
    auto cv = estimators_.front()->control_variate();
    if (!cv.is_empty()) {
      if (cv->eta.defined()) out.metrics.push_back({"eta", cv->eta.item<double>()});
      if (cv->depends_on_z()) out.metrics.push_back({"temperature", cv->temperature().item<double>()});
    }
    return out;
  }

  ObjectiveOutput wake_sleep(SigmoidBeliefVaeImpl& vae, const at::Tensor& x, at::Generator& gen) {
    const auto b = vae.sample_posterior(x, gen);
    const auto log_joint = vae.log_joint(x, b);
    const auto wake = -log_joint.mean();  // the generative model on the recognition network's guesses
    at::Tensor dream_b, dream_x;
    {
      at::NoGradGuard no_grad;
      dream_b = vae.sample_prior(x.size(0), gen);
      dream_x = at::bernoulli(at::sigmoid(vae.decode(vae.layer_of(dream_b, 0))), gen);
    }
    const auto sleep = -vae.log_posterior(dream_x, dream_b).mean();  // recognise dreams
    ObjectiveOutput out;
    out.loss = wake + sleep;
    {
      at::NoGradGuard no_grad;
      out.metrics.push_back({"elbo", (log_joint - vae.log_posterior(x, b)).mean().item<double>()});
    }
    out.metrics.push_back({"sleep_nll", sleep.item<double>()});
    return out;
  }

  ObjectiveOutput reweighted_wake_sleep(SigmoidBeliefVaeImpl& vae, const at::Tensor& x, at::Generator& gen) {
    const int64_t k = rws_samples_, n = x.size(0);
    const auto xk = x.unsqueeze(0).expand({k, n, x.size(1)}).reshape({k * n, x.size(1)});
    const auto b = vae.sample_posterior(xk, gen);
    const auto log_joint = vae.log_joint(xk, b).reshape({k, n});
    const auto log_q = vae.log_posterior(xk, b).reshape({k, n});
    const auto log_w = (log_joint - log_q).detach();
    const auto w = at::softmax(log_w, 0);  // self-normalised importance weights
    // Wake phase for p and wake phase for q (Bornschein & Bengio §3): both on the weighted samples.
    ObjectiveOutput out;
    out.loss = -(w * log_joint).sum(0).mean() - (w * log_q).sum(0).mean();
    out.metrics.push_back({"elbo", log_w[0].mean().item<double>()});
    out.metrics.push_back({"iwae_bound", (at::logsumexp(log_w, 0) - std::log(double(k))).mean().item<double>()});
    return out;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    const auto state = meter_.state();
    archive.write("discrete_vae.meter_m1", state[0]);
    archive.write("discrete_vae.meter_m2", state[1]);
    archive.write("discrete_vae.meter_count", state[2]);
    std::vector<double> baselines;
    for (const auto& e : estimators_) baselines.insert(baselines.end(), {e->baseline(), double(e->baseline_batches())});
    archive.write("discrete_vae.baselines", at::tensor(baselines.empty() ? std::vector<double>{0.0} : baselines, at::kDouble));
  }

  void load(torch::serialize::InputArchive& archive) override {
    at::Tensor m1, m2, count, baselines;
    // Checkpoints written before the meter existed have none: start it afresh.
    if (!archive.try_read("discrete_vae.meter_count", count)) return;
    archive.read("discrete_vae.meter_m1", m1);
    archive.read("discrete_vae.meter_m2", m2);
    meter_.set_state({m1, m2, count});
    archive.read("discrete_vae.baselines", baselines);
    for (size_t i = 0; i < estimators_.size() && 2 * i + 1 < static_cast<size_t>(baselines.numel()); ++i) {
      estimators_[i]->set_baseline(baselines[2 * i].item<double>(), static_cast<int64_t>(baselines[2 * i + 1].item<double>()));
    }
  }

  std::string training_;
  int64_t rws_samples_;
  est::RunningGradientVariance meter_{0.99};  // layer 1's estimator, running
  std::vector<std::unique_ptr<est::DiscreteGradientEstimator>> estimators_;
  DeferredGradients deferred_;  // φ's gradients from this step's draw
};

}  // namespace

std::shared_ptr<Objective> make_discrete_vae_objective(
    const std::string& training, int64_t rws_samples,
    std::vector<std::unique_ptr<est::DiscreteGradientEstimator>> estimators) {
  TORCH_CHECK(training == "elbo" || training == "wake_sleep" || training == "rws",
              "discrete_vae: training must be elbo, wake_sleep or rws, got '", training, "'");
  if (training == "elbo") {
    TORCH_CHECK(!estimators.empty(), "discrete_vae: training = elbo needs a gradient estimator per layer");
    for (const auto& e : estimators) {
      TORCH_CHECK(e, "discrete_vae: training = elbo needs a gradient estimator per layer");
      TORCH_CHECK(e->options().family() == est::DiscreteFamily::kBernoulli,
                  "discrete_vae: the latents are Bernoulli; an estimator is for categorical choices");
    }
  }
  TORCH_CHECK(rws_samples >= 2 || training != "rws", "discrete_vae: rws needs >= 2 samples, got ", rws_samples);
  return std::make_shared<DiscreteVaeObjective>(training, rws_samples, std::move(estimators));
}

std::shared_ptr<Objective> make_discrete_vae_objective(const std::string& training, int64_t rws_samples,
                                                       std::unique_ptr<est::DiscreteGradientEstimator> estimator) {
  std::vector<std::unique_ptr<est::DiscreteGradientEstimator>> estimators;
  if (estimator) estimators.push_back(std::move(estimator));
  return make_discrete_vae_objective(training, rws_samples, std::move(estimators));
}

}  // namespace joule
