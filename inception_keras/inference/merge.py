"""Merging the outputs of ``--shard I/N`` runs into the unsharded output.

    python tools/predict.py --merge 'out/preds-*.parquet' --output preds.parquet [--embeddings emb.npy]

Each shard's main output has a description next to it (``preds-3.parquet.meta.json``). The
merge checks that the shards are the N of one run (same model, weights, preprocessing, top-k,
features and inputs; each of 0..N-1 exactly once) and concatenates them in shard order, which
is the unsharded row order (shards are contiguous slices of the sorted inputs). The merged
files are written like a run's: under temporary names, renamed into place whole, holding the
output's lock; a merge never writes over one of the shards it reads, nor over a file that no
run wrote (unless ``overwrite``).
"""

from __future__ import annotations

import glob
import json
import os

from ..utils.fileio import naming_path, output_lock, write_json

from . import writers
from .chunks import differences
from .columns import columns_from_json
from .run import check_outputs, clean_output_folders

# What may differ between the shards of one run.
PER_SHARD = ("shard", "chunk_size", "batch_size", "rows", "unreadable", "predictions", "embeddings", "date", "weights",
             "columns")


class MergeError(ValueError):
    """Shard outputs that are not the N shards of one run."""


def _expand(patterns) -> list[str]:
    paths = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not found:
            raise MergeError(f"--merge {pattern!r} matches nothing")
        paths += found
    return paths


def _describe(path: str) -> dict:
    meta = writers.meta_path(path)
    if not os.path.isfile(path):
        raise MergeError(f"--merge {path}: no such file")
    if not os.path.isfile(meta):
        raise MergeError(f"--merge {path}: its description {meta} is missing; give the outputs written by "
                         f"tools/predict.py --shard I/N (each with its .meta.json next to it)")
    with open(meta, encoding="utf-8") as f:
        data = json.load(f)
    folder = os.path.dirname(os.path.abspath(path))
    for key in ("predictions", "embeddings"):
        if data.get(key):
            data[key] = os.path.join(folder, data[key])
    return data


