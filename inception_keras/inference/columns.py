"""The rows a run writes: their columns, and chunk arrays turned into rows.

One row per image, in input order::

    path, [record, filename,] top1_id, top1_name, [top1_synset,] top1_prob, ..., topK_prob, error[, embedding]

``record`` and ``filename`` (the record's ``image/filename``) are there when the inputs
include TFRecord shards (``path`` is then the shard; ``record`` is null for image files). A
file name whose bytes are not UTF-8 is written with those bytes as ``\\xe9``.
``topN_synset`` is there for ImageNet heads (1000 classes, or 1001 with TF-slim's background
class first, whose synset is null). ``error`` is null, or why the image could not be read (its
predictions are then null). ``embedding`` (list<float32>) only when the embeddings go into the
predictions file.

Chunks hold arrays (:mod:`.chunks`): ``row`` (int64), ``error`` and ``filename`` (str, "" for
none), ``ids`` (int64, rows x K, -1 for none), ``probs`` (float32, rows x K, NaN for none) and
optionally ``embedding`` (float32, rows x D, NaN for none).
"""

from __future__ import annotations

import bisect
import dataclasses

import numpy as np

from ..data.labels import imagenet_classes
from ..utils.fileio import display_path

KINDS = ("str", "int", "float", "embedding")


@dataclasses.dataclass(frozen=True)
class Column:
    """A column: its name and kind (``str``, ``int``, ``float`` or ``embedding``)."""

    name: str
    kind: str


def key_columns(records: bool) -> list[Column]:
    """``path`` (and ``record``, ``filename`` when the inputs include TFRecords)."""
    cols = [Column("path", "str")]
    if records:
        cols += [Column("record", "int"), Column("filename", "str")]
    return cols


def prediction_columns(top: int, *, synsets: bool, records: bool, embedding: bool) -> list[Column]:
    """The columns of the predictions file (see the module docstring)."""
    cols = key_columns(records)
    for j in range(1, top + 1):
        cols += [Column(f"top{j}_id", "int"), Column(f"top{j}_name", "str")]
        if synsets:
            cols.append(Column(f"top{j}_synset", "str"))
        cols.append(Column(f"top{j}_prob", "float"))
    cols.append(Column("error", "str"))
    if embedding:
        cols.append(Column("embedding", "embedding"))
    return cols


def columns_to_json(columns) -> list[list[str]]:
    return [[c.name, c.kind] for c in columns]


def columns_from_json(data) -> list[Column]:
    return [Column(name, kind) for name, kind in data]


def imagenet_synsets(class_names: list[str]) -> list[str | None] | None:
    """The synsets of an ImageNet head's classes (None for the background class), or None
    when the class names are not ImageNet's (1000, or 1001 with background first)."""
    classes = imagenet_classes()
    names = [n for _, n in classes]
    if list(class_names) == names:
        return [s for s, _ in classes]
    if len(class_names) == len(names) + 1 and list(class_names[1:]) == names:
        return [None] + [s for s, _ in classes]
    return None


class Renderer:
    """Turns chunk arrays into rows (a dict of column name -> list, ``embedding`` a 2-D array)."""

    def __init__(self, sources, class_names, columns):
        self.sources = sources
        self.names = list(class_names)
        self.synsets = imagenet_synsets(self.names)
        self.columns = list(columns)
        self.top = sum(1 for c in self.columns if c.name.endswith("_prob"))
        self.records = any(c.name == "record" for c in self.columns)
        n_files = len(sources.files)
        counts = sources.count_records() if sources.tfrecords else []
        self._starts = list(np.cumsum([n_files, *counts[:-1]])) if counts else []

    def keys(self, rows, filenames) -> dict:
        """The key columns of ``rows``."""
        paths, records = [], []
        n_files = len(self.sources.files)
        for row in rows:
            row = int(row)
            if row < n_files:
                paths.append(display_path(self.sources.files[row]))
                records.append(None)
            else:
                i = bisect.bisect_right(self._starts, row) - 1
                paths.append(display_path(self.sources.tfrecords[i]))
                records.append(row - int(self._starts[i]))
        out = {"path": paths}
        if self.records:
            out["record"] = records
            out["filename"] = [f or None for f in (str(x) for x in filenames)]
        return out

    def rows(self, chunk: dict) -> dict:
        """The predictions rows of a chunk."""
        out = self.keys(chunk["row"], chunk["filename"])
        ids, probs = chunk["ids"], chunk["probs"]
        for j in range(self.top):
            col = ids[:, j] if ids.shape[0] else np.zeros(0, "int64")
            ok = col >= 0
            out[f"top{j + 1}_id"] = [int(i) if k else None for i, k in zip(col, ok)]
            out[f"top{j + 1}_name"] = [self.names[i] if k else None for i, k in zip(col, ok)]
            if self.synsets is not None:
                out[f"top{j + 1}_synset"] = [self.synsets[i] if k else None for i, k in zip(col, ok)]
            p = probs[:, j] if probs.shape[0] else np.zeros(0, "float32")
            out[f"top{j + 1}_prob"] = [float(v) if k else None for v, k in zip(p, ok)]
        out["error"] = [str(e) or None for e in chunk["error"]]
        if any(c.name == "embedding" for c in self.columns):
            out["embedding"] = chunk["embedding"]
        return out

    def embeddings(self, chunk: dict) -> tuple[dict, np.ndarray]:
        """The key columns and embeddings of a chunk's readable images."""
        ok = np.asarray([not e for e in chunk["error"]], bool)
        keys = self.keys(chunk["row"][ok], chunk["filename"][ok])
        return keys, chunk["embedding"][ok]
