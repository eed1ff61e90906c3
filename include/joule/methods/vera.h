#pragma once
// method = "vera": energy models trained without MCMC (Grathwohl et al., "No MCMC for me",
// arXiv:2010.04230): negatives from a generator trained to minimise KL(q ‖ p_θ) with VERA's
// entropy-gradient estimator (joule/objectives/vera.h, joule/models/generator.h).
//
// Two modes:
//  - an energy (vera.jem = false): an MLP energy on 2-D toy data, a CSV table or images,
//    evaluated like the EBM method (exact grid NLL and its gap to the entropy in 2-D, MMD of
//    generator samples, optionally MALA-refined, to held-out data);
//  - VERA-JEM (vera.jem = true): the classifiers of the JEM method trained with generator
//    negatives instead of SGLD, supervised or semi-supervised (vera.labels_per_class), with the
//    classification weight α and the unlabelled-entropy weight β; evaluated by the classifier
//    protocol of JEM, beside an eval.baseline run (e.g. SGLD-JEM) when given.

#include <c10/util/Optional.h>

#include "joule/core/density.h"
#include "joule/eval/protocols/density2d.h"
#include "joule/methods/data_config.h"
#include "joule/methods/method.h"
#include "joule/methods/network_config.h"
#include "joule/models/generator.h"
#include "joule/objectives/vera.h"

namespace joule::methods {

struct VeraConfig : MethodConfig {
  /// [data]: a 2-D toy set, a CSV table (its last column the label in JEM mode) or images.
  struct Data {
    std::string dataset = "8gaussians";
    std::string path;
    int64_t n_train = 0;  ///< 0: 50 000 toy points / every row
    int64_t n_test = 0;   ///< 0: 5 000 toy points / every row
    std::string label_column = "-1";
    double val_fraction = 0.1;
    double test_fraction = 0.2;
    int64_t drop_repeated = -1;  ///< −1: the table's own filter (5 for hepmass and human)
    void visit(config::Fields& f);
    bool points() const;  ///< a toy set, or a CSV table read as unlabelled points
    PointDataConfig point_config() const;
    LabelledDataConfig labelled_config() const;
  } data;
  /// [model]: the energy (an MLP, or a NICE flow: VERA's tractable-model check) or, with
  /// vera.jem, the classifier.
  struct Model : ClassifierConfig {
    int64_t couplings = 4;
    std::string base = "gaussian";
    void visit(config::Fields& f);
  } model;
  struct Generator {
    std::string net = "mlp";
    int64_t noise_dim = 2;
    int64_t width = 100;
    int64_t depth = 2;
    std::string output = "none";
    double init_sigma = 0.01;
    double init_posterior_sigma = 0.1;
    void visit(config::Fields& f);
  } generator;
  struct Vera {
    double entropy_weight = 1.0;
    double gradient_penalty = 0.1;
    double l2_data = 0.0;
    double l2_generated = 0.0;
    int64_t posterior_samples = 20;
    std::string estimator = "vera";
    double min_sigma = 0.01;
    double max_sigma = 0.3;
    bool learn_posterior = true;
    bool jem = false;
    double clf_weight = 1.0;
    double unlabelled_entropy_weight = 0.0;
    int64_t labels_per_class = -1;
    void visit(config::Fields& f);
  } vera;
  /// [optim.generator] and [optim.posterior]: the generator's and the proposal width's groups.
  struct Optim {
    OptimizerConfig generator, posterior;
    void visit(config::Fields& f) {
      f.section("generator", generator);
      f.section("posterior", posterior);
    }
  } optim;
  struct Eval : ClassifierEvalConfig {
    int64_t grid_resolution = 256;
    double extent = 0.0;
    int64_t n_samples = 2000;
    int64_t mala_steps = 0;
    double mala_step_size = 0.001;
    int64_t grid_n = 100;
    void visit(config::Fields& f);
  } eval;
  SampleConfig sample;
  VeraConfig();
  void visit(config::Fields& f) override;
};

class VeraMethod : public Method {
 public:
  explicit VeraMethod(VeraConfig config = {});
  std::string name() const override { return "vera"; }
  VeraConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  /// n generator samples (in eval mode), refined by sample.steps MALA steps on the energy with
  /// step eval.mala_step_size when sample.steps > 0.
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;
  ClassifierEnergyImpl* classifier() override { return classifier_; }

  VeraGeneratorImpl& generator() { return *generator_; }
  /// n samples of the generator (eval mode, no graph), optionally `mala_steps` MALA steps on.
  at::Tensor generate(int64_t n, int64_t mala_steps, at::Generator& gen);

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  struct EvalState {
    int64_t step = -1;
    std::string key;
    at::Tensor generated, refined;  // CPU
    c10::optional<eval::Density2dResult> grid;
    eval::ClassifierEvalResult result, baseline;
    bool has_baseline = false;
    double baseline_t = 1;
    std::string name, baseline_name;
  };
  const EvalState& eval_state();
  bool images() const { return event_shape_.size() == 3; }

  VeraConfig config_;
  std::vector<int64_t> event_shape_;
  PointData points_;       // energy mode on points
  LabelledData labelled_;  // JEM mode, or images
  data::Rows monitor_;
  int64_t classes_ = 0;
  EnergyModel* model_ = nullptr;
  ClassifierEnergyImpl* classifier_ = nullptr;
  VeraGenerator generator_{nullptr};
  double extent_ = 4.0;
  DensityModel* density_ = nullptr;  // model.kind = nice
  EvalState state_;
  RobustnessCache robust_;
  const RobustnessEvaluation& robustness();
};

}  // namespace joule::methods
