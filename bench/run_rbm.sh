#!/usr/bin/env bash
# RBM speed: Joule against scikit-learn's BernoulliRBM (same data, 256 hidden, batch, learning
# rate, epochs, SML/PCD-1 algorithm) at 1 and 2 threads each (seed 0), then further seeds at 1
# thread for the pseudo-likelihood comparison (it varies by several nats from seed to seed on
# both sides), then CD-1/PCD-1 throughput for 784x500 against the sgemm ceiling. sklearn runs in
# float64 (its default) and float32.
# Usage: bench/run_rbm.sh [build-dir]   Env: EPOCHS (default 3), N_TRAIN (60000), SEEDS (3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
epochs=${EPOCHS:-3}
ntrain=${N_TRAIN:-60000}
seeds=${SEEDS:-3}
out=$(mktemp)
run_pair() {  # threads seed
  env OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1 "$build/bench/bench_rbm" --mode sklearn --threads "$1" --seed "$2" \
    --epochs "$epochs" --n-train "$ntrain" >> "$out"
  for dtype in float64 float32; do  # sklearn's best: float64 is its default, float32 is preserved
    env OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1 MKL_NUM_THREADS=$1 /usr/bin/python3 "$root/bench/rbm_sklearn_peer.py" \
      --threads "$1" --seed "$2" --epochs "$epochs" --n-train "$ntrain" --dtype $dtype >> "$out"
  done
}
for t in 1 2; do
  run_pair $t 0
  env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$build/bench/bench_rbm" --mode throughput --threads $t \
    --visible 784 --hidden 500 --batch 100 >> "$out"
done
for ((s = 1; s < seeds; ++s)); do run_pair 1 $s; done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fit = [r for r in rows if r["mode"] == "sklearn"]
for r in fit:
    r.setdefault("dtype", "float32")
def side(impl, dtype):
    return [r for r in fit if r["impl"] == impl and r["dtype"] == dtype]
def speed(rs):  # median s/epoch per thread count over seeds, best thread count
    by_t = {}
    for r in rs:
        by_t.setdefault(r["threads"], []).append(r["sec_per_epoch_median"])
    t = min(by_t, key=lambda k: statistics.median(by_t[k]))
    return statistics.median(by_t[t]), t
def pll(rs):
    v = [r["test_pll_exact"] for r in rs]
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else float("nan")), len(v)
j = side("joule", "float32")
js, jt = speed(j)
jm, jsd, jn = pll(j)
print(f"| side | s/epoch (best threads) | Joule speed-up | exact test PLL, mean ± sd over {jn} runs (seeds 0..SEEDS-1 at 1 thread, seed 0 also at 2) |")
print("|---|---|---|---|")
print(f"| Joule float32 | {js:.2f} ({jt}) | — | {jm:.2f} ± {jsd:.2f} |")
for dtype in ("float64", "float32"):
    s = side("sklearn", dtype)
    ss, st = speed(s)
    sm, ssd, sn = pll(s)
    print(f"| sklearn {dtype} | {ss:.2f} ({st}) | {ss / js:.1f}x | {sm:.2f} ± {ssd:.2f} |")
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
    print(f"  {r['impl']:8s} {r['dtype']} seed={r.get('seed', 0)} threads={r['threads']} s/epoch={r['sec_per_epoch_median']:.3f} "
          f"pll={r['test_pll']:.2f} exact={r['test_pll_exact']:.2f}")
PY
rm -f "$out"
