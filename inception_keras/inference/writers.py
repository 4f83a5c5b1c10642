"""Writing and reading the row files of a run: CSV, JSON Lines and Parquet, and embeddings as
``.npy`` (with an index of paths) or Parquet.

Every writer writes a temporary file next to its target (:mod:`inception_keras.utils.fileio` names)
and renames it into place on :meth:`commit`, so a file appears only when complete. pyarrow is
imported only when a Parquet file is written, or when files are read back (``--merge``).
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os

import numpy as np

from ..utils.fileio import make_temporary_file, naming_path, umask

from .columns import Column, key_columns

TABLE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
EMBEDDING_FORMATS = {".npy": "npy", ".parquet": "parquet"}
BATCH_PIP = 'pip install "inception-keras[batch]"'


def table_format(path: str, option: str = "--output") -> str:
    """``csv``, ``jsonl`` or ``parquet`` from ``path``'s extension; ValueError otherwise."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in TABLE_FORMATS:
        raise ValueError(f"{option} {path}: unknown extension {ext or '(none)'!r}; give a .csv, .jsonl or "
                         f".parquet file")
    return TABLE_FORMATS[ext]


def embedding_format(path: str) -> str:
    """``npy`` or ``parquet`` from ``path``'s extension; ValueError otherwise."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in EMBEDDING_FORMATS:
        raise ValueError(f"--embeddings {path}: unknown extension {ext or '(none)'!r}; give a .npy file (with "
                         f"an index of paths next to it) or a .parquet file")
    return EMBEDDING_FORMATS[ext]


def require_pyarrow(what: str):
    """pyarrow, or ValueError naming the extra that brings it."""
    try:
        import pyarrow  # noqa: PLC0415
        import pyarrow.parquet  # noqa: F401, PLC0415
    except ImportError:
        raise ValueError(f"{what} needs pyarrow: {BATCH_PIP}") from None
    return pyarrow


def index_path(npy_path: str) -> str:
    """The index of paths written next to an ``.npy`` of embeddings (``emb.npy`` -> ``emb.index.csv``)."""
    return os.path.splitext(npy_path)[0] + ".index.csv"


def meta_path(path: str) -> str:
    """The description of a run written next to its main output (``preds.parquet.meta.json``)."""
    return path + ".meta.json"


# --------------------------------------------------------------------------- #
# Writers
# --------------------------------------------------------------------------- #
class _Writer:
    """A file written under a temporary name and renamed on :meth:`commit`."""

    def __init__(self, path: str, suffix: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.tmp = make_temporary_file(path, suffix, "predict")

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def commit(self) -> str:
        self.close()
        os.chmod(self.tmp, 0o666 & ~umask())
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.close()
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)


def _float(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


class CsvWriter(_Writer):
    """Rows as CSV: a header, null as an empty field, probabilities with 9 significant digits
    (float32 exactly). No embedding column (write those to .npy or .parquet)."""

    # Ours, not pyarrow.csv: pyarrow is an optional extra, and predict writes CSV without it.

    def __init__(self, path, columns):
        super().__init__(path, ".csv")
        self.columns = list(columns)
        self.f = open(self.tmp, "w", newline="", encoding="utf-8")
        self.w = csv.writer(self.f)
        self.w.writerow([c.name for c in self.columns])

    def write(self, batch: dict) -> None:
        def cell(v, kind):
            if v is None:
                return ""
            return f"{v:.9g}" if kind == "float" else v

        cols = [(batch[c.name], c.kind) for c in self.columns]
        for i in range(len(cols[0][0]) if cols else 0):
            self.w.writerow([cell(values[i], kind) for values, kind in cols])

    def close(self):
        if not self.f.closed:
            self.f.close()


class JsonlWriter(_Writer):
    """Rows as JSON Lines: one object per row, null for none, an embedding as a list of numbers."""

    # Ours: pyarrow reads JSON Lines but has no writer for it.

    def __init__(self, path, columns):
        super().__init__(path, ".jsonl")
        self.columns = list(columns)
        self.f = open(self.tmp, "w", encoding="utf-8")

    def write(self, batch: dict) -> None:
        n = len(batch[self.columns[0].name])
        for i in range(n):
            row = {}
            for c in self.columns:
                v = batch[c.name][i]
                if c.kind == "embedding":
                    v = None if np.isnan(v).any() else [float(x) for x in v]
                elif c.kind == "float":
                    v = _float(v)
                row[c.name] = v
            self.f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self):
        if not self.f.closed:
            self.f.close()


def arrow_schema(columns, float64: bool = False):
    """The pyarrow schema of ``columns`` (``float64``: floats as read back, not as stored)."""
    pa = require_pyarrow("Parquet")
    real = pa.float64() if float64 else pa.float32()
    types = {"str": pa.string(), "int": pa.int64(), "float": real, "embedding": pa.list_(real)}
    return pa.schema([(c.name, types[c.kind]) for c in columns])


def _embedding_array(pa, values: np.ndarray):
    values = np.asarray(values, np.float32)
    n, d = values.shape if values.ndim == 2 else (len(values), 0)
    null = np.isnan(values).any(axis=1) if n else np.zeros(0, bool)
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if d else np.zeros(n + 1, np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)), mask=pa.array(null))


class ParquetWriter(_Writer):
    """Rows as Parquet (pyarrow), one row group per batch written; ``embedding`` as list<float32>."""

    def __init__(self, path, columns):
        super().__init__(path, ".parquet")
        import pyarrow.parquet as pq  # noqa: PLC0415

        self.columns = list(columns)
        self.schema = arrow_schema(self.columns)
        self.pw = pq.ParquetWriter(self.tmp, self.schema)

    def write(self, batch: dict) -> None:
        import pyarrow as pa  # noqa: PLC0415

        arrays = []
        for c, field in zip(self.columns, self.schema):
            if c.kind == "embedding":
                arrays.append(_embedding_array(pa, batch[c.name]))
            else:
                values = [_float(v) for v in batch[c.name]] if c.kind == "float" else batch[c.name]
                arrays.append(pa.array(values, type=field.type))
        self.pw.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self):
        if self.pw is not None:
            self.pw.close()
            self.pw = None


WRITERS = {"csv": CsvWriter, "jsonl": JsonlWriter, "parquet": ParquetWriter}


def open_table(path: str, columns) -> _Writer:
    """A writer of ``columns`` rows to ``path`` (its format from the extension)."""
    return WRITERS[table_format(path)](path, columns)


def _reserve(path: str) -> None:
    """Allocate the blocks of ``path`` (a sparse file of its final size) now: a memory-mapped
    file that meets a full disk later kills the process (SIGBUS); this raises ENOSPC instead."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):  # (a file system without it)
            raise
    finally:
        os.close(fd)


