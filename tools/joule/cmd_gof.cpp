// joule gof [MODEL] [SAMPLES.csv] [key=value ...]: goodness-of-fit of a model (a checkpoint or a
// built-in density) to a sample file, by the learned Stein discrepancy test and/or the kernel
// Stein discrepancy test. Prints the statistic, p-value and decision of each.
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "joule/core/runtime.h"
#include "joule/data/csv.h"
#include "joule/eval/gof.h"
#include "joule/eval/gof_benchmarks.h"
#include "joule/io/checkpoint.h"
#include "tools/joule/command_common.h"
#include "tools/joule/commands.h"
#include "tools/joule/pipeline_common.h"

namespace joule::cli {
namespace {

const char* kUsage =
    "usage: joule gof MODEL SAMPLES.csv [key=value ...]\n"
    "       joule gof gof.model=MODEL gof.samples=SAMPLES.csv [key=value ...]\n"
    "\n"
    "Tests H0: the rows of SAMPLES.csv are draws from MODEL. MODEL is a checkpoint or run folder of\n"
    "`joule train`, or a built-in density (gaussian, laplace, rbm-benchmark). Only the model's score\n"
    "grad log q(x) is used, so unnormalised models are fine. Tests (gof.test):\n"
    "  lsd  learned Stein discrepancy: a critic trained on one split, z-test on held-out rows\n"
    "  ksd  kernel Stein discrepancy: RBF kernel (median bandwidth), wild-bootstrap p-value\n"
    "A small p-value (below gof.alpha) rejects H0: the sample does not look like the model.\n"
    "See docs/methods/goodness_of_fit.md.\n";

// Keeps a restored run alive for as long as its score function is used.
struct ModelHandle {
  Restored run;
  eval::RbmBenchmark rbm;
  eval::ScoreFunction score;
  std::string description;
};

ModelHandle load_model(const Config& cfg, const std::string& spec, int64_t dim, torch::Device device) {
  ModelHandle h;
  const double mean = cfg.get_float("gof.mean"), sd = cfg.get_float("gof.std");
  if (spec == "gaussian") {
    h.score = [mean, sd](const at::Tensor& x) { return -(x - mean) / (sd * sd); };
    std::ostringstream os;
    os << "built-in gaussian N(" << mean << ", " << sd << "^2) in each of " << dim << " coordinates";
    h.description = os.str();
  } else if (spec == "laplace") {
    h.score = [mean, sd](const at::Tensor& x) { return -at::sign(x - mean) / sd; };
    std::ostringstream os;
    os << "built-in laplace(" << mean << ", " << sd << ") in each of " << dim << " coordinates";
    h.description = os.str();
  } else if (spec == "rbm-benchmark") {
    auto opts = eval::RbmBenchmarkOptions().sigma(cfg.get_float("gof.rbm_sigma"));
    if (dim != opts.visible()) {
      throw UsageError("gof.model = rbm-benchmark is 50-dimensional but the samples have " + std::to_string(dim) +
                       " columns");
    }
    h.rbm = eval::make_rbm_benchmark(opts, make_generator(static_cast<uint64_t>(cfg.get_int("gof.rbm_seed"))));
    h.score = eval::model_score(*h.rbm.q);
    h.description = "built-in rbm-benchmark (seed " + std::to_string(cfg.get_int("gof.rbm_seed")) + ", sigma " +
                    std::to_string(cfg.get_float("gof.rbm_sigma")) + ")";
  } else {
    namespace fs = std::filesystem;
    if (!fs::exists(spec)) {
      const std::string near = closest_match(spec, {"gaussian", "laplace", "rbm-benchmark"});
      throw UsageError("gof.model '" + spec + "' is neither a file or run folder nor a built-in (gaussian, laplace, "
                       "rbm-benchmark)" + (near.empty() ? "" : "; did you mean '" + near + "'?"));
    }
    h.run = restore_run(spec, device);
    auto& model = h.run.trainer->model();
    int64_t model_dim = 1;
    for (auto s : model.event_shape()) model_dim *= s;
    if (model_dim != dim) {
      throw UsageError("the model in '" + h.run.checkpoint + "' has " + std::to_string(model_dim) +
                       " input features but the samples have " + std::to_string(dim) + " columns");
    }
    auto shape = model.event_shape();
    EnergyModel* m = &model;
    m->eval();
    h.score = [m, shape, device](const at::Tensor& x) {
      std::vector<int64_t> full{x.size(0)};
      full.insert(full.end(), shape.begin(), shape.end());
      return score(*m, x.to(device).reshape(full)).reshape(x.sizes()).to(x.device());
    };
    h.description = h.run.checkpoint + " (method " + h.run.train_config.get_string("method") + ", step " +
                    std::to_string(h.run.trainer->step_count()) + ")";
  }
  return h;
}

std::string fmt(double v, int prec = 4) {
  std::ostringstream os;
  os << std::setprecision(prec) << v;
  return os.str();
}

}  // namespace

int cmd_gof(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  if (args.help) {
    out << kUsage << Registry::global().help("gof");
    return 0;
  }
  if (args.positional.size() > 2) throw UsageError("joule gof takes at most MODEL and SAMPLES as positional arguments");
  Config cfg("gof");
  if (!args.positional.empty()) cfg.set("gof.model", args.positional[0], "command line");
  if (args.positional.size() == 2) cfg.set("gof.samples", args.positional[1], "command line");
  apply_overrides(cfg, args);
  const std::string model_spec = cfg.get_string("gof.model"), samples_path = cfg.get_string("gof.samples");
  if (model_spec.empty()) throw UsageError("no model: pass MODEL (a checkpoint, run folder or built-in) or gof.model=...");
  if (samples_path.empty()) throw UsageError("no samples: pass SAMPLES.csv or gof.samples=...");
  if (cfg.get_float("gof.lsd_train_fraction") + cfg.get_float("gof.lsd_val_fraction") >= 1.0) {
    throw UsageError("gof.lsd_train_fraction + gof.lsd_val_fraction must be < 1 (the rest is the test split)");
  }
  const torch::Device device = setup_runtime(cfg, err);

  auto x = data::read_csv(samples_path).features;  // errors name file:line on bad rows, NaN, etc.
  const int64_t n = x.size(0), dim = x.size(1);
  if (n < 10) throw UsageError("'" + samples_path + "' has " + std::to_string(n) + " rows; a test needs at least 10");
  const uint64_t seed = static_cast<uint64_t>(cfg.get_int("run.seed"));
  auto gen = make_generator(seed);
  if (cfg.get_bool("gof.shuffle")) x = x.index_select(0, at::randperm(n, gen, at::TensorOptions().dtype(at::kLong)));
  ModelHandle model = load_model(cfg, model_spec, dim, device);

  const std::string which = cfg.get_string("gof.test");
  const double alpha = cfg.get_float("gof.alpha");
  out << "model:   " << model.description << "\n"
      << "samples: " << samples_path << " (" << n << " rows, " << dim << " columns)\n"
      << "H0: the samples are draws from the model; level alpha = " << alpha << "\n\n";
  std::vector<eval::GofResult> results;
  if (which == "lsd" || which == "both") {
    auto o = eval::LsdTestOptions()
                 .train_fraction(cfg.get_float("gof.lsd_train_fraction"))
                 .val_fraction(cfg.get_float("gof.lsd_val_fraction"))
                 .iterations(cfg.get_int("gof.lsd_iterations"))
                 .batch_size(cfg.get_int("gof.lsd_batch_size"))
                 .width(cfg.get_int("gof.lsd_width"))
                 .depth(cfg.get_int("gof.lsd_depth"))
                 .dropout(cfg.get_float("gof.lsd_dropout"))
                 .lr(cfg.get_float("gof.lsd_lr"))
                 .weight_decay(cfg.get_float("gof.lsd_weight_decay"))
                 .l2(cfg.get_float("gof.lsd_l2"))
                 .val_every(cfg.get_int("gof.lsd_val_every"))
                 .probe(parse_probe_kind(cfg.get_string("gof.lsd_probe")))
                 .alpha(alpha);
    results.push_back(eval::lsd_test(model.score, x, o, make_generator(derive_seed(seed, 1))));
  }
  if (which == "ksd" || which == "both") {
    auto o = eval::KsdTestOptions()
                 .bootstrap(cfg.get_int("gof.ksd_bootstrap"))
                 .bandwidth(cfg.get_float("gof.ksd_bandwidth"))
                 .alpha(alpha);
    results.push_back(eval::ksd_test(model.score, x, o, make_generator(derive_seed(seed, 2))));
  }

  out << std::left << std::setw(6) << "test" << std::setw(24) << "statistic" << std::setw(12) << "p-value"
      << "decision\n";
  std::ostringstream json;
  json << std::setprecision(10) << "{\n  \"model\": \"" << model_spec << "\",\n  \"samples\": \"" << samples_path
       << "\",\n  \"n\": " << n << ",\n  \"dim\": " << dim << ",\n  \"alpha\": " << alpha << ",\n  \"tests\": [";
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const std::string stat = (r.test == "lsd" ? "z = " : "n*KSD^2 = ") + fmt(r.statistic);
    out << std::left << std::setw(6) << r.test << std::setw(24) << stat << std::setw(12) << fmt(r.p_value, 3)
        << (r.reject ? "reject H0: the samples do not fit the model" : "no evidence against the model") << "\n";
    json << (i ? ",\n" : "\n") << "    {\"test\": \"" << r.test << "\", \"statistic\": " << r.statistic
         << ", \"p_value\": " << r.p_value << ", \"reject\": " << (r.reject ? "true" : "false");
    for (const auto& kv : r.details) json << ", \"" << kv.first << "\": " << kv.second;
    json << "}";
  }
  json << "\n  ]\n}\n";
  out << "\n";
  for (const auto& r : results) {
    out << r.test << ":";
    for (const auto& kv : r.details) out << " " << kv.first << "=" << fmt(kv.second);
    out << "\n";
  }
  if (!cfg.get_string("gof.out").empty()) {
    io::write_text_file(cfg.get_string("gof.out"), json.str());
    out << "wrote " << cfg.get_string("gof.out") << "\n";
  }
  return 0;
}

}  // namespace joule::cli
