#!/usr/bin/env bash
# One JEM training step (batch 64, 20 SGLD steps, same network): Joule (C++) against the same
# step in Python PyTorch (JEM's reference step, and the same step with Joule's fused batching),
# at 1 and 2 threads, interleaved over rounds so that machine load hits both sides alike.
# Each side is reported at its best thread count; "best Python" is the fastest of the reference
# step, the fused step and the reference step with Joule's process settings (tuned env).
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
      # The reference step again with the two process settings Joule applies itself
      # (core/runtime.h): OpenBLAS on one thread, glibc malloc keeping freed memory.
      env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 \
        /usr/bin/python3 "$root/bench/jem_step_peer.py" --net "$net" --threads $t --reps "$reps" --mode reference \
        --tag tuned >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def best(impl, net):
    c = [r for r in rows if r["impl"] == impl and r["net"] == net]
    return min(c, key=lambda r: r["step_s_median"])
print("| net | Joule s/step (threads) | Python reference (threads) | Python fused (threads) | "
      "Python reference, tuned env (threads) | Joule vs reference | Joule vs best Python | SGLD share (Joule) |")
print("|---|---|---|---|---|---|---|---|")
for net in dict.fromkeys(r["net"] for r in rows):
    j = best("joule", net)
    peers = [best(i, net) for i in ("python-reference", "python-fused", "python-reference-tuned")]
    p = peers[0]
    b = min(peers, key=lambda r: r["step_s_median"])
    cells = " | ".join(f"{r['step_s_median']:.4f} ({r['threads']})" for r in peers)
    print(f"| {net} | {j['step_s_median']:.4f} ({j['threads']}) | {cells} | "
          f"{p['step_s_median'] / j['step_s_median']:.2f}x | {b['step_s_median'] / j['step_s_median']:.2f}x | "
          f"{j['sgld_s_median'] / j['step_s_median']:.0%} |")
print()
print("all runs (median of REPS steps each):")
for r in rows:
    print(f"  {r['impl']:24s} {r['net']:9s} threads={r['threads']} step={r['step_s_median']:.4f}s sgld={r['sgld_s_median']:.4f}s")
PY
rm -f "$out"
