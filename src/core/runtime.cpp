#include "joule/core/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>
#if defined(__linux__)
#include <sched.h>
#endif

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <thread>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace joule {

torch::Device resolve_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::kCPU;
  if (spec.rfind("cuda", 0) == 0) {
    TORCH_CHECK(torch::cuda::is_available(), "device '", spec,
                "' was requested but CUDA is not available in this build of LibTorch or on this "
                "machine; use device=cpu or device=auto");
    return torch::Device(spec);
  }
  TORCH_CHECK(false, "unknown device '", spec, "' (allowed: cpu, cuda, cuda:N, auto)");
}

at::Generator make_generator(uint64_t seed, torch::Device device) {
  // Cloning the default generator of the device works for CPU and CUDA alike and in both
  // LibTorch 1.13 and 2.x, without including any CUDA header.
  at::Generator gen = at::globalContext().defaultGenerator(device).clone();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  return gen;
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream * 0xBF58476D1CE4E5B9ULL + 0x94D049BB133111EBULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFFULL;
}

void set_num_threads(int n) {
  TORCH_CHECK(n >= 0, "threads must be >= 0 (0 = LibTorch default), got ", n);
  if (n > 0) at::set_num_threads(n);
  // Debian's LibTorch calls the system BLAS, whose own thread pool at::set_num_threads does
  // not reach. It stays at one thread: with two, OpenBLAS's threads compete for the cores
  // with LibTorch's OpenMP workers, which spin for a while after every parallel op, and a
  // 64×256×256 product right after one took 5 ms instead of 0.08 ms (docs/benchmarks.md).
  // Joule's own products run on oneDNN's sgemm (core/gemm.h), which uses the OpenMP pool.
  set_blas_num_threads(1);
  set_flush_denormal(true);
}

void set_flush_denormal(bool on) {
  // The flag lives in each thread's MXCSR: set it here and in every OpenMP worker (one chunk
  // each); workers created later copy the creating thread's floating-point environment.
  at::globalContext().setFlushDenormal(on);
  const int64_t n = at::get_num_threads();
  at::parallel_for(0, n, 1, [on](int64_t, int64_t) { at::globalContext().setFlushDenormal(on); });
}

int blas_num_threads() {
  using GetThreads = int (*)();
  static const auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? get() : 0;
}

void set_blas_num_threads(int n) {
  TORCH_CHECK(n >= 1, "BLAS threads must be >= 1, got ", n);
  using SetThreads = void (*)(int);
  static const auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set) set(n);
}

int available_cores() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // a fixed value also turns off the dynamic adjustment
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

BlasInfo detect_blas() {
  BlasInfo info;
  // LibTorch on Debian calls the system BLAS through libblas.so.3 (an alternatives link);
  // ask the dynamic linker which object actually provides sgemm_.
  void* sym = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info dl{};
  if (sym && dladdr(sym, &dl) && dl.dli_fname) {
    char resolved[4096];
    info.library = realpath(dl.dli_fname, resolved) ? std::string(resolved) : std::string(dl.dli_fname);
  }
  const bool fast = info.library.find("openblas") != std::string::npos ||
                    info.library.find("mkl") != std::string::npos ||
                    info.library.find("blis") != std::string::npos ||
                    info.library.find("atlas") != std::string::npos ||
                    info.library.find("libtorch") != std::string::npos;
  info.reference = !info.library.empty() && !fast &&
                   (info.library.find("/blas/") != std::string::npos || info.library.find("libblas") != std::string::npos);
  using CoreName = char* (*)();
  static const auto corename = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename && corename()) info.core = corename();
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  info.better_core = openblas_core_suggestion(info.core, avx2_fma, avx512);
#endif
  return info;
}

std::string openblas_core_suggestion(const std::string& core, bool avx2_fma, bool avx512) {
  std::string c = core;
  std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  // OpenBLAS's x86-64 kernel sets without AVX2; a CPU it does not recognise gets one of these.
  static const char* const kOld[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "barcelona",
                                     "opteron", "opteron_sse3", "bobcat", "bulldozer", "piledriver", "steamroller",
                                     "sandybridge", "katmai", "coppermine", "northwood", "banias"};
  const bool old = std::any_of(std::begin(kOld), std::end(kOld), [&](const char* o) { return c == o; });
  if (!old) return "";
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

bool warn_if_reference_blas(std::ostream& os) {
  BlasInfo info = detect_blas();
  if (info.reference) {
    os << "warning: LibTorch is using the reference BLAS (" << info.library
       << "); matrix products run ~14x slower. Install an optimised BLAS: "
          "sudo apt-get install libopenblas0-pthread\n";
    return true;
  }
  if (!info.better_core.empty()) {
    os << "warning: OpenBLAS did not recognise this CPU and runs its " << info.core
       << " kernels, which use no AVX2; matrix products are slower than they need be. Start the process with "
          "OPENBLAS_CORETYPE="
       << info.better_core << " in its environment\n";
    return true;
  }
  return false;
}


std::string torch_version() { return TORCH_VERSION; }

}  // namespace joule
