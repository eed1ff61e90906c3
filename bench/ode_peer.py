#!/usr/bin/env python3
"""torchdiffeq's dopri5 on the cases of bench/bench_ode.cpp (JSON lines, the same fields)."""
import argparse, json, time

import torch
import torchdiffeq
from torchdiffeq._impl import rk_common

steps = [0]
_step = rk_common.RKAdaptiveStepsizeODESolver._adaptive_step


def counted_step(self, rk_state):
    steps[0] += 1
    return _step(self, rk_state)


rk_common.RKAdaptiveStepsizeODESolver._adaptive_step = counted_step


def per_call(fn, budget=1.0):
    fn()
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < budget:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


class Decay(torch.nn.Module):
    def forward(self, t, y):
        return -y


class Tanh(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w1, self.b1, self.w2 = torch.randn(8, 3) * 0.8, torch.randn(8) * 0.1, torch.randn(2, 8) * 0.5

    def forward(self, t, y):
        tt = torch.full((y.shape[0], 1), float(t))
        return torch.tanh(torch.cat([y, tt], 1) @ self.w1.T + self.b1) @ self.w2.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    impl = f"torchdiffeq-{torch.__version__.split('+')[0]}"
    with torch.no_grad():
        for batch in (1, 1000):
            for case, f, y0, t1, tol in (("decay", Decay(), torch.ones(batch, 2), 10.0, 1e-8),
                                         ("tanh", Tanh(), torch.randn(batch, 2), 1.0, 1e-5)):
                t = torch.tensor([0.0, t1])
                solve = lambda: torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=tol, atol=tol)
                steps[0] = 0
                solve()
                n = steps[0]
                s = per_call(solve)
                print(json.dumps({"impl": impl, "case": case, "batch": batch, "threads": a.threads, "steps": n,
                                  "us_per_step": 1e6 * s / n}))


if __name__ == "__main__":
    main()
