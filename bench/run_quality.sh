#!/usr/bin/env bash
# The Fréchet distance's cost: Joule's eval::frechet_distance against FID's usual F×F routes in
# Python (SciPy's sqrtm as pytorch-fid, torch.linalg.eigvals as torchmetrics) with Debian's torch
# and SciPy and, if present, pip's torch in the venv of scripts/torch_cuda.sh (VENV), at 1 and 2
# threads each. OpenBLAS
# threads follow the thread count on both sides. Prints the markdown table of docs/benchmarks.md.
# Usage: bench/run_quality.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
venv=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/joule/torch-cuda}  # pip's torch, as scripts/torch_cuda.sh installs it
out=$(mktemp)
for t in 1 2; do
  env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$build/bench/bench_quality" --threads $t >> "$out"
  env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t /usr/bin/python3 "$root/bench/quality_peer.py" --threads $t >> "$out"
  if [ -x "$venv/bin/python" ]; then
    env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$venv/bin/python" "$root/bench/quality_peer.py" --threads $t >> "$out"
  fi
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cases = sorted({(r["n"], r["features"]) for r in rows}, key=lambda c: (c[1] != 3136, c))
print("| N × F | side | 1 thread ms | 2 threads ms | FD |")
print("|---|---|---|---|---|")
def cell(impl, key, n, f, t):
    v = [r[key] for r in rows if r["impl"] == impl and r["n"] == n and r["features"] == f and r["threads"] == t and key in r]
    return v[0] if v else float("nan")
for n, f in cases:
    sides = [("joule", "joule_ms", "Joule frechet_distance", "fd"), ("joule", "moments_route_ms", "Joule, F×F route", "fd_moments_route")]
    for impl in dict.fromkeys(r["impl"] for r in rows if r["impl"] != "joule"):
        torch_v, scipy_v = impl.split(", ")
        if scipy_v != "SciPy absent":
            sides.append((impl, "scipy_sqrtm_ms", f"{scipy_v} sqrtm (pytorch-fid)", "fd_scipy"))
        sides.append((impl, "torch_eigvals_ms", f"{torch_v} eigvals (torchmetrics)", "fd_torch"))
    best_peer = min(cell(i, k, n, f, t) for i, k, _, _ in sides[2:] for t in (1, 2))
    for impl, key, label, fdkey in sides:
        fd = cell(impl, fdkey, n, f, 1)
        print(f"| {n} × {f} | {label} | {cell(impl, key, n, f, 1):.1f} | {cell(impl, key, n, f, 2):.1f} | {fd:.2f} |")
    j = min(cell("joule", "joule_ms", n, f, t) for t in (1, 2))
    print(f"| {n} × {f} | **fastest peer / Joule, each at its best** | | | **{best_peer / j:.1f}×** |")
PY
rm -f "$out"
