"""Build small Keras 2 and Keras 3 models and save each in every format its Keras writes.

Writes to packages/examples/fixtures/formats/:
  keras2/KIND.h5                 tf_keras 2.18, HDF5, training config without optimizer
                                 state (KIND with-optimizer keeps the state)
  keras2/KIND.tfjs/model.json    the same model converted by the tensorflowjs package to
                                 the TF.js layers format (model.json and weight shards)
  keras3/KIND.h5                 Keras 3, HDF5, like keras2/KIND.h5
  keras3/KIND.keras              Keras 3 archive, which always carries the optimizer state
  keras3/KIND.tfjs/model.json    the Keras 3 model converted by tensorflowjs; its topology
                                 keeps the Keras 3 config (batch_shape, DTypePolicy objects)
  kerasN/KIND.predictions.json   inputs and outputs on fixed inputs, as float32 values
  manifest.json                  every file with its Keras version, format, model kind,
                                 input shape and dtype and its predictions file, plus the
                                 model and format pairs that could not be written and why

Every model is compiled, so its files carry a training config, and trained for one step
on random data. The recorded outputs come from the in-memory model, and the script
checks that every file it wrote reloads in the same Keras to outputs within 1e-6 of them.

Keras 3 rejects "/" in layer names, so the slash-names model exists only for Keras 2.
The TF.js files need the tensorflowjs 4.22 package, whose dependencies would replace the
TensorFlow of .venv, so it lives in a second environment that reuses .venv's packages:
  python3.11 -m venv .data/tfjs-venv
  .venv/bin/python -c "import site; print(site.getsitepackages()[0])" \
      > .data/tfjs-venv/lib/python3.11/site-packages/centroid-venv.pth
  .data/tfjs-venv/bin/pip install --no-deps tensorflowjs==4.22.0 tensorflow_hub==0.16.1 \
      tensorflow_decision_forests==1.11.0 ydf==0.9.0 jax==0.4.30 jaxlib==0.4.30 \
      scipy==1.13.1 pandas==2.2.3 python-dateutil pytz tzdata wurlitzer
Run with that environment's Python to write the TF.js files too:
  .data/tfjs-venv/bin/python packages/examples/python/make_format_fixtures.py
With .venv/bin/python the TF.js files are left out and the manifest says so.
"""

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from training_config import save_without_optimizer_state  # noqa: E402

try:
    import tensorflowjs
except ImportError as error:
    tensorflowjs = None
    TFJS_MISSING_REASON = f"the tensorflowjs package could not be imported ({error})"

FORMATS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "formats"
SEED = 11
SAMPLES = 4
MAX_FILE_BYTES = 300_000
MAX_TOTAL_BYTES = 5_000_000
RELOAD_TOLERANCE = 1e-6
VOCABULARY = 20


def build_branches(k):
    """Functional model with a residual Add and a Concatenate of two branches."""
    inputs = k.Input((6,), name="features")
    hidden = k.layers.Dense(6, activation="relu", name="hidden")(inputs)
    residual = k.layers.Add(name="residual")([inputs, hidden])
    left = k.layers.Dense(4, activation="tanh", name="left")(residual)
    right = k.layers.Dense(3, name="right")(residual)
    merged = k.layers.Concatenate(name="merged")([left, right])
    outputs = k.layers.Dense(2, name="head")(merged)
    return k.Model(inputs, outputs, name="branches"), "mse"


def build_nested_sequential(k):
    """Functional model that calls a Sequential model as one of its layers."""
    inner = k.Sequential(
        [k.Input((5,)), k.layers.Dense(8, activation="relu", name="inner_dense"), k.layers.Dense(4, name="inner_out")],
        name="inner",
    )
    inputs = k.Input((5,), name="features")
    hidden = inner(inputs)
    outputs = k.layers.Dense(3, activation="softmax", name="head")(hidden)
    return k.Model(inputs, outputs, name="nested_sequential"), "categorical_crossentropy"


def build_batch_norm(k):
    """Dense, BatchNormalization and ReLU, so the file contains moving mean and variance."""
    return (
        k.Sequential(
            [
                k.Input((6,)),
                k.layers.Dense(8, name="dense_a"),
                k.layers.BatchNormalization(name="norm"),
                k.layers.Activation("relu", name="relu"),
                k.layers.Dense(2, name="dense_b"),
            ],
            name="batch_norm",
        ),
        "mse",
    )


