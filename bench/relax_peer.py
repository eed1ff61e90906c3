#!/usr/bin/env python3
"""Python PyTorch peer of `bench_relax --time`: one estimator step of REINFORCE, REBAR and RELAX
on the same discrete-VAE-sized problem (logits [64, 200], f(b) = ||b W - x||^2 per row with W
[200, 784]), written from the RELAX paper (arXiv:1711.00123 §3 and App. B) the way a PyTorch user
would: z and z~ built from the logits with gradient, the control variate's per-sample gradients
by autograd.grad(..., create_graph=True), the variance loss mean(g^2) differentiated for phi.

Usage: relax_peer.py [--task vae|toy] [--batch B] [--threads T] [--reps R] [--warmup W]; prints one
JSON line per estimator. toy: B rows of one Bernoulli, f = (b - 0.45)^2, RELAX with toy.py's Q.
"""
import argparse
import json
import math
import time

import torch


def relaxed(logits, u):
    return logits + torch.log(u) - torch.log1p(-u)


def conditional(logits, b, v):
    theta = torch.sigmoid(logits)
    one = logits + torch.log1p(-theta * (1 - v)) - torch.nn.functional.logsigmoid(logits) - torch.log1p(-v)
    zero = logits + torch.log(v) + torch.nn.functional.logsigmoid(-logits) - torch.log1p(-v * (1 - theta))
    return b * one + (1 - b) * zero


class Surrogate(torch.nn.Module):
    """c(z) = eta * f(sigmoid(z / lambda)) [+ r(2 sigmoid(z / lambda) - 1)]."""

    def __init__(self, dim, neural, toy):
        super().__init__()
        # The toy's RELAX surrogate is toy.py's Q alone; the VAE's is REBAR's term plus a network.
        self.rebar = not (toy and neural)
        self.eta = torch.nn.Parameter(torch.tensor(1.0)) if self.rebar else None
        self.log_temperature = torch.nn.Parameter(torch.tensor(math.log(0.5)))
        if not neural:
            self.net = None
        elif toy:
            self.net = torch.nn.Sequential(torch.nn.Linear(dim, 10), torch.nn.Tanh(), torch.nn.Linear(10, 1))
        else:
            self.net = torch.nn.Sequential(torch.nn.Linear(dim, 200), torch.nn.Tanh(), torch.nn.Linear(200, 200),
                                           torch.nn.Tanh(), torch.nn.Linear(200, 1))

    def forward(self, z, f):
        soft = torch.sigmoid(z / self.log_temperature.exp())
        c = self.eta * f(soft) if self.rebar else 0
        if self.net is not None:
            c = c + self.net(2 * soft - 1).squeeze(-1)
        return c


def estimate(kind, logits, f, cv):
    l = logits.detach().clone().requires_grad_(True)
    u = torch.rand_like(l).clamp_(1e-6, 1 - 1e-6)
    v = torch.rand_like(l).clamp_(1e-6, 1 - 1e-6)
    z = relaxed(l, u)
    b = (z > 0).to(l.dtype).detach()
    fb = f(b).detach()
    score = b - torch.sigmoid(l.detach())
    if kind == "reinforce":
        return fb.unsqueeze(1) * score, None
    zt = conditional(l, b, v)
    cz, czt = cv(z, f), cv(zt, f)
    dcz = torch.autograd.grad(cz.sum(), l, create_graph=True, retain_graph=True)[0]
    dczt = torch.autograd.grad(czt.sum(), l, create_graph=True, retain_graph=True)[0]
    g = (fb - czt).unsqueeze(1) * score + dcz - dczt
    return g, g.pow(2).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="vae", choices=["vae", "toy"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    toy = args.task == "toy"
    batch, latent, pixels = args.batch, (1 if toy else 200), 784
    w = torch.randn(latent, pixels) / math.sqrt(latent)
    x = torch.rand(batch, pixels)
    logits = torch.randn(batch, latent)

    def f(b):
        if toy:
            return (b - 0.45).pow(2).mean(1)
        return (b @ w - x).pow(2).sum(1)

    for kind in ("reinforce", "rebar", "relax"):
        cv = None if kind == "reinforce" else Surrogate(latent, neural=(kind == "relax"), toy=toy)
        params = [] if cv is None else list(cv.parameters())
        times, checksum = [], 0.0
        for i in range(args.warmup + args.reps):
            t0 = time.perf_counter()
            g, var_loss = estimate(kind, logits, f, cv)
            if var_loss is not None:
                grads = torch.autograd.grad(var_loss, params)
                checksum += grads[0].sum().item()
            checksum += g.sum().item()
            dt = time.perf_counter() - t0
            if i >= args.warmup:
                times.append(dt)
        times.sort()
        n = len(times)
        med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
        print(json.dumps({"impl": "python", "torch": torch.__version__, "task": f"{args.task}/{kind}", "threads": args.threads,
                          "batch": batch, "reps": args.reps, "step_s_median": med, "step_s_min": times[0],
                          "checksum_finite": math.isfinite(checksum)}), flush=True)


if __name__ == "__main__":
    main()
