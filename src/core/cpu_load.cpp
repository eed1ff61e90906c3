#include "joule/core/cpu_load.h"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace joule {
namespace {

struct CpuTimes {
  double busy = 0, total = 0;
  int cores = 0;
};

bool read_cpu_times(CpuTimes& out) {
  std::ifstream f("/proc/stat");
  if (!f) return false;
  std::string line;
  bool found = false;
  while (std::getline(f, line)) {
    if (line.rfind("cpu", 0) != 0) break;  // the cpu lines come first
    std::istringstream in(line);
    std::string name;
    in >> name;
    if (name == "cpu") {
      // user nice system idle iowait irq softirq steal (guest time is already in user)
      std::vector<double> v;
      double x;
      while (v.size() < 8 && in >> x) v.push_back(x);
      if (v.size() < 5) return false;
      v.resize(8, 0.0);
      out.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
      out.total = out.busy + v[3] + v[4];
      found = true;
    } else {
      ++out.cores;
    }
  }
  return found && out.cores > 0;
}

}  // namespace

double busy_cores(double seconds) {
  CpuTimes a, b;
  if (!read_cpu_times(a)) return -1;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  if (!read_cpu_times(b) || b.total <= a.total) return -1;
  return (b.busy - a.busy) / (b.total - a.total) * b.cores;
}

std::string openmp_wait_description() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spins = std::getenv("GOMP_SPINCOUNT");
  if (spins && *spins) return std::string("spin ") + spins + " times, then sleep (GOMP_SPINCOUNT)";
  if (policy && *policy) {
    std::string p(policy);
    for (auto& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (p == "passive") return "sleep (OMP_WAIT_POLICY=PASSIVE)";
    if (p == "active") return "spin (OMP_WAIT_POLICY=ACTIVE)";
  }
  return "spin, then sleep (libgomp default)";
}

bool openmp_wait_policy_chosen() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spins = std::getenv("GOMP_SPINCOUNT");
  return (policy && *policy) || (spins && *spins);
}

}  // namespace joule
