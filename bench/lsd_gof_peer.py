#!/usr/bin/env python3
"""Peer for bench_lsd_gof: the LSD goodness-of-fit test on the Gaussian-Bernoulli RBM benchmark
(arXiv:2002.05616 Sec. 6; settings of the paper's README), written in plain PyTorch as a
researcher would. Same settings as bench/bench_lsd_gof.cpp:

  data: 1000 samples of a 50-visible / 40-hidden RBM (h in {-1, 1}), block Gibbs, 2000 burn-in
  model q: the same RBM with B + sigma * N(0, 1)
  critic: 50-300-300-50 MLP, Swish with a learned beta per unit, dropout 0.5
  training: 1000 Adam steps (lr 1e-3, weight decay 5e-4) on the 800 training points (full batch),
            loss -mean/std + 0.5 * mean |f|^2, one Gaussian Hutchinson probe
  every 100 steps and at the last: exact-trace statistics on the 100 validation points, and on
  the 100 test points when the validation mean/std is a new best; the test statistic at the best
  validation mean/std gives z = sqrt(n_test) * mean / std.

Prints one JSON line per test with the wall time of each phase.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn


class SwishBeta(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.beta = nn.Parameter(torch.ones(n))

    def forward(self, z):
        return z * torch.sigmoid(self.beta * z)


def make_critic(d, hidden, dropout):
    layers = [nn.Linear(d, hidden), SwishBeta(hidden)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(hidden, hidden), SwishBeta(hidden)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, d))
    return nn.Sequential(*layers)


def rbm_score(x, B, b, c):
    # d/dx log sum_h exp(x^T B h / 2 + b^T x + c^T h - |x|^2 / 2), h in {-1, 1}^dh
    return b - x + 0.5 * torch.tanh(0.5 * x @ B + c) @ B.t()


def rbm_sample(n, B, b, c, burn_in, gen):
    dx, dh = B.shape
    x = torch.randn(n, dx, generator=gen)
    for _ in range(burn_in + 1):
        p = torch.sigmoid(x @ B + 2.0 * c)
        h = (torch.rand(n, dh, generator=gen) < p).float() * 2.0 - 1.0
        x = h @ B.t() * 0.5 + b + torch.randn(n, dx, generator=gen)
    return x


def stein_stats(critic, sq, x, exact, gen=None):
    fx = critic(x)
    if exact:
        tr = 0.0
        for i in range(x.shape[1]):
            g = torch.autograd.grad(fx[:, i].sum(), x, retain_graph=True)[0]
            tr = tr + g[:, i]
    else:
        eps = torch.randn(fx.shape, generator=gen)
        g = torch.autograd.grad(fx, x, grad_outputs=eps, create_graph=True)[0]
        tr = (g * eps).sum(1)
    return (sq * fx).sum(1) + tr, (fx * fx).sum(1)


def one_test(args, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout and parameter init use the global generator
    t0 = time.perf_counter()
    dx, dh = args.dim_x, args.dim_h
    B = (torch.rand(dx, dh, generator=gen) < 0.5).float() * 2.0 - 1.0
    b = torch.randn(dx, generator=gen)
    c = torch.randn(dh, generator=gen)
    Bq = B + args.sigma * torch.randn(dx, dh, generator=gen)
    n = args.n_train + args.n_val + args.n_test
    data = rbm_sample(n, B, b, c, args.burn_in, gen)
    t1 = time.perf_counter()
    train = data[: args.n_train]
    val = data[args.n_train: args.n_train + args.n_val].clone().requires_grad_()
    test = data[args.n_train + args.n_val:].clone().requires_grad_()
    sq_train = rbm_score(train, Bq, b, c)
    sq_val = rbm_score(val.detach(), Bq, b, c)
    sq_test = rbm_score(test.detach(), Bq, b, c)

    critic = make_critic(dx, args.hidden, args.dropout)
    opt = torch.optim.Adam(critic.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    best_val, best_test = -math.inf, 0.0
    t_eval = 0.0
    for it in range(args.iters):
        idx = torch.randperm(args.n_train, generator=gen)[: args.batch]
        x = train[idx].clone().requires_grad_()
        stats, norms = stein_stats(critic, sq_train[idx], x, exact=False, gen=gen)
        loss = -stats.mean() / (stats.std() + 1e-6) + args.l2 * norms.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % args.val_every == 0 or it + 1 == args.iters:
            te = time.perf_counter()
            critic.eval()
            vs, _ = stein_stats(critic, sq_val, val, exact=True)
            v = (vs.mean() / (vs.std() + 1e-6)).item()
            if v > best_val:  # the test statistic is needed only for a new best critic
                ts, _ = stein_stats(critic, sq_test, test, exact=True)
                best_val = v
                best_test = (ts.mean() / (ts.std() + 1e-6)).item()
            critic.train()
            t_eval += time.perf_counter() - te
    t2 = time.perf_counter()
    z = math.sqrt(args.n_test) * best_test
    p = 0.5 * math.erfc(z / math.sqrt(2.0))
    return {"seed": seed, "sigma": args.sigma, "z": z, "p": p, "reject": p < args.alpha,
            "sample_s": t1 - t0, "train_s": t2 - t1 - t_eval, "eval_s": t_eval, "total_s": t2 - t0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sigma", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--dim_x", type=int, default=50)
    ap.add_argument("--dim_h", type=int, default=40)
    ap.add_argument("--n_train", type=int, default=800)
    ap.add_argument("--n_val", type=int, default=100)
    ap.add_argument("--n_test", type=int, default=100)
    ap.add_argument("--burn_in", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=300)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=800)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight_decay", type=float, default=5e-4)
    ap.add_argument("--l2", type=float, default=0.5)
    ap.add_argument("--val_every", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=0.05)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for r in range(args.repeats):
        res = one_test(args, args.seed + r)
        res["threads"] = args.threads
        res["impl"] = "python-torch"
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
