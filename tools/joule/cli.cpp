#include <c10/util/Exception.h>

#include <iostream>

#include "tools/joule/commands.h"
#include "tools/joule/config.h"

namespace joule::cli {

namespace {
const char* kUsage =
    "joule: energy-based models on LibTorch\n"
    "\n"
    "usage: joule <command> [args]\n"
    "  train [CONFIG] [key=value ...]      train a model into a new run folder\n"
    "  sample CHECKPOINT [key=value ...]   draw samples from a trained model\n"
    "  eval CHECKPOINT [key=value ...]     evaluate a trained model\n"
    "  gof MODEL SAMPLES.csv [key=value]   goodness-of-fit test (LSD, KSD) of a model to samples\n"
    "\n"
    "'joule <command> --help' lists every option of a command. Options can be set in a TOML\n"
    "config file ([section] then key = value) or on the command line as section.key=value.\n";
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
    const std::string near = closest_match(cmd, {"train", "sample", "eval", "gof"});
    err << "error: unknown command '" << cmd << "'" << (near.empty() ? "" : " (did you mean '" + near + "'?)") << "\n"
        << kUsage;
    return 2;
  } catch (const UsageError& e) {
    err << "error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    err << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace joule::cli
