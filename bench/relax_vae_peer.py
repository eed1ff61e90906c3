#!/usr/bin/env python3
"""Python PyTorch peer of `bench_relax --time --task vae-step`: one training step of the linear
discrete VAE (784 pixels, 200 Bernoulli latents, batch 24) with RELAX's surrogate (REBAR's term
plus a 200-200 leaky-ReLU network of [2 sigma(z/lambda) - 1, x - mean]), common random numbers,
and two Adams (beta2 = 0.99999), as Joule's discrete_vae preset does it: the estimate, phi's
gradient of the variance loss from the same draw, the model's backward and both optimizer steps.
Written from the paper (arXiv:1711.00123 §3, App. B, App. D.1).

Usage: relax_vae_peer.py [--threads T] [--reps R] [--warmup W]; prints one JSON line.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


class Vae(torch.nn.Module):
    def __init__(self, pixels, latent, mean):
        super().__init__()
        self.enc = torch.nn.Linear(pixels, latent)
        self.dec = torch.nn.Linear(latent, pixels)
        self.prior = torch.nn.Parameter(torch.zeros(latent))
        self.register_buffer("mean", mean)
        with torch.no_grad():
            p = mean.clamp(1e-3, 1 - 1e-3)
            self.dec.bias.copy_(torch.log(p) - torch.log1p(-p))

    def encode(self, x):
        return self.enc(x - self.mean)

    def log_joint(self, x, b):
        lx = self.dec(2 * b - 1)
        return bernoulli(lx, x) + bernoulli(self.prior.expand_as(b), b)


def bernoulli(logits, v):
    return (v * F.logsigmoid(logits) + (1 - v) * F.logsigmoid(-logits)).sum(-1)


class Surrogate(torch.nn.Module):
    def __init__(self, latent, context):
        super().__init__()
        self.eta = torch.nn.Parameter(torch.tensor(1.0))
        self.log_temperature = torch.nn.Parameter(torch.tensor(math.log(0.5)))
        self.net = torch.nn.Sequential(torch.nn.Linear(latent + context, 200), torch.nn.LeakyReLU(0.2),
                                       torch.nn.Linear(200, 200), torch.nn.LeakyReLU(0.2), torch.nn.Linear(200, 1))

    def forward(self, z, f, ctx):
        soft = torch.sigmoid(z / self.log_temperature.exp())
        return self.eta * f(soft) + self.net(torch.cat([2 * soft - 1, ctx], 1)).squeeze(-1)


def step(vae, cv, model_opt, cv_opt, x):
    n = x.shape[0]
    logits = vae.encode(x)
    q = logits.detach()
    l = q.clone().requires_grad_(True)
    u = torch.rand_like(l).clamp_(1e-6, 1 - 1e-6)
    z = l + torch.log(u) - torch.log1p(-u)
    b = (z > 0).to(l.dtype).detach()
    with torch.no_grad():  # common random numbers: the v that makes z~ equal z
        uu = torch.sigmoid(z - l)
        v = torch.where(b > 0.5, 1 - (1 - uu) / torch.sigmoid(l), uu / torch.sigmoid(-l)).clamp(1e-6, 1 - 1e-6)
    theta = torch.sigmoid(l)
    one = l + torch.log1p(-theta * (1 - v)) - F.logsigmoid(l) - torch.log1p(-v)
    zero = l + torch.log(v) + F.logsigmoid(-l) - torch.log1p(-v * torch.sigmoid(-l))
    zt = b * one + (1 - b) * zero

    def f(bb):
        return bernoulli(q, bb) - vae.log_joint(x, bb)

    ctx = (x - vae.mean).detach()
    fb = f(b).detach()
    cz, czt = cv(z, f, ctx), cv(zt, f, ctx)
    d = torch.autograd.grad((cz - czt).sum(), l, create_graph=True)[0]
    g = (fb - czt).unsqueeze(1) * (b - theta.detach()) + d
    var_loss = g.pow(2).mean()
    cv_grads = torch.autograd.grad(var_loss, list(cv.parameters()))
    neg_elbo = bernoulli(logits, b) - vae.log_joint(x, b)
    through = (logits * g.detach()).sum() / n
    loss = neg_elbo.mean() + (through - through.detach())
    model_opt.zero_grad()
    loss.backward()
    model_opt.step()
    for p, gr in zip(cv.parameters(), cv_grads):
        p.grad = gr
    cv_opt.step()
    return loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pixels, latent, batch = 784, 200, 24
    data = (torch.rand(2000, pixels) < 0.3).float()
    vae = Vae(pixels, latent, data.mean(0))
    cv = Surrogate(latent, pixels)
    model_opt = torch.optim.Adam(vae.parameters(), lr=5e-4, betas=(0.9, 0.99999))
    cv_opt = torch.optim.Adam(cv.parameters(), lr=5e-4, betas=(0.9, 0.99999))
    times = []
    for i in range(args.warmup + args.reps):
        x = data[torch.randint(0, data.shape[0], (batch,))]
        t0 = time.perf_counter()
        loss = step(vae, cv, model_opt, cv_opt, x)
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
    assert math.isfinite(loss)
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    print(json.dumps({"impl": "python", "torch": torch.__version__, "task": "vae-step/relax", "threads": args.threads,
                      "batch": batch, "reps": args.reps, "step_s_median": med, "step_s_min": times[0],
                      "checksum_finite": True}), flush=True)


if __name__ == "__main__":
    main()
