"""ImageNet helpers for the published weights: input scaling and class names.

The TF-slim checkpoints were trained on RGB images scaled to [-1, 1]. The 1000 ImageNet
synsets (sorted, the order Keras and the converted heads use) and their WordNet names
ship with the package in ``data/imagenet_classes.tsv``; nothing is downloaded.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np


def preprocess_input(x):
    """RGB values in 0..255 (uint8 or float) -> float32 in [-1, 1], as the checkpoints expect.

    Works on numpy arrays and backend tensors of any shape (the channel axis is last).
    """
    import keras  # noqa: PLC0415

    if isinstance(x, np.ndarray) or np.isscalar(x) or isinstance(x, (list, tuple)):
        return np.asarray(x, dtype="float32") / 127.5 - 1.0
    return keras.ops.cast(x, "float32") / 127.5 - 1.0


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """The 1000 ImageNet classes as (synset, name), in sorted-synset (label) order."""
    text = resources.files("inception_keras").joinpath("data/imagenet_classes.tsv").read_text("utf-8")
    rows = tuple(tuple(line.split("\t", 1)) for line in text.splitlines() if line.strip())
    assert len(rows) == 1000, len(rows)
    return rows


def default_class_names(classes: int) -> list[str]:
    """Names for a classifier with no label file: ImageNet's for 1000 outputs (and 1001, with
    TF-slim's background class first), ``class i`` otherwise."""
    if classes in (1000, 1001):
        names = [name for _, name in imagenet_classes()]
        return names if classes == 1000 else ["background", *names]
    return [f"class {i}" for i in range(classes)]


def decode_predictions(preds, top: int = 5):
    """Top classes per row of ``preds``: a list (per image) of (synset, name, score).

    ``preds`` has 1000 columns, or 1001 with TF-slim's background class first (dropped).
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] not in (1000, 1001):
        raise ValueError(
            f"decode_predictions expects a batch of 1000- or 1001-class scores, shape (N, 1000|1001); got {preds.shape}"
        )
    if preds.shape[1] == 1001:
        preds = preds[:, 1:]
    if not 1 <= top <= 1000:
        raise ValueError(f"top must be between 1 and 1000, got {top}")
    classes = imagenet_classes()
    results = []
    for row in preds:
        idx = np.argsort(-row, kind="stable")[:top]
        results.append([(classes[i][0], classes[i][1], float(row[i])) for i in idx])
    return results


def central_crop_box(height: int, width: int, fraction: float) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of TF-slim's ``tf.image.central_crop``."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
    top = int((height - height * fraction) / 2)
    left = int((width - width * fraction) / 2)
    return top, left, height - 2 * top, width - 2 * left


def load_image(path, size: int = 299, crop_fraction: float = 0.875) -> np.ndarray:
    """Read an image file as TF-slim's evaluation preprocessing sees it: RGB, central crop
    keeping ``crop_fraction`` of each side, bilinear resize to ``size`` x ``size`` (aspect
    ratio not kept), scaled to [-1, 1]. Grayscale, CMYK and alpha images become RGB.

    Raises ValueError naming the file when it is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    from .images import _to_rgb8  # noqa: PLC0415

    try:
        with Image.open(path) as img:
            img.load()
            rgb = _to_rgb8(img).astype("float32")  # 16-bit scaled as TensorFlow does, never clipped
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    top, left, h, w = central_crop_box(rgb.shape[0], rgb.shape[1], crop_fraction)
    crop = rgb[top : top + h, left : left + w]
    return preprocess_input(resize_bilinear_tf1(crop, size, size))


def resize_bilinear_tf1(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize on TF1's sampling grid (``resize_bilinear(align_corners=False)``, no
    half-pixel centres): output pixel i samples input position ``i * in / out``. This is the
    resize TF-slim's evaluation preprocessing uses; ``image`` is HxWxC."""
    image = np.asarray(image, dtype="float32")

    def grid(n_in, n_out):
        pos = np.arange(n_out, dtype="float64") * (n_in / n_out)
        lo = np.minimum(np.floor(pos).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype("float32")

    y0, y1, wy = grid(image.shape[0], height)
    x0, x1, wx = grid(image.shape[1], width)
    wx = wx[None, :, None]
    top = image[y0][:, x0] + (image[y0][:, x1] - image[y0][:, x0]) * wx
    bottom = image[y1][:, x0] + (image[y1][:, x1] - image[y1][:, x0]) * wx
    return top + (bottom - top) * wy[:, None, None]
