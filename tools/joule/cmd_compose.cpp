// joule compose CONFIG.toml [key=value ...]: samples from a composition of trained models
// (joule::methods::build_composition / sample_composition).
#include <fstream>

#include "joule/io/checkpoint.h"
#include "joule/methods/compose.h"
#include "joule/methods/run.h"
#include "tools/joule/args.h"
#include "tools/joule/commands.h"

namespace joule::cli {
namespace {

const char* kUsage =
    "usage: joule compose CONFIG.toml [key=value ...]\n"
    "\n"
    "Combines the energies of trained runs and samples from the result (docs/methods/improved_cd.md):\n"
    "  op = \"and\"   E = sum_i w_i E_i / T_i          (product of experts; a negative w_i is NOT)\n"
    "  op = \"or\"    E = -log sum_i exp(-w_i E_i / T_i)   (mixture)\n"
    "Each [[parts]] table names a run (any method with an energy) and, for a classifier run (JEM,\n"
    "VERA-JEM), a label: the part is then E(x, y = label). Writes sample.out + .csv/.pt/.png and a\n"
    "report sample.out + .json; with score.run (a classifier run) the report gives the fraction of\n"
    "samples in score.classes.\n"
    "\n"
    "Example (\"sneaker OR sandal\" from a JEM run on Fashion-MNIST):\n"
    "  op = \"or\"\n"
    "  [[parts]]\n"
    "  run = \"runs/jem\"\n"
    "  label = 7\n"
    "  [[parts]]\n"
    "  run = \"runs/jem\"\n"
    "  label = 5\n"
    "  [sample]\n"
    "  out = \"runs/sneaker-or-sandal\"\n"
    "\n";

}  // namespace

int cmd_compose(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  methods::ComposeConfig cfg;
  if (args.help) {
    out << kUsage << config::help_text(config::schema(config::visit_of(cfg)));
    return 0;
  }
  if (args.positional.size() > 1) throw UsageError("joule compose takes at most one config file");
  if (args.positional.empty() && args.overrides.empty()) throw UsageError("joule compose needs a config file (see --help)");
  config::read(config::visit_of(cfg), make_document(args.positional.empty() ? "" : args.positional[0], args, "compose"));
  if (cfg.sample.out.empty()) throw UsageError("no output: set sample.out (the prefix of the samples and the report)");
  for (const char* ext : {".csv", ".pt", ".png", ".json"}) methods::check_output_path(cfg.sample.out + ext, "", "sample.out");
  const torch::Device device = setup_runtime(cfg.run, err);
  auto composition = methods::build_composition(cfg, device);
  out << "composing " << composition.energy->parts().size() << " parts by " << to_string(composition.energy->op()) << ":";
  for (const auto& p : composition.energy->parts()) out << " " << p.name() << " (w=" << p.weight() << ", T=" << p.temperature() << ")";
  out << "\n";
  auto result = methods::sample_composition(composition, cfg);
  const auto files = methods::save_samples(result.x, cfg.sample.out);
  io::write_text_file(cfg.sample.out + ".json", result.report.to_json());
  for (const auto& f : files) out << "wrote " << f << "\n";
  out << "wrote " << cfg.sample.out << ".json\n";
  for (const auto& line : result.report.lines) out << "  " << line.name << " = " << line.value << "\n";
  return 0;
}

}  // namespace joule::cli
