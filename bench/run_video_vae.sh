#!/usr/bin/env bash
# One training step of the video VAE (the video_vae method's model: batch 16 videos of
# 8 frames, 8 slow identity + 8 pose channels, filters 32, hidden 256, Adam 1e-3) through Joule's
# trainer (bench_video_vae) against the same model and step in Python PyTorch
# (bench/video_vae_peer.py), with Debian's torch (/usr/bin/python3) and a current torch from pip
# ($VENV_PY), at 1 and 2 threads, interleaved over rounds, for RGB 32x32 frames (sprites-like) and
# grey 32x32 frames (moving Fashion-MNIST-like). Each side is reported at its best (the faster
# thread count; for Python also the faster torch). First a numerical check per configuration: the
# loss at init, the gradient norm and the loss after one Adam step from the same weights, batch
# and noise (bench_video_vae --dump-init, video_vae_peer.py --load-init), to 1e-4 relative.
# Usage: bench/run_video_vae.sh [build-dir]    Env: ROUNDS (default 2), REPS (default 50), WARMUP (default 5).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${ROUNDS:-2}
reps=${REPS:-50}
warmup=${WARMUP:-5}
source "$root/bench/python_peers.sh"
out=$(mktemp)
init=$(mktemp -d)
trap 'rm -rf "$out" "$init"' EXIT
configs=("3 32" "1 32")  # channels size

echo "numerical check (same weights, batch and noise):"
for spec in "${configs[@]}"; do
  set -- $spec
  mkdir -p "$init/c$1"
  env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/bench/bench_video_vae" --dump-init "$init/c$1" --channels $1 \
    --size $2 >/dev/null
  for py in "${pythons[@]}"; do
    # A disagreement exits 1 after printing its line (the summary below says DISAGREE).
    env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$py" "$root/bench/video_vae_peer.py" --load-init "$init/c$1" \
      --threads 1 >> "$init/check.jsonl" || echo "  (the check under $py, channels $1, exited with an error)"
  done
done
/usr/bin/python3 - "$init/check.jsonl" <<'PY'
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip()):
    d = ", ".join(f"{k} {r['joule'][k]:.6g} vs {r['python'][k]:.6g} (rel {r['rel_diff'][k]:.1e})" for k in r["python"])
    print(f"  channels {r['channels']}, torch {r['torch'].split('+')[0]}: {d}: {'agree' if r['agree_1e-4'] else 'DISAGREE'}")
PY
echo

for r in $(seq "$rounds"); do
  for spec in "${configs[@]}"; do
    set -- $spec
    for t in 1 2; do
      env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 "$build/bench/bench_video_vae" --channels $1 --size $2 --frames 8 \
        --batch 16 --threads $t --reps "$reps" --warmup "$warmup" >> "$out"
      for py in "${pythons[@]}"; do
        env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 "$py" "$root/bench/video_vae_peer.py" --channels $1 --size $2 \
          --frames 8 --batch 16 --threads $t --reps "$reps" --warmup "$warmup" >> "$out"
      done
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert all(r["checksum_finite"] for r in rows), "a non-finite loss"
def key(r):
    return r["impl"] if r["impl"] == "joule" else f"torch {r['torch'].split('+')[0]}"
def cfg(r):
    return f"C={r['channels']} {r['size']}x{r['size']} T={r['frames']} B={r['batch']}"
print("| video VAE training step | Joule ms/step (threads) | best Python ms/step (torch, threads) | Joule speed-up |")
print("|---|---|---|---|")
for c in dict.fromkeys(cfg(r) for r in rows):
    cr = [r for r in rows if cfg(r) == c]
    j = min((r for r in cr if r["impl"] == "joule"), key=lambda r: r["step_ms_median"])
    p = min((r for r in cr if r["impl"] != "joule"), key=lambda r: r["step_ms_median"])
    print(f"| {c} | {j['step_ms_median']:.2f} ({j['threads']}) | {p['step_ms_median']:.2f} ({key(p)}, {p['threads']}) | "
          f"{p['step_ms_median'] / j['step_ms_median']:.2f}x |")
print()
print("all runs (median / mean ms per step):")
for r in rows:
    print(f"  {cfg(r):26s} {key(r):14s} threads={r['threads']} {r['step_ms_median']:8.2f} / {r['step_ms_mean']:8.2f}")
PY