def build_slash_names(k):
    """Layer names that contain "/", which tf_keras stores as nested HDF5 groups."""
    inputs = k.Input((4,), name="features")
    hidden = k.layers.Dense(5, activation="relu", name="block/dense")(inputs)
    outputs = k.layers.Dense(2, name="block/head")(hidden)
    return k.Model(inputs, outputs, name="slash_names"), "mse"


def build_auto_named(k):
    """Layers with Keras' automatic names (dense, dense_1, ...)."""
    inputs = k.Input((4,))
    hidden = k.layers.Dense(6, activation="relu")(inputs)
    outputs = k.layers.Dense(2)(hidden)
    return k.Model(inputs, outputs), "mse"


def build_built_twice(k):
    """The same auto-named model built a second time, so its names carry higher suffixes."""
    build_auto_named(k)
    return build_auto_named(k)


def build_with_optimizer(k):
    """Small MLP saved with its Adam state (see SAVED_WITH_OPTIMIZER)."""
    return (
        k.Sequential(
            [k.Input((5,)), k.layers.Dense(7, activation="relu", name="dense_a"), k.layers.Dense(3, name="dense_b")],
            name="with_optimizer",
        ),
        "mse",
    )


def build_no_weights(k):
    """Reshape and Activation only: a model without a single weight."""
    return (
        k.Sequential([k.Input((6,)), k.layers.Reshape((2, 3), name="reshape"), k.layers.Activation("tanh", name="tanh")], name="no_weights"),
        "mse",
    )


def build_embedding_conv1d(k):
    """Token ids into Embedding, Conv1D and global max pooling."""
    return (
        k.Sequential(
            [
                k.Input((10,), dtype="int32"),
                k.layers.Embedding(VOCABULARY, 6, name="embedding"),
                k.layers.Conv1D(5, 3, activation="relu", name="conv1d"),
                k.layers.GlobalMaxPooling1D(name="pool"),
                k.layers.Dense(3, activation="softmax", name="head"),
            ],
            name="embedding_conv1d",
        ),
        "categorical_crossentropy",
    )


def build_lstm(k):
    return k.Sequential([k.Input((5, 3)), k.layers.LSTM(6, name="lstm"), k.layers.Dense(2, name="head")], name="lstm"), "mse"


def build_gru(k):
    """GRU with Keras' defaults, reset_after=True among them."""
    return k.Sequential([k.Input((5, 3)), k.layers.GRU(6, name="gru"), k.layers.Dense(2, name="head")], name="gru"), "mse"


def build_gru_reset_before(k):
    return (
        k.Sequential([k.Input((5, 3)), k.layers.GRU(6, reset_after=False, name="gru"), k.layers.Dense(2, name="head")], name="gru_reset_before"),
        "mse",
    )


def build_bidirectional_lstm(k):
    return (
        k.Sequential(
            [k.Input((5, 3)), k.layers.Bidirectional(k.layers.LSTM(4), name="bidirectional"), k.layers.Dense(2, name="head")],
            name="bidirectional_lstm",
        ),
        "mse",
    )


def build_mobilenet_block(k):
    """Depthwise 3x3, BatchNorm, ReLU6, pointwise 1x1, BatchNorm, ReLU6, as in MobileNet."""
    return (
        k.Sequential(
            [
                k.Input((8, 8, 4)),
                k.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="depthwise"),
                k.layers.BatchNormalization(name="depthwise_norm"),
                k.layers.ReLU(6.0, name="depthwise_relu6"),
                k.layers.Conv2D(8, 1, use_bias=False, name="pointwise"),
                k.layers.BatchNormalization(name="pointwise_norm"),
                k.layers.ReLU(6.0, name="pointwise_relu6"),
                k.layers.GlobalAveragePooling2D(name="pool"),
                k.layers.Dense(3, activation="softmax", name="head"),
            ],
            name="mobilenet_block",
        ),
        "categorical_crossentropy",
    )


def build_time_distributed(k):
    return (
        k.Sequential(
            [k.Input((4, 3)), k.layers.TimeDistributed(k.layers.Dense(5, activation="relu"), name="time_distributed"), k.layers.Flatten(name="flatten"), k.layers.Dense(2, name="head")],
            name="time_distributed",
        ),
        "mse",
    )


def build_float16(k):
    """Every layer computes and stores its weights in float16."""
    return (
        k.Sequential(
            [
                k.Input((6,), dtype="float16"),
                k.layers.Dense(8, activation="relu", dtype="float16", name="dense_a"),
                k.layers.Dense(3, dtype="float16", name="dense_b"),
            ],
            name="float16",
        ),
        "mse",
    )


