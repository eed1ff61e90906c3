#!/usr/bin/env python3
"""Python PyTorch peer of `bench_video_vae`: one training step of the video VAE with a factored
sequence prior (Grathwohl & Wilson, arXiv:1612.04440), as Joule's video_vae method trains it.
Written from the model's description, not from Joule's code.

Model, per frame of videos x [B, T, C, H, W]: encoder conv(C->f, 4, s2, p1) -> act -> conv(f->2f,
4, s2, p1) -> act -> flatten -> linear(2f*H/4*W/4 -> hidden) -> act -> linear(hidden -> 2K), the
first K outputs the means and the last K the log-variances of q(z_t | x_t); decoder linear(K ->
hidden) -> act -> linear(hidden -> 2f*H/4*W/4) -> act -> reshape -> convT(2f->f, 4, s2, p1) -> act
-> convT(f->C, 4, s2, p1) = pixel logits; act = leaky ReLU (slope 0.2). Bernoulli pixels:
log p(x|z) = sum x*l - softplus(l). KL, exact: the first identity_dim channels against the slow
prior Sigma = 11^T + eps*diag(0, 1, ..., 1) over the T frames (eps = 0.01), the pose channels
against N(0, 1) per frame. Loss = -mean ELBO (one reparameterised draw).

The step, as Joule's trainer does it: draw the batch from the in-memory videos (epoch-shuffled),
the loss and its metrics (mean ELBO, reconstruction, KL), zero_grad, backward, clip the gradient
norm at 100, the cosine learning-rate schedule over 3000 steps, Adam (lr 1e-3, betas 0.9/0.999).

Usage: video_vae_peer.py [--threads N] [--reps R] [--warmup W] [--channels C] [--size S]
                         [--frames T] [--batch B] [--sequences N] [--seed S]
         prints one JSON line (ms per step: median, mean, min).
       video_vae_peer.py --load-init DIR
         loads the weights, batch and noise `bench_video_vae --dump-init DIR` wrote and compares
         the loss at init, the gradient norm and the loss after one Adam step with DIR/reference.json.
Works with torch 1.13 and 2.x.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F

SLOPE = 0.2


class VideoVae(torch.nn.Module):
    def __init__(self, channels, size, identity_dim=8, pose_dim=8, filters=32, hidden=256, slow_eps=0.01):
        super().__init__()
        self.c, self.s, self.f = channels, size, filters
        self.identity_dim, self.pose_dim, self.slow_eps = identity_dim, pose_dim, slow_eps
        self.k = identity_dim + pose_dim
        flat = 2 * filters * (size // 4) * (size // 4)
        nn = torch.nn
        self.enc_conv1 = nn.Conv2d(channels, filters, 4, stride=2, padding=1)
        self.enc_conv2 = nn.Conv2d(filters, 2 * filters, 4, stride=2, padding=1)
        self.enc_fc = nn.Linear(flat, hidden)
        self.enc_out = nn.Linear(hidden, 2 * self.k)
        self.dec_fc = nn.Linear(self.k, hidden)
        self.dec_in = nn.Linear(hidden, flat)
        self.dec_conv1 = nn.ConvTranspose2d(2 * filters, filters, 4, stride=2, padding=1)
        self.dec_conv2 = nn.ConvTranspose2d(filters, channels, 4, stride=2, padding=1)

    def encode(self, x):
        b, t = x.shape[:2]
        h = F.leaky_relu(self.enc_conv1(x.reshape(b * t, self.c, self.s, self.s)), SLOPE)
        h = F.leaky_relu(self.enc_conv2(h), SLOPE)
        h = F.leaky_relu(self.enc_fc(h.flatten(1)), SLOPE)
        out = self.enc_out(h).reshape(b, t, 2 * self.k)
        return out[..., :self.k], out[..., self.k:]

    def decode(self, z):
        b, t = z.shape[:2]
        h = F.leaky_relu(self.dec_fc(z.reshape(b * t, self.k)), SLOPE)
        h = F.leaky_relu(self.dec_in(h), SLOPE).reshape(b * t, 2 * self.f, self.s // 4, self.s // 4)
        h = F.leaky_relu(self.dec_conv1(h), SLOPE)
        return self.dec_conv2(h).reshape(b, t, self.c, self.s, self.s)

    def kl(self, mu, logvar):
        """KL(q || p) per video, [B]: slow prior on the identity channels, N(0, 1) on the pose channels."""
        t = mu.shape[1]
        var = logvar.exp()
        mi, vi, li = mu[..., :self.identity_dim], var[..., :self.identity_dim], logvar[..., :self.identity_dim]
        # Slow prior as a chain: z_1 ~ N(0, 1), z_t = z_1 + sqrt(eps) n_t; E_q[z^T Sigma^-1 z] in closed form.
        quad = mi[:, 0].pow(2) + vi[:, 0]
        if t > 1:
            innov = (mi[:, 1:] - mi[:, :1]).pow(2) + vi[:, 1:] + vi[:, :1]
            quad = quad + innov.sum(1) / self.slow_eps
        log_det = (t - 1) * math.log(self.slow_eps)
        kl_id = 0.5 * (quad.sum(1) - li.sum((1, 2))) + 0.5 * self.identity_dim * (log_det - t)
        mp, vp, lp = mu[..., self.identity_dim:], var[..., self.identity_dim:], logvar[..., self.identity_dim:]
        kl_pose = 0.5 * (mp.pow(2) + vp - lp - 1).sum((1, 2))
        return kl_id + kl_pose

    def elbo_terms(self, x, eps):
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * eps
        logits = self.decode(z)
        rec = (x * logits - F.softplus(logits)).flatten(1).sum(1)
        return rec, self.kl(mu, logvar)


class Step:
    """Joule's trainer step for the video VAE: batch, ELBO, backward, clip, cosine lr, Adam."""

    def __init__(self, model, videos, batch, gen, total_steps=3000, lr=1e-3, clip=100.0):
        self.model, self.videos, self.batch, self.gen = model, videos, batch, gen
        self.params = list(model.parameters())
        self.opt = torch.optim.Adam(self.params, lr=lr, betas=(0.9, 0.999))
        self.total, self.lr, self.clip = total_steps, lr, clip
        self.perm, self.pos, self.step_count = None, 0, 0

    def next_batch(self):
        n = self.videos.shape[0]
        if self.perm is None or self.pos + self.batch > n:
            self.perm, self.pos = torch.randperm(n, generator=self.gen), 0
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return self.videos.index_select(0, idx)

    def __call__(self):
        self.model.train()
        x = self.next_batch()
        mu_shape = (x.shape[0], x.shape[1], self.model.k)
        eps = torch.empty(mu_shape).normal_(0.0, 1.0, generator=self.gen)
        rec, kl = self.model.elbo_terms(x, eps)
        loss = -(rec - kl).mean()
        with torch.no_grad():
            metrics = {"elbo": (rec - kl).mean().item(), "reconstruction": rec.mean().item(), "kl": kl.mean().item()}
        lv = loss.item()
        if not math.isfinite(lv):
            raise RuntimeError(f"loss is {lv}")
        u = min(1.0, max(0.0, self.step_count / self.total))
        for g in self.opt.param_groups:
            g["lr"] = self.lr * 0.5 * (1.0 + math.cos(math.pi * u))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.clip))
        if not math.isfinite(grad_norm):
            raise RuntimeError(f"gradient norm is {grad_norm}")
        self.opt.step()
        self.step_count += 1
        return loss.item(), metrics


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def time_step(args):
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    model = VideoVae(args.channels, args.size)  # PyTorch's default initialisation
    videos = (torch.rand(args.sequences, args.frames, args.channels, args.size, args.size, generator=gen) < 0.3).float()
    step = Step(model, videos, args.batch, gen, total_steps=max(3000, args.warmup + args.reps))
    ms, first, last = [], None, None
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        loss, _ = step()
        dt = (time.perf_counter() - t0) * 1e3
        first = loss if first is None else first
        last = loss
        if i >= args.warmup:
            ms.append(dt)
    finite = math.isfinite(first) and math.isfinite(last)
    print(json.dumps({"impl": "python", "torch": torch.__version__, "task": "video-vae-step", "channels": args.channels,
                      "size": args.size, "frames": args.frames, "batch": args.batch, "threads": args.threads,
                      "reps": args.reps, "warmup": args.warmup, "step_ms_median": round(median(ms), 4),
                      "step_ms_mean": round(sum(ms) / len(ms), 4), "step_ms_min": round(min(ms), 4),
                      "loss_first": round(first, 4), "loss_last": round(last, 4), "checksum_finite": finite}),
          flush=True)
    return 0 if finite else 1


