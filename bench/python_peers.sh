# Sourced by bench/run_*.sh: the Python interpreters a benchmark compares against, as the arrays
# `pythons` (paths) and `tags` (names in the tables): Debian's /usr/bin/python3 (its torch 1.13)
# and, when it has torch, the pip venv at $VENV_PY (default /work/venv-torch/bin/python).
venv_py=${VENV_PY:-/work/venv-torch/bin/python}
pythons=(/usr/bin/python3)
tags=(debian)
if [ -x "$venv_py" ] && "$venv_py" -c "import torch" 2>/dev/null; then
  pythons+=("$venv_py")
  tags+=(venv)
else
  echo "note: no torch at $venv_py; Python runs only under /usr/bin/python3" >&2
fi
