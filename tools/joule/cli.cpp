#include <c10/util/Exception.h>

#include <iostream>

#include "joule/config/options.h"
#include "joule/methods/method.h"
#include "joule/train/trainer.h"
#include "tools/joule/args.h"
#include "tools/joule/commands.h"

namespace joule::cli {

namespace {
const char* kUsage =
    "joule: energy-based models on LibTorch\n"
    "\n"
    "usage: joule <command> [args]\n"
    "  train [CONFIG|PRESET] [key=value ...]  train a model into a new run folder\n"
    "  sample RUN [key=value ...]             draw samples from a trained model\n"
    "  eval RUN [key=value ...]               evaluate a trained model\n"
    "  export RUN [export.format=...]         the trained weights as safetensors or for torch.load\n"
    "  gof MODEL SAMPLES.csv [key=value]      goodness-of-fit test (LSD, KSD) of a model to samples\n"
    "  compose CONFIG [key=value ...]         sample from a composition (AND / OR / NOT) of trained models\n"
    "  config [CONFIG|PRESET] [key=value ...] print the resolved configuration (nothing is trained)\n"
    "  presets                                list the shipped presets and the methods\n"
    "\n"
    "'joule <command> --help' lists the options of a command. Options can be set in a TOML\n"
    "config file ([section] then key = value) or on the command line as section.key=value.\n";

// joule config: the resolved configuration of a file, preset and overrides, validated.
int cmd_config(const std::vector<std::string>& argv, std::ostream& out) {
  ParsedArgs args = parse_args(argv);
  if (args.positional.size() > 1) throw UsageError("joule config takes at most one config file or preset");
  auto method = methods::create(make_document(args.positional.empty() ? "" : args.positional[0], args, "config"));
  out << method->config_toml();
  return 0;
}

int cmd_presets(std::ostream& out) {
  out << "methods:\n";
  for (const auto& m : methods::registry()) out << "  " << m.name << std::string(6 - std::min<size_t>(6, m.name.size()), ' ') << m.summary << "\n";
  out << "presets (joule train PRESET):\n";
  for (const auto& p : config::preset_names()) {
    out << "  " << p << " (method " << config::preset(p).get_text("method", "ebm") << ")\n";
  }
  return 0;
}
}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    out << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (cmd == "train") return cmd_train(rest, out, err);
    if (cmd == "sample") return cmd_sample(rest, out, err);
    if (cmd == "eval") return cmd_eval(rest, out, err);
    if (cmd == "gof") return cmd_gof(rest, out, err);
    if (cmd == "export") return cmd_export(rest, out, err);
    if (cmd == "compose") return cmd_compose(rest, out, err);
    if (cmd == "config") return cmd_config(rest, out);
    if (cmd == "presets") return cmd_presets(out);
    const std::string near = config::closest_match(cmd, {"train", "sample", "eval", "export", "gof", "compose", "config", "presets"});
    err << "error: unknown command '" << cmd << "'" << (near.empty() ? "" : " (did you mean '" + near + "'?)") << "\n" << kUsage;
    return 2;
  } catch (const UsageError& e) {
    err << "error: " << e.what() << "\n";
    return 2;
  } catch (const config::ConfigError& e) {
    err << "error: " << e.what() << "\n";
    return 2;
  } catch (const train::DivergenceError& e) {
    err << "error: " << e.what() << "\n";
    return 3;
  } catch (const c10::Error& e) {
    err << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace joule::cli
