"""Build the small Keras 2 (tf_keras) models and dataset that the tests use.

Writes to packages/examples/fixtures/:
  dense-mlp.h5      Input(8) -> Dense 16 relu -> Dense 3 softmax; Adam,
                    sparse_categorical_crossentropy; trained one step on random data and
                    saved WITH optimizer state, so readers meet an optimizer_weights group.
  tiny-cnn.h5       Input(8,8,1) -> Conv2D 4 3x3 relu -> MaxPooling2D 2 -> Flatten ->
                    Dense 5 softmax; Adam, categorical_crossentropy; trained on
                    tiny-cnn.npz and saved without optimizer state but with its training config.
  tiny-cnn.npz      x_train float32 (64,8,8,1), y_train int64 (64,), x_test float32
                    (32,8,8,1), y_test int64 (32,). Labels are class indices 0 to 4, so
                    the pipeline must one-hot encode them for categorical_crossentropy.
                    Inputs are already in [0, 1] (input_scale 1).
  predictions.json  each model's float32 outputs on fixed inputs, the inputs themselves,
                    and tiny-cnn's test loss and accuracy as Keras evaluates them.

Seeds are fixed, so reruns with the same versions reproduce the files' weights.
Usage: .venv/bin/python packages/examples/python/make_fixtures.py
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tf_keras as keras
from training_config import save_without_optimizer_state

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"
SEED = 7
MAX_FIXTURE_BYTES = 100_000
TINY_CNN_CLASSES = 5
# Top-left corners of the bright 3x3 patch that marks each class of the tiny dataset.
PATCH_CORNERS = [(0, 0), (0, 5), (5, 0), (5, 5), (2, 2)]


def build_dense_mlp() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ],
        name="dense_mlp",
    )
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_tiny_cnn() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(4, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(TINY_CNN_CLASSES, activation="softmax"),
        ],
        name="tiny_cnn",
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def make_tiny_dataset(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Return noisy 8x8 images whose class is the position of a bright 3x3 patch."""
    labels = rng.integers(0, TINY_CNN_CLASSES, size=count).astype(np.int64)
    images = rng.uniform(0.0, 0.3, size=(count, 8, 8, 1)).astype(np.float32)
    for image, label in zip(images, labels):
        row, column = PATCH_CORNERS[label]
        image[row : row + 3, column : column + 3, 0] += np.float32(0.7)
    return images, labels


def to_list(array: np.ndarray) -> list:
    """Convert float32 values to JSON numbers that parse back to the same float32."""
    return np.asarray(array, dtype=np.float32).astype(np.float64).tolist()


def main() -> None:
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(SEED)
    FIXTURES_DIR.mkdir(parents=True, exist_ok=True)

    dense_mlp = build_dense_mlp()
    mlp_x = rng.normal(size=(16, 8)).astype(np.float32)
    mlp_y = rng.integers(0, 3, size=16).astype(np.int64)
    dense_mlp.train_on_batch(mlp_x, mlp_y)
    dense_mlp.save(FIXTURES_DIR / "dense-mlp.h5", include_optimizer=True, save_format="h5")

    x_train, y_train = make_tiny_dataset(rng, 64)
    x_test, y_test = make_tiny_dataset(rng, 32)
    np.savez(FIXTURES_DIR / "tiny-cnn.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)

    tiny_cnn = build_tiny_cnn()
    tiny_cnn.fit(
        x_train,
        keras.utils.to_categorical(y_train, TINY_CNN_CLASSES),
        batch_size=16,
        epochs=30,
        verbose=0,
    )
    test_loss, test_accuracy = tiny_cnn.evaluate(
        x_test, keras.utils.to_categorical(y_test, TINY_CNN_CLASSES), batch_size=32, verbose=0
    )
    save_without_optimizer_state(tiny_cnn, FIXTURES_DIR / "tiny-cnn.h5")

    # Predictions come from the reloaded files, so they match what any loader of the files must compute.
    mlp_inputs = mlp_x[:4]
    cnn_inputs = x_test[:8]
    reloaded_mlp = keras.models.load_model(FIXTURES_DIR / "dense-mlp.h5", compile=False)
    reloaded_cnn = keras.models.load_model(FIXTURES_DIR / "tiny-cnn.h5", compile=False)
    predictions = {
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "dense-mlp.h5": {
            "inputs": to_list(mlp_inputs),
            "outputs": to_list(reloaded_mlp.predict(mlp_inputs, verbose=0)),
        },
        "tiny-cnn.h5": {
            "inputs_from": "tiny-cnn.npz x_test[:8], input_scale 1",
            "inputs": to_list(cnn_inputs),
            "outputs": to_list(reloaded_cnn.predict(cnn_inputs, verbose=0)),
            "test_loss": float(test_loss),
            "test_accuracy": float(test_accuracy),
        },
    }
    (FIXTURES_DIR / "predictions.json").write_text(json.dumps(predictions, indent=1) + "\n")

    for path in sorted(FIXTURES_DIR.iterdir()):
        size = path.stat().st_size
        print(f"{path.name}: {size} bytes")
        if size > MAX_FIXTURE_BYTES:
            raise RuntimeError(f"{path} is {size} bytes, over the {MAX_FIXTURE_BYTES}-byte limit for fixtures")
    print(f"tiny-cnn test loss {test_loss:.4f}, accuracy {test_accuracy:.4f}")


if __name__ == "__main__":
    main()
