#pragma once
// method = "ica": linear ICA with logistic sources, whose likelihood is exact, trained by maximum
// likelihood, LSD, score matching or CD/PCD and evaluated by its exact test NLL against the true
// model's (LSD's §6.2 experiment, arXiv:2002.05616).

#include "joule/methods/method.h"
#include "joule/methods/score_based.h"
#include "joule/models/ica.h"

namespace joule::methods {

struct IcaConfig : MethodConfig {
  struct Ica {
    int64_t dim = 5;
    void visit(config::Fields& f);
  } ica;
  struct Data {
    int64_t n_train = 100000;
    int64_t n_test = 10000;
    void visit(config::Fields& f);
  } data;
  struct Objective {
    std::string kind = "mle";
    double l2_energy = 0.0;
    double init_noise = 0.0;
    void visit(config::Fields& f);
  } objective;
  SamplerConfig sampler;
  BufferConfig buffer;
  LsdConfig lsd;
  ScoreMatchingConfig sm;
  OptimGroups optim;
  SampleConfig sample;
  IcaConfig();
  void visit(config::Fields& f) override;
};

class IcaMethod : public Method {
 public:
  explicit IcaMethod(IcaConfig config = {});
  std::string name() const override { return "ica"; }
  IcaConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  /// The trained model and the true one that made the data.
  IcaImpl& model() { return *model_; }
  IcaImpl& truth() { return *truth_; }
  /// Exact mean test NLL of the model and of the truth.
  double test_nll();
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
