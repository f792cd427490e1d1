"""Build the Keras 2 (tf_keras) model that the tests of per-layer selection use.

Writes packages/examples/fixtures/layer-mix.h5, a functional model on 8x8x2 inputs:
  conv      Conv2D 4 3x3                     (kernel 72 weights)
  depthwise DepthwiseConv2D 3x3              (depthwise_kernel 36 weights)
  bn        BatchNormalization
  separable SeparableConv2D 4 3x3            (depthwise_kernel 36, pointwise_kernel 16)
  reshape   Reshape to 4 time steps of 4
  td_dense  TimeDistributed(Dense 6)         (kernel 24 weights)
  flatten   Flatten
  head      Sequential: head_dense Dense 8 (kernel 192), head_out Dense 3 (kernel 24)
  tiny      Dense 2                          (kernel 6 weights, fewer than 8 clusters)
It is saved without a training config, so the pipeline clusters it data-free. The
weights are seeded and then nudged away from their initial values, so that no weight
tensor is all zeros.

Usage: .venv/bin/python packages/examples/python/make_layer_fixtures.py
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tf_keras as keras

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"
SEED = 11


def build_layer_mix() -> keras.Model:
    layers = keras.layers
    initializer = keras.initializers.GlorotUniform(seed=SEED)
    inputs = keras.Input((8, 8, 2), name="pixels")
    x = layers.Conv2D(4, 3, name="conv", kernel_initializer=initializer)(inputs)
    x = layers.DepthwiseConv2D(3, name="depthwise", depthwise_initializer=initializer)(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.SeparableConv2D(
        4, 3, name="separable", depthwise_initializer=initializer, pointwise_initializer=initializer
    )(x)
    x = layers.Reshape((4, 4), name="reshape")(x)
    x = layers.TimeDistributed(layers.Dense(6, kernel_initializer=initializer), name="td_dense")(x)
    x = layers.Flatten(name="flatten")(x)
    head = keras.Sequential(
        [
            keras.Input((24,)),
            layers.Dense(8, activation="relu", name="head_dense", kernel_initializer=initializer),
            layers.Dense(3, name="head_out", kernel_initializer=initializer),
        ],
        name="head",
    )
    x = head(x)
    outputs = layers.Dense(2, activation="softmax", name="tiny", kernel_initializer=initializer)(x)
    model = keras.Model(inputs, outputs, name="layer_mix")

    # Nonzero biases and normalization statistics, so that a bias that should stay
    # untouched is told apart from one that was cleared.
    random = np.random.default_rng(SEED)
    model.set_weights([w + random.uniform(0.01, 0.1, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def main() -> None:
    keras.utils.set_random_seed(SEED)
    model = build_layer_mix()
    path = FIXTURES_DIR / "layer-mix.h5"
    model.save(path)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
