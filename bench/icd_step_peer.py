#!/usr/bin/env python3
"""One improved-contrastive-divergence training step in Python PyTorch: the peer of
bench/bench_icd_step.cpp (Du et al., arXiv:2012.01316).

--mode reference follows the step of ICD:train.py (github.com/yilundu/improved_contrastive_divergence
@7d3d4ee, train.py and utils.py; arXiv:2012.01316 §3), written here from that description, not
copied: chains drawn from a FIFO buffer of 8-bit states (dequantised with U(0, 1/256) noise),
augmented, 0.1% replaced by U(0, 1); Langevin in upstream's order (noise, then the gradient step,
then the clamp); on the last step the gradient is taken a second time with create_graph for the
KL states x_kl; E(x+) and E(x-) as two forward passes; E(x_kl) with the parameters frozen by
requires_grad_(False); the nearest-neighbour distance of x_kl to 100 augmented buffer states from
the full [B, 100, D] difference tensor; Adam, gradient norm clipped to 0.5.
--mode fused is the same step organised as Joule does it: the last Langevin step taken once, on
the graph, and x- = x_kl detached; one forward over [x+; x-]; the neighbour chosen from a distance
matrix without gradient and its distance recomputed. It isolates what C++ itself buys.
Upstream's EMA copy of the model is not part of either (nor of the Joule step).

Augmentation (random resized crop scale (0.08, 1), horizontal flip p=0.5, colour jitter brightness
0.8 / contrast 0.8 with p=0.8): --aug torchvision applies torchvision's transforms (v2 if present)
image by image, as upstream does (upstream goes through PIL images; here tensors); --aug tensor is
batched tensor code of the same semantics (per-image crop boxes as RandomResizedCrop.get_params
draws them, one grid_sample, flip, brightness/contrast blends in a random order per image);
--aug auto (default) takes torchvision when it imports. The JSON says which ran.

Data: 1024 uniform random images 1x28x28 in [0, 1] (timing does not depend on the pixel values).
Needs only torch (no numpy). Prints one JSON line.
Usage: icd_step_peer.py --threads 1 --reps 10 --mode reference [--aug auto|torchvision|tensor]
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvEnergy(nn.Module):
    """joule::ConvEnergy (include/joule/models/conv_energy.h) with SiLU and no norm: stem conv3x3
    -> act; per block b (width c*2^b): h = act(conv3x3(act(conv3x3(h))) + skip(h)), the skip a
    conv1x1 without bias where the width changes (not in block 0), then avg_pool(3, 2, 1) while
    H or W > 1; act, mean over H, W, Linear(-> 1)."""

    def __init__(self, channels=16, blocks=3, in_ch=1):
        super().__init__()
        self.stem = nn.Conv2d(in_ch, channels, 3, 1, 1)
        self.conv_a, self.conv_b, self.project = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        cin = channels
        for b in range(blocks):
            out = channels << b
            self.conv_a.append(nn.Conv2d(cin, out, 3, 1, 1))
            self.conv_b.append(nn.Conv2d(out, out, 3, 1, 1))
            self.project.append(nn.Conv2d(cin, out, 1, bias=False) if cin != out else nn.Identity())
            cin = out
        self.head = nn.Linear(cin, 1)

    def forward(self, x):
        h = F.silu(self.stem(x))
        for a, b, p in zip(self.conv_a, self.conv_b, self.project):
            r = b(F.silu(a(h)))
            h = F.silu(r + p(h))
            if h.shape[2] > 1 or h.shape[3] > 1:
                h = F.avg_pool2d(h, 3, 2, 1)
        return self.head(F.silu(h).mean((2, 3))).squeeze(1)


class FifoBuffer:
    """A ring buffer of uint8 states: add() overwrites the oldest, sample() draws with replacement
    (as upstream's ReplayBuffer.sample) and dequantises with U(0, 1/256) noise."""

    def __init__(self, capacity, shape):
        self.data = torch.zeros((capacity,) + tuple(shape), dtype=torch.uint8)
        self.capacity, self.ptr, self.size = capacity, 0, 0

    def add(self, x):
        n = x.shape[0]
        # Joule's 8-bit bins: q = min(255, floor(x * 256)), read back as (q + U(0, 1)) / 256.
        q = (x.detach().clamp(0, 1) * 256).floor_().clamp_(max=255).to(torch.uint8)
        idx = (self.ptr + torch.arange(n)) % self.capacity
        self.data[idx] = q
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, n):
        x = self.data[torch.randint(self.size, (n,))].float()
        return (x + torch.rand_like(x)) / 256.0


