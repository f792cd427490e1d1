"""Run the example clustering experiment with TFMOT, as the reference for bench/vs-reference.ts.

Loads the Keras model, evaluates it on the MNIST test set, clusters its kernels with
tfmot.clustering.keras.cluster_weights and fine-tunes them with Adam. Then it strips the
clustering wrappers, evaluates the stripped model (the one that would ship), saves it
as .h5 without optimizer state and gzips it at level 9. Prints one JSON object on stdout:
wall time per stage in milliseconds, test loss and accuracy before and after, file
sizes, distinct values per clustered kernel and package versions.

Needs the project's .venv (tensorflow-cpu 2.18.1, tf_keras 2.18.0,
tensorflow-model-optimization 0.8.0). TF_USE_LEGACY_KERAS=1 is set before TensorFlow
is imported, because TFMOT 0.8.0 does not support Keras 3.
"""

import argparse
import gzip
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras  # noqa: E402

# Same evaluation batch size as Centroid's pipeline, so both evaluations do the same work.
EVALUATION_BATCH_SIZE = 256
GZIP_LEVEL = 9
REPORTED_PACKAGES = ("tensorflow-cpu", "tf_keras", "tensorflow-model-optimization", "numpy", "h5py")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Keras .h5 model with a training config")
    parser.add_argument("--data", required=True, help="MNIST NPZ with x_train, y_train, x_test, y_test (uint8)")
    parser.add_argument("--out-dir", required=True, help="folder that receives model.h5 and model.h5.gz")
    parser.add_argument("--number-of-clusters", type=int, default=14)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--input-scale", type=float, default=1 / 255)
    return parser.parse_args()


def load_dataset(path: str, input_scale: float, classes: int) -> dict:
    with np.load(path) as arrays:
        return {
            "x_train": arrays["x_train"].astype("float32") * input_scale,
            "y_train": tf_keras.utils.to_categorical(arrays["y_train"], classes),
            "x_test": arrays["x_test"].astype("float32") * input_scale,
            "y_test": tf_keras.utils.to_categorical(arrays["y_test"], classes),
        }


def count_distinct_kernels(path: str) -> dict:
    """Return the number of distinct values of every kernel dataset in a Keras .h5 file."""
    counts = {}
    with h5py.File(path, "r") as file:

        def visit(name, item):
            if isinstance(item, h5py.Dataset) and "kernel" in name.rsplit("/", 1)[-1]:
                counts[name] = int(np.unique(item[()]).size)

        file["model_weights"].visititems(visit)
    return counts


def gzip_file(source: str, target: str) -> None:
    with open(source, "rb") as reader, gzip.open(target, "wb", compresslevel=GZIP_LEVEL) as writer:
        shutil.copyfileobj(reader, writer)


def evaluation(model, data: dict) -> dict:
    loss, accuracy = model.evaluate(data["x_test"], data["y_test"], batch_size=EVALUATION_BATCH_SIZE, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy), "samples": int(data["x_test"].shape[0])}


def main() -> None:
    args = parse_arguments()
    os.makedirs(args.out_dir, exist_ok=True)
    timings_ms = {}

    def timed(stage, work):
        started = time.perf_counter()
        result = work()
        timings_ms[stage] = round((time.perf_counter() - started) * 1000)
        return result

    # Loading includes reading the dataset, as Centroid's loading stage does.
    def load():
        loaded = tf_keras.models.load_model(args.model)
        return loaded, load_dataset(args.data, args.input_scale, int(loaded.output_shape[-1]))

    model, data = timed("loading", load)
    baseline = timed("evaluating_baseline", lambda: evaluation(model, data))

    def cluster():
        clustered = tfmot.clustering.keras.cluster_weights(
            model,
            number_of_clusters=args.number_of_clusters,
            cluster_centroids_init=tfmot.clustering.keras.CentroidInitialization.LINEAR,
        )
        clustered.compile(
            optimizer=tf_keras.optimizers.Adam(learning_rate=args.learning_rate),
            loss=model.loss,
            metrics=["accuracy"],
        )
        return clustered

    clustered = timed("clustering", cluster)
    history = timed(
        "fine_tuning",
        lambda: clustered.fit(
            data["x_train"], data["y_train"], epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=0
        ),
    )
    stripped = timed("stripping", lambda: tfmot.clustering.keras.strip_clustering(clustered))
    # strip_clustering returns an uncompiled model, so compile it only to evaluate it.
    stripped.compile(loss=model.loss, metrics=["accuracy"])
    after = timed("evaluating", lambda: evaluation(stripped, data))

    model_path = os.path.join(args.out_dir, "model.h5")
    gzip_path = model_path + ".gz"

    def save():
        stripped.save(model_path, include_optimizer=False)
        gzip_file(model_path, gzip_path)

    timed("packaging", save)

    with tempfile.TemporaryDirectory() as folder:
        original_gzip = os.path.join(folder, "original.h5.gz")
        gzip_file(args.model, original_gzip)
        original_gzip_bytes = os.path.getsize(original_gzip)

    report = {
        "timings_ms": timings_ms,
        "baseline": baseline,
        "clustered": after,
        "fine_tuning": {
            "train_samples": int(data["x_train"].shape[0]),
            "steps": int(np.ceil(data["x_train"].shape[0] / args.batch_size)) * args.epochs,
            "final_train_loss": float(history.history["loss"][-1]),
        },
        "size": {
            "original_bytes": os.path.getsize(args.model),
            "original_gzip_bytes": original_gzip_bytes,
            "clustered_bytes": os.path.getsize(model_path),
            "clustered_gzip_bytes": os.path.getsize(gzip_path),
        },
        "distinct_values": count_distinct_kernels(model_path),
        "versions": {
            "python": platform.python_version(),
            **{name: importlib.metadata.version(name) for name in REPORTED_PACKAGES},
        },
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
