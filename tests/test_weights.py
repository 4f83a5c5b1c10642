"""Numerical parity with keras.applications, saving and loading, and the JAX backend."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import inception_keras
from conftest import randomize_batchnorm

SIZE = (75, 75, 3)


def _x(n=2, shape=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype("float32")


def _np(y):
    if isinstance(y, (list, tuple)):
        return [keras.ops.convert_to_numpy(t) for t in y]
    return keras.ops.convert_to_numpy(y)


def test_parity_with_keras_applications(rng):
    """variant='slim' computes exactly what keras.applications.InceptionResNetV2 computes."""
    reference = keras.applications.InceptionResNetV2(weights=None, input_shape=SIZE, classifier_activation=None)
    randomize_batchnorm(reference, rng)
    ours = inception_keras.create_inception_resnet_v2(variant="slim", input_shape=SIZE, classifier_activation=None)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in reference.weights]
    ours.set_weights(reference.get_weights())
    x = _x()
    expected, got = _np(reference(x, training=False)), _np(ours(x, training=False))
    assert np.std(expected) > 1e-3  # random moving statistics make the logits non-trivial
    assert np.max(np.abs(expected - got)) <= 1e-5


@pytest.fixture(scope="module")
def trained_like():
    """A small IR-v1 with 10 classes and non-trivial BatchNorm statistics (every residual kind in it)."""
    model = inception_keras.create_inception_resnet_v1(input_shape=SIZE, classes=10)
    randomize_batchnorm(model, np.random.default_rng(3))
    return model


def test_keras_file_round_trip_without_custom_objects(trained_like, tmp_path):
    path = tmp_path / "model.keras"
    trained_like.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: standard layers only
    x = _x()
    np.testing.assert_array_equal(_np(loaded(x, training=False)), _np(trained_like(x, training=False)))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in trained_like.layers]


def test_weights_file_round_trip_through_the_constructor(trained_like, tmp_path):
    path = tmp_path / "irv1.weights.h5"
    trained_like.save_weights(path)
    loaded = inception_keras.create_inception_resnet_v1(input_shape=SIZE, classes=10, weights=str(path))
    x = _x()
    np.testing.assert_array_equal(_np(loaded(x, training=False)), _np(trained_like(x, training=False)))


def test_legacy_h5_weights_load(trained_like, tmp_path):
    path = tmp_path / "irv1.h5"
    trained_like.save(path)  # the Keras 2 era whole-model HDF5 format
    loaded = inception_keras.create_inception_resnet_v1(input_shape=SIZE, classes=10, weights=path)
    x = _x()
    np.testing.assert_array_equal(_np(loaded(x, training=False)), _np(trained_like(x, training=False)))


def test_weights_with_mismatching_classes_or_head(trained_like, tmp_path):
    path = tmp_path / "irv1.weights.h5"
    trained_like.save_weights(path)
    with pytest.raises(ValueError, match=r"10 classes but the model was built with classes=1000; pass classes=10"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, weights=path)
    with pytest.raises(ValueError, match="built without one; build it with include_top=True"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, include_top=False, weights=path)
    with pytest.raises(ValueError, match="different architecture"):
        inception_keras.create_inception_resnet_v2(input_shape=SIZE, classes=10, weights=path)


def test_weights_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, weights=tmp_path / "missing.weights.h5")
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, weights=junk)
    other = tmp_path / "weights.npz"  # neither a Keras file nor a checkpoint
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="not a Keras weights file"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, weights=other)
    with pytest.raises(ValueError, match="not a readable TensorFlow checkpoint"):
        inception_keras.create_inception_v4(input_shape=SIZE, weights=other)


JAX_SCRIPT = r"""
import json, sys
import numpy as np
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
import inception_keras
weights, x_path, y_path = sys.argv[1:4]
model = inception_keras.create_inception_resnet_v2(variant="slim", input_shape=(75, 75, 3), classes=10,
                                                   classifier_activation=None, weights=weights)
x = np.load(x_path)
y = np.asarray(model(x, training=False))
print(json.dumps({"shape": list(y.shape), "max_abs_diff": float(np.max(np.abs(y - np.load(y_path))))}))
"""


@pytest.mark.slow
def test_inception_resnet_v2_under_jax(tmp_path):
    """Build and run Inception-ResNet-v2 with KERAS_BACKEND=jax on weights saved from TensorFlow."""
    model = inception_keras.create_inception_resnet_v2(variant="slim", input_shape=SIZE, classes=10,
                                                       classifier_activation=None)
    randomize_batchnorm(model, np.random.default_rng(5))
    x = _x()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", _np(model(x, training=False)))
    model.save_weights(tmp_path / "w.weights.h5")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, str(tmp_path / "w.weights.h5"), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shape"] == [2, 10]
    assert result["max_abs_diff"] < 1e-4
