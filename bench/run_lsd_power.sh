#!/usr/bin/env bash
# The LSD power study of docs/methods/goodness_of_fit.md, end to end:
#   1. the paper's own lsd_test.py (a checkout of github.com/wgrathwohl/LSD, run unchanged by
#      bench/lsd_reference_power.py) on the Gaussian–Bernoulli RBM benchmark, every seed and σ;
#   2. Joule's LSD test (the reference preset) and KSD test on exactly the samples and models the
#      reference drew, seed by seed;
#   3. power against dimension on lsd_test.py's other problems (Joule's LSD and KSD tests);
#   4. the pooled summary (Wilson intervals, paired McNemar tests) and plots.
# Work is cut into chunks of seeds run as JOBS single-threaded processes at once: on this 2-core
# machine two 1-thread processes finish 1.35x more Joule tests per minute than one 2-thread
# process, 1.7x more lsd_test.py runs (docs/methods/goodness_of_fit.md, "Running the study fast").
#
# Usage: REF=/path/to/LSD bench/run_lsd_power.sh [build-dir] [out-dir]
# Env: JOBS (2), SEEDS (100), SIGMAS (0,0.01,0.02,0.04), CHUNK (25 seeds per job),
#      DIM_SEEDS (20: LSD seeds per dimension point; KSD uses SEEDS), DIMS (10,50,200),
#      KSD_DIMS (10,25,50,100,200), PYTHON (/usr/bin/python3), STEPS (ref,joule,dims,merge).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=${2:-lsd-power-study}
jobs=${JOBS:-2}
seeds=${SEEDS:-100}
sigmas=${SIGMAS:-0,0.01,0.02,0.04}
chunk=${CHUNK:-25}
dim_seeds=${DIM_SEEDS:-20}
dims=${DIMS:-10,50,200}
ksd_dims=${KSD_DIMS:-10,25,50,100,200}
python=${PYTHON:-/usr/bin/python3}
steps=${STEPS:-ref,joule,dims,merge}
bench="$build/bench/bench_lsd_gof"
[ -x "$bench" ] || { echo "no $bench: build the bench_lsd_gof target first" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

run_jobs() {  # one command per line on stdin, JOBS at a time; each job's output in its own log
  local i=0
  while IFS= read -r cmd; do
    i=$((i + 1))
    printf '%s\0' "$cmd > '$out/logs/$1.$i.log' 2>&1 || { echo 'failed: $cmd (see $out/logs/$1.$i.log)' >&2; exit 1; }"
  done | xargs -0 -P "$jobs" -I{} bash -c {}
}
mkdir -p "$out/logs"

if [[ $steps == *ref* ]]; then
  if [ -z "${REF:-}" ] || [ ! -f "${REF}/lsd_test.py" ]; then
    echo "set REF to a checkout of github.com/wgrathwohl/LSD (git clone https://github.com/wgrathwohl/LSD)" >&2
    exit 1
  fi
  echo "$(date +%T) reference lsd_test.py: $seeds seeds x sigma in {$sigmas}, $jobs processes"
  for ((s = 0; s < seeds; s += chunk)); do
    n=$((seeds - s < chunk ? seeds - s : chunk))
    echo "$python '$root/bench/lsd_reference_power.py' --ref '$REF' --out '$out/ref/seeds_$s' --sigmas $sigmas --seeds $n --first-seed $s"
  done | run_jobs ref
fi

if [[ $steps == *joule* ]]; then
  echo "$(date +%T) Joule's LSD (reference preset) and KSD tests on the reference's samples"
  for d in "$out"/ref/seeds_*; do
    s=${d##*_}
    n=$((seeds - s < chunk ? seeds - s : chunk))
    echo "'$bench' --data '$d' --sigmas $sigmas --seeds $n --first-seed $s --preset reference --out '$out/joule/seeds_$s'"
  done | run_jobs joule
fi

if [[ $steps == *dims* ]]; then
  echo "$(date +%T) power against dimension: LSD at D in {$dims} ($dim_seeds seeds), KSD at D in {$ksd_dims} ($seeds seeds)"
  {
    for p in gaussian-laplace laplace-gaussian gaussian-pert rbm; do
      echo "'$bench' --problem $p --dims $dims --sigmas 0.02 --seeds $dim_seeds --tests lsd --preset reference --out '$out/dims/lsd-$p'"
    done
    for p in gaussian-laplace laplace-gaussian gaussian-pert rbm; do
      echo "'$bench' --problem $p --dims $ksd_dims --sigmas 0,0.02 --seeds $seeds --tests ksd --out '$out/dims/ksd-$p'"
    done
  } | run_jobs dims
fi

if [[ $steps == *merge* ]]; then
  shopt -s nullglob
  found=("$out"/ref/seeds_* "$out"/joule/seeds_* "$out"/dims/*)
  [ ${#found[@]} -gt 0 ] || { echo "nothing to merge in $out" >&2; exit 1; }
  parts=$(IFS=,; echo "${found[*]}")
  "$bench" --merge "$parts" --out "$out/summary"
  echo "$(date +%T) done: $out/summary/summary.md and $out/summary/power_*.png"
fi
