#pragma once
// method = "discrete_vae": a VAE with one or two layers of 200 Bernoulli latents on binarised
// images (Fashion-MNIST by default, the user's MNIST IDX files), trained on the ELBO with the encoder's gradient from
// REINFORCE, REBAR, RELAX or straight-through (joule::estimators; arXiv:1711.00123 §5.2), or by
// wake–sleep (Hinton et al. 1995) or reweighted wake–sleep (Bornschein & Bengio, arXiv:1406.2751)
// on the same Helmholtz machine. Reports train/validation/test ELBOs and the test
// log-likelihood by importance sampling (the k-sample bound of Burda et al., arXiv:1509.00519).

#include <memory>
#include <string>
#include <vector>

#include "joule/estimators/discrete.h"
#include "joule/methods/discrete_estimator.h"
#include "joule/methods/method.h"
#include "joule/models/sigmoid_belief_vae.h"

namespace joule::methods {

/// The typed options of the discrete VAE.
struct DiscreteVaeConfig : MethodConfig {
  /// [data]: the images, binarised once.
  struct Data {
    std::string dataset = "fashion-mnist";  ///< fashion-mnist (Debian's copy, or data.path) | mnist (data.path)
    std::string path;                       ///< folder with the IDX files
    std::string binarize = "stochastic";    ///< stochastic (one fixed Bernoulli draw per pixel, seeded) | threshold
    int64_t n_train = 0;                    ///< training images (0 = all but the validation ones)
    int64_t validation = 5000;              ///< the last training images, held out for validation
    int64_t n_test = 0;                     ///< test images (0 = all)
    /// Declares the fields.
    void visit(config::Fields& f);
  } data;  ///< [data]
  /// [vae]: the model and how it is trained.
  struct Vae {
    int64_t latent = 200;                ///< Bernoulli latents per stochastic layer
    int64_t layers = 1;                  ///< stochastic layers (the paper's L1: 1, L2: 2)
    std::string model = "linear";        ///< linear (L1) | nonlinear (NL1: two tanh layers of vae.hidden)
    int64_t hidden = 200;                ///< hidden units of the nonlinear networks
    std::string training = "elbo";       ///< elbo (with [estimator]) | wake_sleep | rws
    int64_t rws_samples = 5;             ///< rws: importance samples per example
    /// Declares the fields.
    void visit(config::Fields& f);
  } vae;  ///< [vae]
  /// [estimator]: the encoder's gradient estimator (training = elbo), one per stochastic layer,
  /// all alike. Defaults: RELAX with the paper's surrogate (REBAR's term plus a 2×200 network on
  /// [x − mean, 2·σ_λ(z) − 1, the layers below]) and common random numbers.
  DiscreteEstimatorConfig estimator;  ///< [estimator]
  /// [optim.surrogate]: the control variate's own optimizer.
  struct Optim {
    OptimizerConfig surrogate;  ///< φ's group
    /// Declares [optim.surrogate].
    void visit(config::Fields& f) { f.section("surrogate", surrogate); }
  } optim;  ///< [optim]
  /// [eval]: the held-out bounds.
  struct Eval {
    int64_t iwae_samples = 100;  ///< k of the test log-likelihood bound
    int64_t n = 2000;            ///< images per split for the reported bounds (0 = all)
    /// Declares the fields.
    void visit(config::Fields& f);
  } eval;  ///< [eval]
  SampleConfig sample;  ///< [sample]: sample.n images from the model
  DiscreteVaeConfig();
  /// Declares every section.
  void visit(config::Fields& f) override;
};

/// The discrete VAE as a library object.
class DiscreteVaeMethod : public Method {
 public:
  /// A method with `config` (linear model, RELAX, Fashion-MNIST by default).
  explicit DiscreteVaeMethod(DiscreteVaeConfig config = {});
  std::string name() const override { return "discrete_vae"; }
  DiscreteVaeConfig& config() override { return config_; }

  /// ELBO on train / validation / test images, the test log-likelihood bound.
  eval::Report evaluate() override;
  /// samples.png (decoder means of prior draws), reconstructions.png, curves.png.
  std::vector<std::string> pictures(const std::string& prefix) override;
  /// sample.n images (pixel probabilities), [n, 1, H, W].
  torch::Tensor sample() override;
  /// Logs the validation ELBO every train.eval_every steps.
  void add_callbacks(const Monitor& monitor) override;

  SigmoidBeliefVaeImpl& model() { return *model_; }  ///< the VAE
  /// The mean ELBO (k = 1) or k-sample bound over `x` [N, pixels], in nats (higher is better).
  double bound(const at::Tensor& x, int64_t k, uint64_t seed);
  const at::Tensor& train_images() const { return train_x_; }  ///< binarised, [N, pixels]
  const at::Tensor& valid_images() const { return valid_x_; }  ///< binarised, [N, pixels]
  const at::Tensor& test_images() const { return test_x_; }    ///< binarised, [N, pixels]

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  DiscreteVaeConfig config_;
  SigmoidBeliefVae model_{nullptr};
  std::vector<estimators::ControlVariate> surrogates_;  // one per stochastic layer (when learned)
  at::Tensor train_x_, valid_x_, test_x_;
  std::vector<int64_t> image_shape_;
};

}  // namespace joule::methods
