// joule eval RUN [eval.key=value ...]: evaluates a saved model and writes the report.
#include <filesystem>

#include "joule/io/checkpoint.h"
#include "joule/methods/run.h"
#include "tools/joule/args.h"
#include "tools/joule/commands.h"

namespace joule::cli {

int cmd_eval(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  if (args.help) {
    out << "usage: joule eval CHECKPOINT|RUN_FOLDER [eval.key=value ...]\n\n"
           "Evaluates a trained model with its method's protocol (2-D models: log Z by quadrature, test NLL\n"
           "and its gap to the data entropy, MMD; RBMs: exact and AIS log Z; JEM: accuracy, calibration,\n"
           "OOD AUROCs, optionally beside eval.baseline=OTHER_RUN), prints the table and writes\n"
           "eval-step<N>.json and pictures next to the checkpoint (with eval.out=DIR/NAME.json: DIR/NAME.json and\n"
           "DIR/NAME-<picture>.png). The run's saved eval.* options are the\n"
           "defaults; 'joule train method=NAME --help' lists them. VERA also takes refine.* (the sampler that\n"
           "moves generator samples).\n";
    return 0;
  }
  if (args.positional.size() != 1) throw UsageError("joule eval needs exactly one CHECKPOINT or RUN_FOLDER");
  std::string out_path;
  for (auto it = args.overrides.begin(); it != args.overrides.end();) {
    if (it->first == "eval.out") {
      out_path = it->second;
      it = args.overrides.erase(it);
    } else {
      ++it;
    }
  }
  const std::string checkpoint = methods::resolve_checkpoint(args.positional[0]);
  if (!out_path.empty()) methods::check_output_path(out_path, checkpoint, "eval.out");  // before any work
  const auto overrides = make_document("", args, "eval", {"eval.", "refine.", "run.device", "run.threads", "run.progress"});
  auto config = methods::saved_config(args.positional[0]);
  config.merge(overrides);
  auto method = methods::load_with_config(args.positional[0], config, setup_runtime(methods::run_options(config), err));
  const int64_t step = method->trainer().step_count();
  const std::string dir = method->run_dir();
  out << "evaluating " << checkpoint << " (step " << step << ")\n";
  const auto report = method->evaluate();
  report.print(out);
  if (!report.table.empty()) {
    out << "\n" << report.table;
    const std::string table = dir + "/eval-table-step" + std::to_string(step) + ".md";
    io::write_text_file(table, "# " + method->name() + " evaluation, step " + std::to_string(step) + "\n\n" + report.table);
    out << "wrote " << table << "\n";
  }
  // Pictures go beside the report: eval.out=DIR/NAME.json gives DIR/NAME-<picture>.png, so two
  // evaluations of one run with different options keep both sets.
  std::string prefix = dir + "/eval-step" + std::to_string(step) + "-";
  if (out_path.empty()) {
    out_path = dir + "/eval-step" + std::to_string(step) + ".json";
  } else {
    const std::filesystem::path p(out_path);
    prefix = (p.parent_path() / p.stem()).string() + "-";
  }
  io::write_text_file(out_path, report.to_json());
  out << "wrote " << out_path << "\n";
  for (const auto& f : method->pictures(prefix)) out << "wrote " << f << "\n";
  return 0;
}

}  // namespace joule::cli
