"""Small models and their exports for the side-by-side benchmark and the deploy report.

A few of the zoo's layer kinds at the minimum input size (75x75), so that an ONNX export,
fp32 or int8, takes seconds; and class folders of generated JPEGs to read them with.
"""

from __future__ import annotations

import os

import numpy as np

SIZE = 75


def tiny_classifier(classes: int = 3, seed: int = 0):
    """conv + BatchNorm + ReLU, a concatenation, a scaled residual, pooling and a softmax head."""
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


def write_class_folders(root, names=("cat", "dog", "eel"), per_class: int = 3, seed: int = 0) -> str:
    """``root/<name>/<i>.jpg``: coloured ramps with noise, of random sizes around the input size."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in names:
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            h, w = (int(v) for v in rng.integers(70, 140, 2))
            yy, xx = np.mgrid[0:h, 0:w]
            ramp = np.stack([xx / w, yy / h, (xx * yy) / (h * w)], -1) * rng.uniform(60, 255, 3)
            pixels = np.clip(ramp + rng.normal(0, 30, (h, w, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(os.path.join(root, name, f"{i}.jpg"), quality=92)
    return os.fspath(root)


def export_onnx(model, path, names, **kwargs) -> str:
    """``model`` exported to ONNX at ``path`` with class ``names`` (quickly: few check runs)."""
    from inception_keras.export import export_model

    export_model(model, path, "onnx", labels=list(names), latency_runs=1, check_samples=2, **kwargs)
    return os.fspath(path)
