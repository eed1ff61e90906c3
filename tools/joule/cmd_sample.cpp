// joule sample RUN [sample.n=... sample.steps=...]: draws samples from a trained model.
#include "joule/methods/run.h"
#include "tools/joule/args.h"
#include "tools/joule/commands.h"

namespace joule::cli {

int cmd_sample(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  if (args.help) {
    out << "usage: joule sample CHECKPOINT|RUN_FOLDER [sample.key=value ...]\n\n"
           "Runs the model's sampler from its persistent chains (or fresh noise) and writes the samples as\n"
           "CSV, as a tensor file loadable with Python's torch.load, and as a picture. Options:\n"
           "sample.n, sample.steps, sample.init (buffer|noise), sample.seed (--seed), sample.out, and for\n"
           "JEM sample.class, for VERA refine.* (the sampler of its sample.steps); run.device, run.threads.\n";
    return 0;
  }
  if (args.positional.size() != 1) throw UsageError("joule sample needs exactly one CHECKPOINT or RUN_FOLDER");
  // The seed given to `joule sample` seeds the sampling chains.
  for (auto& kv : args.overrides) {
    if (kv.first == "seed" || kv.first == "run.seed") kv.first = "sample.seed";
  }
  const auto overrides = make_document("", args, "sample", {"sample.", "refine.", "run.device", "run.threads", "run.progress"});
  auto config = methods::saved_config(args.positional[0]);
  config.merge(overrides);
  std::string prefix = config.get_text("sample.out");
  if (!prefix.empty()) {  // checked before any work: the three files save_samples writes
    const std::string checkpoint = methods::resolve_checkpoint(args.positional[0]);
    for (const char* ext : {".csv", ".pt", ".png"}) methods::check_output_path(prefix + ext, checkpoint, "sample.out");
  }
  auto method = methods::load_with_config(args.positional[0], config, setup_runtime(methods::run_options(config), err));
  auto x = method->sample().cpu();
  if (prefix.empty()) prefix = method->run_dir() + "/samples-step" + std::to_string(method->trainer().step_count());
  const auto files = methods::save_samples(x, prefix);
  out << "wrote " << x.size(0) << " samples to " << files[0] << " and " << files[1] << " (torch.load)\n";
  for (size_t i = 2; i < files.size(); ++i) out << "wrote " << files[i] << "\n";
  return 0;
}

}  // namespace joule::cli
