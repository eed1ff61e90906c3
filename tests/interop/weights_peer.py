#!/usr/bin/env python3
"""The Python side of tests/integration/test_export_interop.cpp.

  weights_peer.py torch FILE.pt            load with torch.load, print a JSON summary
  weights_peer.py safetensors FILE         load with the safetensors package (numpy), print the same
  weights_peer.py write-safetensors FILE   write known arrays with the safetensors package

The summary maps each key to {"shape", "dtype", "sum", "first"} (sum in float64, the first three
values). Exit code 77 (reason on stderr) when the package needed cannot be imported."""
import json
import sys

mode, path = sys.argv[1], sys.argv[2]


def need(module):
    try:
        return __import__(module, fromlist=["_"])
    except Exception as e:
        print(f"the {module} Python package is not importable: {e!r}", file=sys.stderr)
        sys.exit(77)


if mode == "torch":
    torch = need("torch")
    # weights_only=True is the default from PyTorch 2.6 on; the file must load under it.
    d = torch.load(path, weights_only=True) if "weights_only" in torch.load.__code__.co_varnames else torch.load(path)
    out = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""),
               "sum": float(v.double().sum()), "first": v.flatten()[:3].double().tolist()} for k, v in d.items()}
    print(json.dumps(out))
elif mode == "safetensors":
    st = need("safetensors.numpy")
    d = st.load_file(path)
    out = {k: {"shape": list(v.shape), "dtype": str(v.dtype), "sum": float(v.astype("float64").sum()),
               "first": v.reshape(-1)[:3].astype("float64").tolist()} for k, v in d.items()}
    print(json.dumps(out))
elif mode == "write-safetensors":
    st = need("safetensors.numpy")
    np = need("numpy")
    st.save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([-1, 5], dtype=np.int64),
                  "c": np.array(2.5, dtype=np.float64)}, path, metadata={"who": "python"})
else:
    sys.exit(f"unknown mode {mode}")
