#!/usr/bin/env bash
# One VERA iteration (toy: 8gaussians, batch 200; fashion: VERA-JEM on Fashion-MNIST shapes,
# batch 64): Joule (C++, bench_vera) against the same iteration in Python PyTorch
# (bench/vera_peer.py; "reference" also computes what VERA:train.py computes besides, "lean" is
# Joule's step), with Debian's torch (/usr/bin/python3) and a current torch from pip ($VENV_PY),
# at 1 and 2 threads, interleaved over rounds. Each side is reported at its best.
# Usage: bench/run_vera.sh [build-dir] [task ...]   (tasks: toy fashion fashion-mlp)
# Env: ROUNDS (default 2), VENV_PY (default /work/venv-torch/bin/python; skipped if missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
tasks=${*:-toy fashion-mlp fashion}
rounds=${ROUNDS:-2}
venv=${VENV_PY:-/work/venv-torch/bin/python}
pys=(/usr/bin/python3)
[ -x "$venv" ] && pys+=("$venv")
out=$(mktemp)
for task in $tasks; do
  if [ "$task" = toy ]; then reps=100; warm=10; batch=200; else reps=4; warm=2; batch=64; fi
  for r in $(seq "$rounds"); do
    for t in 1 2; do
      env OMP_NUM_THREADS=$t "$build/bench/bench_vera" --task "$task" --threads $t --reps $reps --warmup $warm >> "$out"
      for py in "${pys[@]}"; do
        for mode in reference lean; do
          env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 "$py" "$root/bench/vera_peer.py" --task time --data "$task" \
            --batch $batch --threads $t --reps $reps --warmup $warm --mode $mode >> "$out"
        done
      done
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def key(r):
    return r["impl"] if r["impl"] == "joule" else f"{r['impl']} (torch {r['torch'].split('+')[0]})"
print("| task | Joule s/step (threads) | best Python s/step (which, threads) | Joule speed-up |")
print("|---|---|---|---|")
for task in dict.fromkeys(r["task"] for r in rows):
    tr = [r for r in rows if r["task"] == task]
    j = min((r for r in tr if r["impl"] == "joule"), key=lambda r: r["step_s_median"])
    p = min((r for r in tr if r["impl"] != "joule"), key=lambda r: r["step_s_median"])
    print(f"| {task} | {j['step_s_median']:.4f} ({j['threads']}) | {p['step_s_median']:.4f} ({key(p)}, {p['threads']}) | "
          f"{p['step_s_median'] / j['step_s_median']:.2f}x |")
print()
print("all runs (median s/step):")
for r in rows:
    print(f"  {r['task']:8s} {key(r):42s} threads={r['threads']} {r['step_s_median']:.4f}")
PY
rm -f "$out"
