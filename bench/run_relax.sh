#!/usr/bin/env bash
# One gradient-estimator step (REINFORCE, REBAR, RELAX) on the RELAX toy (batch 1) and on a
# discrete-VAE-sized problem (batch 24, the paper's, and 64), and one whole training step of the
# discrete_vae preset (bench/relax_vae_peer.py): Joule
# (bench_relax --time) against the same step in Python PyTorch (bench/relax_peer.py), with
# Debian's torch (/usr/bin/python3) and a current torch from pip ($VENV_PY), at 1 and 2 threads,
# interleaved over rounds. Each side is reported at its best.
# Usage: bench/run_relax.sh [build-dir]    Env: ROUNDS (default 2), REPS (default 50).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${ROUNDS:-2}
reps=${REPS:-50}
source "$root/bench/python_peers.sh"
out=$(mktemp)
for r in $(seq "$rounds"); do
  for spec in "toy 1" "vae 24" "vae 64"; do
    set -- $spec
    for t in 1 2; do
      env OMP_NUM_THREADS=$t "$build/bench/bench_relax" --time --task $1 --batch $2 --threads $t --reps "$reps" >> "$out"
      for py in "${pythons[@]}"; do
        env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 "$py" "$root/bench/relax_peer.py" --task $1 --batch $2 \
          --threads $t --reps "$reps" >> "$out"
      done
    done
  done
  for t in 1 2; do
    env OMP_NUM_THREADS=$t "$build/bench/bench_relax" --time --task vae-step --threads $t --reps "$reps" >> "$out"
    for py in "${pythons[@]}"; do
      env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 "$py" "$root/bench/relax_vae_peer.py" --threads $t --reps "$reps" >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert all(r["checksum_finite"] for r in rows), "a non-finite estimate"
def key(r):
    return r["impl"] if r["impl"] == "joule" else f"{r['impl']} (torch {r['torch'].split('+')[0]})"
for r in rows:
    r["task"] = f"{r['task']} (batch {r['batch']})"
print("| estimator step | Joule s/step (threads) | best Python s/step (which, threads) | Joule speed-up |")
print("|---|---|---|---|")
for task in dict.fromkeys(r["task"] for r in rows):
    tr = [r for r in rows if r["task"] == task]
    j = min((r for r in tr if r["impl"] == "joule"), key=lambda r: r["step_s_median"])
    p = min((r for r in tr if r["impl"] != "joule"), key=lambda r: r["step_s_median"])
    print(f"| {task} | {j['step_s_median']:.5f} ({j['threads']}) | {p['step_s_median']:.5f} ({key(p)}, {p['threads']}) | "
          f"{p['step_s_median'] / j['step_s_median']:.2f}x |")
print()
print("all runs (median s/step):")
for r in rows:
    print(f"  {r['task']:26s} {key(r):24s} threads={r['threads']} {r['step_s_median']:.5f}")
PY
rm -f "$out"
