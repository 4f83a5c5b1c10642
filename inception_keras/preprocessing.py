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
