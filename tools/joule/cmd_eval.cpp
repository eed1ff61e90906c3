// joule eval CHECKPOINT [eval.key=value ...]: evaluates a saved model and writes the report.
#include <filesystem>

#include "joule/io/checkpoint.h"
#include "tools/joule/command_common.h"
#include "tools/joule/commands.h"

namespace joule::cli {

int cmd_eval(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  if (args.help) {
    out << "usage: joule eval CHECKPOINT|RUN_FOLDER [key=value ...]\n\n"
           "Evaluates a trained model (for 2-D models: log Z by quadrature, test NLL and its gap to the\n"
           "data entropy, MMD to held-out data), prints the table and writes eval-step<N>.json and\n"
           "pictures next to the checkpoint.\n"
        << Registry::global().help("eval");
    return 0;
  }
  if (args.positional.size() != 1) throw UsageError("joule eval needs exactly one CHECKPOINT or RUN_FOLDER");
  Config cfg("eval");
  apply_overrides(cfg, args);
  const torch::Device device = setup_runtime(cfg, err);
  Restored r = restore_run(args.positional[0], device);
  // Evaluation settings saved with the run are the defaults; the command line overrides them.
  for (const auto& o : Registry::global().options()) {
    if (o.key.rfind("eval.", 0) == 0 && !cfg.is_set(o.key) && o.key != "eval.out") {
      cfg.set(o.key, r.train_config.get_string(o.key), "saved config");
    }
  }
  RunContext ctx;
  ctx.run_dir = r.run_dir;
  ctx.out = &out;
  ctx.device = device;
  const int64_t step = r.trainer->step_count();
  out << "evaluating " << r.checkpoint << " (step " << step << ")\n";
  const std::string json = report(r.pipeline->evaluate(*r.trainer, cfg, ctx), step, r.train_config.get_string("method"), out);
  std::string path = cfg.get_string("eval.out");
  if (path.empty()) path = r.run_dir + "/eval-step" + std::to_string(step) + ".json";
  io::write_text_file(path, json);
  auto files = r.pipeline->pictures(*r.trainer, cfg, ctx, r.run_dir + "/eval-step" + std::to_string(step) + "-");
  out << "wrote " << path << "\n";
  for (const auto& f : files) out << "wrote " << f << "\n";
  return 0;
}

}  // namespace joule::cli
