#!/usr/bin/env bash
# dopri5 per-step cost: Joule vs torchdiffeq (Debian's torch 1.13 and pip's torch 2.x), at 1 and 2
# threads, in one run. Usage: bench/run_ode.sh [build-dir]
# Env: VENV_PY, a Python with torch 2.x + torchdiffeq + scipy (default /work/venv-torch/bin/python);
# DEBIAN_PY, a Python on Debian's python3-torch with torchdiffeq importable (default /usr/bin/python3;
# e.g. a `/usr/bin/python3 -m venv --system-site-packages` venv with `pip install --no-deps torchdiffeq`),
# skipped when it cannot import torchdiffeq.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=$(mktemp)
pys=()
deb=${DEBIAN_PY:-/usr/bin/python3}
"$deb" -c "import torchdiffeq" 2>/dev/null && pys+=("$deb")
venv=${VENV_PY:-/work/venv-torch/bin/python}
[ -x "$venv" ] && "$venv" -c "import torchdiffeq" 2>/dev/null && pys+=("$venv")
for t in 1 2; do
  OMP_NUM_THREADS=$t "$build/bench/bench_ode" --threads $t >> "$out"
  for py in "${pys[@]}"; do OMP_NUM_THREADS=$t "$py" "$root/bench/ode_peer.py" --threads $t >> "$out"; done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
impls = sorted({r["impl"] for r in rows if r["impl"] != "joule"})
print("| case | batch | steps | Joule µs/step (threads) | " + " | ".join(f"{i} µs/step (threads)" for i in impls) + " | best peer / Joule |")
print("|---|---|---|---|" + "---|" * len(impls) + "---|")
for case in ("decay", "tanh"):
    for batch in (1, 1000):
        sel = lambda i: min((r for r in rows if r["impl"] == i and r["case"] == case and r["batch"] == batch), key=lambda r: r["us_per_step"])
        j = sel("joule")
        peers = [sel(i) for i in impls]
        best = min(p["us_per_step"] for p in peers) if peers else float("nan")
        print(f"| {case} | {batch} | {j['steps']} | {j['us_per_step']:.1f} ({j['threads']}) | " +
              " | ".join(f"{p['us_per_step']:.1f} ({p['threads']})" for p in peers) + f" | {best / j['us_per_step']:.2f}x |")
print()
for r in rows:
    print(f"  {r['impl']:22s} {r['case']:6s} batch={r['batch']:5d} threads={r['threads']} steps={r['steps']:4d} us/step={r['us_per_step']:8.1f}")
PY
rm -f "$out"
