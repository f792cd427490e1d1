"""Save a compiled Keras 2 model as HDF5 without optimizer state but with its training config.

tf_keras writes the `training_config` attribute (loss, metrics, optimizer config) only
when it also writes the optimizer's state. Without that attribute a reader cannot know
the loss and metrics the model was compiled with, so Centroid could not evaluate it.
This saves the model twice: once with the optimizer, only to take the attribute that
Keras itself wrote, and once without, then copies the attribute across.
"""

import tempfile
from pathlib import Path

import h5py


def save_without_optimizer_state(model, path: Path) -> None:
    """Save `model` as HDF5 at `path` with Keras' training_config and no optimizer_weights."""
    with tempfile.TemporaryDirectory() as scratch:
        with_optimizer = Path(scratch) / "with-optimizer.h5"
        model.save(with_optimizer, include_optimizer=True, save_format="h5")
        with h5py.File(with_optimizer, "r") as source:
            training_config = source.attrs["training_config"]

    model.save(path, include_optimizer=False, save_format="h5")
    with h5py.File(path, "r+") as target:
        target.attrs["training_config"] = training_config
