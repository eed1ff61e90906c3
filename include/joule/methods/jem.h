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
#include "joule/methods/sample_quality.h"
#include "joule/models/classifier_energy.h"
#include "joule/objectives/jem.h"

namespace joule::methods {

/// The options of method = "jem". Defaults: JEM's optimisation (`JEM:train_wrn_ebm.py`: Adam, lr
/// 1e-4, 1000 warm-up steps, batch 64) for 10 epochs of Fashion-MNIST (9370 steps), JEM's SGLD and buffer.
struct JemConfig : MethodConfig {
  LabelledDataConfig data;  ///< [data]: the labelled examples
  ClassifierConfig model;   ///< [model]: the classifier network
  /// [jem]: the terms of the joint objective.
  struct Jem {
    double px_weight = 1.0;   ///< weight of the generative term log p(x) (0 = cross-entropy-only baseline)
    double py_weight = 1.0;   ///< weight of the cross-entropy term log p(y|x)
    /// Weight of log p(x|y) with class-conditional chains (class buckets of the buffer, so
    /// buffer.capacity must be a multiple of the classes).
    double pxy_weight = 0.0;
    double data_noise = 0.03;  ///< std of Gaussian noise added to training and test inputs (JEM: 0.03)
    /// Semi-supervised: labelled examples per class (−1 = all labelled); the generative term uses all data.
    int64_t labels_per_class = -1;
    /// Declares the [jem] fields.
    void visit(config::Fields& f);
  } jem;  ///< [jem]
  SamplerConfig sampler = SamplerConfig::jem();  ///< [sampler]: JEM's SGLD by default
  BufferConfig buffer = BufferConfig::jem();     ///< [buffer]: JEM's persistent chains by default
  /// [objective]: the energy penalty.
  struct Objective {
    double l2_energy = 0.1;  ///< α of the L2 penalty on the energies of data and samples (the JEM author suggests 0.1)
    /// Declares the [objective] fields.
    void visit(config::Fields& f);
  } objective;  ///< [objective]
  /// [eval]: the classifier protocol's options plus JEM's sample grids and read-outs.
  struct Eval : ClassifierEvalConfig, QualityConfig {
    int64_t grid_n = 100;       ///< images in each sample grid (1 to 1024)
    double temperature = 0.0;   ///< temperature of log p̃(x) read-outs; 0 = model T × sampler T
    int64_t chain_steps = 200;  ///< SGLD steps of the fresh chains in the sample grids
    /// Buffer samples for pictures and quality come from chains with at least this many runs
    /// since their last restart (ReplayBuffer::updates); 0 = every chain.
    int64_t buffer_min_updates = 10;
    /// Steps between sample-quality scores of the mature buffer chains during training, logged to
    /// metrics.jsonl (needs feature_run; 0 = off): a buffer collapsing into a few classes shows
    /// as it happens.
    int64_t quality_every = 0;
    /// Declares the [eval] fields, the classifier protocol's included.
    void visit(config::Fields& f);
  } eval;  ///< [eval]
  ClassSampleConfig sample;  ///< [sample]: the common sampling options plus the class
  /// The defaults, with JEM's [train] settings and a divergence guard tuned to its energies.
  JemConfig();
  void visit(config::Fields& f) override;
};

/// A classifier trained as a joint energy model with SGLD negatives from persistent chains
/// (method = "jem"), or by cross-entropy only (jem.px_weight = 0) as the baseline in the same
/// harness; supervised or semi-supervised (jem.labels_per_class).
class JemMethod : public Method {
 public:
  /// A method with these options; nothing is loaded until build().
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
  /// The joint objective (valid after build()).
  Jem& objective() { return *jem_; }
  /// The number of classes of the loaded data (0 before build()).
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
  /// Fresh states for class-conditional chains of classes `y` [n]: with buffer.init =
  /// class_gaussian each starts at its own class's Gaussian.
  at::Tensor init_states(const at::Tensor& y, at::Generator& gen);

  const RobustnessEvaluation& robustness();
  /// The sample-quality lines (eval.feature_run): buffer, fresh and class-conditional chains.
  void add_sample_quality(eval::Report& r);
  /// Scores `n` random mature buffer chains in `quality`'s feature space (labelled by
  /// intended_classes()), drawn with `gen`; the buffer is only read.
  QualityScores score_mature_buffer(SampleQuality& quality, int64_t n, at::Generator& gen);
  /// Slots of buffer chains with at least eval.buffer_min_updates runs (all when too few).
  at::Tensor mature_buffer_slots();
  /// The model's own class (argmax f(x)) of each state [n, ...], as int64 on the device.
  at::Tensor model_labels(const at::Tensor& x);
  /// The class buffer chains at `slots` (states `x`) were drawn for: their class bucket when
  /// p(x|y) is trained, else the model's own argmax.
  at::Tensor intended_classes(const at::Tensor& slots, const at::Tensor& x);

  JemConfig config_;
  RobustnessCache robust_;
  LabelledData data_;
  data::Rows monitor_;
  int64_t classes_ = 0;
  ClassifierEnergyImpl* classifier_ = nullptr;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<ReplayBuffer> buffer_;
  std::shared_ptr<Jem> jem_;
  std::shared_ptr<SampleQuality> quality_watch_;  ///< eval.quality_every's scorer, made at its first call
  EvalState state_;
};

}  // namespace joule::methods
