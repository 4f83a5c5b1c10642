"""Tiny random-weight classifiers and their exports (75x75, a few classes): ONNX, TFLite, SavedModel,
.keras, made once per test process and copied where a test wants them.

The runtimes, evaluate's --reference and the bad-input rows need real exported files, not an
Inception graph: a two-layer convnet exports in about a second per format, where the smallest
zoo graph takes half a minute."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile

import numpy as np

SIZE = 75
CLASSES = 5
LABELS = ["ant", "bee", "cat", "dog", "eel"]


def tiny_model(classes: int = CLASSES, seed: int = 0, activation: str | None = "softmax"):
    """A small convnet: conv, conv, global pool, dense, softmax (or logits with activation=None)."""
    import keras

    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input((SIZE, SIZE, 3), name="images")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(classes, activation=activation, name="Predictions")(x)
    return keras.Model(inputs, outputs, name=f"tiny{classes}_{seed}")


def tiny_classifier(classes: int = 3, seed: int = 0):
    """The zoo's own layer kinds (for the benchmark and the deploy report): conv + BatchNorm + ReLU, a concatenation, a scaled residual, pooling and a softmax head."""
    import keras

    from inception_keras.models import layers as zl

    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIZE, SIZE, 3), name="images")
    x = zl.conv_bn(inp, 8, "Conv2d_1a_3x3", strides=2, padding="valid")
    a = zl.conv_bn(x, 8, "Mixed__Branch_0__Conv2d_0a_1x1")
    b = zl.max_pool(x, "Mixed__Branch_1__MaxPool_0a_3x3", strides=1, padding="same")
    x = zl.concat([a, b], "Mixed")
    r = zl.conv_bn(x, 16, "Block__Conv2d_0a_3x3")
    x = zl.scaled_residual(x, r, 0.17, "Block")
    x = keras.layers.GlobalAveragePooling2D(name="AvgPool")(zl.avg_pool(x, "AvgPool_3x3"))
    return keras.Model(inp, keras.layers.Dense(classes, activation="softmax", name="Logits")(x), name="tiny")


def export_onnx(model, path, names, **kwargs) -> str:
    """``model`` exported to ONNX at ``path`` with class ``names`` (quickly: few check runs)."""
    from inception_keras.export import export_model

    export_model(model, path, "onnx", labels=list(names), latency_runs=1, check_samples=2, **kwargs)
    return os.fspath(path)


def class_folders(root, per_class: int = 2, seed: int = 1, names=LABELS) -> str:
    """A class-folder image set of random JPEGs (sizes vary), one folder per name."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in names:
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            h, w = int(rng.integers(70, 120)), int(rng.integers(70, 120))
            yy, xx = np.mgrid[0:h, 0:w]  # a colour ramp of its own per image, and noise: models tell them apart
            ramp = np.stack([xx / w, yy / h, 1 - xx / w], -1) * rng.uniform(0, 255, 3) + rng.uniform(0, 80, 3)
            pixels = np.clip(ramp + rng.normal(0, 20, (h, w, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(os.path.join(root, name, f"{i}.jpg"), quality=90)
    return str(root)


@functools.lru_cache(maxsize=None)
def _made(kind: str) -> str:
    """The path of one export, made on first use in a folder of this process."""
    from inception_keras.export import export_model

    root = _root()
    quick = dict(check_samples=2, latency_runs=1, overwrite=True)
    if kind in ("onnx", "tflite", "saved_model"):
        export_model(_source(), os.path.join(root, "tiny"), kind, labels=LABELS,
                     batch_size=None if kind == "onnx" else "auto", **quick)
        return os.path.join(root, {"onnx": "tiny.onnx", "tflite": "tiny.tflite", "saved_model": "tiny"}[kind])
    if kind == "keras":
        path = os.path.join(root, "tiny.keras")
        _source().save(path)
        return path
    if kind == "other_onnx":  # another random model, same classes
        export_model(tiny_model(seed=7), os.path.join(root, "other"), "onnx", labels=LABELS, **quick)
        return os.path.join(root, "other.onnx")
    if kind == "three_onnx":  # another number of classes
        export_model(tiny_model(classes=3, seed=3), os.path.join(root, "three"), "onnx", **quick)
        return os.path.join(root, "three.onnx")
    if kind == "int8_tflite":
        folder = class_folders(os.path.join(root, "calibration"), per_class=4, seed=5)
        export_model(_source(), os.path.join(root, "tiny_int8"), "tflite", quantize="int8", labels=LABELS,
                     calibration_data=folder, calibration_steps=20, **quick)
        return os.path.join(root, "tiny_int8.tflite")
    raise ValueError(kind)


@functools.lru_cache(maxsize=1)
def _root() -> str:
    return tempfile.mkdtemp(prefix="tiny-exports-")


@functools.lru_cache(maxsize=1)
def _source():
    return tiny_model()


def source_model():
    """The Keras model every ``tiny`` export was made from."""
    return _source()


def export_path(kind: str) -> str:
    """The shared export (do not modify it): onnx, tflite, saved_model, keras, other_onnx,
    three_onnx, int8_tflite."""
    return _made(kind)


def copy_export(kind: str, folder, name: str | None = None) -> str:
    """A copy of one export (with a TFLite labels file) in ``folder``; returns its path."""
    src = _made(kind)
    dst = os.path.join(folder, name or os.path.basename(src))
    if os.path.isdir(src):
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
    return dst


def several_signatures_tflite(path: str) -> str:
    """A .tflite file with two signatures (serving_default and another one)."""
    import tensorflow as tf

    class Two(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32)])
        def serving_default(self, images):
            return {"predictions": tf.nn.softmax(tf.reduce_mean(images, axis=[1, 2]))}

        @tf.function(input_signature=[tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32)])
        def other(self, images):
            return {"predictions": tf.reduce_max(images, axis=[1, 2])}

    module = Two()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.serving_default.get_concrete_function(), module.other.get_concrete_function()], module)
    with open(path, "wb") as f:
        f.write(converter.convert())
    return path


def foreign_onnx(path: str, shape=(None, 3, SIZE, SIZE), metadata: bool = False) -> str:
    """An ONNX model of another network: a global average pool over ``shape`` (NCHW by default)."""
    import onnx
    from onnx import TensorProto, helper

    channels_first = shape[1] == 3
    axes = [2, 3] if channels_first else [1, 2]
    node = helper.make_node("ReduceMean", ["images"], ["predictions"], keepdims=0, axes=axes)
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [shape[0], 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path
