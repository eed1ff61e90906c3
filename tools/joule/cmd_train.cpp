// joule train [CONFIG] [key=value ...]: builds everything from the config, validates it before
// writing anything, then trains with checkpoints, metrics and pictures in a new run folder.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "joule/core/runtime.h"
#include "joule/io/checkpoint.h"
#include "tools/joule/command_common.h"
#include "tools/joule/commands.h"

namespace joule::cli {
namespace {

namespace fs = std::filesystem;

const char* kUsage =
    "usage: joule train [CONFIG.toml] [key=value ...] [--key value ...]\n"
    "\n"
    "Trains a model and writes a run folder (config.toml, metrics.jsonl, checkpoint.pt,\n"
    "eval.json and pictures). Without CONFIG the built-in default runs: PCD with proper\n"
    "Langevin sampling on the 8gaussians toy set. Options from CONFIG are overridden by\n"
    "key=value arguments. Continue a run with train.resume=RUN_FOLDER (and e.g. train.steps=N).\n";

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

// A new, empty run folder; never reuses a non-empty one.
std::string create_run_dir(const Config& cfg, const std::string& config_name) {
  std::string dir = cfg.get_string("run.out");
  if (dir.empty()) {
    const std::string name = cfg.get_string("run.name").empty() ? config_name : cfg.get_string("run.name");
    const std::string base = "runs/" + name + "-" + timestamp();
    dir = base;
    for (int i = 2; fs::exists(dir); ++i) dir = base + "-" + std::to_string(i);
  } else if (fs::exists(dir) && !(fs::is_directory(dir) && fs::is_empty(dir))) {
    throw UsageError("run folder '" + dir + "' already exists and is not empty; choose another run.out, or continue "
                     "it with train.resume=" + dir);
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UsageError("cannot create run folder '" + dir + "': " + ec.message());
  return dir;
}

}  // namespace

int cmd_train(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  ParsedArgs args = parse_args(argv);
  if (args.help) {
    out << kUsage << Registry::global().help("train");
    return 0;
  }
  if (args.positional.size() > 1) throw UsageError("joule train takes at most one config file, got " +
                                                   std::to_string(args.positional.size()) + " positional arguments");
  Config cfg("train");
  std::string config_name = "default";
  if (!args.positional.empty()) {
    cfg.load_file(args.positional[0]);
    config_name = fs::path(args.positional[0]).stem().string();
  }
  apply_overrides(cfg, args);

  // Resuming: the saved config is the base, command-line overrides still apply.
  std::string resume_ckpt;
  if (!cfg.get_string("train.resume").empty()) {
    if (!args.positional.empty()) throw UsageError("train.resume uses the run's saved config; drop the config file argument");
    resume_ckpt = resolve_checkpoint(cfg.get_string("train.resume"));
    auto meta = train::read_checkpoint_metadata(resume_ckpt);
    Config saved("train");
    saved.load_string(meta["config"], resume_ckpt + " (saved config)");
    apply_overrides(saved, args);
    cfg = saved;
  }

  const torch::Device device = setup_runtime(cfg, err);
  auto pipeline = make_pipeline(cfg.get_string("method"));
  pipeline->build(cfg, device);
  auto trainer = make_trainer(cfg, *pipeline);

  std::string run_dir;
  if (!resume_ckpt.empty()) {
    trainer->load(resume_ckpt);  // throws before anything is written if the checkpoint is bad
    trainer->set_total_steps(cfg.get_int("train.steps"));
    run_dir = parent_dir(resume_ckpt);
    io::write_text_file(run_dir + "/config-resume-step" + std::to_string(trainer->step_count()) + ".toml", cfg.to_toml());
    out << "resuming " << run_dir << " at step " << trainer->step_count() << " of " << cfg.get_int("train.steps") << "\n";
  } else {
    run_dir = create_run_dir(cfg, config_name);
    io::write_text_file(run_dir + "/config.toml", cfg.to_toml());
    out << "run folder: " << run_dir << "\n";
  }
  trainer->set_metadata("config", cfg.to_toml());
  trainer->set_metadata("method", cfg.get_string("method"));
  trainer->set_metadata("torch_version", torch_version());

  RunContext ctx;
  ctx.run_dir = run_dir;
  ctx.out = &out;
  ctx.device = device;
  ctx.metrics = std::make_shared<train::MetricsLogger>(run_dir + "/metrics.jsonl", cfg.get_int("train.log_every"));
  const std::string progress = cfg.get_string("run.progress");
  if (progress != "none") {
    const bool bar = progress == "bar" || (progress == "auto" && isatty(STDERR_FILENO));
    const int64_t every = std::max<int64_t>(cfg.get_int("train.log_every"), cfg.get_int("train.steps") / 20);
    ctx.progress = std::make_shared<train::ProgressBar>(err, bar, every);
    trainer->add_callback(ctx.progress);
  }
  trainer->add_callback(ctx.metrics);
  const std::string ckpt = run_dir + "/checkpoint.pt";
  trainer->add_callback(std::make_shared<train::Checkpointer>(ckpt, cfg.get_int("train.checkpoint_every")));
  pipeline->add_callbacks(*trainer, ctx);

  if (resume_ckpt.empty()) trainer->save(ckpt);  // step 0 is the first good state
  try {
    trainer->train();
  } catch (const train::DivergenceError& e) {
    err << "error: " << e.what() << "\n"
        << "The last good state is kept in " << ckpt << ". To recover: lower train.lr, add objective.l2_energy=0.1, "
        << "use more sampler.steps, or set train.max_restarts=3 to restart automatically.\n";
    return 3;
  }

  out << "\nevaluation at step " << trainer->step_count() << ":\n";
  const std::string json = report(pipeline->evaluate(*trainer, cfg, ctx), trainer->step_count(), cfg.get_string("method"), out);
  io::write_text_file(run_dir + "/eval.json", json);
  auto files = pipeline->pictures(*trainer, cfg, ctx, run_dir + "/");
  out << "\nwrote " << run_dir << "/\n"
      << "  config.toml    resolved configuration\n"
      << "  metrics.jsonl  loss and metrics every " << cfg.get_int("train.log_every") << " steps\n"
      << "  checkpoint.pt  full training state (joule sample/eval, train.resume)\n"
      << "  eval.json      the numbers above\n";
  for (const auto& f : files) out << "  " << fs::path(f).filename().string() << "\n";
  if (!files.empty()) out << "open " << files.front() << " first.\n";
  return 0;
}

}  // namespace joule::cli
