#pragma once
// Composition of trained models (Du, Li, Mordatch, arXiv:2004.06030; improved CD's §4.4,
// `ICD:celeba_combine.py`): the energies of separately trained runs — whole models, or one class
// of a classifier run (E(x, y) of JEM / VERA-JEM) — combined by AND (sum), OR (log-sum-exp) and
// NOT (a negative weight), and sampled with any of Joule's samplers. A classifier run can score
// the samples (the fraction in the intended classes).
//
//   joule::methods::ComposeConfig cfg;                          // or read from TOML: [[parts]] ...
//   cfg.op = "or";
//   cfg.parts = {{"runs/jem", 7}, {"runs/jem", 5}};             // sneaker OR sandal
//   auto composition = joule::methods::build_composition(cfg);
//   auto result = joule::methods::sample_composition(composition, cfg);

#include <memory>
#include <string>
#include <vector>

#include "joule/eval/report.h"
#include "joule/methods/common.h"
#include "joule/methods/method.h"
#include "joule/models/compose.h"

namespace joule::methods {

struct ComposeConfig {
  std::string op = "and";
  struct Part {
    Part() = default;
    Part(std::string run_, int64_t label_ = -1, double weight_ = 1.0) : run(std::move(run_)), label(label_), weight(weight_) {}
    std::string run;
    int64_t label = -1;
    double weight = 1.0;
    double temperature = 1.0;
    double log_weight = 0.0;
    std::string name;
    void visit(config::Fields& f);
  };
  std::vector<Part> parts;
  RunConfig run;
  SamplerConfig sampler;
  struct Sample {
    int64_t n = 100;
    int64_t steps = 200;
    int64_t seed = 0;
    double init_low = -1.0;
    double init_high = 1.0;
    int64_t augment_every = 0;
    std::string out;
    void visit(config::Fields& f);
  } sample;
  struct Score {
    std::string run;
    std::vector<int64_t> classes;
    void visit(config::Fields& f);
  } score;
  ComposeConfig();
  void visit(config::Fields& f);
};

/// The loaded runs (kept alive: the parts borrow their models) and their composed energy.
struct Composition {
  std::vector<std::unique_ptr<Method>> runs;
  std::shared_ptr<ComposedEnergy> energy;
  std::vector<int64_t> event_shape;
};

/// Loads each part's run on `device` (a run used by several parts is loaded once), checks that
/// every part models samples of one shape, and builds the composed energy. Bad parts (no run, a
/// label on a run without classes, a class out of range) are ConfigErrors naming the part.
Composition build_composition(const ComposeConfig& config, torch::Device device = torch::kCPU);

/// What sample_composition() returns: the samples and, with a score run, the classifier's verdict.
struct CompositionSamples {
  at::Tensor x;           ///< [n, ...] on the CPU
  eval::Report report;    ///< energies, and with score.run: the fraction in score.classes, per-class fractions
};

/// Chains of sample.steps sampler steps from U(init_low, init_high) on the composed energy,
/// augmented every sample.augment_every steps (SimCLR-style transitions as in method icd's defaults).
CompositionSamples sample_composition(Composition& composition, const ComposeConfig& config);

}  // namespace joule::methods
