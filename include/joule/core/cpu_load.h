#pragma once
// How busy the machine is, and how LibTorch's OpenMP workers wait. Debian's LibTorch runs its
// intra-op threads on GNU OpenMP, whose idle workers spin (about 300,000 iterations by default)
// before they sleep. Alone, that makes small parallel operations fast; beside another busy
// process, each parallel region waits for a worker that the other process has displaced, and a
// 2-thread Langevin loop ran 4–7× slower than alone (docs/benchmarks.md, "Threads on a shared
// machine"). libgomp reads its wait policy once, when it is loaded, from OMP_WAIT_POLICY and
// GOMP_SPINCOUNT; the joule command re-executes itself with OMP_WAIT_POLICY=PASSIVE when it finds
// the machine busy at start.

#include <string>

namespace joule {

/// The number of cores kept busy by other work, averaged over `seconds` of this thread's sleep,
/// from /proc/stat (user, nice, system, irq, softirq, steal time of all cores; this process is
/// asleep meanwhile, so it counts only if its own other threads run). Returns −1 where /proc/stat
/// cannot be read.
double busy_cores(double seconds = 0.1);

/// How the OpenMP workers wait, from the environment libgomp read at start: "spin, then sleep
/// (libgomp default)", "sleep (OMP_WAIT_POLICY=PASSIVE)", "spin (OMP_WAIT_POLICY=ACTIVE)" or
/// "spin N times, then sleep (GOMP_SPINCOUNT=N)".
std::string openmp_wait_description();

/// True when the environment sets the wait policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT).
bool openmp_wait_policy_chosen();

}  // namespace joule
