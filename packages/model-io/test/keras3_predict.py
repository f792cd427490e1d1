"""Load models with Keras 3 and save their predictions, for the model-io format tests.

Usage: keras3_predict.py REQUESTS.json

REQUESTS.json is a list of {"model": path, "inputs": npz path with an array "x",
"output": npy path}. Each model is loaded with keras.saving.load_model(compile=False),
so a `.keras` archive and a `.h5` file both work. Prints one JSON line per request
with the dtype of the model's first weight.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def main():
    with open(sys.argv[1]) as file:
        requests = json.load(file)
    for request in requests:
        model = keras.saving.load_model(request["model"], compile=False)
        x = np.load(request["inputs"])["x"]
        np.save(request["output"], np.asarray(model.predict(x, verbose=0), dtype="float32"))
        print(json.dumps({"model": request["model"], "dtype": str(model.weights[0].dtype)}))


if __name__ == "__main__":
    main()
