#!/usr/bin/env python3
"""Peer for bench_lsd_trace: one LSD critic step (s_q^T f + tr df/dx, lambda |f|^2 penalty,
backward to the critic) in Python PyTorch with the exact trace (D autograd.grad calls with
create_graph, as LSD's exact_jacobian_trace) and with one Gaussian Hutchinson probe.
Critic D-300-300-D with learned-beta Swish, batch 100. One JSON line per dimension."""
import argparse
import json
import time

import torch
import torch.nn as nn


class SwishBeta(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.beta = nn.Parameter(torch.ones(n))

    def forward(self, z):
        return z * torch.sigmoid(self.beta * z)


def per_call(fn, budget):
    fn()
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < budget:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--dims", type=str, default="2,5,10,20,50,100,200,500,1000")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    batch, l2 = 100, 0.5
    for d in [int(v) for v in args.dims.split(",")]:
        torch.manual_seed(d)
        critic = nn.Sequential(nn.Linear(d, 300), SwishBeta(300), nn.Linear(300, 300), SwishBeta(300),
                               nn.Linear(300, d))
        x0, sq = torch.randn(batch, d), torch.randn(batch, d)

        def step(exact):
            critic.zero_grad()
            x = x0.clone().requires_grad_()
            fx = critic(x)
            if exact:
                tr = 0.0
                for i in range(d):
                    tr = tr + torch.autograd.grad(fx[:, i].sum(), x, retain_graph=True, create_graph=True)[0][:, i]
            else:
                eps = torch.randn_like(fx)
                g = torch.autograd.grad(fx, x, grad_outputs=eps, create_graph=True)[0]
                tr = (g * eps).sum(1)
            t = (sq * fx).sum(1) + tr
            (-t.mean() + l2 * (fx * fx).sum(1).mean()).backward()

        hutch = per_call(lambda: step(False), args.seconds)
        exact = per_call(lambda: step(True), args.seconds)
        print(json.dumps({"impl": "python-torch", "dim": d, "batch": batch, "threads": args.threads,
                          "hutchinson_ms": 1e3 * hutch, "exact_ms": 1e3 * exact}), flush=True)


if __name__ == "__main__":
    main()
