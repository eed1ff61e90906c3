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

struct GofConfig {
  RunConfig run;
  struct Gof {
    std::string model;
    std::string samples;
    std::string test = "both";
    double alpha = 0.05;
    bool shuffle = true;
    std::string out;
    double mean = 0.0;
    double std = 1.0;
    int64_t rbm_seed = 1;
    double rbm_sigma = 0.0;
    int64_t ksd_bootstrap = 1000;
    double ksd_bandwidth = 0.0;
    double lsd_train_fraction = 0.8;
    double lsd_val_fraction = 0.1;
    int64_t lsd_iterations = 1000;
    int64_t lsd_batch_size = 800;
    int64_t lsd_width = 300;
    int64_t lsd_depth = 2;
    double lsd_dropout = 0.5;
    double lsd_lr = 1e-3;
    double lsd_weight_decay = 5e-4;
    double lsd_l2 = 0.5;
    int64_t lsd_val_every = 100;
    bool lsd_validate_last = true;
    std::string lsd_probe = "gaussian";
    void visit(config::Fields& f);
  } gof;
  void visit(config::Fields& f);
};

/// The outcome of GofTest::run().
struct GofReport {
  std::string model;        ///< gof.model as given
  std::string description;  ///< what was tested, in words
  int64_t n = 0, dim = 0;   ///< rows and columns of the sample
  double alpha = 0.05;
  std::vector<eval::GofResult> results;  ///< lsd and/or ksd
  /// Strict JSON (NaN as null).
  std::string to_json(const std::string& samples_name) const;
};

class GofTest {
 public:
  explicit GofTest(GofConfig config = {});
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
