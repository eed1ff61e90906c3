#!/usr/bin/env bash
# Episodes to solve cart-pole (mean return of 100 consecutive episodes >= 195) for A2C and for
# the RELAX control variate, SEEDS seeds each (arXiv:1711.00123 §5.3's comparison), 1 thread.
# Usage: bench/run_cartpole.sh [build-dir] [out-dir]     Env: SEEDS (default 10), EPISODES (1500)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=${2:-$(mktemp -d)}
seeds=${SEEDS:-10}
episodes=${EPISODES:-1500}
mkdir -p "$out"
for est in a2c relax; do
  for s in $(seq 0 $((seeds - 1))); do
    "$build/joule" train relax_cartpole out="$out/$est-$s" agent.estimator=$est run.seed=$s run.threads=1 \
      train.steps="$episodes" run.progress=none run.tensorboard=false > "$out/$est-$s.log" 2>&1
  done
done
/usr/bin/python3 - "$out" "$seeds" <<'PY'
import json, math, sys
out, seeds = sys.argv[1], int(sys.argv[2])
print("| gradient | episodes to solve, mean ± se (solved / seeds) | per seed | greedy return, mean |")
print("|---|---|---|---|")
for est in ("a2c", "relax"):
    ev = [json.load(open(f"{out}/{est}-{s}/eval.json")) for s in range(seeds)]
    val = lambda e, k: e["metrics"][k]
    eps = [val(e, "episodes_to_solve") for e in ev]
    solved = [x for x in eps if x > 0]
    m = sum(solved) / len(solved) if solved else float("nan")
    se = (math.sqrt(sum((x - m) ** 2 for x in solved) / (len(solved) - 1)) / math.sqrt(len(solved))
          if len(solved) > 1 else float("nan"))
    greedy = sum(val(e, "greedy_return") for e in ev) / len(ev)
    print(f"| {est} | {m:.0f} ± {se:.0f} ({len(solved)} / {seeds}) | {', '.join(str(int(x)) for x in eps)} | {greedy:.1f} |")
PY
