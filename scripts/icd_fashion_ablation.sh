#!/usr/bin/env bash
# Improved-CD ablation on Fashion-MNIST (arXiv:2012.01316 §5.3 and Table 4, at CPU scale): the
# icd_fashion preset with its terms added one at a time, each run scored by the same sample-quality
# measure (methods::SampleQuality on the cached `auto` feature classifier) for fresh chains and for
# its replay buffer, its OOD AUROCs, divergences (guard restarts) and training time.
#   pcd        PCD: no KL term, no entropy term, no augmentation
#   kl         + the KL term through the last Langevin step
#   entropy    + the nearest-neighbour entropy term
#   augment    + augmentation transitions on the buffer chains (= the icd_fashion preset)
#   multiscale + energies at full, half and quarter resolution, summed (model.scales = 3): all terms
# Usage: scripts/icd_fashion_ablation.sh OUT_DIR [key=value ...]
# Env: JOULE (default build/joule), SEEDS (default "1"), STEPS (default 1000), JOBS (parallel runs,
#      one thread each, default 2), VARIANTS (default all five, longest first), SUMMARY_ONLY=1 (print
#      the table of the runs already in OUT_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
joule=${JOULE:-$root/build/joule}
out=$1
shift
seeds=${SEEDS:-1}
steps=${STEPS:-1000}
jobs=${JOBS:-2}
variants=${VARIANTS:-multiscale pcd kl entropy augment}
extra="$*"
no_aug="augment.flip_prob=0 augment.crop_prob=0 augment.jitter_prob=0 augment.grayscale_prob=0 augment.blur_prob=0"
overrides() {
  case $1 in
    pcd) echo "icd.kl_weight=0 icd.entropy_weight=0 $no_aug" ;;
    kl) echo "icd.entropy_weight=0 $no_aug" ;;
    entropy) echo "$no_aug" ;;
    augment) echo "" ;;
    multiscale) echo "model.scales=3" ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}
mkdir -p "$out"
if [ "${SUMMARY_ONLY:-0}" != 1 ]; then
  cmds=()
  for s in $seeds; do
    for v in $variants; do
      run=$out/s$s-$v
      [ -f "$run/eval.json" ] && continue # finished earlier: keep it
      cmds+=("$joule train icd_fashion run.seed=$s train.steps=$steps run.threads=1 run.progress=none eval.feature_run=auto eval.quality_n=500 $(overrides "$v") $extra out=$run")
    done
  done
  # Training (with its fresh-chain evaluation), timed; then the buffer's chains scored the same way.
  printf '%s\n' "${cmds[@]}" | xargs -r -P "$jobs" -I{} sh -c '
    run=$(echo "{}" | sed "s/.*out=\([^ ]*\).*/\1/")
    /usr/bin/time -f "%e" -o "$run.time" {} > "$run.log" 2>&1 || { echo "failed or stopped: {}"; exit 0; }
    '"$joule"' eval "$run" eval.feature_run=auto eval.quality_n=500 eval.chain_init=buffer eval.chain_steps=0 \
      eval.out="$run/eval-buffer.json" run.threads=1 >> "$run.log" 2>&1 || echo "buffer evaluation failed: $run"'
fi
/usr/bin/python3 - "$out" "$seeds" "$variants" <<'PY'
import json, os, statistics, sys
out, seeds, variants = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
labels = {"pcd": "PCD", "kl": "+ KL", "entropy": "+ KL + entropy",
          "augment": "+ KL + entropy + augmentation (icd_fashion)", "multiscale": "+ multi-scale (all terms)"}
def metrics(path):
    if not os.path.exists(path):
        return None
    e = json.load(open(path))
    return e.get("metrics", e)
def cell(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    s = f"{statistics.mean(values):.{digits}f}"
    return s + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")
print("| variant | FD fresh (floor) | precision / recall fresh | class entropy fresh | FD buffer | "
      "precision / recall buffer | class entropy buffer | AUROC uniform / vflip / invert | divergences | training min |")
print("|---|---|---|---|---|---|---|---|---|---|")
order = [v for v in ["pcd", "kl", "entropy", "augment", "multiscale"] if v in variants]
for v in order:
    runs = [os.path.join(out, f"s{s}-{v}") for s in seeds]
    fresh = [m for m in (metrics(os.path.join(r, "eval.json")) for r in runs) if m]
    buf = [m for m in (metrics(os.path.join(r, "eval-buffer.json")) for r in runs) if m]
    if not fresh:
        print(f"| {labels[v]} | (not run or failed) | | | | | | | |")
        continue
    g = lambda ms, k: [m.get(k) for m in ms]
    restarts, times = 0, []
    for r in runs:
        mf = os.path.join(r, "metrics.jsonl")
        if os.path.exists(mf):
            lines = open(mf).read().splitlines()
            restarts += sum('"event":"divergence"' in line for line in lines)
            # training time: the trainer's clock at its last logged step (the evaluations excluded)
            t = [json.loads(line)["time_s"] for line in lines if '"time_s"' in line]
            if t:
                times.append(t[-1] / 60)
    print(f"| {labels[v]} | {cell(g(fresh, 'fd'), 0)} ({cell(g(fresh, 'fd_train_test'), 0)}) | "
          f"{cell(g(fresh, 'precision'), 2)} / {cell(g(fresh, 'recall'), 2)} | {cell(g(fresh, 'class_entropy'), 2)} | "
          f"{cell(g(buf, 'fd'), 0)} | {cell(g(buf, 'precision'), 2)} / {cell(g(buf, 'recall'), 2)} | {cell(g(buf, 'class_entropy'), 2)} | "
          f"{cell(g(fresh, 'auroc.uniform'), 2)} / {cell(g(fresh, 'auroc.vflip'), 2)} / {cell(g(fresh, 'auroc.invert'), 2)} | "
          f"{restarts} | {cell(times, 1)} |")
PY