MODELS = {
    "branches": build_branches,
    "nested-sequential": build_nested_sequential,
    "batch-norm": build_batch_norm,
    "slash-names": build_slash_names,
    "built-twice": build_built_twice,
    "with-optimizer": build_with_optimizer,
    "no-weights": build_no_weights,
    "embedding-conv1d": build_embedding_conv1d,
    "lstm": build_lstm,
    "gru": build_gru,
    "gru-reset-before": build_gru_reset_before,
    "bidirectional-lstm": build_bidirectional_lstm,
    "mobilenet-block": build_mobilenet_block,
    "time-distributed": build_time_distributed,
    "float16": build_float16,
}
SAVED_WITH_OPTIMIZER = {"with-optimizer"}


def make_optimizer(k, kind: str):
    """Return Adam, or SGD for the float16 model.

    Adam's second moment of small gradients underflows to 0 in float16 without loss
    scaling, so one Adam step moved float16 kernels to values near 10.
    """
    if kind == "float16":
        return k.optimizers.SGD(0.01)
    return k.optimizers.Adam(0.01)


def input_dtype(model) -> np.dtype:
    """Return the NumPy dtype of the model's input; tf_keras gives a tf.DType, Keras 3 a string."""
    dtype = model.inputs[0].dtype
    return np.dtype(getattr(dtype, "as_numpy_dtype", dtype))


def input_batch(model, rng: np.random.Generator, count: int) -> np.ndarray:
    """Draw `count` inputs that fit the model: token ids for int inputs, normal values otherwise."""
    shape = (count, *model.inputs[0].shape[1:])
    dtype = input_dtype(model)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, VOCABULARY, size=shape).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


def target_batch(model, loss: str, rng: np.random.Generator, count: int) -> np.ndarray:
    shape = (count, *model.outputs[0].shape[1:])
    if loss == "categorical_crossentropy":
        classes = shape[-1]
        return np.eye(classes, dtype=np.float32)[rng.integers(0, classes, size=count)]
    return rng.normal(size=shape).astype(np.float32)


def to_list(array) -> list:
    """Convert values to JSON numbers that parse back to the same float32."""
    return np.asarray(array, dtype=np.float32).astype(np.float64).tolist()


def save_tfjs(kind: str, model, folder: Path) -> list[tuple[str, Path]]:
    """Convert the model to the TF.js layers format, when the tensorflowjs package is there."""
    if tensorflowjs is None:
        return []
    tfjs_folder = folder / f"{kind}.tfjs"
    shutil.rmtree(tfjs_folder, ignore_errors=True)
    tensorflowjs.converters.save_keras_model(model, str(tfjs_folder))
    return [("tfjs_layers", tfjs_folder / "model.json")]


def save_keras2(kind: str, model, folder: Path) -> list[tuple[str, Path]]:
    h5_path = folder / f"{kind}.h5"
    if kind in SAVED_WITH_OPTIMIZER:
        model.save(h5_path, include_optimizer=True, save_format="h5")
    else:
        save_without_optimizer_state(model, h5_path)
    return [("h5", h5_path), *save_tfjs(kind, model, folder)]


def save_keras3(kind: str, model, folder: Path) -> list[tuple[str, Path]]:
    h5_path = folder / f"{kind}.h5"
    archive_path = folder / f"{kind}.keras"
    if kind in SAVED_WITH_OPTIMIZER:
        model.save(h5_path)
    else:
        save_keras3_h5_without_optimizer_state(model, h5_path)
    model.save(archive_path)
    return [("h5", h5_path), ("keras", archive_path), *save_tfjs(kind, model, folder)]


def save_keras3_h5_without_optimizer_state(model, path: Path) -> None:
    """Save a Keras 3 model as HDF5 with its training_config and no optimizer_weights.

    Keras 3.15, like tf_keras, writes training_config only together with the optimizer
    state, so this copies the attribute from a save with the optimizer.
    """
    import h5py

    with_optimizer = path.with_suffix(".with-optimizer.h5")
    model.save(with_optimizer)
    with h5py.File(with_optimizer, "r") as source:
        training_config = source.attrs["training_config"]
    with_optimizer.unlink()

    model.save(path, include_optimizer=False)
    with h5py.File(path, "r+") as target:
        target.attrs["training_config"] = training_config


def reload(keras_major: int, file_format: str, path: Path):
    if file_format == "tfjs_layers":
        # The tensorflowjs loader builds the model with tf_keras, whatever Keras wrote it.
        return tensorflowjs.converters.load_keras_model(str(path))
    if keras_major == 2:
        return tf_keras.models.load_model(path, compile=False)
    return keras.models.load_model(path, compile=False)


