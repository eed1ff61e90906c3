#!/usr/bin/env python3
"""Converts MAF's GAS file (gas/ethylene_CO.pickle, a pandas DataFrame pickle) to the CSV that
joule's GAS reader takes (data.dataset = "gas"): the same rows in the same order, named columns.

    python3 scripts/gas_pickle_to_csv.py ethylene_CO.pickle ethylene_CO.csv

Needs pandas (pip install pandas). The values are written with full float64 precision.
"""
import sys

import pandas as pd

if len(sys.argv) != 3:
    sys.exit(__doc__)
frame = pd.read_pickle(sys.argv[1])
frame.to_csv(sys.argv[2], index=False, float_format="%.17g")
print(f"wrote {sys.argv[2]}: {frame.shape[0]} rows, columns {list(frame.columns)}")
