"""ImageNet's class names for the published weights, and decoding predictions into them.

The 1000 ImageNet synsets (sorted, the order Keras and the converted heads use) and their WordNet names
ship with the package in ``data/imagenet_classes.tsv``; nothing is downloaded.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np


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