class NpyWriter(_Writer):
    """Embeddings as a float32 ``rows x D`` ``.npy`` (filled in place), and the index of their
    rows (``.index.csv``: path, and record and filename for TFRecords) written next to it."""

    def __init__(self, path, rows: int, size: int, records: bool):
        super().__init__(path, ".npy")
        self.array = self.index = None
        try:
            self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float32, shape=(rows, size))
            _reserve(self.tmp)
            self.at = 0
            self.index = CsvWriter(index_path(path), key_columns(records))
        except BaseException:
            self.abort()
            raise

    def write(self, keys: dict, values: np.ndarray) -> None:
        n = len(values)
        self.array[self.at : self.at + n] = values
        self.at += n
        self.index.write(keys)

    def close(self):
        if self.array is not None:
            self.array.flush()
            self.array = None

    def commit(self) -> str:
        if self.array is not None and self.at != self.array.shape[0]:
            raise RuntimeError(f"{self.path}: {self.at} of {self.array.shape[0]} embeddings written")
        self.index.commit()
        return super().commit()

    def abort(self) -> None:
        try:
            if self.index is not None:
                self.index.abort()
        finally:
            super().abort()


class ParquetEmbeddingWriter(ParquetWriter):
    """Embeddings as Parquet: the key columns and ``embedding`` (list<float32>)."""

    def __init__(self, path, records: bool):
        super().__init__(path, [*key_columns(records), Column("embedding", "embedding")])

    def write(self, keys: dict, values: np.ndarray) -> None:
        super().write({**keys, "embedding": values})


