#!/usr/bin/env bash
# One improved-contrastive-divergence training step (arXiv:2012.01316; batch 64 of 1x28x28,
# ConvEnergy 16 channels, FIFO 8-bit buffer of 10000 with augmentation, 20 Langevin steps, KL and
# entropy terms, Adam with clipping): Joule (C++) against the same step in Python PyTorch, at 1
# and 2 threads, interleaved over rounds so that machine load hits every side alike.
# Python runs under Debian's /usr/bin/python3 (its torch) and, if present, the pip torch of the
# venv /work/venv-torch (override with VENV_PY), each in two forms: "reference" (upstream
# ICD:train.py's step, augmentation through torchvision when it imports) and "fused" (the same
# step organised as Joule does it, batched tensor augmentation). Each side is reported at its
# best thread count; "Joule vs faster Python" compares with the fastest Python row.
# Run it on an otherwise idle machine: with another process on a core, the 2-thread runs (OpenMP
# barriers) slow down 5-10x and the table's "best" rows become noise.
# Usage: bench/run_icd_step.sh [build-dir]
# Env: ROUNDS (default 3), REPS (default 6), VENV_PY (default /work/venv-torch/bin/python).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${ROUNDS:-3}
reps=${REPS:-6}
source "$root/bench/python_peers.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  for t in 1 2; do
    env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 \
      "$build/bench/bench_icd_step" --threads $t --reps "$reps" >> "$out"
    for i in "${!pythons[@]}"; do
      for mode in reference fused; do
        aug=auto
        [ "$mode" = fused ] && aug=tensor
        env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 \
          "${pythons[$i]}" "$root/bench/icd_step_peer.py" --threads $t --reps "$reps" --mode $mode --aug $aug \
          --tag "${tags[$i]}" >> "$out"
      done
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def best(impl):
    c = [r for r in rows if r["impl"] == impl]
    return min(c, key=lambda r: r["step_s_median"]) if c else None
j = best("joule")
peers = [i for i in ("python-reference-debian", "python-fused-debian", "python-reference-venv", "python-fused-venv")
         if best(i)]
def cell(r):
    return f"{r['step_s_median']:.3f} ({r['threads']})"
fastest = min((best(i) for i in peers), key=lambda r: r["step_s_median"])
ref = min((best(i) for i in peers if "reference" in i), key=lambda r: r["step_s_median"])
print("| Joule s/step (threads) | " + " | ".join(f"{i[len('python-'):]} s/step (threads)" for i in peers) +
      " | Joule vs faster Python | Joule vs upstream-style step | sampler share (Joule / faster Python) |")
print("|---" * (len(peers) + 4) + "|")
print(f"| {cell(j)} | " + " | ".join(cell(best(i)) for i in peers) +
      f" | {fastest['step_s_median'] / j['step_s_median']:.2f}x | {ref['step_s_median'] / j['step_s_median']:.2f}x | "
      f"{j['sampler_s_median'] / j['step_s_median']:.0%} / {fastest['sampler_s_median'] / fastest['step_s_median']:.0%} |")
print()
print("ratios > 1: Joule is faster. faster Python = " + fastest["impl"] + f" (torch {fastest.get('torch', '?')}, aug {fastest['aug']}).")
print("all runs (median / min of REPS steps each; sampler = draw + augment + Langevin + buffer add):")
for r in rows:
    print(f"  {r['impl']:24s} torch={r.get('torch', 'libtorch'):14s} aug={r['aug']:11s} threads={r['threads']} "
          f"step={r['step_s_median']:.4f}s min={r['step_s_min']:.4f}s sampler={r['sampler_s_median']:.4f}s")
PY
