#include "joule/methods/gof.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "joule/core/runtime.h"
#include "joule/methods/run.h"

namespace joule::methods {

using config::ConfigError;
using config::Doc;

void GofConfig::Gof::visit(config::Fields& f) {
  f("model", model,
    "model to test: a checkpoint or run folder, or a built-in density: gaussian (N(gof.mean, gof.std²) per coordinate), "
    "laplace (location gof.mean, scale gof.std), rbm-benchmark (the LSD paper's perturbed 50x40 RBM: gof.rbm_seed, "
    "gof.rbm_sigma)");
  f("samples", samples, "CSV file with one sample per row (numeric columns, optional header)");
  f("test", test, Doc("which test(s) to run").choices({"lsd", "ksd", "both"}));
  f("alpha", alpha, Doc("level α of the test").min(1e-9).max(0.999999));
  f("shuffle", shuffle, "shuffle the rows (seeded) before the LSD train/val/test split");
  f("out", out, "write the results as JSON to this file");
  f("mean", mean, "built-in gaussian/laplace: location of every coordinate");
  f("std", std, Doc("built-in gaussian: standard deviation; laplace: scale").min(1e-12));
  f("rbm_seed", rbm_seed, Doc("built-in rbm-benchmark: seed of B, b, c and the perturbation").min(0));
  f("rbm_sigma", rbm_sigma, Doc("built-in rbm-benchmark: std of the perturbation of B").min(0.0));
  f("ksd_bootstrap", ksd_bootstrap, Doc("KSD: wild-bootstrap draws").min(1));
  f("ksd_bandwidth", ksd_bandwidth, Doc("KSD: RBF bandwidth (0 = median heuristic)").min(0.0));
  f("lsd_train_fraction", lsd_train_fraction, Doc("LSD: fraction of the rows that trains the critic").min(0.01).max(0.98));
  f("lsd_val_fraction", lsd_val_fraction, Doc("LSD: fraction that selects the critic (the rest is the test split)").min(0.01).max(0.98));
  f("lsd_iterations", lsd_iterations, Doc("LSD: critic training steps").min(1));
  f("lsd_batch_size", lsd_batch_size, Doc("LSD: critic minibatch (capped at the training split)").min(2));
  f("lsd_width", lsd_width, Doc("LSD: critic hidden units").min(1));
  f("lsd_depth", lsd_depth, Doc("LSD: critic hidden layers").min(1).max(64));
  f("lsd_dropout", lsd_dropout, Doc("LSD: critic dropout").min(0.0).max(0.99));
  f("lsd_lr", lsd_lr, Doc("LSD: critic Adam learning rate").min(1e-12));
  f("lsd_weight_decay", lsd_weight_decay, Doc("LSD: critic weight decay").min(0.0));
  f("lsd_l2", lsd_l2, Doc("LSD: λ of the λ‖f‖² penalty").min(0.0));
  f("lsd_val_every", lsd_val_every, Doc("LSD: steps between validations (exact trace)").min(1));
  f("lsd_validate_last", lsd_validate_last,
    "LSD: also validate after the last step (false: only at multiples of lsd_val_every, as lsd_test.py)");
  f("lsd_probe", lsd_probe, Doc("LSD: Hutchinson probes in training").choices({"gaussian", "rademacher"}));
}

void GofConfig::visit(config::Fields& f) {
  f.section("run", run);
  f.section("gof", gof);
}

std::string GofReport::to_json(const std::string& samples_name) const {
  nlohmann::ordered_json j;
  j["model"] = model;
  j["description"] = description;
  j["samples"] = samples_name;
  j["n"] = n;
  j["dim"] = dim;
  j["alpha"] = alpha;
  auto number = [](double v) -> nlohmann::ordered_json { return std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr; };
  auto tests = nlohmann::ordered_json::array();
  for (const auto& r : results) {
    nlohmann::ordered_json t;
    t["test"] = r.test;
    t["statistic"] = number(r.statistic);
    t["p_value"] = number(r.p_value);
    t["reject"] = r.reject;
    for (const auto& kv : r.details) t[kv.first] = number(kv.second);
    tests.push_back(t);
  }
  j["tests"] = tests;
  return j.dump(2) + "\n";
}

eval::LsdTestOptions GofConfig::Gof::lsd_options() const {
  return eval::LsdTestOptions()
      .train_fraction(lsd_train_fraction)
      .val_fraction(lsd_val_fraction)
      .iterations(lsd_iterations)
      .batch_size(lsd_batch_size)
      .width(lsd_width)
      .depth(lsd_depth)
      .dropout(lsd_dropout)
      .lr(lsd_lr)
      .weight_decay(lsd_weight_decay)
      .l2(lsd_l2)
      .val_every(lsd_val_every)
      .validate_last(lsd_validate_last)
      .probe(parse_probe_kind(lsd_probe))
      .alpha(alpha);
}

eval::KsdTestOptions GofConfig::Gof::ksd_options() const {
  return eval::KsdTestOptions().bootstrap(ksd_bootstrap).bandwidth(ksd_bandwidth).alpha(alpha);
}

GofTest::GofTest(GofConfig config) : config_(std::move(config)) {}

void GofTest::load_model(int64_t dim, torch::Device device) {
  const auto& g = config_.gof;
  const std::string& spec = g.model;
  if (spec.empty()) throw ConfigError("no model: pass MODEL (a checkpoint, run folder or built-in) or gof.model=...");
  const double mean = g.mean, sd = g.std;
  std::ostringstream os;
  if (spec == "gaussian") {
    score_ = [mean, sd](const at::Tensor& x) { return -(x - mean) / (sd * sd); };
    os << "built-in gaussian N(" << mean << ", " << sd << "^2) in each of " << dim << " coordinates";
  } else if (spec == "laplace") {
    score_ = [mean, sd](const at::Tensor& x) { return -at::sign(x - mean) / sd; };
    os << "built-in laplace(" << mean << ", " << sd << ") in each of " << dim << " coordinates";
  } else if (spec == "rbm-benchmark") {
    auto opts = eval::RbmBenchmarkOptions().sigma(g.rbm_sigma);
    if (dim != opts.visible()) {
      throw ConfigError("gof.model = rbm-benchmark is " + std::to_string(opts.visible()) + "-dimensional but the samples have " +
                        std::to_string(dim) + " columns");
    }
    rbm_ = eval::make_rbm_benchmark(opts, make_generator(static_cast<uint64_t>(g.rbm_seed)));
    score_ = eval::model_score(*rbm_.q);
    os << "built-in rbm-benchmark (seed " << g.rbm_seed << ", sigma " << g.rbm_sigma << ")";
  } else {
    namespace fs = std::filesystem;
    if (!fs::exists(spec)) {
      const std::string near = config::closest_match(spec, {"gaussian", "laplace", "rbm-benchmark"});
      throw ConfigError("gof.model '" + spec + "' is neither a file or run folder nor a built-in (gaussian, laplace, rbm-benchmark)" +
                        (near.empty() ? "" : "; did you mean '" + near + "'?"));
    }
    run_ = load(spec, device);
    auto& model = run_->trainer().model();
    int64_t model_dim = 1;
    for (auto s : model.event_shape()) model_dim *= s;
    if (model_dim != dim) {
      throw ConfigError("the model in '" + spec + "' has " + std::to_string(model_dim) + " input features but the samples have " +
                        std::to_string(dim) + " columns");
    }
    auto shape = model.event_shape();
    EnergyModel* m = &model;
    m->eval();
    score_ = [m, shape, device](const at::Tensor& x) {
      std::vector<int64_t> full{x.size(0)};
      full.insert(full.end(), shape.begin(), shape.end());
      return score(*m, x.to(device).reshape(full)).reshape(x.sizes()).to(x.device());
    };
    os << resolve_checkpoint(spec) << " (method " << run_->name() << ", step " << run_->trainer().step_count() << ")";
  }
  description_ = os.str();
  dim_ = dim;
}

GofReport GofTest::run(const at::Tensor& samples, torch::Device device) {
  const auto& g = config_.gof;
  config::validate(config::visit_of(config_));
  if (g.lsd_train_fraction + g.lsd_val_fraction >= 1.0) {
    throw ConfigError("gof.lsd_train_fraction + gof.lsd_val_fraction must be < 1 (the rest is the test split)");
  }
  TORCH_CHECK(samples.dim() == 2, "GofTest::run: samples must be [n, D], got ", samples.sizes());
  const int64_t n = samples.size(0), dim = samples.size(1);
  if (n < 10) throw ConfigError("the sample has " + std::to_string(n) + " rows; a test needs at least 10");
  if (dim_ != dim) load_model(dim, device);
  const uint64_t seed = static_cast<uint64_t>(config_.run.seed);
  auto gen = make_generator(seed);
  at::Tensor x = samples;
  if (g.shuffle) x = x.index_select(0, at::randperm(n, gen, at::TensorOptions().dtype(at::kLong)));
  GofReport report;
  report.model = g.model;
  report.description = description_;
  report.n = n;
  report.dim = dim;
  report.alpha = g.alpha;
  if (g.test == "lsd" || g.test == "both") {
    report.results.push_back(eval::lsd_test(score_, x, g.lsd_options(), make_generator(derive_seed(seed, 1))));
  }
  if (g.test == "ksd" || g.test == "both") {
    report.results.push_back(eval::ksd_test(score_, x, g.ksd_options(), make_generator(derive_seed(seed, 2))));
  }
  return report;
}

}  // namespace joule::methods