def tensor_augment(x):
    """Batched crop -> flip -> jitter with per-image parameters (torchvision's semantics for
    float images in [0, 1], C = 1; saturation and hue would be no-ops)."""
    n, _, hh, ww = x.shape
    # RandomResizedCrop.get_params, ten tries per image at once; the first that fits wins, else the
    # whole image (the central crop with the ratio clamped, for a square image).
    area = torch.empty(n, 10).uniform_(0.08, 1.0) * (hh * ww)
    ratio = torch.exp(torch.empty(n, 10).uniform_(math.log(3 / 4), math.log(4 / 3)))
    w = torch.sqrt(area * ratio).round()
    h = torch.sqrt(area / ratio).round()
    ok = (w > 0) & (h > 0) & (w <= ww) & (h <= hh)
    first = ok.to(torch.uint8).argmax(1, keepdim=True)
    found = ok.any(1)
    w = torch.where(found, w.gather(1, first).squeeze(1), torch.full((n,), float(ww)))
    h = torch.where(found, h.gather(1, first).squeeze(1), torch.full((n,), float(hh)))
    top = torch.floor(torch.rand(n) * (hh - h + 1))
    left = torch.floor(torch.rand(n) * (ww - w + 1))
    # The crop resized back to H x W as upsample_bilinear2d(crop, align_corners=False) does
    # (torchvision's resized_crop without antialias): output pixel j reads the crop at
    # left + (j + 0.5) * w / W - 0.5, clamped into the crop; one grid_sample for the batch.
    u = torch.arange(ww, dtype=torch.float32) + 0.5
    v = torch.arange(hh, dtype=torch.float32) + 0.5
    px = torch.minimum(torch.maximum(left[:, None] + u * (w[:, None] / ww) - 0.5, left[:, None]), (left + w - 1)[:, None])
    py = torch.minimum(torch.maximum(top[:, None] + v * (h[:, None] / hh) - 0.5, top[:, None]), (top + h - 1)[:, None])
    gx = ((px + 0.5) * (2.0 / ww) - 1)[:, None, :].expand(n, hh, ww)
    gy = ((py + 0.5) * (2.0 / hh) - 1)[:, :, None].expand(n, hh, ww)
    grid = torch.stack([gx, gy], 3).to(x.dtype)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Horizontal flip, p = 0.5.
    x = torch.where((torch.rand(n) < 0.5).view(n, 1, 1, 1), x.flip(3), x)
    # RandomApply(ColorJitter(brightness=0.8, contrast=0.8), p=0.8): factors in [0.2, 1.8],
    # applied in a random order per image; images without jitter get factors 1.
    on = torch.rand(n) < 0.8
    one = torch.ones(n)
    bf = torch.where(on, torch.empty(n).uniform_(0.2, 1.8), one).view(n, 1, 1, 1)
    cf = torch.where(on, torch.empty(n).uniform_(0.2, 1.8), one).view(n, 1, 1, 1)

    def bright(z):
        return (z * bf).clamp(0, 1)

    def contrast(z):  # blend with the mean of the (1-channel) grayscale image
        return (cf * z + (1 - cf) * z.mean((1, 2, 3), keepdim=True)).clamp(0, 1)

    brightness_first = (torch.rand(n) < 0.5).view(n, 1, 1, 1)
    return torch.where(brightness_first, contrast(bright(x)), bright(contrast(x)))


