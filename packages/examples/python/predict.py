"""Predict with Keras models, loaded in the Keras that wrote them.

Usage:
  .venv/bin/python packages/examples/python/predict.py MODEL NPZ ARRAY SCALE COUNT OUTPUT
  .venv/bin/python packages/examples/python/predict.py --requests REQUESTS.json

The first form predicts with a tf_keras .h5 model on the first samples of an NPZ array:

MODEL   path of a Keras 2 .h5 model, loaded with compile=False
NPZ     path of an .npz dataset
ARRAY   name of the input array in the NPZ, e.g. x_test
SCALE   factor applied to the inputs, as a number or a fraction such as 1/255
COUNT   number of leading samples to predict
OUTPUT  path of the .npy file to write: the model's outputs as float32

The inputs are cast to float32 and multiplied by float32(SCALE) before predict().

The second form predicts with many models in one process, because importing TensorFlow
takes seconds. REQUESTS.json is a list of
  {"model": path, "keras": 2 or 3, "inputs": nested list, "input_dtype": "float32"}
where "keras" 2 loads .h5 files with tf_keras and 3 loads .h5 and .keras files with
Keras 3. It prints one JSON list on stdout with, per request in order,
  {"model": path, "outputs": nested list of float32 values}
or {"model": path, "error": "TypeName: message"} when that model fails to load or predict.
"""

import argparse
import json
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


def load_model(path: str, keras_major: int):
    """Load a model without compiling it, with tf_keras for Keras 2 and Keras 3 otherwise."""
    if keras_major == 2:
        return keras.models.load_model(path, compile=False)
    if keras_major == 3:
        import keras as keras3

        return keras3.models.load_model(path, compile=False)
    raise ValueError(f"invalid keras {keras_major!r}: expected 2 or 3")


def predict_request(request: dict) -> dict:
    try:
        model = load_model(request["model"], request["keras"])
        inputs = np.asarray(request["inputs"], dtype=request.get("input_dtype", "float32"))
        outputs = np.asarray(model.predict(inputs, batch_size=BATCH_SIZE, verbose=0), dtype=np.float32)
    except Exception as error:  # noqa: BLE001 - one model's failure is reported and the others still run
        return {"model": request["model"], "error": f"{type(error).__name__}: {error}"}
    return {"model": request["model"], "outputs": outputs.astype(np.float64).tolist()}


def predict_requests(path: Path) -> None:
    with open(path) as file:
        requests = json.load(file)
    json.dump([predict_request(request) for request in requests], sys.stdout)
    sys.stdout.write("\n")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--requests":
        predict_requests(Path(sys.argv[2]))
        return

    parser = argparse.ArgumentParser(
        description="Predict with a Keras .h5 model on the first samples of an NPZ array. "
        "With --requests REQUESTS.json instead, predict with every model the file lists."
    )
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
