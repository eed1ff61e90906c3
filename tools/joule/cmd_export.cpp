// joule export RUN [export.format=safetensors|pt] [export.out=PATH]: the trained weights for
// other tools (safetensors, or a dict of tensors for Python's torch.load).
#include <filesystem>

#include "joule/config/options.h"
#include "joule/methods/run.h"
#include "tools/joule/args.h"
#include "tools/joule/commands.h"

namespace joule::cli {

int cmd_export(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  if (args.help) {
    out << "usage: joule export CHECKPOINT|RUN_FOLDER [export.format=safetensors|pt] [export.out=PATH]\n\n"
           "Writes every trained module's parameters and buffers under the keys \"<module>.<name>\" (those of a\n"
           "PyTorch nn.ModuleDict of the same modules):\n"
           "  safetensors  (default) with the method, step and resolved config as metadata; read it with the\n"
           "               safetensors package (safetensors.torch.load_file) or joule::io::read_safetensors\n"
           "  pt           a dict of tensors for Python's torch.load (weights_only=True reads it)\n"
           "Default export.out: RUN/weights-step<N>.<format>. joule::methods::import_weights loads either back.\n";
    return 0;
  }
  if (args.positional.size() != 1) throw UsageError("joule export needs exactly one CHECKPOINT or RUN_FOLDER");
  std::string format = "safetensors", path;
  for (const auto& [key, value] : args.overrides) {
    if (key == "export.format" || key == "format") {
      format = value;
    } else if (key == "export.out" || key == "out") {
      path = value;
    } else {
      const std::string near = config::closest_match(key, {"export.format", "export.out"});
      throw UsageError("unknown option '" + key + "' for joule export" + (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
  }
  if (format != "safetensors" && format != "pt") {
    throw UsageError("export.format must be safetensors or pt, got '" + format + "'");
  }
  const std::string checkpoint = methods::resolve_checkpoint(args.positional[0]);
  if (!path.empty()) methods::check_output_path(path, checkpoint, "export.out");
  auto config = methods::saved_config(args.positional[0]);
  auto method = methods::load_with_config(args.positional[0], config, torch::Device(torch::kCPU));
  if (path.empty()) {
    path = method->run_dir() + "/weights-step" + std::to_string(method->trainer().step_count()) + "." + format;
  }
  methods::export_weights(*method, path, format);
  size_t n = 0;
  int64_t numel = 0;
  for (const auto& [k, v] : methods::weights(*method)) ++n, numel += v.numel();
  out << "wrote " << n << " tensors (" << numel << " values) of the " << method->name() << " model at step "
      << method->trainer().step_count() << " to " << path << "\n";
  (void)err;
  return 0;
}

}  // namespace joule::cli
