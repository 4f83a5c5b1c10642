"""Shared fixtures. Models are expensive to build (1-2 s each on 2 cores), so every
test asks the session-wide ``zoo`` cache for them instead of building its own."""

import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests never reach the real Hugging Face Hub or Kaggle, nor read the user's caches:
# huggingface_hub reads these when it is imported (the hub tests patch its constants).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = os.path.join(tempfile.mkdtemp(prefix="inception_keras_hf_"), "hf")
os.environ["KAGGLEHUB_CACHE"] = os.path.join(tempfile.mkdtemp(prefix="inception_keras_kaggle_"), "kaggle")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import inception_keras  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")


class Zoo:
    """Builds each (model name, constructor arguments) once per test session."""

    def __init__(self):
        self._models = {}

    def get(self, name, **kwargs):
        key = (name, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key not in self._models:
            self._models[key] = inception_keras.create_model(name, **kwargs)
        return self._models[key]


@pytest.fixture(scope="session")
def zoo():
    return Zoo()


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


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
