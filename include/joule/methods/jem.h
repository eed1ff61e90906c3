#pragma once
// method = "jem": a classifier (small CNN, Wide-ResNet or MLP) trained as a joint energy model
// with SGLD negatives from persistent chains (Grathwohl et al., arXiv:1912.03263), or with
// cross-entropy only (jem.px_weight = 0) as the baseline in the same harness; supervised or
// semi-supervised (jem.labels_per_class). Data: Fashion-MNIST / MNIST (IDX), CIFAR-10/100
// (binary), synthetic CIFAR-shaped images (timing), CSV tables. Evaluation: the classifier
// protocol (eval/protocols/classifier.h), optionally beside a baseline run (eval.baseline).

#include "joule/eval/protocols/classifier.h"
#include "joule/methods/method.h"
#include "joule/models/classifier_energy.h"
#include "joule/objectives/jem.h"

namespace joule::methods {

struct JemConfig : MethodConfig {
  struct Data {
    std::string dataset = "fashion-mnist";
    std::string path;
    void visit(config::Fields& f);
  } data;
  struct Model {
    std::string kind = "cnn";
    int64_t width = 128;
    int64_t depth = 3;
    std::string activation = "leaky_relu";
    double negative_slope = 0.2;
    void visit(config::Fields& f);
  } model;
  struct Jem {
    double px_weight = 1.0;
    double py_weight = 1.0;
    double pxy_weight = 0.0;
    double data_noise = 0.03;
    int64_t labels_per_class = -1;
    int64_t n_train = 0;
    int64_t n_test = 0;
    std::string label_column = "-1";
    double val_fraction = 0.1;
    double test_fraction = 0.2;
    int64_t synthetic_n = 2048;
    int64_t channels = 16;
    int64_t wrn_depth = 28;
    int64_t wrn_widen = 10;
    double dropout = 0.0;
    std::string norm = "none";
    int64_t norm_groups = 8;
    void visit(config::Fields& f);
  } jem;
  SamplerConfig sampler = SamplerConfig::jem();
  BufferConfig buffer = BufferConfig::jem();
  struct Objective {
    double l2_energy = 0.1;
    void visit(config::Fields& f);
  } objective;
  struct Eval {
    int64_t ood_n = 2000;
    std::vector<std::string> ood_sets{"uniform", "gaussian", "vflip", "invert", "constant"};
    std::string ood_mnist_dir;
    std::string baseline;
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

  ClassifierEnergyImpl& classifier() { return *classifier_; }
  Jem& objective() { return *jem_; }
  int64_t num_classes() const { return classes_; }
  /// The temperature of log p̃(x) read-outs: eval.temperature, else model T × sampler T.
  double readout_temperature();
  /// Test inputs and labels in model space (images in [−1, 1], tables standardised).
  const at::Tensor& test_x() const { return test_.x; }
  const at::Tensor& test_y() const { return test_.y; }

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  struct Split {
    at::Tensor x, y;
  };
  struct EvalState {
    int64_t step = -1;
    std::string key;
    double readout_t = 1, baseline_t = 1;
    eval::ClassifierEvalResult result, baseline;
    bool has_baseline = false;
    std::string name, baseline_name;
  };
  bool images() const { return event_shape_.size() == 3 && (event_shape_[0] == 1 || event_shape_[0] == 3); }
  const EvalState& eval_state();
  at::Tensor init_states(int64_t n, at::Generator& gen);
  void load_data(at::Generator& gen);
  void load_csv(at::Generator& gen);
  Split pick_labelled(int64_t per_class, at::Generator& gen);
  std::shared_ptr<ClassifierEnergyImpl> make_model(at::Generator& gen);

  JemConfig config_;
  Split train_, test_, val_, monitor_;
  std::vector<int64_t> event_shape_;
  int64_t classes_ = 0;
  ClassifierEnergyImpl* classifier_ = nullptr;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  std::shared_ptr<Jem> jem_;
  EvalState state_;
};

}  // namespace joule::methods
