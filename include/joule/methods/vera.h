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
#include "joule/methods/sample_quality.h"
#include "joule/models/generator.h"
#include "joule/objectives/vera.h"

namespace joule::methods {

/// The options of method "vera": [data], [model], [generator], [vera], [optim.generator],
/// [optim.posterior], [eval] and [sample], besides [run] and [train].
struct VeraConfig : MethodConfig {
  /// [data]: a 2-D toy set, a CSV table (its last column the label in JEM mode) or images.
  struct Data {
    /// A built-in 2-D toy set, csv (unlabelled points, or labelled rows with vera.jem), images
    /// (fashion-mnist, mnist, cifar10, cifar100) or the paper's tables hepmass, human, crop.
    std::string dataset = "8gaussians";
    std::string path;  ///< the CSV file, or the folder with the IDX / CIFAR / HEPMASS / HUMAN / CROP files
    int64_t n_train = 0;  ///< 0: 50 000 toy points / every row
    int64_t n_test = 0;   ///< 0: 5 000 toy points / every row
    std::string label_column = "-1";  ///< csv with vera.jem: label column (name or 0-based index; -1 = last)
    double val_fraction = 0.1;   ///< csv with vera.jem: fraction of rows held out for validation, in [0, 0.9]
    double test_fraction = 0.2;  ///< csv with vera.jem: fraction of rows held out for testing, in [0.01, 0.9]
    int64_t drop_repeated = -1;  ///< −1: the table's own filter (5 for hepmass and human)
    /// Declares the [data] fields.
    void visit(config::Fields& f);
    bool points() const;  ///< a toy set, or a CSV table read as unlabelled points
    /// The options of the point data (energy mode on points), the 0 defaults resolved.
    PointDataConfig point_config() const;
    /// The options of the labelled data (vera.jem, or images and tables).
    LabelledDataConfig labelled_config() const;
  } data;  ///< [data]
  /// [model]: the energy (an MLP, or a NICE flow: VERA's tractable-model check) or, with
  /// vera.jem, the classifier.
  struct Model : ClassifierConfig {
    int64_t couplings = 4;          ///< nice: additive coupling layers, 1..64 (width, depth: each coupling function)
    std::string base = "gaussian";  ///< nice: base distribution, gaussian | logistic
    /// Declares the [model] fields: the classifier's, kind nice added (not with vera.jem).
    void visit(config::Fields& f);
  } model;  ///< [model]
  /// [generator]: the generator q(x) = ∫ q(x|h) p(h) dh of the negatives, q(x|h) = N(g(h), σ²).
  struct Generator {
    /// mlp: Linear+BatchNorm+ReLU (VERA's small generator); large_mlp: with Softplus; conv:
    /// DCGAN-style for images; linear: g(h) = Wh + b (a Gaussian q).
    std::string net = "mlp";
    int64_t noise_dim = 2;         ///< latent dimension of h
    int64_t width = 100;           ///< hidden units (mlp) or base channels (conv)
    int64_t depth = 2;             ///< hidden layers (mlp), 1..64
    std::string output = "none";   ///< activation of g(h): none, tanh (images in [−1, 1]) or sigmoid
    double init_sigma = 0.01;      ///< initial σ of q(x|h)
    double init_posterior_sigma = 0.1;  ///< initial width of the posterior proposal
    /// VERA-JEM: a class-conditional generator q(x|y) (g reads [h, one_hot(y)]) trained against
    /// p(x|y) ∝ exp(f(x)[y]); its draws with y from the training labels' frequencies are the negatives.
    bool conditional = false;
    /// Declares the [generator] fields.
    void visit(config::Fields& f);
  } generator;  ///< [generator]
  /// [vera]: the objective's weights, the entropy-gradient estimator and the VERA-JEM mode.
  struct Vera {
    double entropy_weight = 1.0;    ///< λ: weight of the generator's entropy (0 = a mode-seeking generator)
    /// γ: weight of mean ‖∇ₓ log p̃(x_data)‖²/2 (0.1: the paper repository's toy setting).
    double gradient_penalty = 0.1;
    double l2_data = 0.0;           ///< weight of mean log p̃(x_data)²
    double l2_generated = 0.0;      ///< weight of mean log p̃(x_generated)²
    int64_t posterior_samples = 20; ///< K: importance samples of the entropy estimator
    std::string estimator = "vera"; ///< entropy gradient: vera (importance sampling) or hmc (PresGAN's)
    double min_sigma = 0.01;        ///< σ of q(x|h) is clamped to [min_sigma, max_sigma]
    double max_sigma = 0.3;         ///< upper clamp of σ (>= min_sigma)
    bool learn_posterior = true;    ///< train the proposal width on the ELBO ([optim.posterior])
    /// VERA-JEM: the model is a classifier on labelled data, evaluated by the classifier protocol.
    bool jem = false;
    double clf_weight = 1.0;        ///< α: weight of the cross-entropy (vera.jem)
    /// β: weight of the entropy of p(y|x) on the data (semi-supervised).
    double unlabelled_entropy_weight = 0.0;
    int64_t labels_per_class = -1;  ///< semi-supervised (vera.jem): labelled examples per class (-1 = all)
    /// Declares the [vera] fields.
    void visit(config::Fields& f);
  } vera;  ///< [vera]
  /// [optim.generator] and [optim.posterior]: the generator's and the proposal width's groups.
  struct Optim {
    /// @{
    /// The generator's group and the posterior proposal width's group (VERA: Adam lr 1e-3 and 0.02).
    OptimizerConfig generator, posterior;
    /// @}
    /// Declares [optim.generator] and [optim.posterior].
    void visit(config::Fields& f) {
      f.section("generator", generator);
      f.section("posterior", posterior);
    }
  } optim;  ///< [optim.generator] and [optim.posterior]
  /// [eval]: the energy mode's density protocol (2-D grid, MMD of generator samples) and, with
  /// vera.jem, the classifier protocol.
  struct Eval : ClassifierEvalConfig, QualityConfig {
    int64_t grid_resolution = 256;  ///< 2-D grid points per axis for log Z by quadrature, 16..4096
    double extent = 0.0;            ///< half-width of the square grid; 0 = the dataset's default
    int64_t n_samples = 2000;       ///< generator samples for MMD and pictures
    int64_t grid_n = 100;           ///< images in each sample grid, 1..1024
    /// Declares the [eval] fields, the classifier protocol's included.
    void visit(config::Fields& f);
  } eval;  ///< [eval]
  /// [refine]: the MCMC that moves generator samples on the energy, in the evaluation
  /// (refine.steps transitions; 0 = no refined samples) and in `joule sample` (sample.steps
  /// transitions). MALA at step 0.001 by default, as the VERA paper's refinement (arXiv:2010.04230
  /// §5.1); a cold Langevin chain (kind = "langevin", step_size = 1, noise = 0.01: JEM's SGLD)
  /// moves samples of a sharp energy where MALA rejects every proposal.
  SamplerConfig refine = [] {
    SamplerConfig s;
    s.kind = "mala";
    s.steps = 0;
    s.step_size = 0.001;
    return s;
  }();
  /// [sample]: generator samples, refined by sample.steps transitions of [refine] (0 here by
  /// default); VERA-JEM: sample.class = y draws generate_for_classes() for class y.
  ClassSampleConfig sample;
  /// VERA's defaults (VERA:train.py): an MLP 100 × 2 energy, batch 200, Adam β = (0, 0.9) at lr
  /// 1e-3 for the model and the generator (× 0.3 at 80% and 90% of the run), the proposal width's
  /// own Adam at 0.02, sample.steps = 0.
  VeraConfig();
  void visit(config::Fields& f) override;
};

/// Method "vera": an energy or a JEM classifier trained against a VERA generator instead of MCMC.
class VeraMethod : public Method {
 public:
  /// The method with `config` (VeraConfig()'s defaults if none).
  explicit VeraMethod(VeraConfig config = {});
  std::string name() const override { return "vera"; }
  VeraConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  /// n generator samples (in eval mode), refined by sample.steps transitions of the [refine]
  /// sampler on the energy when sample.steps > 0. With sample.class = y (VERA-JEM):
  /// generate_for_classes() for n copies of y, which needs sample.steps > 0 unless the generator
  /// is class-conditional.
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;
  ClassifierEnergyImpl* classifier() override { return classifier_; }

