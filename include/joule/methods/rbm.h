#pragma once
// method = "rbm": a Bernoulli or Gaussian–Bernoulli RBM trained with CD-k, PCD or parallel
// tempering on IDX images (Fashion-MNIST by default, the user's MNIST) or a CSV table.
// Evaluation: pseudo-log-likelihood (sklearn's definition), reconstruction error, exact log Z
// when the smaller layer is small, AIS log Z forward and reverse with error bars, and the test
// log-likelihood from each (eval/protocols/rbm_log_z.h). Pictures: samples, filters, AIS
// convergence against exact.

#include <c10/util/Optional.h>

#include "joule/data/image_transforms.h"
#include "joule/eval/protocols/rbm_log_z.h"
#include "joule/methods/method.h"
#include "joule/models/rbm.h"
#include "joule/objectives/rbm_gradient.h"

namespace joule::methods {

struct RbmConfig : MethodConfig {
  struct Data {
    std::string dataset = "fashion-mnist";
    std::string path;
    void visit(config::Fields& f);
  } data;
  struct Rbm {
    int64_t hidden = 256;
    std::string visible = "bernoulli";
    double sigma = 1.0;
    bool learn_sigma = false;
    double init_std = 0.01;
    bool init_visible_bias = true;
    std::string gradient = "pcd";
    int64_t k = 1;
    int64_t chains = 0;
    bool persistent_hidden = false;
    int64_t pt_temperatures = 10;
    double pt_min_beta = 0.0;
    double sparsity_target = 0.0;
    double sparsity_cost = 0.0;
    double sparsity_decay = 0.9;
    int64_t epochs = 5;
    std::string binarize = "threshold";
    double threshold = 0.5;
    std::string scaling = "standardize";
    int64_t n_train = 0;
    int64_t n_test = 0;
    int64_t validation = 5000;
    std::string label_column;
    void visit(config::Fields& f);
  } rbm;
  struct Eval {
    int64_t ais_runs = 100;
    int64_t ais_steps = 5000;
    std::string ais_schedule = "sm";
    bool ais_reverse = true;
    std::string ais_reverse_from = "forward";
    int64_t exact_max_units = 20;
    int64_t chain_steps = 1000;
    void visit(config::Fields& f);
  } eval;
  SampleConfig sample;
  RbmConfig();
  void visit(config::Fields& f) override;
};

class RbmMethod : public Method {
 public:
  explicit RbmMethod(RbmConfig config = {});
  std::string name() const override { return "rbm"; }
  RbmConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  RbmImpl& rbm() { return *rbm_; }
  RbmGradient& gradient() { return *gradient_; }
  /// Training / test rows as the RBM sees them ([N, ...]: binarised or standardised).
  const at::Tensor& train_data() const { return train_x_; }
  const at::Tensor& test_data() const { return test_x_; }

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  void load_data(at::Generator& gen);
  void preprocess(at::Generator& gen);
  at::Tensor to_data_space(const at::Tensor& v) const;
  at::Tensor display(const at::Tensor& v) const;
  at::Tensor fresh_chains(int64_t n, int64_t steps, at::Generator& gen, bool mean_last);
  void run_evaluation();

  RbmConfig config_;
  bool gaussian_ = false, binary_ = false;
  std::vector<int64_t> event_shape_;
  at::Tensor train_x_, valid_x_, test_x_;
  c10::optional<data::Standardizer> scaler_;
  Rbm rbm_{nullptr};
  std::shared_ptr<RbmGradient> gradient_;
  int64_t evaluated_step_ = -1;
  eval::Report report_;
  c10::optional<eval::RbmLogZResult> log_z_;
};

}  // namespace joule::methods