def open_embeddings(path: str, rows: int, size: int, records: bool):
    """A writer of ``rows`` embeddings of ``size`` floats to ``path`` (.npy or .parquet)."""
    if embedding_format(path) == "npy":
        return NpyWriter(path, rows, size, records)
    return ParquetEmbeddingWriter(path, records)


def commit_all(writers) -> list[str]:
    """Commit every writer (each an atomic rename), or abort them all if one fails before. An
    OSError (a full disk when the last buffer is flushed) names the file."""
    try:
        for w in writers:
            with naming_path(w.path):
                w.close()
    except BaseException:
        abort_all(writers)
        raise
    out = []
    for w in writers:
        with naming_path(w.path):
            out.append(w.commit())
    return out


def abort_all(writers) -> None:
    for w in writers:
        try:
            w.abort()
        except OSError:
            pass


# --------------------------------------------------------------------------- #
# Readers (the merge step)
# --------------------------------------------------------------------------- #
def read_table(path: str, columns, size: int | None = None, batch_rows: int = 4096):
    """Batches of rows (as written by these writers) from a CSV, JSONL or Parquet file, read
    with ``pyarrow.dataset`` (floats as float64: the CSV's 9 digits come back as written).
    ``size``: the embedding length, for an ``embedding`` column."""
    columns = list(columns)
    fmt = table_format(path, "--merge")
    require_pyarrow("--merge")
    import pyarrow.csv as pc  # noqa: PLC0415
    import pyarrow.dataset as ds  # noqa: PLC0415
    import pyarrow.json as pj  # noqa: PLC0415

    schema = arrow_schema(columns, float64=True)
    if fmt == "jsonl" and os.path.getsize(path) == 0:
        return  # (pyarrow refuses an empty JSON stream)
    source = {"parquet": "parquet", "csv": ds.CsvFileFormat(
                  convert_options=pc.ConvertOptions(null_values=[""], strings_can_be_null=True)),
              "jsonl": ds.JsonFileFormat(parse_options=pj.ParseOptions(explicit_schema=schema))}[fmt]
    for rb in ds.dataset(path, format=source, schema=schema).to_batches(batch_size=batch_rows):
        batch = rb.to_pydict()
        for c in columns:
            if c.kind == "embedding":
                batch[c.name] = _stack(batch[c.name], size)
        yield batch


def _stack(values, size: int | None) -> np.ndarray:
    size = size or next((len(v) for v in values if v is not None), 0)
    out = np.full((len(values), size), np.nan, np.float32)
    for i, v in enumerate(values):
        if v is not None:
            out[i] = v
    return out


def read_embeddings(path: str, records: bool, batch_rows: int = 4096):
    """Batches of ``(keys, embeddings)`` from an embeddings file (.npy and its index, or Parquet)."""
    keys_cols = key_columns(records)
    if embedding_format(path) == "npy":
        array = np.load(path, mmap_mode="r")
        at = 0
        for keys in read_table(index_path(path), keys_cols, batch_rows=batch_rows):
            n = len(keys["path"])
            yield keys, np.asarray(array[at : at + n])
            at += n
        return
    for batch in read_table(path, [*keys_cols, Column("embedding", "embedding")], batch_rows=batch_rows):
        values = batch.pop("embedding")
        yield batch, values
