"""The FFJORD toy training iteration in PyTorch + torchdiffeq, as the reference code builds it
(rtqichen/ffjord: lib/layers/odefunc.py, cnf.py, diffeq_layers/basic.py; train_toy.py), written
here from the paper's description: ConcatSquash layers, tanh, the exact divergence by one
autograd.grad per dimension with create_graph, the state (z, Δlogp) with dΔ/dt = −div, the end
time T = s² as a parameter, dopri5 at atol = rtol = 1e-5, and odeint_adjoint (FFJORD's solver)
or plain odeint (back-propagation through the solver).

Reads the batch and the initial weights that bench_ffjord wrote (--share), so both sides start
from the same flow on the same batch. Prints one JSON line per gradient mode.
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torchdiffeq


class ConcatSquash(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(n_out, n_in))
        self.bias = torch.nn.Parameter(torch.empty(n_out))
        self.gate_weight = torch.nn.Parameter(torch.empty(n_out))
        self.gate_bias = torch.nn.Parameter(torch.empty(n_out))
        self.time_bias = torch.nn.Parameter(torch.empty(n_out))

    def forward(self, t, x):
        gate = torch.sigmoid(self.gate_weight * t + self.gate_bias)
        return torch.nn.functional.linear(x, self.weight, self.bias) * gate + self.time_bias * t


class Field(torch.nn.Module):
    """dz/dt and dΔ/dt = −tr ∂f/∂z (exact, one vector-Jacobian product per dimension)."""

    def __init__(self, dims):
        super().__init__()
        self.layers = torch.nn.ModuleList(ConcatSquash(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.nfe = 0

    def net(self, t, z):
        for i, layer in enumerate(self.layers):
            z = layer(t, z)
            if i + 1 < len(self.layers):
                z = torch.tanh(z)
        return z

    def forward(self, t, state):
        self.nfe += 1
        z = state[0]
        if not (torch.is_grad_enabled() and z.requires_grad):
            # Outside a graph (the adjoint's forward solve and its time-gradient evaluation): a
            # fresh leaf, since the state may be a view taken under no_grad.
            z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            t = t if torch.is_tensor(t) else torch.tensor(t)
            f = self.net(t.to(z), z)
            div = 0.0
            for i in range(z.shape[1]):
                div = div + torch.autograd.grad(f[:, i].sum(), z, create_graph=True)[0][:, i]
        return f, -div


def load(path, dims):
    raw = np.fromfile(path, dtype=np.float32)
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        out = torch.from_numpy(raw[at:at + n].copy()).view(*shape)
        at += n
        return out

    batch = take(100, 2)
    field = Field(dims)
    with torch.no_grad():
        for layer in field.layers:
            n_out, n_in = layer.weight.shape
            layer.weight.copy_(take(n_out, n_in))
            layer.bias.copy_(take(n_out))
            layer.gate_weight.copy_(take(n_out))
            layer.gate_bias.copy_(take(n_out))
            layer.time_bias.copy_(take(n_out))
    s = torch.nn.Parameter(take(1).reshape(()))
    assert at == raw.size, (at, raw.size)
    return batch, field, s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--share", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    impl = f"torchdiffeq (torch {torch.__version__.split('+')[0]})"
    for mode in ("backprop", "adjoint"):
        batch, field, s = load(args.share, [2, 64, 64, 64, 2])
        params = list(field.parameters()) + [s]
        opt = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-5)
        nfe_f = nfe_b = 0
        times, losses = [], []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            opt.zero_grad()
            field.nfe = 0
            state = (batch, torch.zeros(batch.shape[0], device=batch.device))
            T = s * s
            ts = torch.stack([torch.zeros_like(T), T])
            if mode == "adjoint":
                z, dlogp = torchdiffeq.odeint_adjoint(field, state, ts, rtol=1e-5, atol=1e-5, method="dopri5",
                                                      adjoint_params=params)
            else:  # T's gradient through the solver's interpolation at the end time
                z, dlogp = torchdiffeq.odeint(field, state, ts, rtol=1e-5, atol=1e-5, method="dopri5")
            z, dlogp = z[-1], dlogp[-1]
            logp = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(1) - dlogp
            loss = -logp.mean()
            nfe_f += field.nfe
            field.nfe = 0
            loss.backward()
            nfe_b += field.nfe
            opt.step()
            times.append(time.perf_counter() - t0)
            losses.append(loss.item())
        print(json.dumps({"impl": impl, "gradient": mode, "threads": args.threads, "iters": args.iters,
                          "ms_per_iter": 1e3 * sum(times[1:]) / (len(times) - 1), "nfe_forward": nfe_f,
                          "nfe_backward": nfe_b, "first_loss": losses[0], "last_loss": losses[-1]}))


if __name__ == "__main__":
    main()
