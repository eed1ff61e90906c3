#!/usr/bin/env python3
"""PGD attacks in Python PyTorch: the peer of bench/bench_attack.cpp (joule::eval::pgd_attack,
src/eval/adversarial.cpp; Madry et al., arXiv:1706.06083 §2; the SGLD defence of JEM,
arXiv:1912.03263 §5.3, attacked through its refinement as in Athalye et al., arXiv:1802.00420).

The classifier is joule::SmallCnn with channels 16 on 1x28x28 (configs/jem_fashion_cnn.toml):
conv3x3(16, pad 1) -> leaky_relu(0.2) -> conv4x4/2(32, pad 1) -> leaky_relu -> conv4x4/2(64, pad 1)
-> leaky_relu -> flatten (64*7*7) -> Linear(10). Its weights are PyTorch's default init,
U(+-1/sqrt(fan_in)), drawn in the order conv1 w, b, conv2 w, b, conv3 w, b, head w, b from a CPU
generator seeded 0, then 256 inputs U(-1, 1) from the same generator: the C++ bench draws the same
numbers, so both sides attack the same network on the same inputs. The labels are the network's
own predictions, so every input starts correctly classified and has to be attacked. Parameters are
frozen (requires_grad False) on both sides.

The attack is written as a competent PyTorch user would write it (torch.autograd.grad of the
summed cross-entropy w.r.t. x, sign step and clamp projection under L-inf; normalised gradient step
and renorm projection under L2) with the semantics of joule::eval::pgd_attack, so that both sides
do the same work:
  - a no-grad pass over the clean inputs; those already misclassified count as fooled;
  - a random start for every input: L-inf uniform in [-eps, eps]^d, L2 uniform in the ball
    (Gaussian direction, radius eps*u^(1/d)), drawn from a generator seeded 1 per repetition in
    the C++ order (so the starts are the same numbers), clamped into [-1, 1];
  - steps 0..k-1: forward with grad, gradient of the loss, inputs whose prediction is already
    wrong are recorded (their first fooling iterate kept) and dropped from the active set, the rest
    step by 2.5*eps/k and are projected; after step k-1, one no-grad pass judges the last iterate;
  - a final no-grad pass on x_adv for the robust accuracy.
The defended classifier refines each input by K Langevin steps x <- clamp(x - a*grad E(x) + b*eps,
-1, 1), E = -logsumexp f, a = 1, b = 0.01, on `chains` copies (chain-major), the gradient taken
through every step (create_graph), and averages the logits over the chains; its noise comes from a
generator seeded 2 per repetition.

Timing: per attack, --warmup calls then --reps calls, median seconds -> images/s.
Needs only torch (no numpy). Prints one JSON line.
Usage: attack_peer.py --threads 1 --reps 5 [--defence 0|1] [--tag debian]
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCnn(nn.Module):
    """joule::SmallCnn (src/models/classifiers.cpp) without norm and dropout."""

    def __init__(self, in_ch=1, classes=10, c=16, slope=0.2, hw=(28, 28)):
        super().__init__()
        self.slope = slope
        self.conv1 = nn.Conv2d(in_ch, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, 2 * c, 4, 2, 1)
        self.conv3 = nn.Conv2d(2 * c, 4 * c, 4, 2, 1)
        self.head = nn.Linear(4 * c * (hw[0] // 4) * (hw[1] // 4), classes)

    def reset_parameters(self, gen):
        """joule::reset_parameters_default: U(+-1/sqrt(fan_in)) for weight then bias, module order."""
        with torch.no_grad():
            for m in (self.conv1, self.conv2, self.conv3, self.head):
                bound = 1.0 / math.sqrt(m.weight.numel() / m.weight.shape[0])
                m.weight.uniform_(-bound, bound, generator=gen)
                m.bias.uniform_(-bound, bound, generator=gen)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), self.slope)
        h = F.leaky_relu(self.conv2(h), self.slope)
        h = F.leaky_relu(self.conv3(h), self.slope)
        return self.head(h.flatten(1))


def row_norm(t):
    return t.flatten(1).norm(dim=1).view((-1,) + (1,) * (t.dim() - 1))


def project(x, x0, norm, eps):
    if norm == "linf":
        delta = (x - x0).clamp(-eps, eps)
    else:
        delta = (x - x0).renorm(2, 0, eps)
    return (x0 + delta).clamp(-1.0, 1.0)


def pgd(f, x, y, norm, eps, steps, gen):
    """Untargeted PGD with joule::eval::pgd_attack's early stop; returns (x_adv, fooled, correct)."""
    n = x.shape[0]
    step = 2.5 * eps / steps
    x_adv = x.clone()
    with torch.no_grad():
        fooled = f(x).argmax(1) != y
    if norm == "linf":
        start = x + torch.empty_like(x).uniform_(-eps, eps, generator=gen)
    else:
        d = torch.empty_like(x).normal_(0.0, 1.0, generator=gen)
        u = torch.empty(n).uniform_(0.0, 1.0, generator=gen).pow(1.0 / x[0].numel())
        start = x + d / row_norm(d).clamp_min(1e-12) * (eps * u).view((-1,) + (1,) * (x.dim() - 1))
    start = project(start, x, norm, eps)
    active = (~fooled).nonzero().squeeze(1)
    xa, x0, ya = start[active], x[active], y[active]
    for s in range(steps + 1):
        if s < steps:
            xa.requires_grad_(True)
            logits = f(xa)
            g, = torch.autograd.grad(F.cross_entropy(logits, ya, reduction="sum"), [xa])
            xa = xa.detach()
        else:
            with torch.no_grad():
                logits = f(xa)
        hit = logits.argmax(1) != ya
        if bool(hit.any()):
            x_adv[active[hit]] = xa[hit]
            fooled[active[hit]] = True
            keep = ~hit
            active, xa, x0, ya = active[keep], xa[keep], x0[keep], ya[keep]
            if s < steps:
                g = g[keep]
        if s == steps or active.numel() == 0:
            break
        if norm == "linf":
            xa = xa + step * g.sign()
        else:
            xa = xa + step * g / row_norm(g).clamp_min(1e-12)
        xa = project(xa, x0, norm, eps)
    x_adv[active] = xa
    with torch.no_grad():
        correct = f(x_adv).argmax(1) == y
    return x_adv, fooled, correct


