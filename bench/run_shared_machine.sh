#!/usr/bin/env bash
# Threads on a shared machine: Langevin throughput (bench_langevin, 2 threads) alone and beside
# one busy single-thread process, under libgomp's wait policies (its default spin, PASSIVE,
# GOMP_SPINCOUNT=10000) and at one thread; then the default job (`joule train`, 400 steps) alone,
# beside a busy process (old default: spinning; new: the restart with sleeping workers), and two
# jobs side by side. Run on an otherwise idle machine. Usage: bench/run_shared_machine.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
busy_start() { (while :; do :; done) & busy_pid=$!; sleep 1; }
busy_stop() { kill "$busy_pid"; wait "$busy_pid" 2>/dev/null || true; }
langevin() {  # label competitor threads env...
  local label=$1 comp=$2 threads=$3; shift 3
  [ "$comp" = 1 ] && busy_start
  env "$@" "$build/bench/bench_langevin" --threads "$threads" --seconds 1 | grep '"joule"' |
    sed "s/^{/{\"setting\":\"$label\",\"competitor\":$comp,/" >> "$work/langevin.jsonl"
  [ "$comp" = 1 ] && busy_stop
  return 0
}
for comp in 0 1; do
  langevin "spin (libgomp default)" $comp 2 GOMP_SPINCOUNT=300000
  langevin "sleep (PASSIVE)" $comp 2 OMP_WAIT_POLICY=PASSIVE
  langevin "GOMP_SPINCOUNT=10000" $comp 2 GOMP_SPINCOUNT=10000
  langevin "one thread" $comp 1
done
python3 - "$work/langevin.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
settings = list(dict.fromkeys(r["setting"] for r in rows))
shapes = list(dict.fromkeys((r["width"], r["batch"]) for r in rows))
print("Langevin score evaluations per second (bench_langevin, 10 steps per call):\n")
print("| width × batch | " + " | ".join(f"{s}, alone | {s}, busy" for s in settings) + " |")
print("|---|" + "---|" * (2 * len(settings)))
for w, b in shapes:
    cells = []
    for s in settings:
        for c in (0, 1):
            v = [r["score_evals_per_s"] for r in rows if r["setting"] == s and r["competitor"] == c and (r["width"], r["batch"]) == (w, b)]
            cells.append(f"{v[0]:.0f}" if v else "—")
    print(f"| {w} × {b} | " + " | ".join(cells) + " |")
PY
job() { /usr/bin/time -f "%e" -o "$work/t" "$build/joule" train train.steps=400 train.eval_every=0 sample.n=16 run.progress=none out="$work/run-$RANDOM$RANDOM" "$@" > /dev/null 2>&1; cat "$work/t"; }
echo
echo "The default job (joule train, 400 steps, 2 threads), wall seconds:"
echo "  alone, spinning workers:           $(GOMP_SPINCOUNT=300000 job)"
echo "  alone, sleeping workers:           $(OMP_WAIT_POLICY=PASSIVE job)"
busy_start
echo "  busy machine, spinning (old):      $(GOMP_SPINCOUNT=300000 job)"
echo "  busy machine, new default:         $(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT bash -c "$(declare -f job); work=$work build=$build job")"
echo "  busy machine, run.threads=1:       $(job run.threads=1)"
busy_stop
a=$(mktemp); b=$(mktemp)
(GOMP_SPINCOUNT=300000 job > "$a") & sleep 0.3; GOMP_SPINCOUNT=300000 job > "$b"; wait
echo "  two jobs side by side, both spin:  $(cat "$a") and $(cat "$b")"
(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT bash -c "$(declare -f job); work=$work build=$build job" > "$a") & sleep 1
env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT bash -c "$(declare -f job); work=$work build=$build job" > "$b"; wait
echo "  two jobs, new default:             $(cat "$a") (started first) and $(cat "$b")"
(OMP_WAIT_POLICY=PASSIVE job > "$a") & sleep 0.3; OMP_WAIT_POLICY=PASSIVE job > "$b"; wait
echo "  two jobs, both PASSIVE:            $(cat "$a") and $(cat "$b")"
rm -f "$a" "$b"
