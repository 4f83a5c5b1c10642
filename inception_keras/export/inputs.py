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


class FolderImages:
    """The preprocessed images of ``files``, decoded when indexed: ``x[a:b]`` (or a list of row
    numbers) gives the float32 ``[rows, size, size, 3]`` a stacked array would, so calibration and
    the check hold one batch at a time, whatever the number of images (1,000 at 299x299 would be
    1.1 GB). ``np.asarray(x)`` decodes them all."""

    def __init__(self, files, prep: Preprocessing):
        self.files, self.prep = list(files), prep
        self.shape = (len(self.files), prep.image_size, prep.image_size, 3)
        self.dtype = np.dtype("float32")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self._decode(self.files[index])
        picked = self.files[index] if isinstance(index, slice) else [self.files[int(i)] for i in index]
        if not picked:
            return np.zeros((0, *self.shape[1:]), self.dtype)
        return np.stack([self._decode(path) for path in picked])

    def __array__(self, dtype=None, copy=None):
        return self[:] if dtype is None else self[:].astype(dtype)

    def _decode(self, path: str) -> np.ndarray:
        import tensorflow as tf  # noqa: PLC0415

        with open(path, "rb") as f:
            data = f.read()
        return preprocess_for_eval(decode_image(tf.constant(data), 0), self.prep).numpy().astype("float32")


def batch_at(x, start: int, size: int) -> np.ndarray:
    """Rows ``start`` to ``start + size`` of ``x`` (an array or :class:`FolderImages`), a last
    short batch topped up with rows from the start, as ``np.resize`` would repeat them."""
    part = np.asarray(x[start : start + size], dtype="float32")
    if len(part) < size:
        extra = x[[i % len(x) for i in range(size - len(part))]]
        part = np.concatenate([part, np.asarray(extra, dtype="float32")])
    return np.ascontiguousarray(part)


def _readable(path: str, max_pixels: int | None):
    """The bytes of ``path`` when TensorFlow's decoder (the exported graph's) reads it, else why not."""
    import tensorflow as tf  # noqa: PLC0415

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, f"cannot be read ({e.strerror or e})"
    try:
        check_size(data, max_pixels)
        decode_image(tf.constant(data), 0)
    except ImageTooLarge as e:
        return None, str(e)
    except (tf.errors.OpError, ValueError):
        return None, unreadable_reason(data, max_pixels) or "TensorFlow cannot decode it (the exported graph could not)"
    return data, None


def find_images(folder, prep: Preprocessing, limit: int, max_pixels: int | None = None, files=None,
                keep_bytes: bool = False):
    """The first ``limit`` readable images under ``folder`` (or of ``files``, in that order), each
    decoded once to know it is readable and not kept.

    Returns (:class:`FolderImages` of them, their encoded bytes (``None`` unless ``keep_bytes``),
    their paths, the skipped files as ``"path: reason"``). Files are decoded as every tool decodes
    them (the exported graph's decoder); those it cannot read (or over ``max_pixels``, None: the
    current limit of :func:`inception_keras.data.images.pixel_limit`) are skipped; a folder with none
    readable is an error.
    """
    encoded, used, skipped = [], [], []
    for path in (list_image_files(folder) if files is None else files):
        if len(used) >= limit:
            break
        data, reason = _readable(path, max_pixels)
        if data is None:
            skipped.append(f"{path}: {reason}")
            continue
        if keep_bytes:
            encoded.append(data)
        used.append(path)
    if not used:
        raise DataError(f"none of the images in {os.fspath(folder)!r} could be decoded by TensorFlow "
                        f"({len(skipped)} tried, e.g. {skipped[0] if skipped else 'none'}); give JPEG, PNG, GIF, "
                        f"BMP or WebP files")
    return FolderImages(used, prep), encoded if keep_bytes else None, used, skipped


def load_images(folder, prep: Preprocessing, limit: int, max_pixels: int | None = None, files=None):
    """:func:`find_images` with the images decoded into one array: (float32 [n, size, size, 3],
    encoded bytes list, file paths, skipped files as ``"path: reason"``)."""
    images, encoded, used, skipped = find_images(folder, prep, limit, max_pixels, files, keep_bytes=True)
    return np.asarray(images), encoded, used, skipped


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
