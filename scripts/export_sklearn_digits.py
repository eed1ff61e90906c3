#!/usr/bin/env python3
"""Writes scikit-learn's 8x8 digits as MNIST IDX files, a second image dataset for the presets:

    /usr/bin/python3 scripts/export_sklearn_digits.py OUT_DIR
    joule train jem_fashion_informative data.dataset=mnist data.path=OUT_DIR ...

Debian's python3-sklearn carries the data (no download). Each 8x8 image (values 0..16) is scaled
bilinearly to 20x20 and centred in a 28x28 frame, as MNIST's digits are; the 1 797 images are
shuffled with seed 0 and split 1 497 train / 300 test (`train-*` and `t10k-*`, gzipped).
"""
import gzip
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits


def write_idx(path, array, labels):
    with gzip.open(path, "wb") as f:
        if labels:
            f.write(struct.pack(">II", 2049, len(array)))
        else:
            f.write(struct.pack(">IIII", 2051, len(array), 28, 28))
        f.write(array.tobytes())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    digits = load_digits()
    small = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    scaled = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1)
    frames = torch.zeros(len(small), 28, 28)
    frames[:, 4:24, 4:24] = scaled[:, 0]
    images = (frames * 255).round().to(torch.uint8).numpy()
    labels = digits.target.astype(np.uint8)
    order = np.random.RandomState(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    n_train = len(labels) - 300
    write_idx(f"{out}/train-images-idx3-ubyte.gz", images[:n_train], False)
    write_idx(f"{out}/train-labels-idx1-ubyte.gz", labels[:n_train], True)
    write_idx(f"{out}/t10k-images-idx3-ubyte.gz", images[n_train:], False)
    write_idx(f"{out}/t10k-labels-idx1-ubyte.gz", labels[n_train:], True)
    print(f"wrote {n_train} training and 300 test images to {out}")


if __name__ == "__main__":
    main()
