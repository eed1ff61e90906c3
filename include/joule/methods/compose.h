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

/// The options of a composition: the operator, the parts, and how it is sampled and scored.
/// The default sampler is JEM's SGLD scale on images in [−1, 1] (Langevin, 200 steps of size 1,
/// noise 0.01, clamped to [−1, 1]): the scale the class-conditional parts were trained with.
struct ComposeConfig {
  /// and (= sum): Σ w_i E_i / T_i, a product of experts (NOT = a negative weight); or
  /// (= logsumexp): −log Σ exp(−w_i E_i / T_i), a mixture.
  std::string op = "and";
  /// One composed energy: a run's E(x), or one class E(x, y) of a classifier run (a [[parts]] table).
  struct Part {
    Part() = default;
    /// The part `run_` (class `label_`, or −1 for E(x)) with weight `weight_`.
    Part(std::string run_, int64_t label_ = -1, double weight_ = 1.0) : run(std::move(run_)), label(label_), weight(weight_) {}
    std::string run;           ///< run folder or checkpoint of a trained model (any method with an energy)
    int64_t label = -1;        ///< class of a classifier run: the part is E(x, y = label); −1 = E(x)
    double weight = 1.0;       ///< w: the part enters as w·E/T; a negative weight is NOT
    double temperature = 1.0;  ///< T of this part (exp(−E/T) is its density)
    double log_weight = 0.0;   ///< OR: the part's log mixture weight (subtracted from its term)
    std::string name;          ///< a name for reports
    /// Declares the fields of one [[parts]] table.
    void visit(config::Fields& f);
  };
  std::vector<Part> parts;  ///< the composed energies ([[parts]] tables)
  RunConfig run;            ///< [run]: seed and device
  SamplerConfig sampler;    ///< [sampler]: the MCMC on the composed energy
  /// [sample]: the chains and where their samples go.
  struct Sample {
    int64_t n = 100;            ///< samples
    int64_t steps = 200;        ///< sampler steps from noise
    int64_t seed = 0;           ///< seed of the chains
    double init_low = -1.0;     ///< chains start from U(init_low, init_high)
    double init_high = 1.0;     ///< chains start from U(init_low, init_high)
    int64_t augment_every = 0;  ///< augment the chains every this many steps (0 = never; the reference: 20)
    /// Output prefix of the samples (.csv, .pt, .png) and the report (.json); `joule compose` requires it.
    std::string out;
    /// Declares the [sample] fields.
    void visit(config::Fields& f);
  } sample;  ///< [sample]
  /// [score]: a classifier run that labels the samples.
  struct Score {
    std::string run;               ///< the classifier run or checkpoint; empty = no scoring
    std::vector<int64_t> classes;  ///< the intended classes: the report gives the fraction in them
    /// Declares the [score] fields.
    void visit(config::Fields& f);
  } score;  ///< [score]
  /// The defaults, with JEM's SGLD scale for the sampler.
  ComposeConfig();
  /// Declares op, parts and the [run], [sampler], [sample] and [score] sections.
  void visit(config::Fields& f);
};

/// The loaded runs (kept alive: the parts borrow their models) and their composed energy.
struct Composition {
  std::vector<std::unique_ptr<Method>> runs;  ///< the loaded runs, each once
  std::shared_ptr<ComposedEnergy> energy;     ///< the composed energy of the parts
  std::vector<int64_t> event_shape;           ///< the shape of one sample, shared by every part
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
