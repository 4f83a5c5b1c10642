"""Constants and functions many tests share (fixtures stay in conftest.py)."""

import os

import keras

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


def randomize_batchnorm(model, rng):
    """Give every BatchNorm non-trivial moving statistics (they start at 0 and 1)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.2, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.1, n).astype("float32"))


def read_slim_vars(path):
    """``name<TAB>shape`` lines -> {name: shape tuple}."""
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                name, shape = line.rstrip("\n").split("\t")
                out[name] = tuple(int(d) for d in shape.split(",") if d)
    return out
