#!/usr/bin/env python3
"""Peer for bench_quality: the Fréchet distance between two feature sets [N, F] as FID code
computes it. (1) NumPy/SciPy: covariances, then scipy.linalg.sqrtm of sigma1 @ sigma2
(pytorch-fid's calculate_frechet_distance formula). (2) PyTorch: covariances, then the square
roots of the eigenvalues of sigma1 @ sigma2 (torchmetrics' formula since 1.x). The same
synthetic features as bench_quality (not the same random numbers: the times are what compare).
One JSON line per case."""
import argparse
import json
import time

import numpy as np
import torch

try:  # a pip torch's venv may have no SciPy: its rows are then the torch route only
    import scipy
    import scipy.linalg
except ImportError:
    scipy = None


def per_call(fn, budget):
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    if once > budget:  # the F×F routes at F = 3 136 take about a minute: timed once
        return once
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < budget:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


def fd_scipy(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fd_torch(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = torch.cov(a.T), torch.cov(b.T)
    tr_sqrt = torch.linalg.eigvals(s1 @ s2).sqrt().real.sum()
    return float(((mu1 - mu2) ** 2).sum() + s1.trace() + s2.trace() - 2 * tr_sqrt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for n, f in [(500, 3136), (10000, 64)]:
        g = torch.Generator().manual_seed(n + f)
        mix = torch.randn(256, f, generator=g, dtype=torch.float64) / 16
        a = torch.relu(torch.randn(n, 256, generator=g, dtype=torch.float64) @ mix)
        b = torch.relu((torch.randn(n, 256, generator=g, dtype=torch.float64) * 1.1 + 0.1) @ mix)
        an, bn = a.numpy(), b.numpy()
        out = {"impl": f"torch {torch.__version__.split('+')[0]}, SciPy {scipy.__version__ if scipy else 'absent'}", "n": n, "features": f, "threads": args.threads}
        res = {}
        if scipy:
            out["scipy_sqrtm_ms"] = 1e3 * per_call(lambda: res.__setitem__("scipy", fd_scipy(an, bn)), args.seconds)
            out["fd_scipy"] = res["scipy"]
        out["torch_eigvals_ms"] = 1e3 * per_call(lambda: res.__setitem__("torch", fd_torch(a, b)), args.seconds)
        out["fd_torch"] = res["torch"]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
