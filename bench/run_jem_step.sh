#!/usr/bin/env bash
# One JEM training step (batch 64, 20 SGLD steps, same network): Joule (C++) against the same
# step in Python PyTorch (JEM's reference step, and the same step with Joule's fused batching),
# at 1 and 2 threads, interleaved over rounds so that machine load hits both sides alike.
# Each side is reported at its best thread count.
# Usage: bench/run_jem_step.sh [build-dir] [net ...]   (nets: cnn16 cnn32 wrn16_4 wrn28_10)
# Env: ROUNDS (default 3), REPS (default 6).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
nets=${*:-cnn16 cnn32}
rounds=${ROUNDS:-3}
reps=${REPS:-6}
out=$(mktemp)
for net in $nets; do
  for r in $(seq "$rounds"); do
    for t in 1 2; do
      env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t \
        "$build/bench/bench_jem_step" --net "$net" --threads $t --reps "$reps" >> "$out"
      for mode in reference fused; do
        env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t \
          /usr/bin/python3 "$root/bench/jem_step_peer.py" --net "$net" --threads $t --reps "$reps" --mode $mode >> "$out"
      done
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def best(impl, net):
    c = [r for r in rows if r["impl"] == impl and r["net"] == net]
    return min(c, key=lambda r: r["step_s_median"])
print("| net | Joule s/step (threads) | Python JEM reference s/step (threads) | Python fused s/step (threads) | Joule vs reference | Joule vs fused | SGLD share (Joule) |")
print("|---|---|---|---|---|---|---|")
for net in dict.fromkeys(r["net"] for r in rows):
    j, p, f = best("joule", net), best("python-reference", net), best("python-fused", net)
    print(f"| {net} | {j['step_s_median']:.3f} ({j['threads']}) | {p['step_s_median']:.3f} ({p['threads']}) | "
          f"{f['step_s_median']:.3f} ({f['threads']}) | {p['step_s_median'] / j['step_s_median']:.2f}x | "
          f"{f['step_s_median'] / j['step_s_median']:.2f}x | {j['sgld_s_median'] / j['step_s_median']:.0%} |")
print()
print("all runs (median of REPS steps each):")
for r in rows:
    print(f"  {r['impl']:17s} {r['net']:9s} threads={r['threads']} step={r['step_s_median']:.4f}s sgld={r['sgld_s_median']:.4f}s")
PY
rm -f "$out"
