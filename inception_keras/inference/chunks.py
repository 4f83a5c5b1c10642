"""Chunks: the unit of work that survives a crash.

A run's rows are cut into chunks of ``chunk_size`` consecutive rows. Each finished chunk is
written atomically as ``chunk-000123.npz`` (arrays: see :mod:`.columns`) into the parts folder
next to the output (``preds.parquet.parts/``), together with ``manifest.json``: what the chunks
are made with (model, weights digest, classes, preprocessing, top-k, features, precision,
inputs fingerprint, shard, chunk size, batch size). The manifest is written, atomically, before
the first chunk, so a chunk counts only under a manifest: a parts folder whose manifest is
missing or unreadable (a run of an older version, a copy, a hand-made folder) has chunks of
unknown origin, which are deleted, and the run starts over and says so. A rerun with the same
arguments finds the finished chunks and does only the others; a rerun with other arguments is
refused, naming the difference and the fix. When every chunk is there the output is assembled
from them and the parts folder is removed. One run at a time writes an output: the caller
holds its lock (:func:`inception_keras.utils.fileio.output_lock`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import zipfile

import numpy as np

from ..utils.fileio import atomic_save, naming_path, remove_stale_temporaries, write_json

MANIFEST = "manifest.json"
CHUNK = "chunk-{:06d}.npz"
ARRAYS = ("row", "error", "filename", "ids", "probs", "embedding")


class ResumeError(ValueError):
    """Chunks on disk made with other arguments than this run's."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """``rows`` rows cut into chunks of ``chunk_size``."""

    rows: int
    chunk_size: int

    @property
    def chunks(self) -> int:
        return -(-self.rows // self.chunk_size)

    def bounds(self, k: int) -> tuple[int, int]:
        return k * self.chunk_size, min((k + 1) * self.chunk_size, self.rows)

    def size(self, k: int) -> int:
        lo, hi = self.bounds(k)
        return hi - lo

    def chunk_of(self, row: int) -> int:
        return row // self.chunk_size


def differences(there: dict, here: dict, prefix: str = "") -> list[str]:
    """The keys whose values differ between two manifests, with both values (short)."""
    out = []
    for key in sorted(set(there) | set(here)):
        a, b = there.get(key), here.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            def short(v):
                text = json.dumps(v) if not isinstance(v, str) else v
                return text if len(text) <= 70 else text[:67] + "..."
            out.append(f"{prefix}{key} ({short(a)} there, {short(b)} now)")
    return out


class MemoryParts:
    """Chunks kept in memory (a run that prints its table instead of writing files)."""

    resumed = False

    def __init__(self):
        self.chunks = {}

    def done(self) -> set[int]:
        return set(self.chunks)

    def write(self, k: int, arrays: dict) -> None:
        self.chunks[k] = arrays

    def read(self, k: int, bounds=None) -> dict:
        return self.chunks[k]

    def remove(self) -> None:
        self.chunks.clear()


class PartsFolder:
    """The chunks of a run on disk, in ``folder``, made with ``manifest``."""

    def __init__(self, folder: str, manifest: dict):
        self.folder = folder
        self.manifest = manifest
        self.resumed = False

    def open(self, command_hint: str = "", notice=None) -> set[int]:
        """Create the folder, or check that its chunks were made like this run's; the chunks done.

        ``notice(message)`` hears that the folder's chunks were deleted (no manifest, or an
        unreadable one: chunks of unknown origin)."""
        path = os.path.join(self.folder, MANIFEST)
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise ResumeError(f"{self.folder} is a file; the parts of this run go into a folder of that name: "
                              f"move the file away or choose another output")
        there, why = None, "no manifest.json"
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as f:
                    there = json.load(f)
                if not isinstance(there, dict):
                    there, why = None, "a manifest.json that is not a manifest"
            except (OSError, ValueError) as e:
                there, why = None, f"an unreadable manifest.json ({getattr(e, 'strerror', None) or e})"
        if there is not None:
            diff = differences(there, self.manifest)
            if diff:
                raise ResumeError(f"{self.folder} holds chunks of an unfinished run made with other arguments: "
                                  f"{'; '.join(diff)}. Rerun with the arguments it was made with to finish it"
                                  f"{command_hint}, or delete {self.folder} to start over")
            remove_stale_temporaries(self.folder)
            self.resumed = True
            return self.done()
        stale = sorted(self.done())
        if stale:  # chunks of unknown origin: never counted as done
            for k in stale:
                try:
                    os.remove(self.path(k))
                except FileNotFoundError:
                    pass
            if notice is not None:
                chunks = f"{len(stale)} chunk" + ("s" if len(stale) > 1 else "")
                notice(f"{self.folder} holds {chunks} but {why}, so what made them is unknown: "
                       f"deleted them, starting over")
        remove_stale_temporaries(self.folder)
        with naming_path(path):
            os.makedirs(self.folder, exist_ok=True)
            write_json(path, self.manifest)  # before any chunk (atomic: a rename)
        return set()

    def path(self, k: int) -> str:
        return os.path.join(self.folder, CHUNK.format(k))

    def done(self) -> set[int]:
        names = set(os.listdir(self.folder)) if os.path.isdir(self.folder) else set()
        return {int(n[6:12]) for n in names if n.startswith("chunk-") and n.endswith(".npz") and n[6:12].isdigit()}

    def write(self, k: int, arrays: dict) -> None:
        # .npz, not Parquet parts: pyarrow is an optional extra, and a CSV run resumes without it.
        def save(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        with naming_path(self.path(k)):
            atomic_save(save, self.path(k), ".npz", "predict")

    def read(self, k: int, bounds: tuple[int, int] | None = None) -> dict:
        """Chunk ``k``'s arrays; ResumeError when it cannot be read or, given its ``bounds``, does
        not hold exactly those rows."""
        path = self.path(k)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ResumeError(f"{path} cannot be read ({e}); delete it and rerun the same command to redo "
                              f"its rows") from None
        if bounds is not None and not np.array_equal(arrays.get("row"), np.arange(*bounds)):
            raise ResumeError(f"{path} does not hold rows {bounds[0]}..{bounds[1] - 1} of this run (it was "
                              f"written by something else); delete it and rerun the same command to redo them")
        return arrays

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def empty_chunk(top: int, size: int | None) -> dict:
    """The arrays of a chunk with no rows."""
    out = {"row": np.zeros(0, np.int64), "error": np.zeros(0, "U1"), "filename": np.zeros(0, "U1"),
           "ids": np.zeros((0, top), np.int64), "probs": np.zeros((0, top), np.float32)}
    if size is not None:
        out["embedding"] = np.zeros((0, size), np.float32)
    return out


def concat(parts: list[dict]) -> dict:
    """Chunk arrays of several batches as one, sorted by row."""
    out = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    order = np.argsort(out["row"], kind="stable")
    return {name: value[order] for name, value in out.items()}


class Collector:
    """Rows arriving in batches (in any order), gathered by chunk until a chunk is whole."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.parts: dict[int, list[dict]] = {}
        self.counts: dict[int, int] = {}

    def add(self, arrays: dict) -> None:
        rows = arrays["row"]
        if not len(rows):
            return
        chunk_ids = rows // self.plan.chunk_size
        for k in np.unique(chunk_ids):
            mask = chunk_ids == k
            self.parts.setdefault(int(k), []).append({n: v[mask] for n, v in arrays.items()})
            self.counts[int(k)] = self.counts.get(int(k), 0) + int(mask.sum())

    def complete(self) -> list[int]:
        """Chunks that have all their rows."""
        return sorted(k for k, n in self.counts.items() if n >= self.plan.size(k))

    def pop(self, k: int) -> tuple[dict | None, list[int]]:
        """A chunk's arrays so far and the rows it is missing."""
        parts = self.parts.pop(k, [])
        self.counts.pop(k, None)
        arrays = concat(parts) if parts else None
        lo, hi = self.plan.bounds(k)
        have = set(arrays["row"].tolist()) if arrays is not None else set()
        return arrays, [r for r in range(lo, hi) if r not in have]
