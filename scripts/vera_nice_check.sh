#!/usr/bin/env bash
# VERA's tractable-model check (arXiv:2010.04230 §6.4; `VERA:train.py --nice`): one NICE flow
# architecture trained by exact maximum likelihood, by VERA with λ = 1 and λ = 0, by PCD and by
# sliced score matching, each then scored by its exact test log-likelihood. The paper's ordering
# is MLE > VERA(λ=1) > VERA(λ=0), SSM.
# Usage: scripts/vera_nice_check.sh OUT_DIR [key=value ...]   (e.g. data.dataset=checkerboard)
# Env: JOULE (default build/joule), STEPS (default 4000), JOBS (parallel runs, default 2),
#      VERA_ARGS (key=value for the VERA runs only, e.g. generator.noise_dim=64).
# Fashion-MNIST (784-d, dequantised; docs/methods/vera.md):
#   STEPS=3000 VERA_ARGS="generator.width=300 generator.noise_dim=64 optim.generator.lr=1e-4" \
#     scripts/vera_nice_check.sh runs/nice-fashion data.dataset=fashion-mnist data.n_train=20000 data.n_test=2000 \
#     model.width=300 train.batch_size=100 train.lr=1e-4 train.energy_bound=1e7 eval.n_samples=200
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
joule=${JOULE:-$root/build/joule}
out=$1
shift
steps=${STEPS:-4000}
jobs=${JOBS:-2}
extra="$*"
vera_extra=${VERA_ARGS:-}
nice="model.kind=nice model.width=100 model.depth=3 model.couplings=4 train.steps=$steps run.threads=1 run.progress=none $extra"
mkdir -p "$out"
printf '%s\n' \
  "$joule train method=ebm out=$out/mle objective.kind=mle $nice" \
  "$joule train vera_8gaussians out=$out/vera-lambda1 vera.entropy_weight=1 refine.steps=0 $nice $vera_extra" \
  "$joule train vera_8gaussians out=$out/vera-lambda0 vera.entropy_weight=0 refine.steps=0 $nice $vera_extra" \
  "$joule train pcd_8gaussians out=$out/pcd $nice" \
  "$joule train method=ebm out=$out/ssm objective.kind=ssm $nice" |
  xargs -P "$jobs" -I{} sh -c '{} > /dev/null 2>&1 || echo "failed or stopped: {}"'
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
print("| training | exact test log-likelihood (nats) | nll_gap |")
print("|---|---|---|")
for name in ["mle", "vera-lambda1", "vera-lambda0", "pcd", "ssm"]:
    f = os.path.join(out, name, "eval.json")
    if not os.path.exists(f):
        print(f"| {name} | (no eval: see {os.path.join(out, name)}) | |")
        continue
    m = json.load(open(f))["metrics"]
    gap = m.get("nll_gap")
    print(f"| {name} | {m['test_loglik']:.4f} | {'' if gap is None else f'{gap:.4f}'} |")
PY