  /// The generator (after build()).
  VeraGeneratorImpl& generator() { return *generator_; }
  /// n samples of the generator (eval mode, no graph), then `refine_steps` transitions of the
  /// [refine] sampler (config().refine) on the energy (0 = none).
  at::Tensor generate(int64_t n, int64_t refine_steps, at::Generator& gen);
  /// VERA-JEM's class-conditional samples for the classes `y` [n] (int64): draws of q(x|y) with
  /// generator.conditional, else the generator's (unconditional) draws; then `refine_steps`
  /// transitions of the [refine] sampler on the class-conditional energy E(x, y) = −f(x)[y], which
  /// pull each sample towards its class. Needs a classifier (VERA-JEM), and refine_steps > 0 for
  /// an unconditional generator.
  at::Tensor generate_for_classes(const at::Tensor& y, int64_t refine_steps, at::Generator& gen);

 protected:
  Parts build_parts(torch::Device device) override;

 private:
  /// "<refine.steps> <kind> steps (step a[, noise b])": how refined samples were made, for reports.
  std::string refine_label() const;
  struct EvalState {
    int64_t step = -1;
    std::string key;
    at::Tensor generated, refined;  // CPU
    at::Tensor refined_class, intended;  // CPU; VERA-JEM with refine.steps > 0: generate_for_classes(intended)
    at::Tensor generated_class;          // CPU; generator.conditional: q(x|y) draws for the classes `intended`
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
