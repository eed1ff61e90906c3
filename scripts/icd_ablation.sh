#!/usr/bin/env bash
# Improved-CD ablation on 2-D data (arXiv:2012.01316 §5.3 on a small scale): the same preset
# (configs/icd_8gaussians.toml: PCD with ULA) as plain PCD, + the KL term, + the entropy term,
# and both, on each dataset and seed; each run scored by its exact test NLL (grid quadrature),
# its gap to the data entropy, MMD of fresh chains to held-out data, divergences and wall time.
# Usage: scripts/icd_ablation.sh OUT_DIR [key=value ...]
# Env: JOULE (default build/joule), DATASETS (default "8gaussians checkerboard"), SEEDS
#      (default "1 2"), STEPS (default 2000), JOBS (parallel runs, default 1: timings are reported),
#      SUMMARY_ONLY=1 (print the table of the runs already in OUT_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
joule=${JOULE:-$root/build/joule}
out=$1
shift
datasets=${DATASETS:-8gaussians checkerboard}
seeds=${SEEDS:-1 2}
steps=${STEPS:-2000}
jobs=${JOBS:-1}
extra="$*"
mkdir -p "$out"
cmds=()
for d in $datasets; do
  for s in $seeds; do
    common="icd_8gaussians data.dataset=$d run.seed=$s train.steps=$steps run.progress=none $extra"
    cmds+=("$joule train $common out=$out/$d-s$s-pcd objective.kind=pcd")
    cmds+=("$joule train $common out=$out/$d-s$s-kl icd.entropy_weight=0")
    cmds+=("$joule train $common out=$out/$d-s$s-entropy icd.kl_weight=0")
    cmds+=("$joule train $common out=$out/$d-s$s-full")
  done
done
[ "${SUMMARY_ONLY:-0}" = 1 ] || printf '%s\n' "${cmds[@]}" | xargs -P "$jobs" -I{} sh -c '/usr/bin/time -f "%e" -o "$(echo "{}" | sed "s/.*out=\([^ ]*\).*/\1/").time" {} > /dev/null 2>&1 || echo "failed or stopped: {}"'
/usr/bin/python3 - "$out" "$datasets" "$seeds" <<'PY'
import json, os, sys, statistics
out, datasets, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
variants = [("pcd", "PCD (ULA)"), ("kl", "+ KL"), ("entropy", "+ entropy"), ("full", "+ KL + entropy (improved CD)")]
def load(run):
    f = os.path.join(run, "eval.json")
    if not os.path.exists(f):
        return None
    e = json.load(open(f))
    t = open(run + ".time").read().split()[-1] if os.path.exists(run + ".time") else "nan"
    div = 0
    mf = os.path.join(run, "metrics.jsonl")
    if os.path.exists(mf):
        for line in open(mf):
            if '"divergence"' in line or '"restart"' in line:
                div += 1
    return e, float(t), div
def pick(e, *keys):
    for k in keys:
        for d in (e, e.get("metrics", {}), e.get("results", {})):
            if isinstance(d, dict) and k in d and d[k] is not None:
                return float(d[k])
    return float("nan")
print("| dataset | variant | test NLL (nats) | gap to data entropy | MMD² (chains) | divergences | s/run |")
print("|---|---|---|---|---|---|---|")
for d in datasets:
    for key, label in variants:
        rows = [load(os.path.join(out, f"{d}-s{s}-{key}")) for s in seeds]
        ok = [r for r in rows if r]
        if not ok:
            print(f"| {d} | {label} | (failed) | | | | |")
            continue
        nll = [pick(e, "nll_test", "nll") for e, _, _ in ok]
        gap = [pick(e, "nll_gap", "gap") for e, _, _ in ok]
        mmd = [pick(e, "mmd2_chains", "mmd2_mcmc", "mmd2") for e, _, _ in ok]
        fmt = lambda v: f"{statistics.mean(v):.3f}" + (f" ± {statistics.stdev(v):.3f}" if len(v) > 1 else "")
        fmte = lambda v: f"{statistics.mean(v):.1e}" + (f" ± {statistics.stdev(v):.1e}" if len(v) > 1 else "")
        print(f"| {d} | {label} | {fmt(nll)} | {fmt(gap)} | {fmte(mmd)} | {sum(r[2] for r in ok)} (+{len(rows) - len(ok)} failed) | "
              f"{statistics.mean(r[1] for r in ok):.0f} |")
PY
