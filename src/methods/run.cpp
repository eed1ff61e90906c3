#include "joule/methods/run.h"

#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include <torch/serialize.h>

#include "joule/core/runtime.h"
#include "joule/data/csv.h"
#include "joule/io/plot.h"
#include "joule/io/png.h"
#include "joule/io/checkpoint.h"
#include "joule/io/safetensors.h"
#include "joule/io/tensorboard.h"
#include "joule/io/torch_file.h"
#include "joule/train/callbacks.h"

namespace joule::methods {

namespace fs = std::filesystem;

std::string resolve_checkpoint(const std::string& path) {
  if (fs::is_directory(path)) {
    const std::string ckpt = (fs::path(path) / "checkpoint.pt").string();
    // Missing files are runtime errors (exit 1), not usage errors.
    TORCH_CHECK(fs::exists(ckpt), "run folder '", path, "' has no checkpoint.pt");
    return ckpt;
  }
  TORCH_CHECK(fs::exists(path), "checkpoint '", path, "' does not exist");
  return path;
}

std::string snapshot_run_dir(const std::string& checkpoint) {
  if (checkpoint.empty() || fs::is_directory(checkpoint)) return "";
  const fs::path folder = fs::absolute(checkpoint).parent_path();
  if (folder.filename() != "snapshots" || !fs::exists(folder.parent_path() / "checkpoint.pt")) return "";
  return fs::path(checkpoint).parent_path().parent_path().string();
}

void check_output_path(const std::string& path, const std::string& checkpoint, const std::string& option) {
  auto refuse = [&](const std::string& why) { throw config::ConfigError(option + " = '" + path + "' " + why); };
  if (path.empty()) refuse("is empty");
  if (fs::is_directory(path)) refuse("is a folder; give a file name");
  const fs::path target = fs::weakly_canonical(fs::absolute(path));
  const fs::path folder = target.parent_path();
  if (!fs::is_directory(folder)) refuse("is in a folder that does not exist ('" + folder.string() + "')");
  if (fs::exists(target) && fs::exists(checkpoint) && fs::equivalent(target, checkpoint)) refuse("would replace the checkpoint being read");
  const std::string name = target.filename().string();
  for (const char* own : {"checkpoint.pt", "checkpoint-best.pt", "config.toml", "metrics.jsonl", "eval.json"}) {
    if (name == own && fs::exists(folder / "checkpoint.pt")) {
      refuse("would take the name of the run's own '" + name + "' in '" + folder.string() + "'; choose another name");
    }
  }
  if (fs::exists(target) && !snapshot_run_dir(target.string()).empty()) {
    refuse("would replace a snapshot of the run in '" + folder.parent_path().string() + "'; choose another name");
  }
  if (!fs::exists(target) || !fs::exists(folder / "checkpoint.pt")) return;
  if (name.rfind("eval-", 0) == 0 || name.rfind("samples-step", 0) == 0) return;  // an earlier eval/sample output
  refuse("would replace '" + name + "' of the run in '" + folder.string() +
         "'; runs keep what training wrote (choose another name, e.g. the default)");
}

config::Document saved_config(const std::string& run_or_checkpoint) {
  const std::string ckpt = resolve_checkpoint(run_or_checkpoint);
  auto meta = train::read_checkpoint_metadata(ckpt);
  auto it = meta.find("config");
  if (it == meta.end()) throw config::ConfigError("checkpoint '" + ckpt + "' has no saved config (not written by Joule's train_run)");
  auto doc = config::Document::from_string(it->second, ckpt + " (saved config)");
  return meta["format_version"] == "1" ? upgrade_saved_config(doc) : rename_saved_keys(doc);
}

std::unique_ptr<Method> load(const std::string& run_or_checkpoint, torch::Device device, const config::Document& overrides) {
  auto doc = saved_config(run_or_checkpoint);
  doc.merge(overrides);
  return load_with_config(run_or_checkpoint, doc, device);
}

RunConfig run_options(const config::Document& doc) {
  RunConfig run;
  config::ReadOptions opts;
  opts.ignore_unknown = true;
  config::read([&run](config::Fields& f) { f.section("run", run); }, doc, opts);
  return run;
}

std::unique_ptr<Method> load_with_config(const std::string& run_or_checkpoint, const config::Document& doc,
                                         torch::Device device, std::shared_ptr<distributed::Communicator> comm) {
  const std::string ckpt = resolve_checkpoint(run_or_checkpoint);
  auto method = create(doc);
  method->build(device);
  if (comm) method->trainer().set_communicator(std::move(comm));
  method->trainer().load(ckpt);
  // A snapshot's outputs (eval-step<N>.json, pictures named by step) go beside its run's.
  const std::string of_run = snapshot_run_dir(ckpt);
  auto dir = of_run.empty() ? fs::path(ckpt).parent_path() : fs::path(of_run);
  method->set_run_dir(dir.empty() ? "." : dir.string());
  return method;
}

namespace {

// A data-parallel worker other than rank 0: it trains in step with the others and joins every
// collective save (rank 0 writes), but writes, evaluates and draws nothing itself.
RunResult train_worker(Method& method) {
  auto& trainer = method.trainer();
  auto& cfg = method.config();
  const bool resuming = !method.run_dir().empty();
  trainer.set_total_steps(cfg.train.steps);
  trainer.add_callback(std::make_shared<train::Checkpointer>("", cfg.train.checkpoint_every));
  // Rank 0 adds the same savers in the same order: each save is a collective.
  if (cfg.train.snapshot_every > 0) trainer.add_callback(std::make_shared<train::Snapshotter>("", cfg.train.snapshot_every));
  if (!resuming) trainer.save("");
  trainer.train();
  if (trainer.step_count() < cfg.train.steps && train::interrupt_requested()) {
    trainer.save("");
    throw train::InterruptedError(trainer.step_count(), "rank 0's checkpoint.pt");
  }
  return {};
}

}  // namespace

RunResult train_run(Method& method, const std::string& dir_in, const TrainRunOptions& options) {
  auto& trainer = method.trainer();
  auto& cfg = method.config();
  if (!trainer.is_main_rank()) return train_worker(method);
  // A method reopened with load() (or trained here before) continues in its own folder.
  const bool resuming = !method.run_dir().empty();
  std::string dir = dir_in;
  if (resuming) {
    if (dir.empty()) dir = method.run_dir();
    if (fs::weakly_canonical(dir) != fs::weakly_canonical(method.run_dir())) {
      throw config::ConfigError("a reopened run continues in its own folder '" + method.run_dir() + "', not '" + dir + "'");
    }
  } else {
    if (dir.empty()) throw config::ConfigError("train_run needs a run folder");
    if (!cfg.train.init_from.empty()) {
      // Before the folder exists: a bad warm start leaves nothing behind.
      const std::string from = resolve_checkpoint(cfg.train.init_from);
      const auto loaded = trainer.load_modules(from, cfg.train.init_modules);
      trainer.set_metadata("init_from", from);
      if (options.out) *options.out << "warm start: " << c10::Join(", ", loaded) << " from " << from << "\n";
    }
    if (fs::exists(dir) && !(fs::is_directory(dir) && fs::is_empty(dir))) {
      throw config::ConfigError("run folder '" + dir + "' already exists and is not empty; choose another run.out, or continue "
                                "it with train.resume=" + dir);
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw config::ConfigError("cannot create run folder '" + dir + "': " + ec.message());
    method.set_run_dir(dir);
  }
  const std::string config = method.config_toml();
  trainer.set_total_steps(cfg.train.steps);
  if (resuming) {
    io::write_text_file(dir + "/config-resume-step" + std::to_string(trainer.step_count()) + ".toml", config);
    if (options.out) *options.out << "resuming " << dir << " at step " << trainer.step_count() << " of " << cfg.train.steps << "\n";
  } else {
    io::write_text_file(dir + "/config.toml", config);
    if (options.out) *options.out << "run folder: " << dir << "\n";
  }
  if (options.out) {
    for (const auto& note : method.notes()) *options.out << note << "\n";
  }
  trainer.set_metadata("config", config);
  trainer.set_metadata("method", method.name());
  trainer.set_metadata("torch_version", torch_version());

  Monitor monitor;
  monitor.metrics = std::make_shared<train::MetricsLogger>(dir + "/metrics.jsonl", cfg.train.log_every);
  monitor.best_checkpoint = dir + "/checkpoint-best.pt";
  monitor.degrade_action = cfg.train.on_degrade == "stop" ? train::DegradeAction::kStop : train::DegradeAction::kWarn;
  if (options.progress) {
    const int64_t every = std::max<int64_t>(cfg.train.log_every, cfg.train.steps / 20);
    monitor.progress = std::make_shared<train::ProgressBar>(*options.progress, options.progress_bar, every);
    trainer.add_callback(monitor.progress);
  }
  trainer.add_callback(monitor.metrics);
  std::shared_ptr<io::EventWriter> tensorboard;
  if (cfg.run.tensorboard) {
    // Beside metrics.jsonl: `tensorboard --logdir runs` shows every run folder as a run; a resumed
    // run adds a new event file that continues the steps.
    tensorboard = std::make_shared<io::EventWriter>(dir);
    std::string indented;  // markdown code block
    for (size_t i = 0, j; i < config.size(); i = j + 1) {
      j = config.find('\n', i);
      if (j == std::string::npos) j = config.size();
      indented += "    " + config.substr(i, j - i) + "\n";
    }
    tensorboard->add_text("config", indented, trainer.step_count());
    tensorboard->flush();
    monitor.metrics->set_event_writer(tensorboard);
    const int64_t every = std::max<int64_t>(cfg.train.log_every, cfg.train.steps / 20);
    trainer.add_callback(std::make_shared<train::TensorBoardHistograms>(tensorboard, every));
  }
  const std::string ckpt = dir + "/checkpoint.pt";
  trainer.add_callback(std::make_shared<train::Checkpointer>(ckpt, cfg.train.checkpoint_every));
  if (cfg.train.snapshot_every > 0)
    trainer.add_callback(std::make_shared<train::Snapshotter>(dir + "/snapshots", cfg.train.snapshot_every));
  method.add_callbacks(monitor);

  if (!resuming) trainer.save(ckpt);  // step 0 is the first good state
  trainer.train();
  if (trainer.step_count() < cfg.train.steps && train::interrupt_requested()) {
    trainer.save(ckpt);
    throw train::InterruptedError(trainer.step_count(), ckpt);
  }

  RunResult result;
  result.dir = dir;
  result.report = method.evaluate();
  if (auto watch = method.held_out_watch(); watch && watch->has_best()) {
    // The final value as the report measures it (else the last periodic one).
    const std::string& metric = watch->options().metric;
    const double final_value = result.report.has(metric) ? result.report.value(metric) : watch->last();
    result.report.add("best_" + metric, watch->best(), "best periodic value, state kept in checkpoint-best.pt");
    result.report.add("best_step", static_cast<double>(watch->best_step()), "step of best_" + metric);
    if (watch->degraded(final_value)) {
      result.warnings.push_back("training degraded: " + watch->summary(final_value) +
                                (watch->stopped() ? "; stopped at step " + std::to_string(trainer.step_count()) +
                                                        " (train.on_degrade = stop)"
                                                  : "") +
                                ". Evaluate the best state with: joule eval " + dir + "/checkpoint-best.pt");
    }
  }
  if (auto health = method.sampler_health(); health && health->flagged()) {
    result.report.add("sampler_unhealthy_step", static_cast<double>(health->flagged_step()),
                      std::string("step where ") +
                          (health->flagged_step() == health->tv_flagged_step() ? "the chains' total variation from the model"
                                                                                : "the CD gap") +
                          " had stayed beyond its sampler-health threshold");
    result.warnings.push_back(health->summary() +
                              (health->stopped() ? "; stopped at step " + std::to_string(trainer.step_count()) +
                                                       " (train.on_degrade = stop)"
                                                 : "") +
                              ".");
  }
  io::write_text_file(dir + "/eval.json", result.report.to_json());
  if (!result.report.table.empty()) {
    io::write_text_file(dir + "/eval-table-step" + std::to_string(trainer.step_count()) + ".md",
                        "# " + method.name() + " evaluation, step " + std::to_string(trainer.step_count()) + "\n\n" +
                            result.report.table);
  }
  result.files = method.pictures(dir + "/");
  if (tensorboard) {
    std::vector<std::pair<std::string, double>> values;
    for (const auto& line : result.report.lines) values.emplace_back("eval/" + line.name, line.value);
    tensorboard->add_scalars(values, trainer.step_count());
    for (const auto& file : result.files) {
      if (fs::path(file).extension() != ".png" || !fs::exists(file)) continue;
      std::ifstream in(file, std::ios::binary);
      std::vector<uint8_t> png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      tensorboard->add_png("pictures/" + fs::path(file).stem().string(), png, trainer.step_count());
    }
    tensorboard->flush();
  }
  return result;
}

std::vector<std::pair<std::string, at::Tensor>> weights(Method& method) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, module] : method.trainer().modules().items()) {
    for (const auto& p : module->named_parameters(/*recurse=*/true)) out.emplace_back(name + "." + p.key(), p.value().detach());
    for (const auto& b : module->named_buffers(/*recurse=*/true)) out.emplace_back(name + "." + b.key(), b.value().detach());
  }
  return out;
}

