"""The images of a batch-inference run: resolving what the user named, sharding, fingerprints.

An input is an image file, a folder (searched recursively for images, or, when it holds no
images, for TF-slim TFRecord shards), a glob (``'photos/**/*.jpg'``, quoted), a list file (a
``.txt`` or ``.lst`` file with one path per line, relative paths taken from the list's folder)
or a TFRecord shard in the slim layout (``image/encoded``, optionally ``image/filename``).

The resolved **sources** are sorted: every image file by path, then every TFRecord shard by
path. ``--shard I/N`` keeps a contiguous slice of them (sources ``I*S//N`` up to
``(I+1)*S//N`` of ``S``), so concatenating the outputs of shards 0..N-1 gives the unsharded
output row for row. A TFRecord shard is never split: its records all go to one shard.

The **rows** of a run are its image files, then the records of its TFRecord shards in order.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import re

import numpy as np

from ..data.datasets import DataError, IMAGE_EXTENSIONS, list_image_files, is_tfrecord_name

LIST_SUFFIXES = (".txt", ".lst")
_SHARD = re.compile(r"^\s*(-?\d+)\s*/\s*(-?\d+)\s*$")
_GLOB_CHARS = "*?["


class InputError(DataError):
    """Inputs that cannot be used: the message names the input and what to give instead."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; ValueError naming the rule otherwise."""
    match = _SHARD.match(text or "")
    if not match:
        raise ValueError(f"--shard {text!r}: expected I/N, shard I (0-based) of N, e.g. 0/4 ... 3/4")
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise ValueError(f"--shard {text}: N must be at least 1")
    if not 0 <= index < count:
        raise ValueError(f"--shard {text}: I must be in 0..{count - 1} (shards are 0-based: 0/{count} ... "
                         f"{count - 1}/{count})")
    return index, count


def is_tfrecord(path: str) -> bool:
    """A TFRecord shard by its name (``validation-00000-of-00128``, ``x.tfrecord``, ``x.tfrec``)."""
    return is_tfrecord_name(os.path.basename(path))


@dataclasses.dataclass
class Sources:
    """The sorted image files and TFRecord shards of a run (or of one of its shards)."""

    files: list[str]
    tfrecords: list[str]
    fingerprint: str  # of the whole (unsharded) list: paths and sizes
    total: int  # sources before sharding
    shard: tuple[int, int] = (0, 1)
    record_counts: list[int] | None = None  # records per TFRecord shard, once counted
    any_records: bool = False  # whether the whole (unsharded) input has TFRecords: the rows' columns

    @property
    def has_records(self) -> bool:
        return bool(self.tfrecords)

    def count_records(self) -> list[int]:
        """Records per TFRecord shard (read once, not decoded)."""
        if self.record_counts is None:
            import tensorflow as tf  # noqa: PLC0415

            self.record_counts = [int(tf.data.TFRecordDataset(p).reduce(np.int64(0), lambda n, _: n + 1).numpy())
                                  for p in self.tfrecords]
        return self.record_counts

    def __len__(self) -> int:
        """Rows: image files plus records."""
        return len(self.files) + sum(self.count_records())

    def locate(self, row: int) -> tuple[str, int | None]:
        """``(path, record)`` of a row: an image file and None, or a TFRecord shard and the
        record's number in it."""
        if row < len(self.files):
            return self.files[row], None
        row -= len(self.files)
        for path, n in zip(self.tfrecords, self.count_records()):
            if row < n:
                return path, row
            row -= n
        raise IndexError(f"row {row} is past the end of the inputs")

    def read(self, row: int) -> tuple[bytes, str, str | None]:
        """``(encoded bytes, image/filename or "", error or None)`` of one row."""
        path, record = self.locate(row)
        if record is None:
            try:
                with open(path, "rb") as f:
                    return f.read(), "", None
            except OSError as e:
                return b"", "", f"cannot be read ({e.strerror or e})"
        import tensorflow as tf  # noqa: PLC0415

        raw = next(iter(tf.data.TFRecordDataset(path).skip(record).take(1))).numpy()
        feats = tf.train.Example.FromString(raw).features.feature
        name = feats["image/filename"].bytes_list.value[0].decode() if "image/filename" in feats else ""
        if "image/encoded" not in feats:
            return b"", name, "the record has no image/encoded feature"
        return feats["image/encoded"].bytes_list.value[0], name, None

    def shard_of(self, index: int, count: int) -> Sources:
        """The contiguous slice of shard ``index`` of ``count`` (see the module docstring)."""
        every = self.files + self.tfrecords
        lo, hi = index * len(every) // count, (index + 1) * len(every) // count
        n_files = max(0, min(hi, len(self.files)) - lo)  # image files come first
        return Sources(files=every[lo : lo + n_files], tfrecords=every[lo + n_files : hi],
                       fingerprint=self.fingerprint, total=self.total, shard=(index, count),
                       any_records=self.any_records)


