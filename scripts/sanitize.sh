#!/usr/bin/env bash
# Builds Joule with AddressSanitizer and UndefinedBehaviorSanitizer (gcc; CMake option
# JOULE_SANITIZE) and runs the unit and robustness tests under them. The robustness tests drive
# the sanitized CLI through bad input, corrupt files and signals, so the error paths are checked
# for memory errors too. Integration tests (real trainings, ~3x slower under ASan) and the
# libFuzzer runs (already sanitized: scripts/fuzz.sh) are left to the main suite.
#
# Which LibTorch (JOULE_SANITIZE_TORCH):
#   cuda    (what scripts/setup.sh test, i.e. CI, runs) pip's LibTorch 2.x with CUDA
#           (scripts/torch_cuda.sh), at -O1 in build-asan-cuda: the library, CLI, Python module
#           and the unit and robustness tests. This one build is both CI's sanitizer pass and its
#           check that Joule builds against LibTorch 2.x with CUDA enabled and passes its unit
#           tests there (on the CPU). Benchmarks and integration tests build in the main (1.13)
#           build only, which keeps a cold CI run under an hour on 2 cores; scripts/cuda_build.sh
#           builds every target against 2.x.
#   debian  (default when run by hand) Debian's LibTorch 1.13, the library, CLI and those tests
#           at -O3 in build-asan.
#   JOULE_ASAN_BUILD_DIR  build folder
#   JOULE_JOBS            parallel jobs (default: nproc)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOULE_JOBS:-$(nproc)}
torch=${JOULE_SANITIZE_TORCH:-debian}

# -g1 puts the build folder into the objects, so ccache would miss in every fresh clone (CI)
# without this; the line tables then name the folder that first compiled a file.
export CCACHE_NOHASHDIR=1
case "$torch" in
  debian)
    build=${JOULE_ASAN_BUILD_DIR:-$root/build-asan}
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJOULE_SANITIZE=address,undefined \
      -DJOULE_BUILD_BENCH=OFF -DJOULE_BUILD_PYTHON=OFF >/dev/null
    cmake --build "$build" -j "$jobs" --target joule_exe joule_unit_tests joule_robustness_tests
    ;;
  cuda)
    build=${JOULE_ASAN_BUILD_DIR:-$root/build-asan-cuda}
    source "$root/scripts/torch_cuda.sh"
    echo "== the library, CLI, Python module and unit and robustness tests against torch $torch_version with CUDA ($torch_dir), ASan + UBSan, in $build"
    # -O1 (the sanitizers' usual level) compiles in about half the time of -O3.
    # The API reference (Doxygen) is the main build's; it is the same from any LibTorch.
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS=-O1 -DJOULE_SANITIZE=address,undefined \
      -DJOULE_BUILD_BENCH=OFF -DCMAKE_DISABLE_FIND_PACKAGE_Doxygen=ON "${torch_cmake_args[@]}" >/dev/null
    targets=(joule_exe joule_unit_tests joule_robustness_tests)
    # The module builds where pybind11 and Python's headers are found (python/CMakeLists.txt).
    cmake --build "$build" --target help | grep -q "joule_python" && targets+=(joule_python)
    cmake --build "$build" -j "$jobs" --target "${targets[@]}"
    ;;
  *) echo "JOULE_SANITIZE_TORCH must be debian or cuda, got '$torch'" >&2; exit 2 ;;
esac

# Leaks are reported except LibTorch's own process-lifetime allocations (fuzz/lsan.supp); any
# finding fails the test that hit it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Two tests at a time on a 2-core machine: each keeps to one OpenMP thread. pip's LibTorch brings
# its own libgomp, whose spinning workers made two 2-thread tests side by side 5-10x slower.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# The unit tests run as shards of their executable, $jobs at a time, not one process per test:
# under ASan each process spends about a second loading LibTorch (and pip's CUDA libraries), which
# was half of this pass for ~560 short tests. Twice as many shards as jobs even out the long
# tests. The robustness tests drive the CLI and keep ctest's isolation.
logs=$build/sanitize-logs
rm -rf "$logs" && mkdir -p "$logs"
shards=$((2 * jobs))
export JOULE_SHARD_DIR=$build/tests JOULE_SHARD_LOGS=$logs JOULE_SHARDS=$shards
seq 0 $((shards - 1)) | xargs -P "$jobs" -I{} bash -c \
  'cd "$JOULE_SHARD_DIR"; GTEST_TOTAL_SHARDS=$JOULE_SHARDS GTEST_SHARD_INDEX={} timeout 3600 ./joule_unit_tests \
     >"$JOULE_SHARD_LOGS/unit-{}.log" 2>&1; echo $? >"$JOULE_SHARD_LOGS/unit-{}.rc"' || true
failed=0
for ((i = 0; i < shards; i++)); do
  log=$logs/unit-$i.log
  # The exit status too: a leak report comes after gtest's summary.
  if [ "$(cat "$logs/unit-$i.rc" 2>/dev/null)" = 0 ] && grep -q "^\[  PASSED  \]" "$log"; then
    echo "unit tests, shard $i of $shards: $(grep "^\[  PASSED  \]" "$log")"
  else
    failed=1
    echo "== unit tests, shard $i of $shards, failed (the whole log: $log):"
    grep -E "^\[  FAILED  \]|ERROR: AddressSanitizer|runtime error:|SUMMARY:" "$log" | head -40
    tail -n 60 "$log"
  fi
done
ctest --test-dir "$build" -L robustness -E "fuzz_smoke" --output-on-failure -j "$jobs"
[ "$failed" = 0 ] || { echo "error: unit tests failed under the sanitizers (above)" >&2; exit 1; }
