#pragma once
// What the subcommands share: argument parsing, building the configuration document (a file or
// preset, then key=value overrides), the process set-up, and the exit-code errors.

#include <torch/types.h>

#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "joule/config/options.h"
#include "joule/distributed/communicator.h"
#include "joule/methods/method.h"

namespace joule::cli {

/// A mistake on the command line: exit code 2, nothing written (as config::ConfigError).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ParsedArgs {
  bool help = false;
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> overrides;  ///< key, value in command-line order
};

/// Accepts `key=value`, `--key=value`, `--key value`, `--help`/`-h`, and positionals.
ParsedArgs parse_args(const std::vector<std::string>& args);

/// A document from a config file or preset name (`source`, may be empty) with the overrides on
/// top. Short names (`--seed`, `--device`, ...) become their full keys; keys outside
/// `allowed_prefixes` (when given) are refused as not applying to `command`.
config::Document make_document(const std::string& source, const ParsedArgs& args, const std::string& command,
                               const std::vector<std::string>& allowed_prefixes = {});

/// Sets the thread count (run.threads; 0 = every available core), resolves run.device and
/// reports LibTorch, device, threads and BLAS (or warns about the slow reference BLAS) on `err`.
torch::Device setup_runtime(const methods::RunConfig& run, std::ostream& err);

/// Keeps the process's command line, so that setup_runtime() can re-execute it: with more than
/// one thread on a machine that other work keeps busy, and no wait policy in the environment, it
/// restarts the process with OMP_WAIT_POLICY=PASSIVE (libgomp reads the policy only at start).
void remember_command_line(char** argv);

/// Takes `--nproc N` (also `--nproc=N`, `nproc=N`) out of `args`; 0 when absent. A value that is
/// not a positive integer is a UsageError.
int64_t take_nproc(std::vector<std::string>& args);

/// `joule train --nproc N`: starts N copies of `joule train args...` on this machine as the ranks
/// of one data-parallel job (torchrun's environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
/// MASTER_PORT on a free loopback port; OMP_NUM_THREADS = cores / N unless set), shows rank 0's
/// output, and waits. When a worker dies, the others are stopped and the message names the rank
/// and how it ended, and how to continue in `run_folder`; the exit code is the first failing worker's (128 + signal if killed).
int launch_workers(int64_t nproc, const std::vector<std::string>& args, const std::string& run_folder, std::ostream& err);

/// Joins the data-parallel job the environment describes (a worker that launch_workers or torchrun
/// started; WORLD_SIZE set) for a rank training on `device_spec` (run.device: a GPU job gives each
/// process its own GPU and, with a NCCL build, the NCCL backend), or null when WORLD_SIZE is not set.
std::shared_ptr<distributed::Communicator> join_job_from_environment(const std::string& device_spec);

}  // namespace joule::cli
