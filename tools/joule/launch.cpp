// `joule train --nproc N`: one data-parallel job of N worker processes on this machine.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <c10/util/Exception.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include <torch/cuda.h>

#include "joule/core/runtime.h"
#include "tools/joule/args.h"

namespace joule::cli {
namespace {

// A loopback port nobody listens on now (the kernel picks it); rank 0's TCPStore binds it.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 29500;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 29500;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

volatile sig_atomic_t g_forward_signal = 0;
void remember_signal(int sig) { g_forward_signal = sig; }

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return std::string("was killed by signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

int64_t take_nproc(std::vector<std::string>& args) {
  int64_t nproc = 0;
  std::vector<std::string> kept;
  auto parse = [](const std::string& v) {
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 1 || n > 1024) {
      throw UsageError("--nproc must be a number of processes in 1..1024, got '" + v + "'");
    }
    return static_cast<int64_t>(n);
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--nproc") {
      if (i + 1 >= args.size()) throw UsageError("--nproc needs a number of processes (--nproc N)");
      nproc = parse(args[++i]);
    } else if (a.rfind("--nproc=", 0) == 0) {
      nproc = parse(a.substr(8));
    } else if (a.rfind("nproc=", 0) == 0) {
      nproc = parse(a.substr(6));
    } else {
      kept.push_back(a);
    }
  }
  args = std::move(kept);
  return nproc;
}

std::shared_ptr<distributed::Communicator> join_job_from_environment(const std::string& device_spec) {
  const char* world = std::getenv("WORLD_SIZE");
  if (!world || !*world) return nullptr;
  distributed::DistributedOptions options;
  torch::Device device = torch::kCPU;
  try {
    options = distributed::DistributedOptions::from_environment();
    device = distributed::rank_device(options, resolve_device(device_spec), static_cast<int64_t>(torch::cuda::device_count()));
    // Fail on a wrong backend choice before meeting the other workers (each fails alike).
    distributed::choose_backend(options.backend, device, distributed::nccl_available());
  } catch (const c10::Error& e) {
    throw UsageError(e.what_without_backtrace());
  }
  return distributed::connect(options, device);
}

int launch_workers(int64_t nproc, const std::vector<std::string>& args, const std::string& run_folder, std::ostream& err) {
  if (std::getenv("WORLD_SIZE")) {
    throw UsageError("--nproc starts its own workers; it cannot be used inside a job that already set WORLD_SIZE (torchrun)");
  }
  const int port = free_port();
  const int cores = available_cores();
  const std::string threads = std::to_string(std::max<int64_t>(1, cores / nproc));
  err << "joule: starting " << nproc << " worker processes (ranks 0.." << nproc - 1 << ", c10d store on 127.0.0.1:" << port
      << ", " << (std::getenv("OMP_NUM_THREADS") ? std::string(std::getenv("OMP_NUM_THREADS")) : threads)
      << " thread(s) each); rank 0 writes the run folder\n";
  err.flush();

  std::vector<std::string> argv_text{"joule", "train"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::map<pid_t, int64_t> ranks;
  for (int64_t r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      err << "joule: could not start worker " << r << ": " << std::strerror(errno) << "\n";
      for (const auto& [p, rank] : ranks) ::kill(p, SIGTERM);
      return 1;
    }
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("OMP_NUM_THREADS", threads.c_str(), 0);
      std::vector<char*> argv;
      for (auto& a : argv_text) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "joule: worker %lld could not start: %s\n", static_cast<long long>(r), std::strerror(errno));
      ::_exit(127);
    }
    ranks[pid] = r;
  }

  // Ctrl-C / SIGTERM reach the workers (which save and stop together); the launcher waits for them.
  struct sigaction sa {};
  sa.sa_handler = remember_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);

  int result = 0;
  bool failed = false, forwarded = false, term_sent = false;
  int64_t first_rank = 0;
  int first_status = 0;
  std::chrono::steady_clock::time_point kill_at{};
  // Tells why, then asks the remaining workers to stop (SIGKILL 10 s later).
  auto stop_others = [&]() {
    err << "joule: worker rank " << first_rank << " " << describe(first_status);
    if (!ranks.empty()) err << "; stopping the other " << ranks.size() << " worker(s)";
    err << ". The last checkpoint rank 0 wrote is kept; continue with: joule train --nproc N train.resume=" << run_folder << "\n";
    err.flush();
    for (const auto& [p, other] : ranks) {
      ::kill(p, SIGTERM);
      ::kill(p, SIGCONT);  // a stopped worker handles it too
    }
    term_sent = true;
    kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  };
  while (!ranks.empty()) {
    if (g_forward_signal) {
      for (const auto& [p, rank] : ranks) ::kill(p, g_forward_signal);
      g_forward_signal = 0;
      forwarded = true;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0 && ranks.count(pid)) {
      const int64_t rank = ranks[pid];
      ranks.erase(pid);
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && forwarded) {
        if (result == 0) result = exit_code(status);  // stopped by the user: the workers report it
      } else if (!ok && !failed) {
        failed = true;
        result = exit_code(status);
        first_rank = rank;
        first_status = status;
        if (WIFSIGNALED(status)) {
          // Died: the others would wait for it until their timeout.
          stop_others();
        } else {
          // An error it reported itself (a bad file, divergence): the others usually end the same
          // way at once; stop them if they do not.
          kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        }
      } else if (!ok && failed && !term_sent && WIFSIGNALED(status)) {
        // The first to go reported an error because this one had died (its collective failed):
        // name the one that died.
        result = exit_code(status);
        first_rank = rank;
        first_status = status;
        stop_others();
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (failed && !ranks.empty() && std::chrono::steady_clock::now() > kill_at) {
      if (!term_sent) {
        stop_others();
      } else {
        for (const auto& [p, other] : ranks) ::kill(p, SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

}  // namespace joule::cli
