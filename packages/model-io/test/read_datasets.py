"""Print every dataset of HDF5 files as h5py reads it, for the model-io tests.

Usage: read_datasets.py FILE...

Prints one JSON object that maps each FILE to {dataset path: {"dtype": NumPy dtype
string such as "<f2", "shape": list, "hex": the values as little-endian bytes in hex,
"attributes": sorted attribute names}}.
"""

import json
import sys

import h5py
import numpy as np


def read_datasets(path):
    datasets = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            values = np.asarray(item[()])
            datasets["/" + name] = {
                "dtype": values.dtype.str,
                "shape": list(values.shape),
                "hex": values.astype(values.dtype.newbyteorder("<")).tobytes().hex(),
                "attributes": sorted(item.attrs.keys()),
            }

    with h5py.File(path, "r") as file:
        file.visititems(visit)
    return datasets


def main():
    print(json.dumps({path: read_datasets(path) for path in sys.argv[1:]}))


if __name__ == "__main__":
    main()
