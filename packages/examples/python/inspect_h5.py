"""Print a JSON summary of a Keras .h5 file: its root attributes and every dataset.

Usage: .venv/bin/python packages/examples/python/inspect_h5.py MODEL.h5

Output on stdout:
  {"attributes": {name: value},          root attributes, e.g. keras_version, model_config
   "groups": {path: {name: value}},      attributes of each group, e.g. layer_names, weight_names
   "datasets": [{"path", "shape", "dtype", "distinct_values", "sha256"}]}

Datasets are listed in HDF5's name order: the weights under model_weights/ and, when
the model was saved with its optimizer, the optimizer variables under optimizer_weights/.
"sha256" is the digest of the array's bytes in C order, in the dtype stored in the
file, so two files hold bit-identical tensors exactly when the digests match.
JSON strings in attributes (model_config, training_config) are kept as strings.
"""

import hashlib
import json
import sys

import h5py
import numpy as np


def to_json(value):
    """Convert an HDF5 attribute value to plain JSON types."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [to_json(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [to_json(item) for item in value]
    return value


def attributes_of(node: h5py.HLObject) -> dict:
    return {name: to_json(value) for name, value in node.attrs.items()}


def describe_dataset(dataset: h5py.Dataset) -> dict:
    values = dataset[()]
    array = np.ascontiguousarray(values)
    return {
        "path": dataset.name.lstrip("/"),
        "shape": list(dataset.shape),
        "dtype": str(dataset.dtype),
        "distinct_values": int(np.unique(array).size),
        "sha256": hashlib.sha256(array.tobytes()).hexdigest(),
    }


def inspect(path: str) -> dict:
    groups: dict[str, dict] = {}
    datasets: list[dict] = []

    def visit(name: str, node: h5py.HLObject) -> None:
        if isinstance(node, h5py.Dataset):
            datasets.append(describe_dataset(node))
        elif node.attrs:
            groups[name] = attributes_of(node)

    with h5py.File(path, "r") as file:
        attributes = attributes_of(file)
        file.visititems(visit)
    return {"attributes": attributes, "groups": groups, "datasets": datasets}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: inspect_h5.py MODEL.h5")
    json.dump(inspect(sys.argv[1]), sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
