#!/usr/bin/env bash
# PGD throughput (arXiv:1706.06083; batch 256 of 1x28x28, SmallCnn channels 16 with random weights,
# labels = the network's predictions, cross-entropy, one restart): Joule's joule::eval::pgd_attack
# against the same attack in Python PyTorch, at 1 and 2 threads, interleaved over rounds so that
# machine load hits every side alike. Attacks: L-inf PGD-20 (eps 0.1), L2 PGD-20 (eps 1.0) and,
# with DEFENCE=1, L-inf PGD-5 through JEM's SGLD defence (5 steps, 2 chains, exact gradient).
# Both sides stop attacking an input once it is fooled and use the same weights, inputs and random
# starts, so they do the same work: the table checks that their row counts and fooled counts agree.
# Python runs under Debian's /usr/bin/python3 (its torch) and, if present, the pip torch of the
# venv /work/venv-torch (override with VENV_PY). Each side is reported at its best thread count;
# "Joule / fastest Python" divides Joule's images/s by the fastest Python row's.
# Run it on an otherwise idle machine: with another process on a core, the 2-thread runs (OpenMP
# barriers) slow down 5-10x and the table's "best" rows become noise.
# Usage: bench/run_attack.sh [build-dir]
# Env: ROUNDS (default 3), REPS (default 5), DEFENCE (default 0; 1 adds the defended attack,
# ~5 s per call on one core), VENV_PY (default /work/venv-torch/bin/python).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${ROUNDS:-3}
reps=${REPS:-5}
defence=${DEFENCE:-0}
source "$root/bench/python_peers.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  for t in 1 2; do
    env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 \
      "$build/bench/bench_attack" --threads $t --reps "$reps" --defence "$defence" >> "$out"
    for i in "${!pythons[@]}"; do
      env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 \
        "${pythons[$i]}" "$root/bench/attack_peer.py" --threads $t --reps "$reps" --defence "$defence" \
        --tag "${tags[$i]}" >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
impls = []
for r in rows:
    if r["impl"] not in impls:
        impls.append(r["impl"])
peers = [i for i in impls if i != "joule"]
attacks = [("linf", "L-inf PGD-20"), ("l2", "L2 PGD-20"), ("def", "defended L-inf PGD-5")]
attacks = [(k, name) for k, name in attacks if all(k + "_ips" in r for r in rows)]

def best(impl, k):
    c = [r for r in rows if r["impl"] == impl]
    return max(c, key=lambda r: r[k + "_ips"])

def cell(r, k):
    return f"{r[k + '_ips']:.0f} ({r['threads']})"

def work(r, k):
    return (r[k + "_rows"], r[k + "_grad_rows"], r[k + "_fooled"])

print("| attack | Joule img/s (threads) | " + " | ".join(f"{p} img/s (threads)" for p in peers) +
      " | Joule / fastest Python | same work |")
print("|---" * (len(peers) + 4) + "|")
for k, name in attacks:
    j = best("joule", k)
    fastest = max((best(p, k) for p in peers), key=lambda r: r[k + "_ips"])
    same = all(work(r, k) == work(j, k) for r in rows)
    print(f"| {name} | {cell(j, k)} | " + " | ".join(cell(best(p, k), k) for p in peers) +
          f" | {j[k + '_ips'] / fastest[k + '_ips']:.2f}x ({fastest['impl']}) | {'yes' if same else 'NO'} |")
print()
print("ratios > 1: Joule is faster. same work: every run sent the same rows through the classifier "
      "(all / with a graph) and fooled the same inputs.")
print("all runs (images/s from the median of REPS calls; rows / grad rows / fooled of 256):")
for r in rows:
    parts = [f"{k}={r[k + '_ips']:.0f}/s ({r[k + '_s_median']:.3f}s, {r[k + '_rows']}/{r[k + '_grad_rows']}/{r[k + '_fooled']})"
             for k, _ in attacks]
    print(f"  {r['impl']:14s} torch={r['torch']:14s} threads={r['threads']} " + " ".join(parts))
PY
