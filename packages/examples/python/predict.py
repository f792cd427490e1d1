"""Predict with a Keras .h5 model on the first samples of an NPZ array, using tf_keras.

Usage:
  .venv/bin/python packages/examples/python/predict.py MODEL NPZ ARRAY SCALE COUNT OUTPUT

MODEL   path of a Keras 2 .h5 model, loaded with compile=False
NPZ     path of an .npz dataset
ARRAY   name of the input array in the NPZ, e.g. x_test
SCALE   factor applied to the inputs, as a number or a fraction such as 1/255
COUNT   number of leading samples to predict
OUTPUT  path of the .npy file to write: the model's outputs as float32

The inputs are cast to float32 and multiplied by float32(SCALE) before predict().
"""

import argparse
import os
import sys
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tf_keras as keras

BATCH_SIZE = 256


def parse_scale(text: str) -> float:
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError) as error:
        raise argparse.ArgumentTypeError(f"invalid scale {text!r}: expected a number or a fraction such as 1/255") from error


def parse_count(text: str) -> int:
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"invalid count {count}: expected at least 1")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description="Predict with a Keras .h5 model on the first samples of an NPZ array.")
    parser.add_argument("model", type=Path, help="Keras 2 .h5 model")
    parser.add_argument("npz", type=Path, help=".npz dataset")
    parser.add_argument("array", help="name of the input array in the NPZ, e.g. x_test")
    parser.add_argument("scale", type=parse_scale, help="factor applied to the inputs, e.g. 1 or 1/255")
    parser.add_argument("count", type=parse_count, help="number of leading samples to predict")
    parser.add_argument("output", type=Path, help="path of the float32 .npy file to write")
    args = parser.parse_args()

    with np.load(args.npz) as dataset:
        if args.array not in dataset.files:
            sys.exit(f"error: array {args.array!r} not found in {args.npz}; it contains {', '.join(dataset.files)}")
        inputs = dataset[args.array]
    if args.count > inputs.shape[0]:
        sys.exit(f"error: count {args.count} exceeds the {inputs.shape[0]} samples of {args.array!r} in {args.npz}")

    inputs = inputs[: args.count].astype(np.float32) * np.float32(args.scale)
    model = keras.models.load_model(args.model, compile=False)
    predictions = model.predict(inputs, batch_size=BATCH_SIZE, verbose=0)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.output, np.asarray(predictions, dtype=np.float32))


if __name__ == "__main__":
    main()