def load_npy(path):
    import numpy as np
    return torch.from_numpy(np.load(path))


def load_init(args):
    d = args.load_init
    with open(os.path.join(d, "reference.json")) as f:
        ref = json.load(f)
    x, eps = load_npy(os.path.join(d, "x.npy")), load_npy(os.path.join(d, "eps.npy"))
    model = VideoVae(x.shape[2], x.shape[3])
    with torch.no_grad():
        for name, p in model.named_parameters():
            w = load_npy(os.path.join(d, name + ".npy"))
            assert w.shape == p.shape, f"{name}: saved {tuple(w.shape)}, built {tuple(p.shape)}"
            p.copy_(w)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999))
    opt.zero_grad(set_to_none=True)
    rec, kl = model.elbo_terms(x, eps)
    loss0 = -(rec - kl).mean()
    loss0.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, 100.0))
    opt.step()
    with torch.no_grad():
        rec, kl = model.elbo_terms(x, eps)
        loss1 = float(-(rec - kl).mean())
    mine = {"loss0": float(loss0.detach()), "grad_norm0": grad_norm, "loss1": loss1}
    rel = {k: abs(mine[k] - ref[k]) / abs(ref[k]) for k in mine}
    ok = all(r < 1e-4 for r in rel.values())
    print(json.dumps({"check": "video-vae-init", "torch": torch.__version__, "channels": int(x.shape[2]),
                      "python": mine, "joule": {k: ref[k] for k in mine}, "rel_diff": rel, "agree_1e-4": ok}),
          flush=True)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--sequences", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--load-init", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.load_init:
        return load_init(args)
    assert args.size % 4 == 0 and 1 <= args.batch <= args.sequences and args.reps >= 1
    return time_step(args)


if __name__ == "__main__":
    raise SystemExit(main())
