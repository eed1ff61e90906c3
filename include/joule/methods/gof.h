#pragma once
// Goodness of fit as a library object: does a sample come from a model? The learned Stein
// discrepancy test (arXiv:2002.05616 §5) and the kernel Stein discrepancy test (arXiv:1602.03253)
// of a trained run (any method with an energy) or a built-in density, with typed options ([gof]).
//
//   joule::methods::GofConfig cfg;
//   cfg.gof.model = "runs/default";          // or "gaussian", "laplace", "rbm-benchmark"
//   joule::methods::GofTest test(cfg);
//   auto report = test.run(samples);         // samples [n, D]
//   report.results[0].p_value;

#include <memory>
#include <string>
#include <vector>

#include "joule/config/options.h"
#include "joule/eval/gof.h"
#include "joule/eval/gof_benchmarks.h"
#include "joule/methods/common.h"
#include "joule/methods/method.h"

namespace joule::methods {

/// The options of a goodness-of-fit test: [run] (the seed) and [gof].
struct GofConfig {
  RunConfig run;  ///< [run]: run.seed seeds the shuffle and the tests
  /// [gof]: the model, the samples and the two tests' settings.
  struct Gof {
    /// The model to test: a checkpoint or run folder, or a built-in density: gaussian
    /// (N(mean, std²) per coordinate), laplace (location mean, scale std), rbm-benchmark (the LSD
    /// paper's perturbed 50x40 RBM: rbm_seed, rbm_sigma).
    std::string model;
    std::string samples;         ///< `joule gof`: CSV file with one sample per row (GofTest::run() takes a tensor)
    std::string test = "both";   ///< which test(s) to run: lsd | ksd | both
    double alpha = 0.05;         ///< level α of the test
    bool shuffle = true;         ///< shuffle the rows (seeded) before the LSD train/val/test split
    std::string out;             ///< `joule gof`: write the results as JSON to this file ("" = nowhere)
    double mean = 0.0;           ///< built-in gaussian/laplace: location of every coordinate
    double std = 1.0;            ///< built-in gaussian: standard deviation; laplace: scale
    int64_t rbm_seed = 1;        ///< built-in rbm-benchmark: seed of B, b, c and the perturbation
    double rbm_sigma = 0.0;      ///< built-in rbm-benchmark: std of the perturbation of B
    int64_t ksd_bootstrap = 1000;  ///< KSD: wild-bootstrap draws
    double ksd_bandwidth = 0.0;    ///< KSD: RBF bandwidth (0 = median heuristic)
    double lsd_train_fraction = 0.8;  ///< LSD: fraction of the rows that trains the critic
    double lsd_val_fraction = 0.1;    ///< LSD: fraction that selects the critic (the rest is the test split)
    int64_t lsd_iterations = 1000;    ///< LSD: critic training steps
    int64_t lsd_batch_size = 800;     ///< LSD: critic minibatch (capped at the training split)
    int64_t lsd_width = 300;          ///< LSD: critic hidden units
    int64_t lsd_depth = 2;            ///< LSD: critic hidden layers (1 to 64)
    double lsd_dropout = 0.5;         ///< LSD: critic dropout, in [0, 0.99]
    double lsd_lr = 1e-3;             ///< LSD: critic Adam learning rate
    double lsd_weight_decay = 5e-4;   ///< LSD: critic weight decay
    double lsd_l2 = 0.5;              ///< LSD: λ of the λ‖f‖² penalty
    int64_t lsd_val_every = 100;      ///< LSD: steps between validations (exact trace)
    /// LSD: also validate after the last step (false: only at multiples of lsd_val_every, as
    /// lsd_test.py).
    bool lsd_validate_last = true;
    std::string lsd_probe = "gaussian";  ///< LSD: Hutchinson probes in training: gaussian | rademacher
    /// Declares the [gof] fields.
    void visit(config::Fields& f);
    /// The LSD test's options from the lsd_* fields and alpha.
    eval::LsdTestOptions lsd_options() const;
    /// The KSD test's options from the ksd_* fields and alpha.
    eval::KsdTestOptions ksd_options() const;
  } gof;  ///< [gof]
  /// Declares the [run] and [gof] sections.
  void visit(config::Fields& f);
};

/// The outcome of GofTest::run().
struct GofReport {
  std::string model;        ///< gof.model as given
  std::string description;  ///< what was tested, in words
  /// @{
  int64_t n = 0, dim = 0;   ///< rows and columns of the sample
  /// @}
  double alpha = 0.05;      ///< the tests' level α (gof.alpha)
  std::vector<eval::GofResult> results;  ///< lsd and/or ksd
  /// Strict JSON (NaN as null).
  std::string to_json(const std::string& samples_name) const;
};

/// A goodness-of-fit test of samples against a model: the learned Stein discrepancy test and/or the
/// kernel Stein discrepancy test, as GofConfig says.
class GofTest {
 public:
  /// A test with these options; the model is loaded at the first run() (and again when the
  /// samples' dimension changes).
  explicit GofTest(GofConfig config = {});
  /// The typed options, validated at each run().
  GofConfig& config() { return config_; }
  /// Runs the configured tests on `samples` [n, D] (shuffled with run.seed when gof.shuffle). The
  /// model is loaded on `device` at the first call. A ConfigError for a bad model or sample shape.
  GofReport run(const at::Tensor& samples, torch::Device device = torch::kCPU);

 private:
  void load_model(int64_t dim, torch::Device device);

  GofConfig config_;
  std::unique_ptr<Method> run_;
  eval::RbmBenchmark rbm_;
  eval::ScoreFunction score_;
  std::string description_;
  int64_t dim_ = -1;
};

}  // namespace joule::methods
