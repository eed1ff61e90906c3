#!/usr/bin/env bash
# RBM speed: Joule against scikit-learn's BernoulliRBM (same data, 256 hidden, batch, learning
# rate, epochs) at 1 and 2 threads each, then CD-1/PCD-1 throughput for 784x500 against the
# sgemm ceiling (sklearn in float64, its default, and float32). Usage: bench/run_rbm.sh [build-dir]   Env: EPOCHS (default 3), N_TRAIN (60000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
epochs=${EPOCHS:-3}
ntrain=${N_TRAIN:-60000}
out=$(mktemp)
for t in 1 2; do
  env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$build/bench/bench_rbm" --mode sklearn --threads $t \
    --epochs "$epochs" --n-train "$ntrain" >> "$out"
  for dtype in float64 float32; do  # sklearn's best: float64 is its default, float32 is preserved
    env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t /usr/bin/python3 "$root/bench/rbm_sklearn_peer.py" \
      --threads $t --epochs "$epochs" --n-train "$ntrain" --dtype $dtype >> "$out"
  done
  env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$build/bench/bench_rbm" --mode throughput --threads $t \
    --visible 784 --hidden 500 --batch 100 >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fit = [r for r in rows if r["mode"] == "sklearn"]
j = min((r for r in fit if r["impl"] == "joule"), key=lambda r: r["sec_per_epoch_median"])
s = min((r for r in fit if r["impl"] == "sklearn"), key=lambda r: r["sec_per_epoch_median"])
print("| side | s/epoch (threads) | test pseudo-LL after", j["epochs"], "epochs |")
print("|---|---|---|")
for r in (j, s):
    print(f"| {r['impl']} {r.get('dtype', 'float32')} | {r['sec_per_epoch_median']:.2f} ({r['threads']}) | {r['test_pll']:.2f} |")
print(f"Joule / sklearn speed: {s['sec_per_epoch_median'] / j['sec_per_epoch_median']:.1f}x")
print()
print("| update | threads | samples/s | ceiling samples/s | fraction |")
print("|---|---|---|---|---|")
for r in rows:
    if r["mode"] == "throughput":
        print(f"| {r['method']} {r['visible']}x{r['hidden']} batch {r['batch']} | {r['threads']} | {r['samples_per_s']:.0f} | "
              f"{r['ceiling_samples_per_s']:.0f} | {r['fraction_of_ceiling']:.0%} |")
print()
print("all epoch rows:")
for r in fit:
    print(f"  {r['impl']:8s} {r.get('dtype', 'float32')} threads={r['threads']} s/epoch={r['sec_per_epoch_median']:.3f} pll={r['test_pll']:.2f}")
PY
rm -f "$out"
