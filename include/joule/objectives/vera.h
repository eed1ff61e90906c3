#pragma once
// VERA (arXiv:2010.04230 §3–4; one iteration of `VERA:train.py`): an energy model trained by
// approximate maximum likelihood with negatives from a generator q_φ instead of MCMC, and the
// generator trained to minimise KL(q ‖ p_θ) = −E_q[log p̃_θ] − H(q) + const with the entropy
// gradient of VeraGenerator. Three parameter groups, updated in this order in each step:
//
//   "model"     (the energy, module "model"): x_g ~ q drawn once per step;
//               loss = mean E(x_d)/T − mean E(x_g)/T  (= −mean[log p̃(x_d) − log p̃(x_g)])
//                      + p·mean log p̃(x_d)² + n·mean log p̃(x_g)²      (energy L2 terms)
//                      + γ·mean ‖∇ₓ log p̃(x_d)‖²/2                     (gradient penalty, double backward)
//                      [+ α·CE(f(x_l), y_l) + β·mean H(softmax f(x_d))  for a classifier: VERA-JEM]
//   "posterior" (σ_post of module "generator"): −ELBO of the proposal, on the step's x_g
//   "generator" (the rest of module "generator"): −(mean log p̃(x_g) + λ·surrogate), against the
//               energy just updated; afterwards σ is clamped to [σ_min, σ_max]. A class-conditional
//               generator (VERA-JEM) draws (x_g, y_g) with y_g from its class prior and is trained
//               against log p̃(x_g | y_g) = f(x_g)[y_g]/T with the entropy of q(·|y_g), so each
//               q(x|y) approaches p_θ(x|y); the model's negatives are still its marginal draws x_g.
//
// The posterior update comes before the generator's, and the generator's loss (and its entropy
// estimate with the proposal width before that update) is formed at the posterior update, so
// both use the generator as it was when x_g was drawn — the order of `VERA:models/generator.py`.

#include <torch/arg.h>

#include <memory>
#include <string>

#include "joule/data/dataset.h"
#include "joule/models/generator.h"
#include "joule/objectives/objective.h"

namespace joule {

/// How the generator's entropy gradient is estimated: VERA's importance sampling or PresGAN's HMC.
enum class EntropyEstimator { kImportance, kHmc };
/// "vera" (importance sampling) or "hmc".
EntropyEstimator parse_entropy_estimator(const std::string& name);

/// Options for Vera. Defaults: `VERA:train.py`'s argparse.
struct VeraOptions {
  /// Throws unless the weights and penalties are ≥ 0, posterior_samples ≥ 1 and
  /// 0 < min_sigma ≤ max_sigma.
  void validate() const;
  /// λ: weight of the generator's entropy (0 trains the generator as a mode seeker).
  TORCH_ARG(double, entropy_weight) = 1.0;
  /// γ: gradient penalty on the data, mean ‖∇ₓ log p̃(x_d)‖²/2.
  TORCH_ARG(double, gradient_penalty) = 0.0;
  /// p: L2 penalty on log p̃ of the data, mean log p̃(x_d)².
  TORCH_ARG(double, l2_data) = 0.0;
  /// n: L2 penalty on log p̃ of the generated samples, mean log p̃(x_g)².
  TORCH_ARG(double, l2_generated) = 0.0;
  /// K: importance samples of the posterior proposal.
  TORCH_ARG(int64_t, posterior_samples) = 20;
  /// Entropy-gradient estimator: importance sampling (VERA, default) or HMC (PresGAN).
  TORCH_ARG(EntropyEstimator, estimator) = EntropyEstimator::kImportance;
  /// Settings of the HMC estimator (used only when estimator = kHmc).
  TORCH_ARG(HmcPosteriorOptions, hmc) = HmcPosteriorOptions();
  /// σ of q(x|h) is clamped to [min_sigma, max_sigma] after each generator update.
  TORCH_ARG(double, min_sigma) = 0.01;
  /// Upper clamp of σ (see min_sigma).
  TORCH_ARG(double, max_sigma) = 0.3;
  /// VERA-JEM (the model is a ClassifierEnergy): α on the cross-entropy of labelled data and β
  /// on the entropy of p(y|x) for the data batch (semi-supervised).
  TORCH_ARG(double, classification_weight) = 1.0;
  /// β: weight of the entropy of p(y|x) on the data batch (VERA-JEM, semi-supervised; 0 = off).
  TORCH_ARG(double, unlabelled_entropy_weight) = 0.0;
};

/// The VERA objective over the modules "model" (energy) and "generator" (VeraGenerator), trained
/// as the groups "model", "posterior" and "generator" described at the top of this file.
class Vera : public Objective {
 public:
  /// Validates `options`.
  explicit Vera(VeraOptions options = {});

  /// Semi-supervised VERA-JEM: labelled batches from `labelled`; the trainer's batches (labels
  /// ignored) feed the maximum-likelihood and entropy terms. Part of the checkpointed state.
  void set_labelled(std::shared_ptr<data::DataSource> labelled) { labelled_ = std::move(labelled); }

  ObjectiveOutput compute(ModuleSet& modules, const Batch& batch, at::Generator& gen, const Update& update) override;
  void after_update(ModuleSet& modules, const Update& update) override;
  std::string name() const override { return "vera"; }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  VeraOptions options;  ///< the loss options (validated at construction)

 private:
  ObjectiveOutput model_update(ModuleSet& modules, const Batch& batch, at::Generator& gen);
  void prepare_generator_loss(ModuleSet& modules, at::Generator& gen);

  std::shared_ptr<data::DataSource> labelled_;
  // Shared by the three updates of one step.
  VeraGeneratorImpl::Draw draw_;
  at::Tensor generator_loss_;
  std::vector<std::pair<std::string, double>> generator_metrics_;
  int64_t batch_size_hint_ = 0;
};

}  // namespace joule
