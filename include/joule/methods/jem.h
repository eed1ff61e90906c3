#pragma once
// method = "jem": a classifier (small CNN, Wide-ResNet or MLP) trained as a joint energy model
// with SGLD negatives from persistent chains (Grathwohl et al., arXiv:1912.03263), or with
// cross-entropy only (jem.px_weight = 0) as the baseline in the same harness; supervised or
// semi-supervised (jem.labels_per_class). Data: Fashion-MNIST / MNIST (IDX), CIFAR-10/100
// (binary), synthetic CIFAR-shaped images (timing), CSV tables. Evaluation: the classifier
// protocol (eval/protocols/classifier.h), optionally beside a baseline run (eval.baseline).

#include "joule/eval/protocols/classifier.h"
#include "joule/methods/data_config.h"
#include "joule/methods/method.h"
#include "joule/methods/network_config.h"
#include "joule/models/classifier_energy.h"
#include "joule/objectives/jem.h"

namespace joule::methods {

struct JemConfig : MethodConfig {
  LabelledDataConfig data;
  ClassifierConfig model;
  struct Jem {
    double px_weight = 1.0;
    double py_weight = 1.0;
    double pxy_weight = 0.0;
    double data_noise = 0.03;
    int64_t labels_per_class = -1;
    void visit(config::Fields& f);
  } jem;
  SamplerConfig sampler = SamplerConfig::jem();
  BufferConfig buffer = BufferConfig::jem();
  struct Objective {
    double l2_energy = 0.1;
    void visit(config::Fields& f);
  } objective;
  struct Eval : ClassifierEvalConfig {
    int64_t grid_n = 100;
    double temperature = 0.0;
    int64_t chain_steps = 200;
    void visit(config::Fields& f);
  } eval;
  struct Sample : SampleConfig {
    int64_t label = -1;
    void visit(config::Fields& f);
  } sample;
  JemConfig();
  void visit(config::Fields& f) override;
};

class JemMethod : public Method {
 public:
  explicit JemMethod(JemConfig config = {});
  std::string name() const override { return "jem"; }
  JemConfig& config() override { return config_; }

  /// The classifier protocol on the test split (beside eval.baseline's run when given); the
  /// report's `table` is the markdown comparison.
  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  /// Unconditional samples, or class-conditional ones (sample.class); image grids go to
  /// sample.out (or the run folder).
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  ClassifierEnergyImpl* classifier() override { return classifier_; }
  Jem& objective() { return *jem_; }
  int64_t num_classes() const { return classes_; }
  /// The temperature of log p̃(x) read-outs: eval.temperature, else model T × sampler T.
  double readout_temperature();
  /// The data in model space (images in [−1, 1], tables standardised).
  const LabelledData& data() const { return data_; }

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  struct EvalState {
    int64_t step = -1;
    std::string key;
    double readout_t = 1, baseline_t = 1;
    eval::ClassifierEvalResult result, baseline;
    bool has_baseline = false;
    std::string name, baseline_name;
  };
  const EvalState& eval_state();
  at::Tensor init_states(int64_t n, at::Generator& gen);

  const RobustnessEvaluation& robustness();

  JemConfig config_;
  RobustnessCache robust_;
  LabelledData data_;
  data::Rows monitor_;
  int64_t classes_ = 0;
  ClassifierEnergyImpl* classifier_ = nullptr;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  std::shared_ptr<Jem> jem_;
  EvalState state_;
};

}  // namespace joule::methods
