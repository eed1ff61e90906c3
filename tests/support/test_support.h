#pragma once
// Helpers shared by Joule's tests: scratch folders and running the joule binary.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include "joule/core/runtime.h"

namespace joule::testing {

/// A fresh folder under the system temp dir, removed when the object goes out of scope.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "joule-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
    char* p = ::mkdtemp(tmpl.data());
    path_ = p ? std::string(p) : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Result of running a shell command.
struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs `command` through the shell in `cwd`, capturing stdout+stderr.
inline CommandResult run_command(const std::string& command, const std::string& cwd = ".") {
  CommandResult r;
  const std::string full = "cd '" + cwd + "' && " + command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// The message of the c10::Error that `f` throws (without backtrace), or "" if it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {  // ConfigError, runtime errors of missing files
    return e.what();
  }
  return "";
}

/// Runs LibTorch (and OpenBLAS) on one thread while in scope: statistical tests whose numbers
/// were measured at one thread stay bit-reproducible; restores the previous count.
class OneThread {
 public:
  OneThread() : saved_(at::get_num_threads()) { joule::set_num_threads(1); }
  ~OneThread() { joule::set_num_threads(saved_); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int saved_;
};

#ifdef JOULE_BIN
/// The shell command `joule ARGS`, on one thread unless ARGS say otherwise: ctest runs two tests
/// at once on two cores (two OpenMP threads sharing a core with another test ran the default job
/// 4x slower), and the numbers the tests check were measured at one thread.
inline std::string joule_command(const std::string& args) {
  return "OMP_NUM_THREADS=1 " + std::string(JOULE_BIN) + " " + args;
}

/// A test that runs the joule binary (JOULE_BIN) in its own scratch folder.
class CliTestBase : public ::testing::Test {
 protected:
  explicit CliTestBase(const std::string& tag) : dir_(tag) {}
  /// `p` inside the scratch folder.
  std::string path(const std::string& p) const { return dir_ / p; }
  /// `joule ARGS` (see joule_command) run in the scratch folder.
  CommandResult joule(const std::string& args) { return run_command(joule_command(args), dir_.path()); }
  TempDir dir_;
};
#endif

}  // namespace joule::testing
