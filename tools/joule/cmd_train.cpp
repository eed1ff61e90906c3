// joule train [CONFIG|PRESET] [key=value ...]: a method from the configuration, trained into a
// new run folder (or continued with train.resume=RUN), evaluated, and its pictures drawn.
#include <unistd.h>

#include <cctype>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "joule/methods/run.h"
#include "joule/train/stop_signals.h"
#include "joule/train/trainer.h"
#include "tools/joule/args.h"
#include "tools/joule/commands.h"

namespace joule::cli {
namespace {

namespace fs = std::filesystem;

// run.name becomes a folder under runs/: one path component of ordinary characters.
void check_run_name(const std::string& name) {
  if (name.empty()) return;
  const std::string shown = name.size() > 40 ? name.substr(0, 40) + "... (" + std::to_string(name.size()) + " characters)" : name;
  bool ok = name.size() <= 100 && name != "." && name != "..";
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!ok) {
    throw UsageError("run.name '" + shown + "' must be a folder name of at most 100 letters, digits, '-', '_' or '.' "
                     "(it becomes runs/<name>-<time>); to write elsewhere use run.out=<path>");
  }
}

const char* kUsage =
    "usage: joule train [CONFIG.toml | PRESET] [key=value ...] [--key value ...]\n"
    "\n"
    "Trains a model and writes a run folder (config.toml, metrics.jsonl, checkpoint.pt,\n"
    "eval.json and pictures). Without CONFIG the built-in default runs: PCD with proper\n"
    "Langevin sampling on the 8gaussians toy set. PRESET is the name of a shipped config\n"
    "(joule presets). key=value arguments override the file; method=NAME picks a method with\n"
    "its own defaults. Continue a run with train.resume=RUN_FOLDER (and e.g. train.steps=N).\n"
    "Options of the method (joule train method=NAME --help for another method's):\n";

// A GPU rank of a data-parallel job trains on its own GPU (cuda:LOCAL_RANK), the one its
// communicator reduces on.
torch::Device on_rank_device(torch::Device device, const std::shared_ptr<distributed::Communicator>& comm) {
  if (comm && comm->world_size() > 1 && device.is_cuda()) return comm->device();
  return device;
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

}  // namespace

int cmd_train(const std::vector<std::string>& argv_in, std::ostream& out, std::ostream& err) {
  std::vector<std::string> argv = argv_in;
  const int64_t nproc = take_nproc(argv);
  ParsedArgs args = parse_args(argv);
  if (args.positional.size() > 1) {
    throw UsageError("joule train takes at most one config file or preset, got " + std::to_string(args.positional.size()) +
                     " positional arguments");
  }
  const std::string source = args.positional.empty() ? "" : args.positional[0];
  config::Document doc = make_document(source, args, "train");
  const std::string resume = doc.get_text("train.resume");
  if (!resume.empty() && !source.empty()) {
    throw UsageError("train.resume uses the run's saved config; drop the config file argument");
  }
  if (!resume.empty() && !methods::snapshot_run_dir(resume).empty()) {
    throw UsageError("train.resume=" + resume + " is a snapshot of the run in '" + methods::snapshot_run_dir(resume) +
                     "': resuming it there would overwrite the run's later state. To branch off, copy the run folder "
                     "and put the snapshot in the copy as its checkpoint.pt");
  }
  if (args.help) {
    auto method = methods::create(doc.get_text("method", "ebm"));
    out << kUsage << "\nmethod = " << method->name() << "\n" << config::help_text(method->schema());
    return 0;
  }

  check_run_name(doc.get_text("run.name", ""));
  if (nproc > 0) {
    // The launcher: check the configuration here (a bad key fails once, not N times), fix the
    // run folder so every worker agrees on it, and start the workers.
    std::vector<std::string> worker_args = argv;
    std::string folder = resume.empty() ? doc.get_text("run.out", "") : resume;
    if (resume.empty()) {
      methods::create(doc);  // unknown keys and bad values fail here, once
      if (!doc.has("run.out")) {
        const std::string name = doc.get_text("run.name", "");
        const std::string base = "runs/" + (!name.empty() ? name : source.empty() ? "default" : fs::path(source).stem().string()) +
                                 "-" + timestamp();
        std::string dir = base;
        for (int i = 2; fs::exists(dir); ++i) dir = base + "-" + std::to_string(i);
        worker_args.push_back("run.out=" + dir);
        folder = dir;
      }
    }
    return launch_workers(nproc, worker_args, folder, err);
  }
  // A worker of a data-parallel job (started by --nproc or torchrun): only rank 0 speaks and writes.
  auto comm = join_job_from_environment(resume.empty() ? doc.get_text("run.device", "auto") : [&] {
    auto saved = methods::saved_config(resume);
    saved.merge(doc);
    return saved.get_text("run.device", "auto");
  }());
  std::ostringstream quiet;
  std::ostream& say = comm && !comm->is_main() ? quiet : out;
  std::ostream& warn_once = comm && !comm->is_main() ? quiet : err;
  if (!resume.empty() && (doc.has("run.out") || doc.has("run.name"))) {
    throw UsageError("a resumed run continues in its own folder '" + fs::path(methods::resolve_checkpoint(resume)).parent_path().string() +
                     "'; drop run.out / run.name (to branch off, copy the folder first)");
  }
  std::unique_ptr<methods::Method> method;
  torch::Device device = torch::kCPU;
  if (!resume.empty()) {
    auto config = methods::saved_config(resume);
    config.merge(doc);
    device = on_rank_device(setup_runtime(methods::run_options(config), warn_once), comm);
    method = methods::load_with_config(resume, config, device, comm);
    const int64_t at = method->trainer().step_count(), steps = method->config().train.steps;
    if (steps < at) {
      throw UsageError("train.steps = " + std::to_string(steps) + " but the checkpoint is at step " + std::to_string(at) +
                       "; a resumed run trains on to train.steps, so give more than " + std::to_string(at));
    }
  } else {
    method = methods::create(doc);
    device = on_rank_device(setup_runtime(method->config().run, warn_once), comm);
    method->build(device);
    if (comm) method->trainer().set_communicator(comm);
  }
  auto& run = method->config().run;
  std::string dir;
  if (resume.empty()) {
    dir = run.out;
    if (dir.empty()) {
      const std::string name = !run.name.empty() ? run.name : source.empty() ? "default" : fs::path(source).stem().string();
      const std::string base = "runs/" + name + "-" + timestamp();
      dir = base;
      for (int i = 2; fs::exists(dir); ++i) dir = base + "-" + std::to_string(i);
    }
  }
  methods::TrainRunOptions opts;
  opts.out = &say;
  if (run.progress != "none" && (!comm || comm->is_main())) {
    opts.progress = &err;
    opts.progress_bar = run.progress == "bar" || (run.progress == "auto" && isatty(STDERR_FILENO));
  }
  methods::RunResult result;
  train::clear_interrupt();
  // The first SIGINT/SIGTERM asks the trainer to stop after its step and save; a second one ends
  // the process at once.
  train::StopSignalScope stop_signals(
      "\njoule: stopping after this step and saving a checkpoint (press Ctrl-C again to quit now)\n");
  try {
    result = methods::train_run(*method, dir, opts);
  } catch (const train::InterruptedError& e) {
    if (comm && !comm->is_main()) return 130;
    err << "interrupted at step " << e.step << " of " << method->config().train.steps << "; the training state is saved in "
        << e.checkpoint << ".\nContinue with: joule train train.resume=" << method->run_dir() << "\n";
    return 130;
  } catch (const train::DivergenceError& e) {
    if (comm && !comm->is_main()) return 3;
    err << "error: " << e.what() << "\n"
        << "The last good state is kept in " << method->run_dir() << "/checkpoint.pt. To recover: lower train.lr, add "
        << "objective.l2_energy=0.1, use more sampler.steps, or set train.max_restarts=3 to restart automatically.\n";
    return 3;
  }
  if (comm && !comm->is_main()) return 0;
  out << "\nevaluation at step " << result.report.step << ":\n";
  result.report.print(out);
  if (!result.report.table.empty()) out << "\n" << result.report.table;
  out << "\nwrote " << result.dir << "/\n"
      << "  config.toml    resolved configuration\n"
      << "  metrics.jsonl  loss and metrics every " << method->config().train.log_every << " steps\n"
      << "  checkpoint.pt  full training state (joule sample/eval, train.resume)\n"
      << "  eval.json      the numbers above\n";
  if (fs::exists(result.dir + "/checkpoint-best.pt")) out << "  checkpoint-best.pt  the best held-out state\n";
  for (const auto& f : result.files) out << "  " << fs::path(f).filename().string() << "\n";
  if (!result.files.empty()) out << "open " << result.files.front() << " first.\n";
  for (const auto& w : result.warnings) err << "warning: " << w << "\n";
  return 0;
}

}  // namespace joule::cli