def sgld_defended(net, steps, chains, a, b, gen):
    """JEM's refinement defence as a logits function, gradient through the refinement."""

    def logits(x):
        xs = x.repeat((chains,) + (1,) * (x.dim() - 1))  # chain-major
        through = x.requires_grad and torch.is_grad_enabled()
        with torch.enable_grad():
            for _ in range(steps):
                if not through:
                    xs = xs.detach().requires_grad_(True)
                e = -torch.logsumexp(net(xs), 1)
                g, = torch.autograd.grad(e.sum(), [xs], create_graph=through)
                xs = (xs - a * g + torch.empty_like(xs).normal_(0.0, b, generator=gen)).clamp(-1.0, 1.0)
        if not through:
            xs = xs.detach()
        return net(xs).view(chains, x.shape[0], -1).mean(0)

    return logits


class Counted:
    """Counts the rows the attack sends through the classifier (all, and with a graph)."""

    def __init__(self, f):
        self.f, self.rows, self.grad_rows = f, 0, 0

    def __call__(self, x):
        self.rows += x.shape[0]
        if x.requires_grad and torch.is_grad_enabled():
            self.grad_rows += x.shape[0]
        return self.f(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20, help="PGD steps (L-inf and L2)")
    ap.add_argument("--eps-linf", type=float, default=0.1)
    ap.add_argument("--eps-l2", type=float, default=1.0)
    ap.add_argument("--defence", type=int, default=0, help="1: also the SGLD-defended PGD (slow: ~20x an L-inf PGD-20)")
    ap.add_argument("--defence-steps", type=int, default=5)
    ap.add_argument("--defence-chains", type=int, default=2)
    ap.add_argument("--defence-attack-steps", type=int, default=5)
    ap.add_argument("--tag", default="", help="appended to the reported impl name (e.g. which torch ran it)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(0)
    net = SmallCnn(c=args.channels)
    net.reset_parameters(gen)
    net.eval()
    net.requires_grad_(False)
    x = torch.empty(args.batch, 1, 28, 28).uniform_(-1.0, 1.0, generator=gen)
    with torch.no_grad():
        clean = net(x)
    y = clean.argmax(1)

    out = {"impl": "python" + ("-" + args.tag if args.tag else ""), "torch": torch.__version__,
           "net": "small_cnn%d" % args.channels, "threads": args.threads, "batch": args.batch, "reps": args.reps,
           "logit_sum": float(clean.double().sum())}

    def bench(name, make_f, norm, eps, steps):
        times, last = [], None
        for i in range(args.warmup + args.reps):
            f = Counted(make_f())
            g = torch.Generator().manual_seed(1)
            t0 = time.perf_counter()
            _, fooled, correct = pgd(f, x, y, norm, eps, steps, g)
            dt = time.perf_counter() - t0
            if i >= args.warmup:
                times.append(dt)
            last = (f, fooled, correct)
        f, fooled, correct = last
        med = statistics.median(times)
        out.update({name + "_ips": args.batch / med, name + "_s_median": med, name + "_s_min": min(times),
                    name + "_fooled": int(fooled.sum()), name + "_robust_acc": float(correct.float().mean()),
                    name + "_rows": f.rows, name + "_grad_rows": f.grad_rows})

    bench("linf", lambda: net, "linf", args.eps_linf, args.steps)
    bench("l2", lambda: net, "l2", args.eps_l2, args.steps)
    if args.defence:
        def defended():
            return sgld_defended(net, args.defence_steps, args.defence_chains, 1.0, 0.01,
                                 torch.Generator().manual_seed(2))

        bench("def", defended, "linf", args.eps_linf, args.defence_attack_steps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
