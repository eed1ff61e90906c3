#pragma once
// Process-level set-up: device choice, thread count, BLAS check, explicit random generators.

#include <ATen/ATen.h>

#include <cstdint>
#include <ostream>
#include <string>

namespace joule {

/// Parses "cpu", "cuda", "cuda:N" or "auto" (CUDA when available, else CPU). Asking for CUDA
/// on a machine without it is an error that says so.
torch::Device resolve_device(const std::string& spec);

/// A new generator for `device`, seeded with `seed`, independent of the global default one.
/// Every stochastic Joule call takes a generator, so a seed reproduces a run.
at::Generator make_generator(uint64_t seed, torch::Device device = torch::kCPU);

/// The seed of sub-stream `stream` of run seed `seed` (SplitMix64 of both): methods draw their
/// data, test data, initial weights and evaluation from independent streams of one run seed, so
/// nearby seeds give unrelated streams and one stream's use does not shift another's.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

/// Sets LibTorch's intra-op thread count. Measured on a 2-core machine (docs/benchmarks.md):
/// small networks run 2–4× slower on two threads than on one, large matrix products gain from
/// two, so the choice is explicit. n = 0 keeps LibTorch's default. The system BLAS (OpenBLAS)
/// is kept at one thread whatever n is: its own pool contends with LibTorch's OpenMP workers.
/// Also turns on set_flush_denormal().
void set_num_threads(int n);

/// Treats subnormal floats (|x| < 1.2e-38 in float32) as zero in this thread and LibTorch's
/// worker threads (x86 FTZ/DAZ; torch.set_flush_denormal). Without it, values that underflow
/// while a network trains make CPU arithmetic slow: a video-VAE step took 3× as long after 3000
/// steps (docs/benchmarks.md). set_num_threads() turns it on; returns nothing, no effect off x86.
void set_flush_denormal(bool on);

/// OpenBLAS's own thread count, or 0 when LibTorch's BLAS is not OpenBLAS (nothing to query).
int blas_num_threads();

/// Sets OpenBLAS's own thread pool to n threads (no effect without OpenBLAS). set_num_threads
/// already keeps it at 1; this is for measuring the alternative (bench/bench_layers.cpp).
void set_blas_num_threads(int n);

/// The thread count to use when none is given: OMP_NUM_THREADS when set to a positive number,
/// else the cores this process may run on (its CPU affinity mask). LibTorch's own default can
/// be lower (one on the 2-core development machine, where two are faster for every config we
/// timed since OpenBLAS stopped contending; docs/benchmarks.md).
int available_cores();

/// Keeps freed heap memory in the process rather than returning it to the OS after every step
/// (glibc malloc: fixed 32 MiB mmap threshold, 256 MiB trim threshold). LibTorch's CPU
/// allocator does not cache, so without this, tensors of a few MB can re-fault their pages on
/// every step once a larger temporary has moved glibc's dynamic thresholds: the LSD test's
/// critic training measured 2× slower (docs/benchmarks.md). The CLI and the benchmarks call it
/// once at start; retains at most the trim threshold. No effect off glibc.
void keep_freed_memory();

/// Which BLAS LibTorch's CPU matrix products resolve to at run time.
struct BlasInfo {
  std::string library;   ///< path of the shared object providing sgemm_, or "" if none found
  bool reference = false;  ///< true for the slow netlib reference BLAS
  /// OpenBLAS's kernel set for this CPU (openblas_get_corename(), e.g. "Haswell"), "" if not OpenBLAS.
  std::string core;
  /// An OPENBLAS_CORETYPE with faster kernels this CPU runs, when OpenBLAS fell back to old ones
  /// because it did not recognise the CPU (see openblas_core_suggestion); "" otherwise.
  std::string better_core;
};
/// Finds the shared object that provides sgemm_, whether it is the reference BLAS, and
/// OpenBLAS's kernel set.
BlasInfo detect_blas();

/// The OPENBLAS_CORETYPE to ask for when OpenBLAS chose `core` on a CPU with these instruction
/// sets: "SkylakeX" (AVX-512 F/BW/DQ/VL) or "Haswell" (AVX2 + FMA) when `core` is a kernel set
/// without AVX2 (e.g. "Prescott", OpenBLAS's fallback for a CPU model it does not know, such as
/// some virtual machines' "Intel Xeon Processor"); "" when `core` already uses AVX2 or is unknown.
/// Measured on such a VM: JEM's training steps 1.7× faster with SkylakeX than with Prescott.
std::string openblas_core_suggestion(const std::string& core, bool avx2_fma, bool avx512);

/// Writes a warning to `os` when the reference BLAS is in use (about 14× slower matrix
/// products; fix: install libopenblas0-pthread) or OpenBLAS runs kernels older than the CPU
/// (fix: start the process with OPENBLAS_CORETYPE set; OpenBLAS reads it only as it loads, so a
/// running process cannot switch, and Joule does not re-execute itself: a library program and the
/// CLI on one machine compute with the same kernels). Returns true if it warned.
bool warn_if_reference_blas(std::ostream& os);


/// "1.13.0" etc.: the LibTorch version Joule was compiled against.
std::string torch_version();

}  // namespace joule
