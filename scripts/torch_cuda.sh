# Sourced by scripts/cuda_build.sh and scripts/sanitize.sh (JOULE_SANITIZE_TORCH=cuda): the
# LibTorch 2.x with CUDA that pip's `torch` wheel ships, in a cached virtual environment, and what
# CMake and the programs it builds need to use it. Sets torch_dir and torch_cmake_args (an array
# of CMake arguments); exports LD_LIBRARY_PATH (and PATH for nvcc).
#   JOULE_TORCH_VENV     the virtual environment (default ~/.cache/joule/torch-cuda; made once, reused)
#   JOULE_TORCH_VERSION  the pinned torch wheel (default 2.15.0)
torch_venv=${JOULE_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/joule/torch-cuda}
torch_version=${JOULE_TORCH_VERSION:-2.15.0}

joule_have_torch() {
  [ -x "$torch_venv/bin/python" ] && "$torch_venv/bin/python" - "$torch_version" <<'PY' 2>/dev/null
import sys, torch
sys.exit(0 if torch.__version__.split("+")[0] == sys.argv[1] and torch.version.cuda else 1)
PY
}
if ! joule_have_torch; then
  echo "== installing torch $torch_version (LibTorch with CUDA, ~2.5 GB download) into $torch_venv"
  rm -rf "$torch_venv"
  python3 -m venv "$torch_venv"
  "$torch_venv/bin/pip" install -q --disable-pip-version-check "torch==$torch_version" numpy
  joule_have_torch || { echo "error: $torch_venv has no CUDA build of torch $torch_version after pip install" >&2; exit 1; }
fi
torch_dir=$("$torch_venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')

# Torch's CMake package with CUDA needs the toolkit (nvcc and the runtime's headers).
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
command -v nvcc >/dev/null || {
  echo "error: building against a CUDA LibTorch needs the CUDA toolkit (nvcc) on PATH or in /usr/local/cuda;" >&2
  echo "       install it from https://developer.nvidia.com/cuda-downloads" >&2
  exit 1
}

# The CUDA libraries (cuDNN, NCCL, cuBLAS, ...) are pip packages under site-packages/nvidia/*/lib,
# and libtorch_cuda.so has no RUNPATH to them (Python's torch preloads them). Programs find them
# through LD_LIBRARY_PATH; the linker through -rpath-link, ahead of the older copies in the
# toolkit's /usr/local/cuda/lib64 that Torch's CMake package puts on the rpath.
nvidia_libs=$(ls -d "$(dirname "$torch_dir")"/nvidia/*/lib 2>/dev/null | paste -sd: -)
export LD_LIBRARY_PATH="${nvidia_libs:+$nvidia_libs:}$torch_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
torch_link_flags="-Wl,-rpath-link,${nvidia_libs:-$torch_dir/lib}"
# torch's own folder first in the prefix path: otherwise find_library takes Debian's
# /usr/lib/.../libtorch.so (1.13) beside the 2.x headers.
torch_cmake_args=(
  "-DCMAKE_PREFIX_PATH=$torch_dir;$torch_dir/share/cmake" -DJOULE_REQUIRE_CUDA=ON "-DTORCH_CUDA_ARCH_LIST=8.0;9.0"
  "-DPython3_EXECUTABLE=$torch_venv/bin/python" "-DCMAKE_EXE_LINKER_FLAGS=$torch_link_flags"
  "-DCMAKE_SHARED_LINKER_FLAGS=$torch_link_flags" "-DCMAKE_MODULE_LINKER_FLAGS=$torch_link_flags"
)