void export_weights(Method& method, const std::string& path, const std::string& format) {
  auto w = weights(method);
  if (format == "safetensors") {
    io::write_safetensors(path, w,
                          {{"format", "pt"},
                           {"joule_method", method.name()},
                           {"joule_step", std::to_string(method.trainer().step_count())},
                           {"joule_config", method.config_toml()}});
  } else if (format == "pt") {
    io::write_torch_dict(path, w);  // torch.load reads it even with weights_only=True
  } else {
    throw config::ConfigError("export format must be safetensors or pt, got '" + format + "'");
  }
}

void import_weights(Method& method, const std::string& path) {
  const std::string head = io::read_text_file(path).substr(0, 2);
  std::map<std::string, at::Tensor> file;
  if (head == "PK") {  // torch.save / pickle_save archives are zip files
    const std::string bytes = io::read_text_file(path);
    auto value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
    TORCH_CHECK(value.isGenericDict(), "'", path, "' holds a ", value.tagKind(), ", not a dict of tensors");
    for (const auto& kv : value.toGenericDict()) {
      TORCH_CHECK(kv.key().isString() && kv.value().isTensor(), "'", path, "' must map names to tensors");
      file[kv.key().toStringRef()] = kv.value().toTensor();
    }
  } else {
    for (auto& [k, v] : io::read_safetensors(path).tensors) file[k] = v;
  }
  std::vector<std::string> missing, wrong;
  auto own = weights(method);
  for (const auto& [k, v] : own) {
    auto it = file.find(k);
    if (it == file.end()) {
      missing.push_back(k);
    } else if (it->second.sizes() != v.sizes()) {
      std::ostringstream os;
      os << k << " (file " << it->second.sizes() << ", model " << v.sizes() << ")";
      wrong.push_back(os.str());
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [k, v] : file) {
    bool known = false;
    for (const auto& o : own) known = known || o.first == k;
    if (!known) unexpected.push_back(k);
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    return v.size() > 8 ? s + ", ... (" + std::to_string(v.size()) + ")" : s;
  };
  TORCH_CHECK(missing.empty() && wrong.empty() && unexpected.empty(), "cannot import '", path, "' into this ", method.name(),
              " model:", missing.empty() ? "" : " missing " + list(missing) + ";",
              wrong.empty() ? "" : " wrong shape " + list(wrong) + ";",
              unexpected.empty() ? "" : " not in the model " + list(unexpected) + ";",
              " was it exported from a run with the same config?");
  torch::NoGradGuard no_grad;
  for (auto& [k, v] : own) v.copy_(file.at(k).to(v.device(), v.scalar_type()));
}

std::vector<std::string> save_samples(const at::Tensor& samples, const std::string& prefix) {
  auto x = samples.detach().cpu();
  std::vector<std::string> files{prefix + ".csv", prefix + ".pt"};
  data::write_csv(files[0], x.reshape({x.size(0), -1}));
  const auto bytes = torch::pickle_save(x);
  io::write_text_file(files[1], std::string(bytes.begin(), bytes.end()));
  if (x.dim() == 2 && x.size(1) == 2) {
    const double e = std::max(1.0, 1.1 * x.abs().max().item<double>());
    files.push_back(prefix + ".png");
    io::write_png(files.back(), io::scatter_plot(x, io::PlotBox{-e, e, -e, e}, "samples"));
  } else if (x.dim() == 4 && (x.size(1) == 1 || x.size(1) == 3)) {
    // Images: a grid of the first 100, values scaled from their own min and max.
    files.push_back(prefix + ".png");
    io::save_image_grid(x.slice(0, 0, std::min<int64_t>(x.size(0), 100)), files.back(), 10);
  }
  return files;
}

}  // namespace joule::methods
