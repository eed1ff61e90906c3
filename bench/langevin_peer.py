"""Python PyTorch peer of bench_langevin.cpp: the same MLP energy and Langevin loop.

Run with Debian's interpreter: /usr/bin/python3 bench/langevin_peer.py --threads 1
Prints one JSON object per line, in the same format as the C++ benchmark.
"""
import argparse
import json
import math
import time

import torch


class MlpEnergy(torch.nn.Module):
    def __init__(self, dim, width, depth):
        super().__init__()
        layers, fan_in = [], dim
        for _ in range(depth):
            layers += [torch.nn.Linear(fan_in, width), torch.nn.SiLU()]
            fan_in = width
        layers.append(torch.nn.Linear(fan_in, 1))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).squeeze(1)


def langevin(model, x, steps, a):
    b = math.sqrt(2 * a)
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        g = torch.autograd.grad(model(x).sum(), x)[0]
        x = x - a * g + b * torch.randn_like(x)
    return x.detach()


def rate(fn, budget):
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if time.perf_counter() - t0 >= budget:
            return n / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=2.0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dim, depth, steps = 2, 3, 10
    for width in (128, 512):
        for batch in (256, 4096):
            model = MlpEnergy(dim, width, depth)
            x0 = torch.randn(batch, dim)
            calls = rate(lambda: langevin(model, x0, steps, 0.01), args.seconds)
            evals = calls * steps
            flops = 2.0 * batch * (dim * width + (depth - 1) * width * width + width) + 2.0 * batch * (
                (depth - 1) * width * width + width * dim)
            print(json.dumps({"impl": "python-torch", "width": width, "batch": batch, "threads": args.threads,
                              "score_evals_per_s": round(evals, 1), "samples_steps_per_s": round(evals * batch, 1),
                              "gflops": round(evals * flops / 1e9, 2)}), flush=True)


if __name__ == "__main__":
    main()