def check_shards(paths) -> list[tuple[str, dict]]:
    """``(path, description)`` of each shard output, in shard order; MergeError when they are
    not the shards 0..N-1 of one run (missing, given twice, or made with other arguments)."""
    described = [(p, _describe(p)) for p in _expand(paths)]
    first_path, first = described[0]
    common = {k: v for k, v in first.items() if k not in PER_SHARD}
    by_index, count = {}, None
    for path, meta in described:
        diff = differences(common, {k: v for k, v in meta.items() if k not in PER_SHARD})
        if diff:
            raise MergeError(f"{path} was made with other arguments than {first_path}: {'; '.join(diff)}; "
                             f"merge only the shards of one run")
        index, n = (int(x) for x in meta["shard"].split("/"))
        if count is None:
            count = n
        elif n != count:
            raise MergeError(f"{path} is shard {index}/{n} but {first_path} is one of {count}; merge the shards "
                             f"of one run")
        if index in by_index:
            raise MergeError(f"shard {index}/{n} is given twice: {by_index[index][0]} and {path}")
        by_index[index] = (path, meta)
    missing = [i for i in range(count) if i not in by_index]
    if missing:
        shown = ", ".join(f"{i}/{count}" for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise MergeError(f"{len(missing)} of {count} shards are missing: {shown}; run them (--shard I/{count}) "
                         f"or give their outputs")
    return [by_index[i] for i in range(count)]


def merge(paths, predictions: str | None, embeddings: str | None = None, *, overwrite: bool = False) -> list[str]:
    """Merge shard outputs into ``predictions`` (a .csv/.jsonl/.parquet file) and/or
    ``embeddings`` (.npy or .parquet); returns the paths written. ``overwrite``: replace output
    files that no run wrote (never one of the shards)."""
    if not predictions and not embeddings:
        raise MergeError("--merge needs --output FILE (and/or --embeddings FILE) for the merged rows")
    if predictions:
        writers.table_format(predictions)
    if embeddings:
        writers.embedding_format(embeddings)
    given = _expand(paths)
    check_outputs(predictions, embeddings, [*given, *map(writers.meta_path, given)], overwrite)
    with output_lock(predictions or embeddings, "run or merge", "wait for it to finish, or give another --output"):
        return _merge(given, predictions, embeddings, overwrite)


def _merge(paths, predictions, embeddings, overwrite) -> list[str]:
    shards = check_shards(paths)
    shard_files = [m.get(k) for _, m in shards for k in ("predictions", "embeddings")]
    shard_files += [writers.index_path(p) for p in shard_files if p and p.lower().endswith(".npy")]
    check_outputs(predictions, embeddings, [*paths, *map(writers.meta_path, paths), *shard_files], overwrite)
    clean_output_folders(predictions, embeddings)
    meta = shards[0][1]
    columns = columns_from_json(meta["columns"])
    in_rows = any(c.name == "embedding" for c in columns)
    has_embeddings = in_rows or any(m.get("embeddings") for _, m in shards)
    if embeddings and not has_embeddings:
        raise MergeError("--embeddings: the shards have no embeddings (they ran without --embeddings)")
    if predictions and not all(m.get("predictions") for _, m in shards):
        raise MergeError("--output: the shards wrote embeddings only (no --output); give --embeddings FILE alone")
    out_columns = [c for c in columns if not (c.name == "embedding" and embeddings)]
    if predictions and any(c.name == "embedding" for c in out_columns) and \
            writers.table_format(predictions) == "csv":
        raise MergeError(f"--output {predictions}: the shards hold embeddings in their rows and a CSV cannot; "
                         f"give a .parquet or .jsonl --output, or --embeddings FILE.npy to take them out")
    writers.require_pyarrow("--merge")  # (it reads the shards with pyarrow.dataset)
    rows = sum(m["rows"] for _, m in shards)
    unreadable = sum(m["unreadable"] for _, m in shards)
    size, records = meta.get("embedding_size"), bool(meta.get("records"))
    opened = []
    try:
        table = emb = None
        if predictions:
            with naming_path(predictions):
                table = writers.open_table(predictions, out_columns)
            opened.append(table)
        if embeddings:
            with naming_path(embeddings):
                emb = writers.open_embeddings(embeddings, rows - unreadable, size, records)
            opened.append(emb)
        for _, m in shards:
            if table is not None or (emb is not None and in_rows):
                for batch in writers.read_table(m["predictions"], columns, size):
                    if table is not None:
                        with naming_path(predictions):
                            table.write(batch)
                    if emb is not None and in_rows:
                        ok = [i for i, e in enumerate(batch["error"]) if e is None]
                        keys = {c: [batch[c][i] for i in ok] for c in ("path", "record", "filename") if c in batch}
                        with naming_path(embeddings):
                            emb.write(keys, batch["embedding"][ok])
            if emb is not None and not in_rows:
                for keys, values in writers.read_embeddings(m["embeddings"], records):
                    with naming_path(embeddings):
                        emb.write(keys, values)
    except BaseException:
        writers.abort_all(opened)
        raise
    written = writers.commit_all(opened)
    main = predictions or embeddings
    merged = {**{k: v for k, v in meta.items() if k not in PER_SHARD}, "shard": "0/1", "merged_from": len(shards),
              "columns": [[c.name, c.kind] for c in out_columns], "rows": rows, "unreadable": unreadable,
              "predictions": os.path.basename(predictions) if predictions else None,
              "embeddings": os.path.relpath(embeddings, os.path.dirname(os.path.abspath(main))) if embeddings else None,
              "chunk_size": meta.get("chunk_size"), "weights": meta.get("weights"),
              "batch_size": meta.get("batch_size") if len({m.get("batch_size") for _, m in shards}) == 1 else None}
    with naming_path(writers.meta_path(main)):
        written.append(write_json(writers.meta_path(main), merged))
    return written
