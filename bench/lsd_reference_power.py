#!/usr/bin/env python3
"""The LSD paper's own goodness-of-fit test as a peer for Joule's power study.

Runs `lsd_test.py` of the authors' repository (github.com/wgrathwohl/LSD @aee9280, arXiv:2002.05616
§6.1), unchanged, with the README's RBM command, for every seed and perturbation σ. The script is
imported and its main() called once per run; two methods of its GaussianBernoulliRBM class are
wrapped only to record what it drew (the RBM parameters and the 1000 samples), which are written
beside the result so that Joule can test exactly the same sample against exactly the same model
(bench_lsd_gof --data). Nothing of the reference is copied here; point --ref at a checkout.

    python3 bench/lsd_reference_power.py --ref /path/to/LSD --out DIR [--sigmas 0,0.01,0.02,0.04]
        [--seeds 100] [--first-seed 0] [--threads 1] [--dim-x 50] [--dim-h 40]

Writes DIR/reference.csv (problem,dim,sigma,seed,test,statistic,p_value,reject,seconds; problem
"rbm-ref", test "lsd-ref") and
DIR/data/seed_S/{x,B,b,c}.csv and Bq_sigma<σ>.csv (float32 values, 9 significant digits: exact).
"""
import argparse
import contextlib
import importlib.machinery
import math
import os
import re
import sys
import time
import types


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True, help="checkout of github.com/wgrathwohl/LSD")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sigmas", default="0,0.01,0.02,0.04")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dim-x", type=int, default=50)
    ap.add_argument("--dim-h", type=int, default=40)
    a = ap.parse_args()

    if not os.path.exists(os.path.join(a.ref, "lsd_test.py")):
        sys.exit(f"no lsd_test.py in {a.ref}: pass a checkout of github.com/wgrathwohl/LSD as --ref")
    sys.path.insert(0, a.ref)
    # lsd_test.py imports matplotlib only to select a backend (it draws nothing in the test) and
    # tqdm for a progress bar; where they are not installed, stand-ins that do nothing serve.
    for name, attr, fn in (("matplotlib", "use", lambda *args, **kw: None),
                           ("tqdm", "tqdm", lambda it, *args, **kw: it)):
        try:
            __import__(name)
        except ImportError:
            stand_in = types.ModuleType(name)
            stand_in.__spec__ = importlib.machinery.ModuleSpec(name, None)
            setattr(stand_in, attr, fn)
            sys.modules[name] = stand_in
    import torch
    import lsd_test as ref

    torch.set_num_threads(a.threads)
    sigmas = [float(s) for s in a.sigmas.split(",")]
    rbm = ref.GaussianBernoulliRBM
    seen = {}
    orig_init, orig_sample = rbm.__init__, rbm.sample

    def init(self, *args, **kw):
        orig_init(self, *args, **kw)
        seen.setdefault("rbms", []).append(self)

    def sample(self, n):
        x = orig_sample(self, n)
        seen["x"] = x.detach().clone()
        return x

    rbm.__init__, rbm.sample = init, sample

    def write(path, t):
        # The sample and p's parameters are the same at every σ and may already be there (from an
        # earlier run or another process, which may be reading them): check them, never rewrite.
        t = t.detach().reshape(t.shape[0], -1) if t.dim() > 1 else t.detach().reshape(1, -1)
        text = "".join(",".join(f"{v:.9g}" for v in row) + "\n" for row in t.tolist())
        if os.path.exists(path):
            if open(path).read() != text:
                sys.exit(f"{path} holds other values than this run drew: the seed's sample or model differs")
            return
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    os.makedirs(os.path.join(a.out, "data"), exist_ok=True)
    csv_path = os.path.join(a.out, "reference.csv")
    new = not os.path.exists(csv_path)
    out = open(csv_path, "a")
    if new:
        out.write("problem,dim,sigma,seed,test,statistic,p_value,reject,seconds\n")
    save = os.path.join(a.out, f"last_result.{os.getpid()}.txt")  # several processes may share --out
    t_all = time.time()
    for k in range(a.seeds):
        s = a.first_seed + k
        d = os.path.join(a.out, "data", f"seed_{s}")
        os.makedirs(d, exist_ok=True)
        x_first = None
        for sigma in sigmas:
            seen.clear()
            sys.argv = ["lsd_test.py", "--test", "rbm-pert", "--sigma_pert", repr(sigma), "--n_iters", "1000",
                        "--l2", ".5", "--batch_size", "800", "--weight_decay", ".0005", "--seed", str(s),
                        "--n_train", "800", "--n_val", "100", "--n_test", "100", "--save", save, "--dropout",
                        "--maximize_power", "--val_power", "--dim_x", str(a.dim_x), "--dim_h", str(a.dim_h)]
            t0 = time.time()
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                ref.main()
            secs = time.time() - t0
            text = open(save).read()
            # The script writes str() of a tensor ("tensor(1.23, grad_fn=...)") or of a float, then the decision.
            z = float(re.search(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text.split("\n")[0]).group(0))
            reject = int("reject" in text.split("\n")[1])
            p = 0.5 * math.erfc(z / math.sqrt(2.0))
            p_rbm, q_rbm = seen["rbms"]
            x = seen["x"]
            if x_first is None:
                x_first = x
                write(os.path.join(d, "x.csv"), x)
                write(os.path.join(d, "B.csv"), p_rbm.B)
                write(os.path.join(d, "b.csv"), p_rbm.b)
                write(os.path.join(d, "c.csv"), p_rbm.c)
            elif not torch.equal(x, x_first):
                sys.exit(f"seed {s}: the sample differs between sigmas; the data layout assumes it does not")
            write(os.path.join(d, f"Bq_sigma{sigma:g}.csv"), q_rbm.B)
            out.write(f"rbm-ref,{a.dim_x},{sigma:g},{s},lsd-ref,{z:.6f},{p:.6g},{reject},{secs:.3f}\n")
            out.flush()
        print(f"seed {s} done ({time.time() - t_all:.0f} s)", flush=True)
    os.remove(save)


if __name__ == "__main__":
    main()
