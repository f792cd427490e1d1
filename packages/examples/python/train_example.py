"""Train the bundled example: a small MNIST CNN in Keras 2 (tf_keras), saved as HDF5.

Two Conv2D and MaxPooling2D blocks, Dense 256 and Dense 10 (431,242 parameters),
trained with Adam, batch 250, 15 epochs and validation_split 0.2. The model is saved
without optimizer state, and a JSON file next to it records the versions, the test
loss and accuracy measured by Keras, and the file's sha256.

Usage: .venv/bin/python packages/examples/python/train_example.py [--epochs N] [--output PATH]
"""

import argparse
import hashlib
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tf_keras as keras

from mnist_idx import DEFAULT_MNIST_DIR, EXAMPLES_DIR, load_mnist
from training_config import save_without_optimizer_state

SEED = 42
BATCH_SIZE = 250
VALIDATION_SPLIT = 0.2
NUM_CLASSES = 10
EXPECTED_PARAMS = 431_242


def build_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(64, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="mnist_cnn",
    )
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def prepare(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale images to [0, 1] float32 with a channel axis, and one-hot encode labels."""
    x = (x.astype(np.float32) / 255.0)[..., np.newaxis]
    return x, keras.utils.to_categorical(y, NUM_CLASSES)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the example MNIST CNN and save it as Keras 2 HDF5.")
    parser.add_argument("--epochs", type=int, default=15, help="number of training epochs (default 15)")
    parser.add_argument(
        "--output",
        type=Path,
        default=EXAMPLES_DIR / "models" / "mnist-cnn.h5",
        help="path of the .h5 file; the training facts go to the same path with .json (default models/mnist-cnn.h5)",
    )
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST_DIR, help="folder with the MNIST IDX files")
    args = parser.parse_args()

    # Seeds Python, NumPy and TensorFlow. Op determinism makes reruns on the same
    # machine and versions give the same weights.
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()

    (x_train, y_train), (x_test, y_test) = load_mnist(args.mnist_dir)
    x_train, y_train = prepare(x_train, y_train)
    x_test, y_test = prepare(x_test, y_test)

    model = build_model()
    parameters = model.count_params()
    if parameters != EXPECTED_PARAMS:
        raise RuntimeError(f"model has {parameters} parameters, expected {EXPECTED_PARAMS}")
    model.summary()

    started = time.monotonic()
    history = model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        validation_split=VALIDATION_SPLIT,
        verbose=2,
    )
    training_seconds = time.monotonic() - started

    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
    print(f"Test loss: {test_loss:.6f}  test accuracy: {test_accuracy:.4f}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_without_optimizer_state(model, args.output)

    facts = {
        "file": args.output.name,
        "format": "Keras 2 HDF5, saved without optimizer state but with its training config",
        "keras_package": "tf_keras",
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "numpy_version": np.__version__,
        "parameters": parameters,
        "seed": SEED,
        "epochs": args.epochs,
        "batch_size": BATCH_SIZE,
        "validation_split": VALIDATION_SPLIT,
        "optimizer": "Adam (default learning rate 0.001)",
        "loss": "categorical_crossentropy",
        "input_scale": "1/255 (uint8 pixels to [0, 1])",
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "final_val_accuracy": float(history.history["val_accuracy"][-1]),
        "training_seconds": round(training_seconds, 1),
        "training_machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, tensorflow-cpu",
        "size_bytes": args.output.stat().st_size,
        "sha256": sha256_of(args.output),
    }
    facts_path = args.output.with_suffix(".json")
    facts_path.write_text(json.dumps(facts, indent=2) + "\n")
    print(f"Saved {args.output} ({facts['size_bytes']} bytes) and {facts_path}")


if __name__ == "__main__":
    main()
