#!/usr/bin/env bash
# Joule against the LibTorch 2.x with CUDA that pip's `torch` wheel ships (scripts/torch_cuda.sh:
# a cached virtual environment; the wheel's CMake package is torch.utils.cmake_prefix_path): every
# target, Release, into build-cuda, then the unit tests on whatever the machine has (the CPU here).
# This is the build for a GPU machine. CI builds the same configuration with ASan + UBSan instead
# (scripts/sanitize.sh with JOULE_SANITIZE_TORCH=cuda). Debian's LibTorch 1.13 (CPU) stays the
# default build (scripts/setup.sh build|demo|test).
#   JOULE_CUDA_BUILD_DIR  build folder (default build-cuda)
#   JOULE_JOBS            parallel jobs (default: nproc)
#   JOULE_TORCH_VENV, JOULE_TORCH_VERSION: see scripts/torch_cuda.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${JOULE_CUDA_BUILD_DIR:-$root/build-cuda}
jobs=${JOULE_JOBS:-$(nproc)}
source "$root/scripts/torch_cuda.sh"

echo "== building every target against torch $torch_version ($torch_dir) in $build ($jobs jobs)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "${torch_cmake_args[@]}" >/dev/null
cmake --build "$build" -j "$jobs"
echo "== the unit tests, built against torch $torch_version with CUDA (LD_LIBRARY_PATH has its CUDA libraries)"
ctest --test-dir "$build" -L unit --output-on-failure -j "$jobs"
