#!/usr/bin/env bash
# One FFJORD toy training iteration: Joule vs the same model in PyTorch + torchdiffeq (Debian's
# torch 1.13 and pip's torch 2.x), from the same initial weights on the same batch (equal NFE),
# with gradients by back-propagation through the solver and by the adjoint (FFJORD's choice), at
# 1 and 2 threads, in one run. Usage: bench/run_ffjord.sh [build-dir] [trained-run]
# With a trained run (a 2-D ffjord run folder), both sides start from its flow on 100 of its test
# points: the NFE of a trained model instead of a fresh one.
# Env: VENV_PY, DEBIAN_PY as for bench/run_ode.sh (each needs torchdiffeq importable).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
from=()
[ -n "${2:-}" ] && from=(--from "$2")
out=$(mktemp)
share=$(mktemp)
pys=()
deb=${DEBIAN_PY:-/usr/bin/python3}
"$deb" -c "import torchdiffeq" 2>/dev/null && pys+=("$deb")
venv=${VENV_PY:-/work/venv-torch/bin/python}
[ -x "$venv" ] && "$venv" -c "import torchdiffeq" 2>/dev/null && pys+=("$venv")
for t in 1 2; do
  OMP_NUM_THREADS=$t "$build/bench/bench_ffjord" --threads $t --share "$share" "${from[@]}" >> "$out"
  for py in "${pys[@]}"; do OMP_NUM_THREADS=$t "$py" "$root/bench/ffjord_peer.py" --threads $t --share "$share" >> "$out"; done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = {}
for r in rows:
    k = (r["impl"], r["gradient"])
    if k not in best or r["ms_per_iter"] < best[k]["ms_per_iter"]:
        best[k] = r
print("| implementation | gradient | ms / iteration (threads) | NFE forward / backward (20 iterations) | loss after 20 |")
print("|---|---|---|---|---|")
for (impl, grad), r in sorted(best.items()):
    print(f"| {impl} | {grad} | {r['ms_per_iter']:.1f} ({r['threads']}) | {r['nfe_forward']} / {r['nfe_backward']} | {r['last_loss']:.5f} |")
j = min(r["ms_per_iter"] for (i, g), r in best.items() if i == "joule")
peers = {k: r for k, r in best.items() if k[0] != "joule"}
if peers:
    ref = min((r for (i, g), r in peers.items() if g == "adjoint"), key=lambda r: r["ms_per_iter"])
    fast = min(peers.values(), key=lambda r: r["ms_per_iter"])
    print(f"\nJoule's best vs the reference's setting (odeint_adjoint, {ref['impl']}): {ref['ms_per_iter'] / j:.2f}x")
    print(f"Joule's best vs the fastest peer setting ({fast['impl']}, {fast['gradient']}): {fast['ms_per_iter'] / j:.2f}x")
print()
for r in rows:
    print(f"  {r['impl']:28s} {r['gradient']:8s} threads={r['threads']} ms/iter={r['ms_per_iter']:7.2f} nfe={r['nfe_forward']}/{r['nfe_backward']}")
PY
rm -f "$out" "$share"
