#include "tools/joule/args.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "joule/core/cpu_load.h"
#include "joule/core/gemm.h"
#include "joule/core/runtime.h"

namespace joule::cli {

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

config::Document make_document(const std::string& source, const ParsedArgs& args, const std::string& command,
                               const std::vector<std::string>& allowed_prefixes) {
  config::Document doc;
  if (!source.empty()) {
    namespace fs = std::filesystem;
    if (fs::is_directory(source)) {
      throw UsageError("'" + source + "' is a folder, not a config file or a preset" +
                       (fs::exists(fs::path(source) / "checkpoint.pt")
                            ? "; to continue that run: joule train train.resume=" + source + " train.steps=<more>"
                            : ""));
    }
    const bool looks_like_file = source.find('/') != std::string::npos ||
                                 (source.size() > 5 && source.compare(source.size() - 5, 5, ".toml") == 0);
    if (!fs::exists(source) && looks_like_file) {
      throw std::runtime_error("config file '" + source + "' does not exist");  // a missing file: exit 1
    }
    doc = fs::exists(source) ? config::Document::from_file(source) : config::preset(source);
  }
  // Short names: the aliases of the run options, the same for every method.
  methods::RunConfig run;
  const auto run_fields = config::schema([&run](config::Fields& f) { f.section("run", run); });
  for (const auto& [raw_key, value] : args.overrides) {
    std::string key = raw_key;
    for (const auto& f : run_fields) {
      for (const auto& a : f.doc.aliases()) {
        if (a == raw_key) key = f.key;
      }
    }
    if (!allowed_prefixes.empty()) {
      bool ok = false;
      for (const auto& p : allowed_prefixes) ok = ok || key.rfind(p, 0) == 0;
      if (!ok) {
        std::string list;
        for (const auto& p : allowed_prefixes) list += (list.empty() ? "" : ", ") + p + (p.back() == '.' ? "*" : "");
        throw UsageError("option '" + key + "' does not apply to 'joule " + command + "' (it takes " + list + ")");
      }
    }
    doc.set(key, value, "command line");
  }
  return doc;
}

namespace {

char** command_line = nullptr;

// Idle OpenMP workers spin before they sleep; beside other busy work that made a 2-thread loop
// 4-7x slower, and sleeping workers only 1.5x (docs/benchmarks.md, "Threads on a shared
// machine"). libgomp reads its policy when it is loaded, so the process restarts itself.
void sleep_idle_workers_if_busy(int threads, std::ostream& err) {
  if (threads <= 1 || command_line == nullptr || openmp_wait_policy_chosen()) return;
  const double busy = busy_cores(0.1);
  if (busy < 0.5) return;
  char cores[32];
  std::snprintf(cores, sizeof cores, "%.1f of %d", busy, available_cores());
  err << "joule: " << cores << " cores are busy with other work; restarting with OMP_WAIT_POLICY=PASSIVE so that idle "
      << "OpenMP workers sleep instead of spinning (set OMP_WAIT_POLICY yourself, or run.threads=1, to choose)\n";
  err.flush();
  std::cout.flush();
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", command_line);
  err << "joule: could not restart (" << std::strerror(errno) << "); going on with spinning workers\n";
}

}  // namespace

void remember_command_line(char** argv) { command_line = argv; }

torch::Device setup_runtime(const methods::RunConfig& run, std::ostream& err) {
  keep_freed_memory();
  const int threads = run.threads > 0 ? static_cast<int>(run.threads) : available_cores();
  sleep_idle_workers_if_busy(threads, err);
  set_num_threads(threads);
  torch::Device device = torch::kCPU;
  try {
    device = resolve_device(run.device);
  } catch (const c10::Error& e) {
    throw UsageError(e.what_without_backtrace());
  }
  warn_if_reference_blas(err);
  const auto blas = detect_blas();
  if (!blas.reference) {  // an old-kernels warning still comes with the status line
    err << "joule: LibTorch " << torch_version() << ", device " << device.str() << ", " << at::get_num_threads()
        << " thread(s) (idle: " << openmp_wait_description() << "), BLAS " << (blas.library.empty() ? "unknown" : blas.library);
    if (!blas.core.empty()) err << " (" << blas.core << " kernels)";
    err << ", sampler GEMM " << gemm_backend() << "\n";
  }
  return device;
}

}  // namespace joule::cli
