"""Load Keras HDF5 models with tf_keras and save their predictions, for the model-io tests.

Usage: keras_predict.py REQUESTS.json

REQUESTS.json is a list of {"model": path, "inputs": npz path with an array "x",
"output": npy path}. With "compile": true the model is also loaded compiled, which
checks that its training_config still builds an optimizer. Prints one JSON line per
request with the optimizer class, or null.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402


def main():
    with open(sys.argv[1]) as file:
        requests = json.load(file)
    for request in requests:
        model = tf_keras.models.load_model(request["model"], compile=False)
        x = np.load(request["inputs"])["x"]
        np.save(request["output"], np.asarray(model.predict(x, verbose=0), dtype="float32"))
        optimizer = None
        if request.get("compile"):
            compiled = tf_keras.models.load_model(request["model"])
            optimizer = type(compiled.optimizer).__name__ if compiled.optimizer is not None else None
        print(json.dumps({"model": request["model"], "optimizer": optimizer}))


if __name__ == "__main__":
    main()
