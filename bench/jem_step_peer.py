#!/usr/bin/env python3
"""One JEM training step in Python PyTorch: the peer of bench/bench_jem_step.cpp.

--mode reference is the step of JEM:train_wrn_ebm.py (github.com/wgrathwohl/JEM @3d01161):
separate data and labelled batches (two loaders), SGLD sample_q with f.eval() / f.train(),
in-place buffer write-back with 5% U(-1, 1) reinitialisation, then f(x_d), f(x_q) and
classify(x_l) as three forward passes, one backward, Adam. Written here from the reference
description (docs/methods/jem.md), not copied.
--mode fused is the same step with Joule's batching: one labelled data batch used for both
terms and one forward pass over [x_d; x_q]. It isolates what C++ itself buys.

The networks match joule::SmallCnn and joule::WideResNet (no normalisation, LeakyReLU 0.2).
Prints one JSON line. Usage: jem_step_peer.py --net cnn16 --threads 1 --mode reference
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCnn(nn.Module):
    def __init__(self, c, in_ch=1, classes=10, hw=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, 2 * c, 4, 2, 1)
        self.conv3 = nn.Conv2d(2 * c, 4 * c, 4, 2, 1)
        self.head = nn.Linear(4 * c * (hw // 4) ** 2, classes)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        h = F.leaky_relu(self.conv3(h), 0.2)
        return self.head(h.flatten(1))


class WideBasic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        out = self.conv1(F.leaky_relu(x, 0.2))
        out = self.conv2(F.leaky_relu(out, 0.2))
        return out + (self.shortcut(x) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    def __init__(self, depth, k, in_ch=3, classes=10):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * k, 32 * k, 64 * k]
        self.stem = nn.Conv2d(in_ch, 16, 3, 1, 1)
        blocks, cin = [], 16
        for s in range(3):
            for b in range(n):
                blocks.append(WideBasic(cin, widths[s + 1], 2 if (b == 0 and s > 0) else 1))
                cin = widths[s + 1]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        h = F.leaky_relu(self.blocks(self.stem(x)), 0.2)
        return self.head(h.mean((2, 3)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", default="cnn16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--sgld", type=int, default=20)
    ap.add_argument("--mode", choices=["reference", "fused"], default="reference")
    ap.add_argument("--tag", default="", help="appended to the reported impl name (e.g. the environment it ran in)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.net == "mlp":
        f = nn.Sequential(nn.Linear(50, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2), nn.Linear(256, 10))
        shape = (50,)
    elif args.net.startswith("cnn"):
        f, shape = SmallCnn(int(args.net[3:])), (1, 28, 28)
    else:
        depth, k = {"wrn16_4": (16, 4), "wrn28_10": (28, 10)}[args.net]
        f, shape = WideResNet(depth, k), (3, 32, 32)
    opt = torch.optim.Adam(f.parameters(), lr=1e-4, betas=(0.9, 0.999))
    data_x = torch.empty((1024,) + shape).uniform_(-1, 1)
    data_y = torch.randint(10, (1024,))
    buffer = torch.empty((10000,) + shape).uniform_(-1, 1)
    bs, sigma = args.batch, 0.03

    def batch():
        i = torch.randint(len(data_x), (bs,))
        return data_x[i] + sigma * torch.randn((bs,) + shape), data_y[i]

    def sample_q():
        inds = torch.randint(len(buffer), (bs,))
        x0 = buffer[inds]
        reinit = (torch.rand(bs) < 0.05).float().view((-1,) + (1,) * len(shape))
        x0 = reinit * torch.empty_like(x0).uniform_(-1, 1) + (1 - reinit) * x0
        x = x0.clone().requires_grad_(True)
        f.eval()
        for _ in range(args.sgld):
            g = torch.autograd.grad(f(x).logsumexp(1).sum(), [x], retain_graph=True)[0]
            x.data += 1.0 * g + 0.01 * torch.randn_like(x)
        f.train()
        x = x.detach()
        buffer[inds] = x
        return x

    def step():
        if args.mode == "reference":
            x_d, _ = batch()
            x_l, y_l = batch()
            x_q = sample_q()
            loss = -(f(x_d).logsumexp(1).mean() - f(x_q).logsumexp(1).mean())
            loss = loss + F.cross_entropy(f(x_l), y_l)
        else:
            x_l, y_l = batch()
            x_q = sample_q()
            logits = f(torch.cat([x_l, x_q]))
            lse = logits.logsumexp(1)
            loss = -(lse[:bs].mean() - lse[bs:].mean()) + F.cross_entropy(logits[:bs], y_l)
        opt.zero_grad()
        loss.backward()
        opt.step()

    times = []
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    sg = []
    for _ in range(max(1, args.reps // 2)):
        t0 = time.perf_counter()
        sample_q()
        sg.append(time.perf_counter() - t0)
    print(json.dumps({"impl": "python-" + args.mode + ("-" + args.tag if args.tag else ""), "net": args.net, "threads": args.threads, "batch": bs,
                      "sgld_steps": args.sgld, "reps": args.reps, "step_s_median": statistics.median(times),
                      "step_s_min": min(times), "sgld_s_median": statistics.median(sg)}))


if __name__ == "__main__":
    main()
