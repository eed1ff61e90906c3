#!/usr/bin/env python3
"""VERA on a 2-D toy set in Python PyTorch: the peer of bench/bench_vera.cpp and of
`joule train method=vera`.

The step is the default unsupervised branch of VERA:train.py (github.com/wgrathwohl/VERA
@91ff0dd): x_g ~ q; an EBM step on −mean(log p̃(x_d) − log p̃(x_g.detach())); a generator step on
−(mean log p̃(x_g) + λ·surrogate) against the updated EBM, where the surrogate's gradient is the
importance-sampled entropy gradient (K = 20 proposals N(h₀, σ_post²)) and σ_post takes one Adam
step on the proposal's ELBO; σ clamped to [0.01, 0.3]. Written here from the paper (§3) and the
description in docs/methods/vera.md, not copied.

--mode reference also does what the reference script does besides: it computes ∇ₓ log p̃(x_d) with
a graph whether or not the gradient penalty is on, and the EBM's gradient norm at x_g each step.
--mode lean leaves those out (Joule's step). --gamma is the gradient penalty (default 0.1,
Joule's default). --data fashion times VERA-JEM on Fashion-MNIST-shaped inputs (bench_vera --task fashion).

--task time: seconds per training step (median of --reps after a warm-up).
--task train: trains --steps steps on fresh 8gaussians data and prints the exact test NLL of the
EBM by quadrature on a 256² grid over [-4.5, 4.5]² (as Joule's eval does), for a same-run
comparison of what the two implementations learn.

Prints one JSON line. Usage: vera_peer.py --task time --threads 1 --mode reference
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def eight_gaussians(n, gen):
    # Centres on the circle of radius 4, std 0.5, all scaled by 1/1.414 (FFJORD's toy set).
    k = torch.randint(0, 8, (n,), generator=gen)
    angle = k.double() * (math.pi / 4)
    centres = torch.stack([angle.cos(), angle.sin()], 1) * 4.0
    return ((centres + 0.5 * torch.randn(n, 2, generator=gen, dtype=torch.float64)) / 1.414).float()


def ebm(h=100):
    return nn.Sequential(nn.Linear(2, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 1))


class SmallCnn(nn.Module):
    """JEM's small classifier (as bench/jem_step_peer.py); log p~(x) = logsumexp of its logits."""

    def __init__(self, c=16, classes=10, hw=28):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(2 * c, 4 * c, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                                 nn.Linear(4 * c * (hw // 4) ** 2, classes))

    def forward(self, x):
        return self.net(x)


def toy_generator_net(noise_dim, h=100):
    return nn.Sequential(nn.Linear(noise_dim, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(),
                         nn.Linear(h, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, 2))


def conv_generator_net(noise_dim, c=32):
    # DCGAN-style: linear to (4c, 7, 7), two stride-2 transposed convolutions, a 3x3 convolution, tanh.
    return nn.Sequential(nn.Linear(noise_dim, 4 * c * 49), nn.Unflatten(1, (4 * c, 7, 7)), nn.BatchNorm2d(4 * c), nn.ReLU(),
                         nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU(),
                         nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                         nn.Conv2d(c, 1, 3, 1, 1), nn.Tanh())


def large_mlp_generator_net(noise_dim, d=784, h=500):
    # VERA's large_mlp_generator: three Linear (no bias) + BatchNorm + Softplus layers, tanh output.
    return nn.Sequential(nn.Linear(noise_dim, h, bias=False), nn.BatchNorm1d(h), nn.Softplus(),
                         nn.Linear(h, h, bias=False), nn.BatchNorm1d(h), nn.Softplus(),
                         nn.Linear(h, h, bias=False), nn.BatchNorm1d(h), nn.Softplus(),
                         nn.Linear(h, d), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))


class Generator(nn.Module):
    def __init__(self, net, noise_dim):
        super().__init__()
        self.noise_dim = noise_dim
        self.g = net
        self.logsigma = nn.Parameter(torch.full((1,), math.log(0.01)))
        self.post_logsigma = nn.Parameter(torch.full((noise_dim,), math.log(0.1)))

    def sample(self, n):
        h = torch.randn(n, self.noise_dim)
        mu = self.g(h)
        return mu + torch.randn_like(mu) * self.logsigma.exp(), h

    def log_joint(self, x, h):
        mu = self.g(h)
        var = (2 * self.logsigma).exp()
        lp_h = (-0.5 * h.pow(2) - 0.5 * math.log(2 * math.pi)).sum(1)
        lp_x = (-0.5 * (x - mu).pow(2) / var - self.logsigma - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
        return lp_h + lp_x, mu

    def entropy_surrogate(self, x, h, k=20):
        """Surrogate whose φ-gradient estimates ∇_φ H(q); also returns the proposal's −ELBO."""
        b = x.size(0)
        shape = x.shape[1:]
        with torch.no_grad():
            post_sigma = self.post_logsigma.exp()
            eps = torch.randn(k, b, self.noise_dim)
            hk = h.detach()[None] + post_sigma * eps
            log_xi = (-0.5 * eps.pow(2) - self.post_logsigma).sum(2)
            xk = x.detach()[None].expand(k, *x.shape).reshape(k * b, *shape)
            lj, mu = self.log_joint(xk, hk.reshape(k * b, -1))
            w = (lj.view(k, b) - log_xi).softmax(0)
            c = (((x.detach()[None] - mu.view(k, b, *shape)) / (2 * self.logsigma).exp())
                 * w.view(k, b, *([1] * len(shape)))).sum(0)
        surrogate = (c * x).flatten(1).sum(1).mean()
        h_tilde = h.detach() + self.post_logsigma.exp() * torch.randn_like(h)
        lj, _ = self.log_joint(x.detach(), h_tilde)
        entropy = (self.post_logsigma + 0.5 * math.log(2 * math.pi * math.e)).sum()
        return surrogate, -(lj.mean() + entropy)


class Vera:
    """One VERA iteration. task toy: an energy network; task fashion: VERA-JEM (log p~ = logsumexp
    of a classifier's logits, plus the cross-entropy on the labelled batch)."""

    def __init__(self, mode, task="toy", gamma=0.1, lr=1e-3, post_lr=0.02, steps=4000):
        self.mode, self.task, self.gamma = mode, task, gamma
        if task == "toy":
            self.f, self.g = ebm(), Generator(toy_generator_net(2), 2)
        elif task == "fashion":
            self.f, self.g = SmallCnn(16), Generator(conv_generator_net(64, 32), 64)
        else:
            self.f, self.g = SmallCnn(16), Generator(large_mlp_generator_net(128), 128)
        self.e_opt = torch.optim.Adam(self.f.parameters(), lr=lr, betas=(0.0, 0.9))
        g_params = [p for n, p in self.g.named_parameters() if n != "post_logsigma"]
        self.g_opt = torch.optim.Adam(g_params, lr=lr, betas=(0.0, 0.9))
        self.p_opt = torch.optim.Adam([self.g.post_logsigma], lr=post_lr)
        milestones = [int(0.8 * steps), int(0.9 * steps)]
        self.e_sched = torch.optim.lr_scheduler.MultiStepLR(self.e_opt, milestones, 0.3)
        self.g_sched = torch.optim.lr_scheduler.MultiStepLR(self.g_opt, milestones, 0.3)

    def logp(self, x):
        out = self.f(x)
        return (out.squeeze(1), None) if self.task == "toy" else (out.logsumexp(1), out)

    def step(self, x_d, y_d=None):
        x_g, h_g = self.g.sample(x_d.size(0))
        grad_graph = self.mode == "reference" or self.gamma > 0
        if grad_graph:
            x_d = x_d.requires_grad_()
        ld, logits = self.logp(x_d)
        lg_detach, _ = self.logp(x_g.detach())
        e_loss = -(ld - lg_detach).mean()
        if grad_graph:
            gx = torch.autograd.grad(ld.sum(), x_d, create_graph=True)[0]
            if self.gamma > 0:
                e_loss = e_loss + self.gamma * (gx.flatten(1).pow(2).sum(1) / 2).mean()
        if logits is not None:
            e_loss = e_loss + F.cross_entropy(logits, y_d)
        self.e_opt.zero_grad()
        e_loss.backward()
        self.e_opt.step()
        lg, _ = self.logp(x_g)
        if self.mode == "reference":
            torch.autograd.grad(lg.sum(), x_g, retain_graph=True)
        surrogate, post_loss = self.g.entropy_surrogate(x_g, h_g)
        self.p_opt.zero_grad()
        post_loss.backward()
        self.p_opt.step()
        g_loss = -(lg.mean() + surrogate)
        self.g_opt.zero_grad()
        g_loss.backward()
        self.g_opt.step()
        with torch.no_grad():
            self.g.logsigma.clamp_(math.log(0.01), math.log(0.3))
        self.e_sched.step()
        self.g_sched.step()
        return e_loss.item()


def grid_nll(f, test, extent=4.5, res=256):
    with torch.no_grad():
        t = torch.linspace(-extent, extent, res + 1)
        c = (t[:-1] + t[1:]) / 2
        xx, yy = torch.meshgrid(c, c, indexing="ij")
        logp = f(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)).squeeze(1).double()
        log_z = torch.logsumexp(logp, 0).item() + 2 * math.log(2 * extent / res)
        return -f(test).squeeze(1).double().mean().item() + log_z


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["time", "train"], default="time")
    ap.add_argument("--mode", choices=["reference", "lean"], default="reference")
    ap.add_argument("--data", choices=["toy", "fashion", "fashion-mlp"], default="toy")
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    impl = f"python-{a.mode}" + (f"-{a.tag}" if a.tag else "")
    out = {"impl": impl, "task": a.data, "torch": torch.__version__, "threads": a.threads, "batch": a.batch}
    if a.task == "time":
        v = Vera(a.mode, a.data, a.gamma, steps=10 ** 9)
        if a.data == "toy":
            data = eight_gaussians(a.batch * 8, gen)
        else:  # timing does not depend on the pixel values
            data = torch.rand(a.batch * 8, 1, 28, 28, generator=gen) * 2 - 1
        labels = torch.randint(0, 10, (a.batch * 8,), generator=gen)
        times = []
        for i in range(a.warmup + a.reps):
            sl = slice((i % 8) * a.batch, (i % 8 + 1) * a.batch)
            x = data[sl].clone()
            t0 = time.perf_counter()
            v.step(x, labels[sl])
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
        out["step_s_median"] = statistics.median(times)
        out["step_s_min"] = min(times)
    else:
        assert a.data == "toy", "--task train is for the toy set"
        v = Vera(a.mode, "toy", a.gamma, steps=a.steps)
        train = eight_gaussians(50000, gen)
        test = eight_gaussians(5000, gen)
        t0 = time.perf_counter()
        for s in range(a.steps):
            idx = torch.randint(0, train.size(0), (a.batch,), generator=gen)
            v.step(train[idx])
        out["train_s"] = time.perf_counter() - t0
        out["steps"] = a.steps
        v.g.eval()
        out["nll_test"] = grid_nll(v.f, test)
        out["sigma"] = v.g.logsigma.exp().item()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
