"""Per-image scores and what is kept of them: crop averaging, the top-k tally, ``predictions.csv``."""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import os

import numpy as np

from ..data.datasets import DataError, ImageSet
from ..utils.fileio import naming_path, write_text
from ..runtimes.keras import outputs_probabilities

BOTTOM = 10  # classes listed in the report's bottom tables
CONFUSED = 10  # most confused pairs in the report


def label_shift(model_classes: int, image_set: ImageSet) -> int:
    if model_classes == image_set.num_classes:
        return 0
    if model_classes == image_set.num_classes + 1:
        return 1  # TF-slim's 1001-way head: index 0 is the background class
    raise DataError(
        f"the model has {model_classes} outputs but the data has {image_set.num_classes} classes "
        f"({image_set.label_source}); build the model with classes={image_set.num_classes} "
        f"(or {image_set.num_classes + 1} with a background class) or point --data at the matching set")


def first_output(out):
    return np.asarray(first_output_tensor(out), dtype="float32")


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (class scores in the last axis)."""
    scores = np.asarray(scores, np.float64)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class CropMeans:
    """An image's class probabilities: its crops' outputs (as probabilities) averaged. Crops
    arrive in order, an image's crops maybe split over two batches; ``add`` returns the images
    completed so far as (ranking scores, probabilities, labels, indices). With one crop the
    ranking is the model's own scores (ties broken as before); with several, the mean."""

    def __init__(self, n: int, probabilities: bool):
        self.n, self.probabilities = n, probabilities
        self._pending = None  # (index, label, probability sum, crops seen) of an unfinished image

    def probs(self, scores):
        return np.asarray(scores, np.float64) if self.probabilities else softmax(scores)

    def add(self, scores, labels, indices):
        scores = np.asarray(scores, np.float32)
        labels, indices = np.asarray(labels), np.asarray(indices)
        if self.n == 1:
            return scores, self.probs(scores), labels, indices
        probs = self.probs(scores)
        done = ([], [], [])
        start = 0
        while start < len(indices):
            index = indices[start]
            stop = start
            while stop < len(indices) and indices[stop] == index:
                stop += 1
            part = probs[start:stop].sum(axis=0)
            if self._pending is not None and self._pending[0] == index:
                _, label, total, seen = self._pending
                total, seen = total + part, seen + stop - start
            else:  # a new image (an unfinished one before it is dropped: evaluated again later)
                label, total, seen = labels[start], part, stop - start
            self._pending = (index, label, total, seen)
            if seen == self.n:
                done[0].append(total / self.n)
                done[1].append(label)
                done[2].append(index)
                self._pending = None
            start = stop
        if not done[0]:
            classes = probs.shape[-1]
            empty = np.zeros((0, classes))
            return empty, empty, np.zeros(0, labels.dtype), np.zeros(0, indices.dtype)
        mean = np.stack(done[0])
        return mean, mean, np.asarray(done[1]), np.asarray(done[2])

    def one(self, scores):
        """All of one image's crops' scores (n rows) -> (ranking, probabilities) rows of one."""
        probs = self.probs(scores).mean(axis=0, keepdims=True)
        return (np.asarray(scores, np.float32)[:1] if self.n == 1 else probs), probs


class Tally:
    """Per-example results in evaluation order, and running hit counts for the progress bar."""

    def __init__(self, k):
        self.k = k
        self.labels, self.topk, self.topk_probs, self.indices = [], [], [], []
        self.count = self.hits1 = self.hits5 = 0

    def add(self, ranking, probs, labels, indices):
        order = np.argsort(-ranking, axis=1, kind="stable")[:, : self.k]
        labels = np.asarray(labels)
        self.topk.append(order)
        self.topk_probs.append(np.take_along_axis(np.asarray(probs), order, axis=1))
        self.labels.append(labels)
        self.indices.append(np.asarray(indices))
        self.count += len(labels)
        self.hits1 += int(np.sum(order[:, 0] == labels))
        self.hits5 += int(np.sum((order == labels[:, None]).any(1)))

    def arrays(self):
        if not self.labels:
            return (np.zeros(0, "int64"), np.zeros((0, self.k), "int64"), np.zeros(0, "int64"),
                    np.zeros((0, self.k)))
        return (np.concatenate(self.labels), np.concatenate(self.topk), np.concatenate(self.indices),
                np.concatenate(self.topk_probs))

    def running(self):
        if not self.count:
            return 0.0, 0.0
        return self.hits1 / self.count, self.hits5 / self.count


@dataclasses.dataclass
class Predictions:
    """Each evaluated image's top-k classes and probabilities, in evaluation order:
    ``predictions.csv`` (:func:`write_predictions`)."""

    paths: list[str]
    labels: list[str]
    top_classes: list[list[str]]
    top_probabilities: np.ndarray

    def rows(self):
        k = self.top_probabilities.shape[1] if len(self.paths) else 0
        header = ["path", "label"] + [c for j in range(1, k + 1) for c in (f"top{j}", f"prob{j}")]
        yield header
        for path, label, classes, probs in zip(self.paths, self.labels, self.top_classes, self.top_probabilities):
            yield [path, label] + [v for c, p in zip(classes, probs) for v in (c, f"{p:.6f}")]


def write_predictions(predictions: Predictions, output_dir) -> str:
    """Write ``predictions.csv`` into ``output_dir`` (atomically): path, label, then the top-k
    class ids (synsets, or the data's class names) each followed by its probability."""
    output_dir = os.fspath(output_dir)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(predictions.rows())
    path = os.path.join(output_dir, "predictions.csv")
    with naming_path(path):
        os.makedirs(output_dir, exist_ok=True)
        return write_text(path, buf.getvalue())


def confused_pairs(labels: np.ndarray, top1: np.ndarray, class_id, class_name, limit: int = CONFUSED) -> list[dict]:
    """The ``limit`` most frequent (true class -> predicted class) top-1 errors, by count, ties
    in class order."""
    counts = collections.Counter((int(t), int(p)) for t, p in zip(labels, top1) if t != p)
    pairs = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"true": class_id(t), "true_name": class_name(t), "predicted": class_id(p),
             "predicted_name": class_name(p), "count": c} for (t, p), c in pairs]




def first_output_tensor(out):
    if isinstance(out, dict):
        out = next(iter(out.values()))
    if isinstance(out, (list, tuple)):
        out = out[0]
    return out
