#!/usr/bin/env bash
# Joule's read_csv against pandas.read_csv (the reference's loader) on the same generated table.
# Usage: bench/run_csv.sh [ROWS]   (default 500000 rows x 28 columns, ~120 MB)
# Env: PYTHON, a Python with pandas (default /work/venv-torch/bin/python; pip install pandas).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-500000}
file=$(mktemp --suffix=.csv)
trap 'rm -f "$file"' EXIT
/usr/bin/python3 - "$file" "$rows" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(0)
n = int(sys.argv[2])
x = np.column_stack([rng.integers(0, 2, n).astype(float), rng.standard_normal((n, 27))])
np.savetxt(sys.argv[1], x, delimiter=",", fmt="%.6g", header="# label," + ",".join(f"f{i}" for i in range(27)), comments="")
PY
"$root/build/bench/bench_csv" "$file"
"${PYTHON:-/work/venv-torch/bin/python}" - "$file" <<'PY'
import sys, time, pandas as pd
best = 1e30
for _ in range(3):
    t0 = time.perf_counter(); d = pd.read_csv(sys.argv[1], index_col=False); best = min(best, time.perf_counter() - t0)
print(f"pandas {pd.__version__} read_csv: {len(d)} rows in {best:.3f} s")
PY
