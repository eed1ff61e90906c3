#!/usr/bin/env bash
# Semi-supervised classification on CSV tables (arXiv:2010.04230 §6.2 protocol on the tables at
# hand): VERA-JEM (configs/vera_jem_tabular.toml) against the supervised-only MLP (the same network
# and labels, no p(x) term: JEM with jem.px_weight = 0) and SGLD-JEM (configs/jem_tabular_mlp.toml
# with the same network and labels), over seeds; prints test accuracy mean ± sd per table.
# Usage: scripts/vera_tabular_ssl.sh OUT_DIR TABLE.csv [TABLE.csv ...]
# Env: JOULE (default build/joule), SEEDS (default "0 1 2"), STEPS (default 600), LABELS (default 10),
#      JOBS (parallel runs, default 2, each on one thread), DROP (data.drop_repeated, default 0),
#      METHODS (default "vera supervised sgld").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
joule=${JOULE:-$root/build/joule}
out=$1
shift
seeds=${SEEDS:-0 1 2}
steps=${STEPS:-600}
labels=${LABELS:-10}
jobs=${JOBS:-2}
drop=${DROP:-0}
methods=${METHODS:-vera supervised sgld}
net="model.kind=mlp model.hidden=[1000,500,500,250,250,250]"
mkdir -p "$out"
cmds=()
for csv in "$@"; do
  t=$(basename "$csv" .csv)
  for s in $seeds; do
    common="data.path=$csv run.seed=$s train.steps=$steps run.threads=1 run.progress=none data.drop_repeated=$drop"
    for m in $methods; do
      case $m in
        vera) cmds+=("$joule train vera_jem_tabular out=$out/$t-vera-$s $common vera.labels_per_class=$labels") ;;
        supervised) cmds+=("$joule train jem_tabular_mlp out=$out/$t-supervised-$s $common $net jem.labels_per_class=$labels jem.px_weight=0 train.lr=1e-3") ;;
        sgld) cmds+=("$joule train jem_tabular_mlp out=$out/$t-sgld-$s $common $net jem.labels_per_class=$labels train.lr=1e-3") ;;
        *) echo "unknown method $m (vera, supervised, sgld)" >&2; exit 2 ;;
      esac
    done
  done
done
printf '%s\n' "${cmds[@]}" | xargs -P "$jobs" -I{} sh -c '{} > /dev/null 2>&1 || echo "failed: {}"'
/usr/bin/python3 - "$out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*", "eval.json"))):
    table, method, seed = os.path.basename(os.path.dirname(f)).rsplit("-", 2)
    ev = json.load(open(f))
    m = ev.get("metrics", ev)
    get = lambda k: (m[k]["value"] if isinstance(m.get(k), dict) else m.get(k))
    rows.setdefault((table, method), []).append((get("test_acc"), get("val_acc")))
print("| table | method | runs | test accuracy | validation accuracy |")
print("|---|---|---|---|---|")
for (table, method), v in sorted(rows.items()):
    t = [a for a, _ in v if a is not None]
    va = [b for _, b in v if b is not None]
    sd = lambda x: statistics.stdev(x) if len(x) > 1 else 0.0
    print(f"| {table} | {method} | {len(v)} | {statistics.mean(t):.3f} ± {sd(t):.3f} | {statistics.mean(va):.3f} ± {sd(va):.3f} |")
PY
