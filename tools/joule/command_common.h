#pragma once
// Argument parsing, run folders and checkpoint loading shared by the subcommands.

#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "joule/train/trainer.h"
#include "tools/joule/config.h"
#include "tools/joule/pipeline.h"

namespace joule::cli {

struct ParsedArgs {
  bool help = false;
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> overrides;  ///< key, value in command-line order
};

/// Accepts `key=value`, `--key=value`, `--key value`, `--help`/`-h`, and positionals.
ParsedArgs parse_args(const std::vector<std::string>& args);

/// Applies command-line overrides to `cfg` (origin "command line").
void apply_overrides(Config& cfg, const ParsedArgs& args);

/// Sets threads (run.threads), resolves run.device and warns about a slow BLAS on `err`.
torch::Device setup_runtime(const Config& cfg, std::ostream& err);

/// A checkpoint path from a run folder or a file path.
std::string resolve_checkpoint(const std::string& path);
std::string parent_dir(const std::string& path);

/// A trained pipeline restored from a checkpoint (for sample/eval).
struct Restored {
  Config train_config{"train"};
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<train::Trainer> trainer;
  std::string checkpoint;
  std::string run_dir;
};
/// Rebuilds the pipeline from the checkpoint's saved config and loads its state.
Restored restore_run(const std::string& path, torch::Device device);

/// The trainer described by train.* for a built pipeline.
std::unique_ptr<train::Trainer> make_trainer(const Config& cfg, Pipeline& pipeline);

/// Prints a report table and returns it as JSON.
std::string report(const std::vector<ReportLine>& lines, int64_t step, const std::string& method, std::ostream& out);

}  // namespace joule::cli
