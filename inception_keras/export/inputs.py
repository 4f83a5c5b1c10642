"""Check inputs: calibration images read from a folder, or deterministic random ones."""

from __future__ import annotations

import os

import numpy as np

from ..datasets import DataError, Preprocessing, decode_image, list_image_files, preprocess_for_eval


def load_images(folder, prep: Preprocessing, limit: int):
    """Read, decode and preprocess the first ``limit`` readable images under ``folder``.

    Returns (float32 [n, size, size, 3], encoded bytes list, file paths, skipped paths).
    Files TensorFlow cannot decode are skipped; a folder with none readable is an error.
    """
    import tensorflow as tf  # noqa: PLC0415

    images, encoded, used, skipped = [], [], [], []
    for path in list_image_files(folder):
        if len(used) >= limit:
            break
        with open(path, "rb") as f:
            data = f.read()
        try:
            image = preprocess_for_eval(decode_image(tf.constant(data)), prep)
        except (tf.errors.InvalidArgumentError, ValueError):
            skipped.append(path)
            continue
        images.append(image.numpy())
        encoded.append(data)
        used.append(path)
    if not used:
        raise DataError(f"none of the images in {os.fspath(folder)!r} could be decoded by TensorFlow "
                        f"({len(skipped)} tried); give JPEG, PNG, GIF or BMP files")
    return np.stack(images).astype("float32"), encoded, used, skipped


def random_inputs(count: int, shape, seed: int = 0) -> np.ndarray:
    """``count`` deterministic inputs uniform in [-1, 1] (the range of preprocessed images)."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (count, *shape)).astype("float32")


def random_encoded_images(count: int, size: int, seed: int = 0) -> list[bytes]:
    """``count`` deterministic JPEGs of assorted sizes (smooth colour ramps plus noise)."""
    import tensorflow as tf  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        h = int(size * rng.uniform(0.6, 1.6)) + i
        w = int(size * rng.uniform(0.6, 1.6)) + 2 * i
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = np.stack([xx / w, yy / h, (xx + yy) / (h + w)], axis=-1) * rng.uniform(80, 255, 3)
        pixels = np.clip(ramp + rng.normal(0, 25, (h, w, 3)), 0, 255).astype("uint8")
        out.append(tf.io.encode_jpeg(pixels, quality=90).numpy())
    return out
