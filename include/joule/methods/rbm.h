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
#include "joule/methods/sample_quality.h"
#include "joule/models/rbm.h"
#include "joule/objectives/rbm_gradient.h"

namespace joule::methods {

/// The options of method "rbm": [data], [rbm], [eval] and [sample], besides [run] and [train].
struct RbmConfig : MethodConfig {
  /// [data]: the images or table the RBM is trained on.
  struct Data {
    /// fashion-mnist (Debian's copy, or data.path), mnist (data.path: the IDX files) or csv
    /// (data.path).
    std::string dataset = "fashion-mnist";
    std::string path;  ///< folder with the IDX files, or the CSV file
    /// Declares the [data] fields.
    void visit(config::Fields& f);
  } data;  ///< [data]
  /// [rbm]: the model, its gradient estimator and the data's preprocessing.
  struct Rbm {
    int64_t hidden = 256;  ///< hidden units H
    /// Visible units: bernoulli, or gaussian (Gaussian–Bernoulli RBM,
    /// E = Σ(v−b)²/2σ² − cᵀh − hᵀW(v/σ²)).
    std::string visible = "bernoulli";
    double sigma = 1.0;        ///< visible std σ of a Gaussian RBM (initial value if learned)
    bool learn_sigma = false;  ///< learn log σ² of Gaussian visibles (Cho et al. 2011)
    double init_std = 0.01;    ///< initial weights N(0, init_std²) (Hinton's guide: 0.01)
    /// Start the visible biases at the data's base rates (log p/(1−p); the mean for Gaussian).
    bool init_visible_bias = true;
    /// cd = CD-k from the data, pcd = persistent chains, pt = parallel tempering.
    std::string gradient = "pcd";
    int64_t k = 1;       ///< Gibbs sweeps per update (PT: sweep+swap rounds)
    int64_t chains = 0;  ///< persistent chains / PT replica sets (0 = train.batch_size)
    /// pcd keeps the chains' hidden samples between updates (sklearn's SML; one product fewer).
    bool persistent_hidden = false;
    int64_t pt_temperatures = 10;  ///< parallel tempering temperatures K, 2..1000
    double pt_min_beta = 0.0;      ///< smallest inverse temperature (β evenly spaced from 1), in [0, 1)
    double sparsity_target = 0.0;  ///< target mean hidden activation (0 = no sparsity term)
    double sparsity_cost = 0.0;    ///< weight of the sparsity term (Hinton's guide §11)
    double sparsity_decay = 0.9;   ///< decay of the moving average of hidden activations
    /// Passes over the training set; when > 0 it sets train.steps (0 = use train.steps, which
    /// RbmConfig() makes the default).
    int64_t epochs = 5;
    /// Bernoulli: pixels > rbm.threshold → 1 (threshold), one Bernoulli(pixel) draw (stochastic),
    /// or keep [0, 1] (none).
    std::string binarize = "threshold";
    double threshold = 0.5;  ///< binarisation threshold on [0, 1] pixels
    /// Gaussian: standardize (per-feature, fitted on the training split) or none.
    std::string scaling = "standardize";
    int64_t n_train = 0;  ///< training images used, the first n of the train split (0 = all)
    int64_t n_test = 0;   ///< test images used (0 = all); csv: held-out rows (0 = 20%)
    int64_t validation = 5000;  ///< training rows held out for validation (csv: at most 10%)
    std::string label_column;   ///< csv: a label column to drop (name or 0-based index; "" = none)
    /// Declares the [rbm] fields.
    void visit(config::Fields& f);
  } rbm;  ///< [rbm]
  /// [eval]: log Z by AIS (forward and reverse) or exactly, and the sampling chains.
  struct Eval : QualityConfig {
    int64_t ais_runs = 100;     ///< AIS runs (importance weights) for log Z (>= 2)
    int64_t ais_steps = 5000;   ///< AIS intermediate distributions (Salakhutdinov & Murray use 14500)
    /// AIS β spacing: sm (denser near β = 1, as Salakhutdinov & Murray 2008) or linear.
    std::string ais_schedule = "sm";
    /// Also run reverse AIS from model samples (an upper estimate; a gap = unreliable AIS).
    bool ais_reverse = true;
    /// Reverse AIS starts from the forward runs' final states resampled by weight (forward), or
    /// from the training chains (chains; PCD/PT, else test rows), then eval.chain_steps Gibbs sweeps.
    std::string ais_reverse_from = "forward";
    /// Compute exact log Z when the smaller layer has at most this many units (2^units states; 0..30).
    int64_t exact_max_units = 20;
    int64_t chain_steps = 1000;  ///< Gibbs sweeps before reverse AIS and for the sample picture
    /// Declares the [eval] fields.
    void visit(config::Fields& f);
  } eval;  ///< [eval]
  SampleConfig sample;  ///< [sample]: Gibbs chains from the persistent chains or fresh starts
  /// Hinton's guide and sklearn's BernoulliRBM: SGD (lr 0.05, linear decay, momentum 0.5, weight
  /// decay 1e-4) at batch 20 for 13 750 steps (5 epochs of 55 000 Fashion-MNIST rows), rbm.epochs = 0.
  RbmConfig();
  void visit(config::Fields& f) override;
};

/// Method "rbm": a Bernoulli or Gaussian–Bernoulli RBM trained by CD-k, PCD or parallel
/// tempering, evaluated by pseudo-likelihood, reconstruction error and log Z (exact or AIS).
class RbmMethod : public Method {
 public:
  /// The method with `config` (RbmConfig()'s defaults if none).
  explicit RbmMethod(RbmConfig config = {});
  std::string name() const override { return "rbm"; }
  RbmConfig& config() override { return config_; }

  eval::Report evaluate() override;
  std::vector<std::string> pictures(const std::string& prefix) override;
  torch::Tensor sample() override;
  void add_callbacks(const Monitor& monitor) override;

  /// The RBM (after build()).
  RbmImpl& rbm() { return *rbm_; }
  /// The CD / PCD / PT gradient estimator and its persistent chains (after build()).
  RbmGradient& gradient() { return *gradient_; }
  /// Training / test rows as the RBM sees them ([N, ...]: binarised or standardised).
  const at::Tensor& train_data() const { return train_x_; }
  /// Test rows, preprocessed like train_data().
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
  void add_sample_quality(eval::Report& r);

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
