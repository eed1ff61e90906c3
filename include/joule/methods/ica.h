#pragma once
// method = "ica": linear ICA with logistic sources, whose likelihood is exact, trained by maximum
// likelihood, LSD, score matching or CD/PCD and evaluated by its exact test NLL against the true
// model's (LSD's §6.2 experiment, arXiv:2002.05616).

#include "joule/methods/method.h"
#include "joule/methods/score_based.h"
#include "joule/models/ica.h"

namespace joule::methods {

/// The options of method = "ica". Defaults are LSD's ICA experiment (lsd_ica.py): Adam with
/// β = (0.5, 0.9) and lr 1e-3, batch 1000, 2000 steps.
struct IcaConfig : MethodConfig {
  /// [ica]: the model's size.
  struct Ica {
    /// ICA dimension (data: a random well-conditioned unmixing matrix, logistic sources), 1 to 4096.
    int64_t dim = 5;
    /// Declares the [ica] fields.
    void visit(config::Fields& f);
  } ica;  ///< [ica]
  /// [data]: points drawn from the true model.
  struct Data {
    int64_t n_train = 100000;  ///< training points drawn from the true model
    int64_t n_test = 10000;    ///< held-out points (another stream) for the test NLL
    /// Declares the [data] fields.
    void visit(config::Fields& f);
  } data;  ///< [data]
  /// [objective]: the training objective.
  struct Objective {
    /// mle: exact maximum likelihood; lsd, sm, ssm, dsm: score-based; pcd, cd: contrastive divergence.
    std::string kind = "mle";
    double l2_energy = 0.0;   ///< energy penalty (score-based and CD objectives)
    double init_noise = 0.0;  ///< CD-k: noise std added to the data before sampling
    /// Declares the [objective] fields.
    void visit(config::Fields& f);
  } objective;  ///< [objective]
  SamplerConfig sampler;   ///< [sampler]: the MCMC of CD/PCD
  BufferConfig buffer;     ///< [buffer]: the persistent chains of PCD
  LsdConfig lsd;           ///< [lsd]: the Stein discrepancy and its critic (objective.kind = "lsd")
  ScoreMatchingConfig sm;  ///< [sm]: score matching (objective.kind = sm, ssm, dsm)
  OptimGroups optim;       ///< [optim.critic]: the LSD critic's optimizer
  SampleConfig sample;     ///< [sample]
  /// The defaults, with LSD's ICA settings for [train].
  IcaConfig();
  void visit(config::Fields& f) override;
};

/// Linear ICA with logistic sources, whose likelihood is exact (method = "ica"), trained by maximum
/// likelihood, LSD, score matching or CD/PCD on data from a random true model; evaluate() reports
/// the exact test NLL against the true model's (LSD's §6.2 experiment, arXiv:2002.05616).
class IcaMethod : public Method {
 public:
  /// A method with these options; nothing is built until build().
  explicit IcaMethod(IcaConfig config = {});
  std::string name() const override { return "ica"; }
  IcaConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  /// The trained model.
  IcaImpl& model() { return *model_; }
  /// The true model that made the data.
  IcaImpl& truth() { return *truth_; }
  /// Exact mean test NLL (nats) of the trained model.
  double test_nll();
  /// Exact mean test NLL (nats) of the true model, computed at build().
  double true_nll() const { return true_nll_; }

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  IcaConfig config_;
  Ica truth_{nullptr}, model_{nullptr};
  at::Tensor test_x_;
  double true_nll_ = 0;
};

}  // namespace joule::methods
