#!/usr/bin/env bash
# Data-parallel training on this machine (issue 17, docs/scale.md):
#  1. the gradient all-reduce of 2 processes on loopback Gloo, Joule's GradientReducer against the
#     same bucketed reduction in Python torch.distributed (Debian's torch and, if present, a pip
#     torch in $JOULE_VENV), for 0.1 M to 36.5 M floats (WRN-28-10's parameter count);
#  2. training throughput at a fixed global batch: one process with 1 and 2 threads, and
#     `joule train --nproc 2` (one thread each), from the steps' own clock in metrics.jsonl.
# Usage: bench/run_data_parallel.sh [build-dir]     (nothing else running: 2 cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
venv=${JOULE_VENV:-/work/venv-torch}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# ranks WORLD COMMAND...: one process per rank with torchrun's environment.
ranks() {
  local world=$1; shift
  local port; port=$(free_port)
  local pids=()
  for r in $(seq 0 $((world - 1))); do
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$world MASTER_ADDR=127.0.0.1 MASTER_PORT=$port OMP_NUM_THREADS=1 "$@" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}

echo "== gradient all-reduce, 2 processes, loopback Gloo (median per reduction)"
{
  ranks 2 "$build/bench/bench_allreduce"
  ranks 2 /usr/bin/python3 "$root/bench/allreduce_peer.py"
  if [ -x "$venv/bin/python" ]; then ranks 2 "$venv/bin/python" "$root/bench/allreduce_peer.py"; fi
} > "$work/allreduce.jsonl"
/usr/bin/python3 - "$work/allreduce.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
impls = sorted({r["impl"] for r in rows}, key=lambda s: (s != "joule", s))
print("| floats | " + " | ".join(f"{i} ms (GB/s)" for i in impls) + " | Joule / fastest peer |")
print("|---|" + "---|" * (len(impls) + 1))
for n in sorted({r["floats"] for r in rows}):
    by = {r["impl"]: r for r in rows if r["floats"] == n}
    peers = [by[i]["ms"] for i in impls if i != "joule" and i in by]
    cells = [f"{by[i]['ms']:.2f} ({by[i]['gb_per_s']:.2f})" if i in by else "-" for i in impls]
    ratio = f"{min(peers) / by['joule']['ms']:.2f}x" if peers and "joule" in by else "-"
    print(f"| {n:,} | " + " | ".join(cells) + f" | {ratio} |")
PY

# steps/s between the first and the last metrics line (start-up and evaluation excluded)
rate() {
  /usr/bin/python3 - "$1/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if "time_s" in r]
a, b = rows[0], rows[-1]
print(f"{(b['step'] - a['step']) / (b['time_s'] - a['time_s']):.2f}")
PY
}
echo
echo "== training throughput at a fixed global batch (steps/s)"
echo "| job | global batch | 1 process, 1 thread | 1 process, 2 threads | 2 processes x 1 thread | 2 processes / best single |"
echo "|---|---|---|---|---|---|"
run_job() {  # label global-batch steps log-every config...
  local label=$1 batch=$2 steps=$3 every=$4; shift 4
  local common=(train.steps="$steps" train.log_every="$every" train.eval_every=0 train.checkpoint_every=1000000 run.progress=none run.tensorboard=false)
  OMP_NUM_THREADS=1 "$build/joule" train "$@" "${common[@]}" train.batch_size="$batch" run.threads=1 run.out="$work/$label-t1" > /dev/null 2>&1
  OMP_NUM_THREADS=2 "$build/joule" train "$@" "${common[@]}" train.batch_size="$batch" run.threads=2 run.out="$work/$label-t2" > /dev/null 2>&1
  "$build/joule" train --nproc 2 "$@" "${common[@]}" train.batch_size=$((batch / 2)) run.out="$work/$label-p2" > /dev/null 2>&1
  local t1 t2 p2
  t1=$(rate "$work/$label-t1"); t2=$(rate "$work/$label-t2"); p2=$(rate "$work/$label-p2")
  echo "| $label | $batch | $t1 | $t2 | $p2 | $(/usr/bin/python3 -c "print(f'{$p2 / max($t1, $t2):.2f}x')") |"
}
run_job "pcd-8gaussians" 256 600 100 pcd_8gaussians
run_job "jem-fashion-cnn" 64 60 10 jem_fashion_cnn
run_job "rbm-pcd-fashion" 100 600 100 rbm_pcd_fashion rbm.epochs=0