def check_reloaded(keras_major: int, file_format: str, path: Path, inputs: np.ndarray, expected: np.ndarray) -> str | None:
    """Reload a written file and compare its outputs; return why it could not be reloaded, or None."""
    try:
        reloaded = reload(keras_major, file_format, path)
    except Exception as error:  # noqa: BLE001 - any loader failure is recorded, not fatal
        if file_format != "tfjs_layers" or keras_major != 3:
            raise
        return f"tensorflowjs {tensorflowjs.__version__} could not load it: {type(error).__name__}: {str(error).splitlines()[0]}"

    outputs = np.asarray(reloaded.predict(inputs, verbose=0), dtype=np.float32)
    difference = float(np.max(np.abs(outputs - expected)))
    if difference > RELOAD_TOLERANCE:
        raise RuntimeError(f"{path} reloads to outputs {difference} away from the saved model's; expected at most {RELOAD_TOLERANCE}")
    return None


def make_fixture(keras_major: int, kind: str, rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
    """Build, train, save and check one model; return its manifest entries and the formats left out."""
    k = tf_keras if keras_major == 2 else keras
    folder = FORMATS_DIR / f"keras{keras_major}"
    try:
        model, loss = MODELS[kind](k)
    except ValueError as error:
        return [], [{"keras": keras_major, "model": kind, "format": "all", "reason": str(error)}]

    model.compile(optimizer=make_optimizer(k, kind), loss=loss)
    model.train_on_batch(input_batch(model, rng, 8), target_batch(model, loss, rng, 8))
    inputs = input_batch(model, rng, SAMPLES)
    outputs = np.asarray(model.predict(inputs, verbose=0), dtype=np.float32)

    saved = save_keras2(kind, model, folder) if keras_major == 2 else save_keras3(kind, model, folder)
    predictions_path = folder / f"{kind}.predictions.json"
    predictions_path.write_text(
        json.dumps({"model": kind, "keras_version": k.__version__, "inputs": to_list(inputs), "outputs": to_list(outputs)}) + "\n"
    )

    entries = []
    for file_format, path in saved:
        reload_failure = check_reloaded(keras_major, file_format, path, inputs, outputs)
        entries.append(
            {
                "file": path.relative_to(FORMATS_DIR).as_posix(),
                "keras": keras_major,
                "keras_version": k.__version__,
                "format": file_format,
                "model": kind,
                "input_shape": [None, *model.inputs[0].shape[1:]],
                "input_dtype": input_dtype(model).name,
                "optimizer_state": file_format == "keras" or kind in SAVED_WITH_OPTIMIZER,
                "predictions": predictions_path.relative_to(FORMATS_DIR).as_posix(),
                "reload_failure": reload_failure,
            }
        )

    left_out = []
    if tensorflowjs is None:
        left_out.append({"keras": keras_major, "model": kind, "format": "tfjs_layers", "reason": TFJS_MISSING_REASON})
    return entries, left_out


def check_sizes() -> None:
    total = 0
    for path in sorted(FORMATS_DIR.rglob("*")):
        if not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        if size > MAX_FILE_BYTES:
            raise RuntimeError(f"{path} is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for one fixture file")
    if total > MAX_TOTAL_BYTES:
        raise RuntimeError(f"{FORMATS_DIR} contains {total} bytes, over the {MAX_TOTAL_BYTES}-byte limit")
    print(f"{FORMATS_DIR}: {total} bytes in all")


def main() -> None:
    # README.md stays; everything this script writes is rewritten.
    for keras_major in (2, 3):
        shutil.rmtree(FORMATS_DIR / f"keras{keras_major}", ignore_errors=True)
        (FORMATS_DIR / f"keras{keras_major}").mkdir(parents=True)

    entries: list[dict] = []
    left_out: list[dict] = []
    for keras_major in (2, 3):
        keras.utils.set_random_seed(SEED)
        tf_keras.utils.set_random_seed(SEED)
        rng = np.random.default_rng(SEED + keras_major)
        for kind in MODELS:
            written, missing = make_fixture(keras_major, kind, rng)
            entries.extend(written)
            left_out.extend(missing)
            print(f"keras {keras_major} {kind}: {', '.join(entry['format'] for entry in written) or 'not written'}", file=sys.stderr)

    manifest = {
        "tensorflow_version": tf.__version__,
        "tf_keras_version": tf_keras.__version__,
        "keras_version": keras.__version__,
        "tensorflowjs_version": None if tensorflowjs is None else tensorflowjs.__version__,
        "fixtures": entries,
        "not_written": left_out,
    }
    (FORMATS_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    check_sizes()


if __name__ == "__main__":
    main()
