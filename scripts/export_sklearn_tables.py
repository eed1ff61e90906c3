#!/usr/bin/env python3
"""Writes scikit-learn's bundled tables as CSV files Joule reads (features, then a `label` column):

    /usr/bin/python3 scripts/export_sklearn_tables.py OUT_DIR [breast_cancer wine ...]

Debian's python3-sklearn carries the data (no download). The files are the user's data in the
format `data.dataset = "csv"` reads; nothing is shuffled or scaled here (Joule splits and
standardises with the training statistics).
"""
import csv
import os
import sys

from sklearn import datasets

LOADERS = {
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "iris": datasets.load_iris,
    "digits": datasets.load_digits,
}


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    out = argv[1]
    names = argv[2:] or ["breast_cancer", "wine"]
    unknown = [n for n in names if n not in LOADERS]
    if unknown:
        sys.exit(f"unknown table(s) {unknown}; known: {sorted(LOADERS)}")
    os.makedirs(out, exist_ok=True)
    for name in names:
        bunch = LOADERS[name]()
        header = [f"f{i}" for i in range(bunch.data.shape[1])] + ["label"]
        path = os.path.join(out, name + ".csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for row, y in zip(bunch.data, bunch.target):
                w.writerow([repr(float(v)) for v in row] + [int(y)])
        print(f"{path}: {bunch.data.shape[0]} rows, {bunch.data.shape[1]} features, {len(set(bunch.target))} classes")


if __name__ == "__main__":
    main(sys.argv)