def _read_list(path: str) -> list[str]:
    folder = os.path.dirname(os.path.abspath(path))
    out, missing = [], []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:  # (a name that is not UTF-8: as it is)
        for n, line in enumerate(f, 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            full = entry if os.path.isabs(entry) else os.path.normpath(os.path.join(folder, entry))
            if not os.path.isfile(full):
                missing.append(f"{path}:{n}: {entry}")
            out.append(full)
    if missing:
        raise InputError(f"{len(missing)} paths in the list file are not files, e.g. {'; '.join(missing[:3])}; "
                         f"fix or remove those lines (relative paths are taken from the list file's folder)")
    if not out:
        raise InputError(f"the list file {path} names no images (one path per line)")
    return out


def _folder(path: str) -> tuple[list[str], list[str]]:
    try:
        return list_image_files(path), []
    except DataError:
        pass
    shards = sorted(os.path.join(path, f) for f in os.listdir(path)
                    if is_tfrecord(f) and os.path.isfile(os.path.join(path, f)))
    if not shards:
        raise InputError(f"no images in the folder {path!r} (looked for {', '.join(IMAGE_EXTENSIONS)} files, "
                         f"sub-folders included) and no TFRecord shards; give a folder that holds images")
    return [], shards


def resolve(specs) -> Sources:
    """The sorted, de-duplicated sources of the inputs ``specs`` (see the module docstring).

    Raises :class:`InputError` for an input that does not exist, a glob that matches nothing,
    a folder with no images and a list file naming missing files."""
    specs = [os.fspath(s) for s in specs]
    if not specs:
        raise InputError("no inputs: give image files, folders, globs, list files (.txt) or TFRecord shards")
    files, shards = set(), set()

    def add(path: str, explicit: bool) -> None:
        if os.path.isdir(path):
            found, recs = _folder(path)
            files.update(found)
            shards.update(recs)
        elif is_tfrecord(path):
            shards.add(path)
        elif explicit and path.lower().endswith(LIST_SUFFIXES):
            files.update(_read_list(path))
        elif explicit or path.lower().endswith(IMAGE_EXTENSIONS):
            files.add(path)

    for spec in specs:
        if os.path.exists(spec):
            add(spec, explicit=True)
        elif any(c in spec for c in _GLOB_CHARS):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise InputError(f"the glob {spec!r} matches nothing")
            for m in matches:
                add(m, explicit=os.path.isfile(m) and not m.lower().endswith(LIST_SUFFIXES))
        else:
            raise InputError(f"input not found: {spec!r}; give image files, folders, globs, list files (.txt) "
                             f"or TFRecord shards")
    if not files and not shards:
        raise InputError(f"no images in {', '.join(map(repr, specs))}")
    ordered_files, ordered_shards = sorted(files), sorted(shards)
    digest = hashlib.sha256()
    for p in ordered_files + ordered_shards:
        try:
            size = os.path.getsize(p)
        except OSError:
            size = -1
        digest.update(f"{p}\0{size}\n".encode("utf-8", "surrogateescape"))
    return Sources(ordered_files, ordered_shards, digest.hexdigest(), len(ordered_files) + len(ordered_shards),
                   any_records=bool(ordered_shards))
