#!/usr/bin/env bash
# Joule setup: installs the Debian packages Joule needs (only the missing ones), builds, and
# then either runs the default job or the test suite.
#
#   scripts/setup.sh demo    install + build + train the default model (prints the run folder)
#   scripts/setup.sh test    install + build + run the test suite, then build the library, CLI
#                            and tests against pip's LibTorch 2.x with CUDA and ASan + UBSan and
#                            run the unit and robustness tests under them (what CI runs)
#   scripts/setup.sh build   install + build only
#   scripts/setup.sh cuda    install pip's torch (LibTorch 2.x with CUDA) into a cache folder, build
#                            every target against it (Release, build-cuda: the build for a GPU
#                            machine) and run the unit tests with it (scripts/cuda_build.sh)
#
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail

mode=${1:-build}
case "$mode" in demo|test|build|cuda) ;; *) echo "usage: $0 demo|test|build|cuda" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
build=${JOULE_BUILD_DIR:-$root/build}
jobs=${JOULE_JOBS:-$(nproc)}

packages=(
  g++ make cmake ccache pkg-config      # toolchain (ccache makes rebuilds cheap)
  libtorch-dev                          # LibTorch 1.13 (CPU) with its CMake package
  libgloo-dev                           # headers of c10d's Gloo backend (multi-process training)
  libopenblas0-pthread                  # fast BLAS: the reference BLAS is ~14x slower
  zlib1g-dev libpng-dev                 # PNG writing (libpng) and gzip'd IDX files
  libhdf5-dev                           # HDF5 datasets (BSDS300 and other published arrays)
  libtomlplusplus-dev                   # TOML configs (toml++)
  nlohmann-json3-dev                    # every JSON file Joule writes
  libgtest-dev                          # tests
  clang                                 # libFuzzer + ASan/UBSan builds of the file readers (fuzz/)
  python3-torch python3-sklearn         # Python peers for benchmarks and interop tests
  python3-pip python3-venv              # Python-side tools into cache folders: tensorboard, safetensors; pip's torch (CUDA build)
  python3-dev pybind11-dev python3-pytest  # the Python module `joule` (python/) and its tests
  doxygen                               # the API reference (docs target; warnings fail it)
  dataset-fashion-mnist                 # the default image dataset (RBM, JEM)
)

missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$mode" = cuda ]; then
  exec env JOULE_JOBS="$jobs" "$root/scripts/cuda_build.sh"
fi

# The second build of `test` needs pip's LibTorch with CUDA (~2.5 GB the first time): fetch it
# while the first build compiles, since downloading needs the network, not the cores.
torch_pid=""
if [ "$mode" = test ] && [ "${JOULE_SANITIZERS:-1}" != 0 ] && [ "${JOULE_SANITIZE_TORCH:-cuda}" = cuda ]; then
  mkdir -p "$build"
  (source "$root/scripts/torch_cuda.sh") >"$build/torch-cuda-install.log" 2>&1 &
  torch_pid=$!
  trap '[ -z "$torch_pid" ] || kill "$torch_pid" 2>/dev/null || true' EXIT  # a failed first half leaves no pip running
fi

echo "== building in $build ($jobs jobs)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ "$mode" = demo ]; then
  cmake --build "$build" -j "$jobs" --target joule_exe
else
  cmake --build "$build" -j "$jobs"
fi

case "$mode" in
  demo)
    echo "== training the default model (PCD on 8gaussians, about a minute)"
    "$build/joule" train
    ;;
  test)
    # The real tensorboard package reads a run's event files in an interop test; it goes into a
    # cache folder (never the system), and the test says it was skipped if this fails (offline).
    export JOULE_PY_TOOLS=${JOULE_PY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/joule/pip-tools}
    if ! PYTHONPATH=$JOULE_PY_TOOLS python3 -c "import tensorboard, safetensors" 2>/dev/null; then
      echo "== installing the tensorboard and safetensors Python packages into $JOULE_PY_TOOLS (for the interop tests)"
      python3 -m pip install -q --disable-pip-version-check --target "$JOULE_PY_TOOLS" tensorboard safetensors >/dev/null 2>&1 ||
        echo "warning: could not install tensorboard/safetensors with pip; the TensorBoard and safetensors interop tests will be skipped" >&2
    fi
    echo "== running the test suite (unit, integration, robustness, consumer, python, docs; 'slow' tests are separate)"
    ctest --test-dir "$build" -L "unit|integration|robustness|consumer|python|docs" --output-on-failure -j "$jobs"
    if [ -n "$torch_pid" ]; then
      if ! wait "$torch_pid"; then
        torch_pid=""
        cat "$build/torch-cuda-install.log" >&2
        echo "error: could not install pip's torch with CUDA for the second build (above); JOULE_SANITIZERS=0 skips that build" >&2
        exit 1
      fi
      torch_pid=""
    fi
    if [ "${JOULE_SANITIZERS:-1}" != 0 ]; then
      # One second build does two checks: Joule against pip's LibTorch 2.x with CUDA, and
      # the unit and robustness tests under ASan + UBSan with it (on the CPU).
      echo "== the library, CLI and tests again against pip's LibTorch 2.x with CUDA, with ASan + UBSan, and the unit and robustness tests under them (scripts/sanitize.sh; JOULE_SANITIZERS=0 skips)"
      JOULE_JOBS=$jobs JOULE_SANITIZE_TORCH=${JOULE_SANITIZE_TORCH:-cuda} "$root/scripts/sanitize.sh"
    fi
    ;;
esac
