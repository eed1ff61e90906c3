#!/usr/bin/env bash
# LSD speed: (1) the critic step's cost against D with the exact trace and Hutchinson's
# estimator, Joule against Python PyTorch; (2) the whole Gaussian–Bernoulli RBM goodness-of-fit
# test (sampling, critic training, exact-trace statistic), Joule against the same test in
# Python PyTorch, at 1 and 2 threads each.
# Usage: bench/run_lsd.sh [build-dir]   Env: REPEATS (GoF tests per side and thread count, 2),
#        DIMS (default 2,10,50,200,1000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
repeats=${REPEATS:-2}
dims=${DIMS:-2,10,50,200,1000}
trace=$(mktemp)
gof=$(mktemp)
env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/bench/bench_lsd_trace" --threads 1 --dims "$dims" >> "$trace"
env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/lsd_trace_peer.py" --threads 1 --dims "$dims" >> "$trace"
for t in 1 2; do
  env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$build/bench/bench_lsd_gof" --threads $t --repeats "$repeats" >> "$gof"
  env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t /usr/bin/python3 "$root/bench/lsd_gof_peer.py" --threads $t --repeats "$repeats" >> "$gof"
done
/usr/bin/python3 - "$trace" "$gof" <<'PY'
import json, sys, statistics
tr = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
gof = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
j = {r["dim"]: r for r in tr if r["impl"] == "joule"}
p = {r["dim"]: r for r in tr if r["impl"] != "joule"}
keys = [k for k in next(iter(p.values())).keys() if k.endswith("_ms")] if p else []
print("critic step, batch 100, 1 thread (ms):")
print("| D | Joule no trace | Joule Hutchinson (autograd) | Joule Hutchinson (fused) | Joule exact | " + " | ".join("Python " + k[:-3] for k in keys) + " |")
print("|---" * (5 + len(keys)) + "|")
for d in sorted(j):
    r = j[d]
    py = " | ".join(f"{p[d][k]:.2f}" for k in keys) if d in p else ""
    print(f"| {d} | {r['baseline_ms']:.2f} | {r['hutchinson_ms']:.2f} | {r['hutchinson_fused_ms']:.2f} | {r['exact_ms']:.2f} | {py} |")
print()
def med(impl, t):
    v = [r["total_s"] for r in gof if r["impl"] == impl and r["threads"] == t]
    return statistics.median(v) if v else float("nan")
impls = list(dict.fromkeys(r["impl"] for r in gof))
print("whole RBM GoF test (s, median of repeats):")
print("| side | 1 thread | 2 threads | best |")
print("|---|---|---|---|")
best = {}
for i in impls:
    a, b = med(i, 1), med(i, 2)
    best[i] = min(a, b)
    print(f"| {i} | {a:.1f} | {b:.1f} | {best[i]:.1f} |")
if "joule" in best:
    for i in impls:
        if i != "joule":
            print(f"{i} / joule at best thread counts: {best[i] / best['joule']:.1f}x")
for r in gof:
    print("  " + json.dumps(r))
PY
rm -f "$trace" "$gof"
