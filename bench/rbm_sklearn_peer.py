#!/usr/bin/python3
"""scikit-learn's BernoulliRBM on binarised Fashion-MNIST: the peer of `bench_rbm --mode sklearn`.

Same data (IDX files, pixels > 127 -> 1, first --n-train training images), hidden size, batch
size, learning rate and epochs as the Joule side. Trains one epoch at a time with partial-fit
semantics identical to fit() (fit() itself is one call over all epochs; we time each epoch by
calling the same inner loop), then reports seconds per epoch and the mean test pseudo-likelihood
of score_samples() (one random flip per image) and the exact full pseudo-likelihood (all flips) on
the first --pll-exact-n test images, the fair comparison. Run with /usr/bin/python3 (Debian python3-sklearn).

Usage: rbm_sklearn_peer.py [--hidden 256] [--batch 10] [--lr 0.1] [--epochs 5] [--threads N]
                           [--dtype float32|float64] [--n-train 60000] [--data DIR] [--seed S]
                           [--pll-exact-n 2000]
"""
import argparse
import gzip
import json
import os
import time

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(data, stem):
    for cand in (os.path.join(data, stem + ".gz"), os.path.join(data, stem)):
        if os.path.exists(cand):
            return cand
    raise SystemExit("cannot find %s in %s" % (stem, data))


def exact_pll(rbm, X, chunk=16):
    """Mean over X of the full pseudo-log-likelihood sum_i log p(v_i | v_-i), all V flips (the
    same quantity as joule::eval::pseudo_log_likelihood_exact), in float64."""
    W = rbm.components_.astype(np.float64)  # [H, V]
    b = rbm.intercept_visible_.astype(np.float64)
    c = rbm.intercept_hidden_.astype(np.float64)
    total = 0.0
    for s in range(0, X.shape[0], chunk):
        v = X[s:s + chunk].astype(np.float64)              # [n, V]
        logits = v @ W.T + c                               # [n, H]
        f = -v @ b - np.logaddexp(0, logits).sum(1)        # F(v), [n]
        sign = 1.0 - 2.0 * v                               # flipping v_i adds sign_i to it
        lf = logits[:, None, :] + sign[:, :, None] * W.T[None, :, :]   # [n, V, H]
        ff = -(v @ b)[:, None] - sign * b[None, :] - np.logaddexp(0, lf).sum(2)  # F(v with i flipped)
        total += float((-np.logaddexp(0, f[:, None] - ff)).sum())  # log sigmoid(F(flip) - F(v))
    return total / X.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pll-exact-n", type=int, default=2000)
    a = ap.parse_args()

    from threadpoolctl import threadpool_limits
    from sklearn.neural_network import BernoulliRBM
    from sklearn.utils import check_random_state, gen_even_slices

    dtype = np.dtype(a.dtype)
    train = read_idx(find(a.data, "train-images-idx3-ubyte")).reshape(-1, 784)[: a.n_train]
    test = read_idx(find(a.data, "t10k-images-idx3-ubyte")).reshape(-1, 784)
    X = (train > 127).astype(dtype)
    Xt = (test > 127).astype(dtype)

    with threadpool_limits(a.threads):
        rbm = BernoulliRBM(n_components=a.hidden, learning_rate=a.lr, batch_size=a.batch, n_iter=0,
                           random_state=a.seed)
        rbm.fit(X)  # n_iter=0: initialises components_, biases and h_samples_ exactly as fit() does
        pll0 = float(rbm.score_samples(Xt).mean())
        rng = check_random_state(a.seed)
        n_batches = int(np.ceil(float(X.shape[0]) / a.batch))
        slices = list(gen_even_slices(n_batches * a.batch, n_batches, n_samples=X.shape[0]))
        times = []
        for _ in range(a.epochs):
            t0 = time.perf_counter()
            for s in slices:  # fit()'s inner loop, verbatim
                rbm._fit(X[s], rng)
            times.append(time.perf_counter() - t0)
        pll = float(rbm.score_samples(Xt).mean())
        pll_exact = exact_pll(rbm, Xt[: a.pll_exact_n])
    times.sort()
    print(json.dumps({"impl": "sklearn", "mode": "sklearn", "seed": a.seed, "threads": a.threads, "dtype": a.dtype,
                      "hidden": a.hidden, "batch": a.batch, "lr": a.lr, "epochs": a.epochs,
                      "n_train": int(X.shape[0]), "sec_per_epoch_median": round(times[len(times) // 2], 4),
                      "sec_per_epoch_min": round(times[0], 4), "test_pll_initial": round(pll0, 4),
                      "test_pll": round(pll, 4), "test_pll_exact": round(pll_exact, 4),
                      "pll_exact_n": min(a.pll_exact_n, int(Xt.shape[0]))}))


if __name__ == "__main__":
    main()
