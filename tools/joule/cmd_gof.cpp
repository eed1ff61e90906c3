// joule gof [MODEL] [SAMPLES.csv] [key=value ...]: goodness of fit of a model (a run or a built-in
// density) to a sample file by the LSD and/or KSD tests (joule::methods::GofTest).
#include <iomanip>

#include "joule/data/csv.h"
#include "joule/io/checkpoint.h"
#include "joule/io/plot.h"
#include "joule/methods/gof.h"
#include "tools/joule/args.h"
#include "tools/joule/commands.h"

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

}  // namespace

int cmd_gof(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  methods::GofConfig cfg;
  if (args.help) {
    out << kUsage << config::help_text(config::schema(config::visit_of(cfg)));
    return 0;
  }
  if (args.positional.size() > 2) throw UsageError("joule gof takes at most MODEL and SAMPLES as positional arguments");
  if (!args.positional.empty()) args.overrides.insert(args.overrides.begin(), {"gof.model", args.positional[0]});
  if (args.positional.size() == 2) args.overrides.insert(args.overrides.begin() + 1, {"gof.samples", args.positional[1]});
  config::read(config::visit_of(cfg), make_document("", args, "gof"));
  if (cfg.gof.model.empty()) throw UsageError("no model: pass MODEL (a checkpoint, run folder or built-in) or gof.model=...");
  if (cfg.gof.samples.empty()) throw UsageError("no samples: pass SAMPLES.csv or gof.samples=...");
  const torch::Device device = setup_runtime(cfg.run, err);
  auto x = data::read_csv(cfg.gof.samples).features;  // errors name file:line on bad rows, NaN, etc.
  methods::GofTest test(cfg);
  out << "samples: " << cfg.gof.samples << " (" << x.size(0) << " rows, " << x.size(1) << " columns)\n";
  const auto report = test.run(x, device);
  out << "model:   " << report.description << "\n"
      << "H0: the samples are draws from the model; level alpha = " << report.alpha << "\n\n"
      << std::left << std::setw(6) << "test" << std::setw(24) << "statistic" << std::setw(12) << "p-value" << "decision\n";
  for (const auto& r : report.results) {
    const std::string stat = (r.test == "lsd" ? "z = " : "n*KSD^2 = ") + io::format_number(r.statistic, 4);
    out << std::left << std::setw(6) << r.test << std::setw(24) << stat << std::setw(12) << io::format_number(r.p_value, 3)
        << (r.reject ? "reject H0: the samples do not fit the model" : "no evidence against the model") << "\n";
  }
  out << "\n";
  for (const auto& r : report.results) {
    out << r.test << ":";
    for (const auto& kv : r.details) out << " " << kv.first << "=" << io::format_number(kv.second, 4);
    out << "\n";
  }
  if (!cfg.gof.out.empty()) {
    io::write_text_file(cfg.gof.out, report.to_json(cfg.gof.samples));
    out << "wrote " << cfg.gof.out << "\n";
  }
  return 0;
}

}  // namespace joule::cli
