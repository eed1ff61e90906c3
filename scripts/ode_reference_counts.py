#!/usr/bin/env python3
"""Step counts of torchdiffeq's adaptive solvers on the problems of tests/unit/test_ode.cpp.

The expected NFE / accepted / rejected counts and end values in that test were written from this
script's output. Run it next to Debian's python3-torch:

    /usr/bin/python3 -m venv --system-site-packages /tmp/tdq
    /tmp/tdq/bin/pip install --no-deps torchdiffeq      # 0.2.5 when the counts were taken
    /tmp/tdq/bin/python scripts/ode_reference_counts.py
"""
import math

import torch
import torchdiffeq
from torchdiffeq._impl import rk_common

counts = {"accepted": 0, "rejected": 0}
_step = rk_common.RKAdaptiveStepsizeODESolver._adaptive_step


def counted_step(self, rk_state):
    new = _step(self, rk_state)
    counts["accepted" if new.t1 != rk_state.t1 else "rejected"] += 1
    return new


rk_common.RKAdaptiveStepsizeODESolver._adaptive_step = counted_step


class Counted(torch.nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f, self.nfe = f, 0

    def forward(self, t, y):
        self.nfe += 1
        return self.f(t, y)


def neural_field(dtype):
    # A fixed 2-8-2 tanh field with weights from a formula (no RNG), time as an input.
    w1 = torch.tensor([[math.sin(3 * i + j + 1) for j in range(3)] for i in range(8)], dtype=dtype)
    b1 = torch.tensor([0.1 * math.cos(i) for i in range(8)], dtype=dtype)
    w2 = torch.tensor([[0.5 * math.cos(2 * i + j) for j in range(8)] for i in range(2)], dtype=dtype)

    def f(t, y):
        tt = torch.full((y.shape[0], 1), float(t), dtype=dtype)
        return torch.tanh(torch.cat([y, tt], 1) @ w1.T + b1) @ w2.T

    y0 = torch.tensor([[math.sin(k + 0.5), math.cos(2 * k)] for k in range(4)], dtype=dtype)
    return f, y0


def run(method, f, y0, t_end, tol):
    counts["accepted"] = counts["rejected"] = 0
    g = Counted(f)
    ys = torchdiffeq.odeint(g, y0, torch.tensor([0.0, t_end], dtype=torch.float64), method=method, rtol=tol, atol=tol)
    return g.nfe, counts["accepted"], counts["rejected"], ys[-1]


def main():
    one = torch.tensor([1.0], dtype=torch.float64)
    problems = [
        ("exp", lambda t, y: y, one, 1.0),
        ("gauss", lambda t, y: -2 * t * y, one, 2.0),
        ("neural64",) + neural_field(torch.float64) + (1.0,),
        ("neural32",) + neural_field(torch.float32) + (1.0,),
    ]
    print("method problem tol nfe accepted rejected y_end")
    for method in ["dopri5", "bosh3"]:
        for name, f, y0, t_end in problems:
            for tol in [1e-3, 1e-5, 1e-7]:
                nfe, acc, rej, y = run(method, f, y0, t_end, tol)
                print(method, name, tol, nfe, acc, rej, " ".join(f"{v:.17g}" for v in y.flatten().tolist()))


if __name__ == "__main__":
    main()
