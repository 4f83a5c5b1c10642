"""Class names of a classifier's outputs, and the decoding of its scores into named classes.

Labels are kept as the preset format writes them (``labels.json``): rows
``{"id": output column, "name": ..., "synset": ...}`` and a ``background`` flag for TF-slim's
1001-way heads, whose column 0 is the background class. This module imports neither Keras nor
TensorFlow, so a classifier backed by another runtime (ONNX, LiteRT) decodes the same way.

Example:
    >>> rows, background = label_rows(["cat", "dog", "fox"], 3)
    >>> decode([[0.1, 0.7, 0.2]], rows, background, top=2)
    [[Prediction(id=1, name='dog', score=0.7), Prediction(id=2, name='fox', score=0.2)]]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..data.labels import imagenet_classes
from ..weights.format import make_labels


class Prediction(NamedTuple):
    """One of the top classes of an image.

    Attributes:
        id: the class's synset (``"n01440764"``) where the labels have one (ImageNet's), else
            its output column (an int): what ``decode_predictions`` puts first.
        name: the class name (``"tench"``, or a fine-tuned preset's own name).
        score: its probability (the model's output in that column).
    """

    id: str | int
    name: str
    score: float


def label_rows(labels, classes: int | None) -> tuple[list[dict] | None, bool]:
    """``(rows, background)`` from ``"imagenet"``, class names, ``(synset, name)`` pairs,
    ``labels.json`` rows (``{"id", "name"[, "synset"]}``) or None, for a head of ``classes``.

    Rows carry their output column (``id``); with ``classes`` one more than the names the
    first column is TF-slim's background class (``background`` True), as ``save_preset``
    records it. Raises ``PresetError`` (a ValueError) when the count does not fit the head.
    """
    if labels is not None and not isinstance(labels, str) and labels and isinstance(labels[0], dict):
        rows = sorted((dict(r) for r in labels), key=lambda r: int(r["id"]))
        pairs = [(r["synset"], r["name"]) if r.get("synset") else r["name"] for r in rows]
        return make_labels(pairs, classes)
    return make_labels(labels, classes)


def as_save_labels(rows: list[dict] | None):
    """Rows back as ``save_preset``'s ``labels=``: ``(synset, name)`` pairs, or names."""
    if rows is None:
        return None
    return [(r["synset"], r["name"]) if r.get("synset") else r["name"] for r in sorted(rows, key=lambda r: r["id"])]


def class_names(rows: list[dict] | None, background: bool, classes: int) -> list[str]:
    """Names of the ``classes`` outputs in column order: the rows' names (``"background"``
    first for a background column), or, with no labels, ImageNet's for 1000 / 1001 outputs
    (TF-slim's background first) and ``"class i"`` otherwise."""
    if rows is None:
        if classes in (1000, 1001):
            names = [name for _, name in imagenet_classes()]
            return names if classes == 1000 else ["background", *names]
        return [f"class {i}" for i in range(classes)]
    names = [f"class {i}" for i in range(classes)]
    if background:
        names[0] = "background"
    for r in rows:
        names[int(r["id"])] = r["name"]
    return names


def class_ids(rows: list[dict] | None, background: bool, classes: int) -> list:
    """What :class:`Prediction` names each column by: the synset where known, else the column."""
    ids: list = list(range(classes))
    if rows is None and classes in (1000, 1001):
        offset = classes - 1000
        for i, (synset, _) in enumerate(imagenet_classes()):
            ids[i + offset] = synset
    for r in rows or ():
        if r.get("synset"):
            ids[int(r["id"])] = r["synset"]
    return ids


def decode(preds, rows: list[dict] | None, background: bool, top: int = 5) -> list[list[Prediction]]:
    """The ``top`` classes of each row of ``preds`` (N x classes), best first.

    The background column of a TF-slim 1001-way head is never listed (as ``decode_predictions``
    drops it); ties keep the column order. Raises ValueError for a ``preds`` that is not
    N x classes of the labels, or a ``top`` outside [1, classes].
    """
    preds = np.asarray(preds)
    if preds.ndim == 1:
        preds = preds[None]
    if preds.ndim != 2:
        raise ValueError(f"decode expects scores of shape (N, classes), one row per image; got shape {preds.shape}")
    classes = preds.shape[1]
    if rows is not None and max((int(r["id"]) for r in rows), default=-1) >= classes:
        raise ValueError(f"decode got {classes} scores per image, but the labels name "
                         f"{len(rows) + int(background)} outputs: pass this classifier's own predictions")
    first = 1 if background or (rows is None and classes == 1001) else 0
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= classes - first:
        raise ValueError(f"top must be an integer from 1 to {classes - first} (the classes), got {top!r}")
    names, ids = class_names(rows, background, classes), class_ids(rows, background, classes)
    results = []
    for row in preds:
        order = np.argsort(-row[first:], kind="stable")[:top] + first
        results.append([Prediction(ids[i], names[i], float(row[i])) for i in order])
    return results


__all__ = ["Prediction", "as_save_labels", "class_ids", "class_names", "decode", "label_rows"]
