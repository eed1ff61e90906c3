#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) and runs them on their corpora.
#   scripts/fuzz.sh smoke        each target for FUZZ_SECONDS (default 10) s: what the test suite runs
#   scripts/fuzz.sh long         each target for FUZZ_RUNS (default 1000000) executions
#   scripts/fuzz.sh build        build only
# FUZZ_TARGETS="csv idx" picks targets (default: all seven).
# New inputs that reach new code go to build-fuzz/corpus/<target> (copy good ones to fuzz/corpus
# to keep them); a crash leaves crash-* in build-fuzz/ and fails the run.
set -euo pipefail
mode=${1:-smoke}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${JOULE_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${JOULE_JOBS:-$(nproc)}
read -r -a targets <<< "${FUZZ_TARGETS:-csv idx cifar config checkpoint npy png}"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is not installed (apt-get install clang)" >&2
  exit 1
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CXX=clang++ cmake -S "$root/fuzz" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null
[ "$mode" = build ] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
status=0
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  mkdir -p "$work"
  case "$mode" in
    smoke) limit=(-max_total_time="${FUZZ_SECONDS:-10}") ;;
    long) limit=(-runs="${FUZZ_RUNS:-1000000}") ;;
    *) echo "usage: $0 smoke|long|build" >&2; exit 2 ;;
  esac
  # -rss_limit_mb: LibTorch's own footprint is ~300 MB; an input that makes a reader allocate
  # far more than its size is a finding.
  if (cd "$build" && "./fuzz_$t" "$work" "$root/fuzz/corpus/$t" "${limit[@]}" -rss_limit_mb=2048 -timeout=20 \
        -max_len=8192 -print_final_stats=1 >"$build/$t.log" 2>&1); then
    echo "fuzz_$t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$build/$t.log" | grep -o '[0-9]*$') runs, no crash"
  else
    echo "fuzz_$t: FAILED (see $build/$t.log)" >&2
    tail -n 30 "$build/$t.log" >&2
    status=1
  fi
done
exit $status