def torchvision_augment():
    """Upstream's per-image pipeline with torchvision (v2 if importable), or None."""
    try:
        try:
            from torchvision.transforms import v2 as T
            version = "v2"
        except ImportError:
            import torchvision.transforms as T
            version = "v1"
    except ImportError:
        return None, None
    try:
        crop = T.RandomResizedCrop(28, scale=(0.08, 1.0), antialias=True)
    except TypeError:  # torchvision before the antialias argument
        crop = T.RandomResizedCrop(28, scale=(0.08, 1.0))
    t = T.Compose([crop, T.RandomHorizontalFlip(0.5), T.RandomApply([T.ColorJitter(brightness=0.8, contrast=0.8)], p=0.8)])

    def aug(x):
        return torch.stack([t(img) for img in x])

    return aug, version


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="Langevin steps")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--mode", choices=["reference", "fused"], default="reference")
    ap.add_argument("--aug", choices=["auto", "torchvision", "tensor"], default="auto")
    ap.add_argument("--tag", default="", help="appended to the reported impl name (e.g. which torch ran it)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    augment, aug_name = tensor_augment, "tensor"
    if args.aug in ("auto", "torchvision"):
        tv, version = torchvision_augment()
        if tv is not None:
            augment, aug_name = tv, "torchvision"
        elif args.aug == "torchvision":
            raise SystemExit("--aug torchvision: torchvision does not import")

    shape = (1, 28, 28)
    bs, k, a, b = args.batch, args.steps, 10.0, 0.005
    f = ConvEnergy(args.channels)
    opt = torch.optim.Adam(f.parameters(), lr=2e-4, betas=(0.0, 0.9))
    data = torch.rand((1024,) + shape)
    buffer = FifoBuffer(10000, shape)
    buffer.add(torch.rand((10000,) + shape))  # the steady state: a full buffer

    def grad_x(x, create_graph=False):
        return torch.autograd.grad(f(x).sum(), [x], create_graph=create_graph)[0]

    def chains():
        """Draw, augment, reinitialise 0.1%, Langevin (x_kl on the graph), FIFO add."""
        if args.mode == "reference":
            x_init = torch.rand((bs,) + shape)  # upstream draws the uniform batch every step
            keep = (torch.rand(bs) > 0.001).view(bs, 1, 1, 1)
            x = torch.where(keep, augment(buffer.sample(bs)), x_init)
            for i in range(k):
                x = (x + b * torch.randn_like(x)).requires_grad_(True)
                g = grad_x(x)
                if i == k - 1:
                    x_kl = (x - a * grad_x(x, create_graph=True)).clamp(0, 1)
                x = (x - a * g).clamp(0, 1).detach()
            x_neg = x
        else:
            x = buffer.sample(bs)
            fresh = torch.rand(bs) < 0.001
            if bool(fresh.any()):
                x[fresh] = torch.rand((int(fresh.sum()),) + shape)
            x = augment(x)
            for _ in range(k - 1):
                x.requires_grad_(True)
                x = (x - a * grad_x(x) + b * torch.randn_like(x)).clamp(0, 1).detach()
            x.requires_grad_(True)
            x_kl = (x - a * grad_x(x, create_graph=True) + b * torch.randn_like(x)).clamp(0, 1)
            x_neg = x_kl.detach()
        buffer.add(x_neg)
        return x_neg, x_kl

    def step():
        x_pos = data[torch.randint(len(data), (bs,))]
        x_neg, x_kl = chains()
        if args.mode == "reference":
            e_pos, e_neg = f(x_pos), f(x_neg)
        else:
            e = f(torch.cat([x_pos, x_neg]))
            e_pos, e_neg = e[:bs], e[bs:]
        loss = e_pos.mean() - e_neg.mean() + (e_pos ** 2).mean() + (e_neg ** 2).mean()
        f.requires_grad_(False)  # theta-bar: the KL gradient reaches theta only through x_kl
        e_kl = f(x_kl)
        f.requires_grad_(True)
        loss = loss + e_kl.mean()
        ref = augment(buffer.sample(100)).flatten(1)
        q = x_kl.flatten(1)
        if args.mode == "reference":
            d = torch.norm(q[:, None, :] - ref[None, :, :], p=2, dim=-1).min(1)[0]
        else:
            with torch.no_grad():
                nn_idx = torch.cdist(q, ref).argmin(1)
            d = (q - ref[nn_idx]).norm(dim=1)
        loss = loss - 0.3 * torch.log(d).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(f.parameters(), 0.5)
        opt.step()

    times = []
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    sampler = []
    for _ in range(max(1, args.reps // 2)):
        t0 = time.perf_counter()
        chains()
        sampler.append(time.perf_counter() - t0)
    print(json.dumps({"impl": "python-" + args.mode + ("-" + args.tag if args.tag else ""),
                      "net": "conv_energy%d" % args.channels, "threads": args.threads, "batch": bs,
                      "langevin_steps": k, "torch": torch.__version__, "aug": aug_name,
                      "buffer_size": buffer.size, "reps": args.reps,
                      "step_s_median": statistics.median(times), "step_s_min": min(times),
                      "sampler_s_median": statistics.median(sampler)}))


if __name__ == "__main__":
    main()
