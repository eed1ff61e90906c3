#!/usr/bin/env python3
"""Expected values for tests/unit/test_maf_tabular.cpp: MAF's pre-processing (maf/datasets/
power.py, miniboone.py, the ones FFJORD ships) applied with numpy to the small arrays the test
writes. Run with any Python that has numpy, e.g. a virtual environment with pip's torch:

    python scripts/maf_tabular_reference.py
"""
import numpy as np


def power_raw(n=40):
    i = np.arange(n)[:, None]
    j = np.arange(8)[None, :]
    return np.sin(0.37 * i + 1.3 * j + 0.1) * (j + 1) + 0.5 * j


def power(data):
    # maf/datasets/power.py load_data_split_with_noise + load_data_normalised, step for step.
    rng = np.random.RandomState(42)
    data = data.copy()
    rng.shuffle(data)
    n = data.shape[0]
    data = np.delete(data, 3, axis=1)
    data = np.delete(data, 1, axis=1)
    voltage_noise = 0.01 * rng.rand(n, 1)
    gap_noise = 0.001 * rng.rand(n, 1)
    sm_noise = rng.rand(n, 3)
    time_noise = np.zeros((n, 1))
    data = data + np.hstack((gap_noise, voltage_noise, sm_noise, time_noise))
    n_test = int(0.1 * data.shape[0])
    test, data = data[-n_test:], data[0:-n_test]
    n_valid = int(0.1 * data.shape[0])
    valid, train = data[-n_valid:], data[0:-n_valid]
    both = np.vstack((train, valid))
    mu, s = both.mean(axis=0), both.std(axis=0)
    return (train - mu) / s, (valid - mu) / s, (test - mu) / s


def show(name, a):
    print(name, "{" + ", ".join("%.9g" % v for v in a) + "}")


r = np.random.RandomState(42)
show("RandomState(42).rand(3)", r.rand(3))
train, valid, test = power(power_raw())
print("power sizes", train.shape, valid.shape, test.shape)
show("power train[0]", train[0])
show("power valid[0]", valid[0])
show("power test[-1]", test[-1])
