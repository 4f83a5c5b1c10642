"""A small fine-tuned-style preset (Inception-v4 at 75x75, 3 named classes) and photos of odd
sizes in several formats, for the ImageClassifier tests."""

from __future__ import annotations

import io

import keras
import numpy as np
from PIL import Image

import inception_keras

SIZE = 75
CLASSES = ("cat", "dog", "fox")
# (height, width, format): odd sizes, TensorFlow's formats and one only Pillow reads (TIFF)
PHOTOS = ((90, 120, "JPEG"), (200, 81, "PNG"), (77, 301, "BMP"), (75, 75, "PNG"), (101, 99, "TIFF"))


def small_network(seed: int = 0):
    """Inception-v4, 75x75, 3 classes, whose outputs depend on the image.

    With the default initialisation every image gets nearly the same features (the signal
    fades through 150 layers), so the convolutions get He-normal kernels and BatchNorm mild
    random statistics, and the head is fitted to the features' deviations from their mean over a
    probe of random images, scaled to logits of about 3."""
    rng = np.random.default_rng(seed)
    model = inception_keras.create_model("inception_v4", classes=len(CLASSES), input_shape=(SIZE, SIZE, 3))
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            shape = tuple(layer.kernel.shape)
            layer.kernel.assign(rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape).astype("float32"))
        elif isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.05, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.8, 1.2, n).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.05, n).astype("float32"))
    pooled = keras.Model(model.input, model.get_layer("Logits__AvgPool_1a").output)
    probe = np.stack([smooth_image(rng, SIZE, SIZE) for _ in range(8)]).astype("float32") / 127.5 - 1.0
    features = keras.ops.convert_to_numpy(pooled(probe, training=False))
    mean, spread = features.mean(axis=0), features.std(axis=0).mean()
    kernel = rng.normal(0.0, 3.0 / (np.sqrt(features.shape[1]) * spread), (features.shape[1], len(CLASSES)))
    kernel = kernel.astype("float32")
    model.get_layer("Logits__Logits").set_weights([kernel, (-mean @ kernel).astype("float32")])
    return model


def smooth_image(rng, height: int, width: int) -> np.ndarray:
    """uint8 HxWx3: a random colour gradient plus noise (JPEG-friendly, yet every image differs)."""
    y, x = np.mgrid[0:height, 0:width].astype("float32")
    base = rng.uniform(0, 255, 3) + rng.uniform(-1, 1, 3) * (x[..., None] / width * 120 + y[..., None] / height * 80)
    return np.clip(base + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)


def write_photos(folder, seed: int = 1) -> list[str]:
    """One file per PHOTOS entry; returns their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, (height, width, fmt) in enumerate(PHOTOS):
        path = folder / f"photo{i}.{fmt.lower()}"
        Image.fromarray(smooth_image(rng, height, width)).save(path, fmt)
        paths.append(str(path))
    return paths


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def outputs(model, x, batch_size: int = 32) -> np.ndarray:
    """The model's outputs for ``x``, computed in the same batches as ``predict(batch_size=...)``
    (another batch size may change the last bits: the kernels depend on the batch's shape)."""
    return np.concatenate([keras.ops.convert_to_numpy(model(x[i : i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])
