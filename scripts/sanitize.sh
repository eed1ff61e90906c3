#!/usr/bin/env bash
# Builds the library, the CLI and the unit and robustness tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc; CMake option JOULE_SANITIZE) and runs those tests under them.
# The robustness tests drive the sanitized CLI through bad input, corrupt files and signals, so
# the error paths are checked for memory errors too. scripts/setup.sh test runs this after the
# main suite (skip with JOULE_SANITIZERS=0). Integration tests (real trainings, ~3x slower under
# ASan) and the libFuzzer runs (already sanitized: scripts/fuzz.sh) are left to the main suite.
#   JOULE_ASAN_BUILD_DIR  build folder (default build-asan)
#   JOULE_JOBS            parallel jobs (default: nproc)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${JOULE_ASAN_BUILD_DIR:-$root/build-asan}
jobs=${JOULE_JOBS:-$(nproc)}

# -g1 puts the build folder into the objects, so ccache would miss in every fresh clone (CI)
# without this; the line tables then name the folder that first compiled a file.
export CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJOULE_SANITIZE=address,undefined \
  -DJOULE_BUILD_BENCH=OFF -DJOULE_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target joule_exe joule_unit_tests joule_robustness_tests

# Leaks are reported except LibTorch's own process-lifetime allocations (fuzz/lsan.supp); any
# finding fails the test that hit it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" -L "unit|robustness" -E "fuzz_smoke" --output-on-failure -j "$jobs"
