#!/usr/bin/env bash
# joule::conv2d / joule::linear against at::conv2d / at::linear (forward + input gradient,
# batch 64), at 1 and 2 LibTorch threads, with OpenBLAS on one thread (Joule's setting) and on
# as many threads as LibTorch (LibTorch's default). Prints the markdown table of
# docs/benchmarks.md. Usage: bench/run_layers.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=$(mktemp)
for t in 1 2; do
  env OMP_NUM_THREADS=$t "$build/bench/bench_layers" --threads $t >> "$out"
  if [ "$t" -gt 1 ]; then
    env OMP_NUM_THREADS=$t "$build/bench/bench_layers" --threads $t --openblas-threads $t >> "$out"
  fi
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| layer (forward + input gradient) | threads | OpenBLAS threads | at:: ms | joule:: ms | speed-up |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['layer']} | {r['threads']} | {r['openblas_threads']} | {r['torch_ms']:.3f} | {r['joule_ms']:.3f} | "
          f"{r['torch_ms'] / r['joule_ms']:.2f}x |")
ops = sorted({(r['threads'], round(r['elementwise_op_ms'], 3)) for r in rows})
print()
print("Both columns include one element-wise op before the layer (leaky_relu on 64x16x28x28): " +
      ", ".join(f"{ms:.3f} ms at {t} thread(s)" for t, ms in ops))
PY
rm -f "$out"
