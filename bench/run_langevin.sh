#!/usr/bin/env bash
# Langevin throughput: Joule (analytic and autograd paths) vs Python PyTorch, at 1 and 2
# threads, with the sgemm ceiling measured in the same run. Usage: bench/run_langevin.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=$(mktemp)
for t in 1 2; do
  OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$build/bench/bench_langevin" --threads $t >> "$out"
  OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t /usr/bin/python3 "$root/bench/langevin_peer.py" --threads $t >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
big = {r["threads"]: r["gflops"] for r in rows if r["impl"] == "sgemm-2048"}
def best(impl, w, b):
    c = [r for r in rows if r["impl"] == impl and r["width"] == w and r["batch"] == b]
    return max(c, key=lambda r: r["score_evals_per_s"])
print("| width | batch | Joule evals/s (threads) | GFLOP/s | % of same-shape sgemm | Joule autograd evals/s | Python evals/s (threads) | Joule / Python |")
print("|---|---|---|---|---|---|---|---|")
for w in (128, 512):
    for b in (256, 4096):
        j, a, p = best("joule", w, b), best("joule-autograd", w, b), best("python-torch", w, b)
        print(f"| {w} | {b} | {j['score_evals_per_s']:.0f} ({j['threads']}) | {j['gflops']:.1f} | "
              f"{100 * j['gflops'] / j['sgemm_gflops']:.0f}% of {j['sgemm_gflops']:.0f} | {a['score_evals_per_s']:.0f} ({a['threads']}) | "
              f"{p['score_evals_per_s']:.0f} ({p['threads']}) | {j['score_evals_per_s'] / p['score_evals_per_s']:.2f}x |")
print()
print("per thread count:")
for r in rows:
    if r["impl"] != "sgemm-2048":
        print(f"  {r['impl']:15s} w={r['width']:4d} b={r['batch']:5d} threads={r['threads']} evals/s={r['score_evals_per_s']:9.1f} GFLOP/s={r['gflops']:6.1f}")
print("sgemm 2048^3 ceiling: " + ", ".join(f"{v:.0f} GFLOP/s at {t} thread(s)" for t, v in sorted(big.items())))
PY
rm -f "$out"
