"""Check inputs: calibration images read from a folder, or deterministic random ones."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from ..data.datasets import DataError, list_image_files
from ..data.preprocessing import Preprocessing, preprocess_for_eval
from ..data.images import ImageTooLarge, check_size, decode_image, unreadable_reason


def select_per_class(folder, per_class: int):
    """The first ``per_class`` images (sorted by path) of every class folder (a sub-folder of
    ``folder``, its own sub-folders included): every class is present, and the choice depends on
    the file names only. Returns (files, {class: images found} for the classes with fewer than
    ``per_class``). Images directly in ``folder`` belong to no class and are left out; a folder
    without class folders is an error."""
    folder = os.fspath(folder)
    list_image_files(folder)  # the errors of a missing, non-folder or empty folder
    classes = sorted(d for d in os.listdir(folder) if not d.startswith(".") and os.path.isdir(os.path.join(folder, d)))
    files, short = [], {}
    for name in classes:
        try:
            found = list_image_files(os.path.join(folder, name))
        except DataError:
            found = []
        files.extend(found[:per_class])
        if len(found) < per_class:
            short[name] = len(found)
    if not files:
        raise DataError(f"--calibration-per-class needs class folders: {folder!r} has no sub-folder with images "
                        "(give DIR/<class>/<image> files, or drop --calibration-per-class)")
    return files, short


def fingerprint(folder, files) -> str:
    """sha256 over the sorted relative paths (``/``-separated) of ``files`` and the sha256 of each
    file's content: the same calibration set gives the same digest on any machine."""
    digest = hashlib.sha256()
    for rel, path in sorted((os.path.relpath(f, folder).replace(os.sep, "/"), f) for f in files):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest.update(f"{rel}\0{h.hexdigest()}\n".encode())
    return digest.hexdigest()


def load_images(folder, prep: Preprocessing, limit: int, max_pixels: int | None = None, files=None):
    """Read, decode and preprocess the first ``limit`` readable images under ``folder`` (or of
    ``files``, in that order).

    Returns (float32 [n, size, size, 3], encoded bytes list, file paths, skipped files as
    ``"path: reason"``). Files are decoded as every tool decodes them (the exported graph's
    decoder); those it cannot read (or over ``max_pixels``, None: the current limit of
    :func:`inception_keras.data.images.pixel_limit`) are skipped; a folder with none readable is an error.
    """
    import tensorflow as tf  # noqa: PLC0415

    images, encoded, used, skipped = [], [], [], []
    for path in (list_image_files(folder) if files is None else files):
        if len(used) >= limit:
            break
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            skipped.append(f"{path}: cannot be read ({e.strerror or e})")
            continue
        try:
            check_size(data, max_pixels)
            image = preprocess_for_eval(decode_image(tf.constant(data), 0), prep)
        except ImageTooLarge as e:
            skipped.append(f"{path}: {e}")
            continue
        except (tf.errors.OpError, ValueError):
            reason = unreadable_reason(data, max_pixels) or "TensorFlow cannot decode it (the exported graph could not)"
            skipped.append(f"{path}: {reason}")
            continue
        images.append(image.numpy())
        encoded.append(data)
        used.append(path)
    if not used:
        raise DataError(f"none of the images in {os.fspath(folder)!r} could be decoded by TensorFlow "
                        f"({len(skipped)} tried, e.g. {skipped[0] if skipped else 'none'}); give JPEG, PNG, GIF, "
                        f"BMP or WebP files")
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
