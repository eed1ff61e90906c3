#include "tools/joule/command_common.h"

#include <ATen/Parallel.h>

#include <filesystem>
#include <iomanip>
#include <sstream>

#include "joule/core/gemm.h"
#include "joule/core/runtime.h"
#include "joule/io/checkpoint.h"

namespace joule::cli {

namespace fs = std::filesystem;

ParsedArgs parse_args(const std::vector<std::string>& args) {
  ParsedArgs p;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      p.help = true;
    } else if (a.rfind("--", 0) == 0) {
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        p.overrides.emplace_back(a.substr(2, eq - 2), a.substr(eq + 1));
      } else {
        if (i + 1 >= args.size()) throw UsageError("option " + a + " needs a value (" + a + " VALUE or " + a + "=VALUE)");
        p.overrides.emplace_back(a.substr(2), args[++i]);
      }
    } else if (a.find('=') != std::string::npos) {
      const auto eq = a.find('=');
      p.overrides.emplace_back(a.substr(0, eq), a.substr(eq + 1));
    } else {
      p.positional.push_back(a);
    }
  }
  return p;
}

void apply_overrides(Config& cfg, const ParsedArgs& args) {
  for (const auto& kv : args.overrides) cfg.set(kv.first, kv.second, "command line");
}

torch::Device setup_runtime(const Config& cfg, std::ostream& err) {
  keep_freed_memory();
  const int threads = static_cast<int>(cfg.get_int("run.threads"));
  set_num_threads(threads > 0 ? threads : available_cores());
  torch::Device device = torch::kCPU;
  try {
    device = resolve_device(cfg.get_string("run.device"));
  } catch (const c10::Error& e) {
    throw UsageError(e.what_without_backtrace());
  }
  if (!warn_if_reference_blas(err)) {
    const auto blas = detect_blas();
    err << "joule: LibTorch " << torch_version() << ", device " << device.str() << ", " << at::get_num_threads()
        << " thread(s), BLAS " << (blas.library.empty() ? "unknown" : blas.library) << ", sampler GEMM "
        << gemm_backend() << "\n";
  }
  return device;
}

std::string resolve_checkpoint(const std::string& path) {
  if (fs::is_directory(path)) {
    const std::string ckpt = (fs::path(path) / "checkpoint.pt").string();
    if (!fs::exists(ckpt)) throw UsageError("run folder '" + path + "' has no checkpoint.pt");
    return ckpt;
  }
  if (!fs::exists(path)) throw UsageError("checkpoint '" + path + "' does not exist");
  return path;
}

std::string parent_dir(const std::string& path) {
  auto p = fs::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

std::unique_ptr<train::Trainer> make_trainer(const Config& cfg, Pipeline& pipeline) {
  auto opts = train::TrainerOptions()
                  .steps(cfg.get_int("train.steps"))
                  .batch_size(cfg.get_int("train.batch_size"))
                  .optimizer(train::parse_optimizer(cfg.get_string("train.optimizer")))
                  .lr(cfg.get_float("train.lr"))
                  .lr_schedule(train::parse_lr_schedule(cfg.get_string("train.lr_schedule")))
                  .warmup_steps(cfg.get_int("train.warmup_steps"))
                  .beta1(cfg.get_float("train.beta1"))
                  .beta2(cfg.get_float("train.beta2"))
                  .momentum(cfg.get_float("train.momentum"))
                  .weight_decay(cfg.get_float("train.weight_decay"))
                  .grad_clip_norm(cfg.get_float("train.grad_clip_norm"))
                  .energy_bound(cfg.get_float("train.energy_bound"))
                  .loss_bound(cfg.get_float("train.loss_bound"))
                  .max_restarts(cfg.get_int("train.max_restarts"))
                  .restart_lr_factor(cfg.get_float("train.restart_lr_factor"))
                  .seed(static_cast<uint64_t>(cfg.get_int("run.seed")));
  return std::make_unique<train::Trainer>(pipeline.model(), pipeline.objective(), pipeline.data(), opts);
}

Restored restore_run(const std::string& path, torch::Device device) {
  Restored r;
  r.checkpoint = resolve_checkpoint(path);
  r.run_dir = parent_dir(r.checkpoint);
  auto meta = train::read_checkpoint_metadata(r.checkpoint);
  auto it = meta.find("config");
  if (it == meta.end()) throw UsageError("checkpoint '" + r.checkpoint + "' has no saved config (not written by joule train)");
  r.train_config.load_string(it->second, r.checkpoint + " (saved config)");
  r.pipeline = make_pipeline(r.train_config.get_string("method"));
  r.pipeline->build(r.train_config, device);
  r.trainer = make_trainer(r.train_config, *r.pipeline);
  r.trainer->load(r.checkpoint);
  return r;
}

std::string report(const std::vector<ReportLine>& lines, int64_t step, const std::string& method, std::ostream& out) {
  std::ostringstream json;
  json << std::setprecision(10) << "{\n  \"step\": " << step << ",\n  \"method\": \"" << method << "\",\n  \"metrics\": {";
  size_t width = 0;
  for (const auto& l : lines) width = std::max(width, l.name.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& l = lines[i];
    out << "  " << std::left << std::setw(int(width) + 2) << l.name << std::right << std::setw(12) << std::setprecision(5)
        << l.value << "   " << l.note << "\n";
    json << (i ? ",\n    \"" : "\n    \"") << l.name << "\": ";
    if (std::isfinite(l.value)) {
      json << l.value;
    } else {
      json << "null";
    }
  }
  json << "\n  },\n  \"notes\": {";
  for (size_t i = 0; i < lines.size(); ++i) {
    json << (i ? ",\n    \"" : "\n    \"") << lines[i].name << "\": \"";
    for (char c : lines[i].note) json << (c == '"' || c == '\\' ? '\'' : c);
    json << "\"";
  }
  json << "\n  }\n}\n";
  return json.str();
}

}  // namespace joule::cli
