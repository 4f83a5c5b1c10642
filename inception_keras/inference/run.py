"""A batch-inference run: sources -> chunks -> the output files.

    >>> from inception_keras.inference import Outputs, Predictor, resolve, run
    >>> predictor = Predictor(model, class_names, preprocessing, top=5, embeddings=True)   # doctest: +SKIP
    >>> run(predictor, resolve(["photos/"]), Outputs("preds.parquet", embeddings="emb.npy"))  # doctest: +SKIP

The rows are cut into chunks (:mod:`.chunks`), each written atomically into
``<output>.parts/`` as it is finished, so a rerun after a crash does only the chunks that were
not written. The engines: ``local`` (a ``tf.data`` pipeline feeding the model, spread over a
``tf.distribute`` strategy's replicas) and ``ray`` (Ray Data actors calling the same per-batch
function, :mod:`.ray_engine`). When every chunk is there the outputs are assembled from them,
each renamed into place whole, with a description of the run next to the main one
(``<output>.meta.json``, which the merge step reads, and which marks the files as this
project's: a rerun may replace them, while a file it did not write is refused unless
``overwrite``).

One run at a time writes an output: a run holds ``<output>.lock``
(:func:`inception_keras.utils.fileio.output_lock`) and a second one is refused. Every batch holds
exactly ``batch_size`` images (:mod:`.pipeline`), so the bytes written do not depend on where a
run was resumed nor on ``--shard``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import sys
import time

import numpy as np

from ..utils.fileio import (
    check_overwrite,
    naming_path,
    output_lock,
    remove_stale_temporaries,
    unwritable_folder,
    write_json,
)

from . import pipeline, writers
from .chunks import MANIFEST, Collector, MemoryParts, PartsFolder, Plan, concat, empty_chunk
from .columns import Renderer, columns_to_json, imagenet_synsets, prediction_columns
from .ray_engine import run_ray

ENGINES = ("local", "ray")
DEFAULT_CHUNK_SIZE = 2048


@dataclasses.dataclass
class Outputs:
    """Where a run's rows go.

    ``predictions``: a .csv, .jsonl or .parquet file (None: keep the rows in memory, the
    tool prints them). ``embeddings``: a separate .npy (plus ``.index.csv``) or .parquet file.
    ``embeddings_in_predictions``: an ``embedding`` column in the predictions file instead
    (.parquet or .jsonl)."""

    predictions: str | None = None
    embeddings: str | None = None
    embeddings_in_predictions: bool = False

    @property
    def main(self) -> str | None:
        """The file the parts folder and the description go next to."""
        return self.predictions or self.embeddings

    @property
    def wants_embeddings(self) -> bool:
        return bool(self.embeddings) or self.embeddings_in_predictions

    def check(self) -> None:
        """ValueError for an unknown extension, an embedding column a CSV cannot hold, a missing
        pyarrow or an unwritable folder; creates nothing."""
        formats = []
        if self.predictions:
            formats.append(writers.table_format(self.predictions))
            if self.embeddings_in_predictions and formats[-1] == "csv":
                raise ValueError(f"--output {self.predictions}: a CSV cannot hold the embeddings; give "
                                 f"--embeddings FILE.npy (or .parquet), or a .parquet / .jsonl --output")
        elif self.embeddings_in_predictions:
            raise ValueError("--embeddings without a file name puts them into --output: give --output "
                             "FILE.parquet, or --embeddings FILE.npy")
        if self.embeddings:
            formats.append(writers.embedding_format(self.embeddings))
            if self.predictions and os.path.abspath(self.embeddings) == os.path.abspath(self.predictions):
                raise ValueError("internal: give embeddings_in_predictions instead of the same path twice")
        if "parquet" in formats:
            writers.require_pyarrow("a .parquet output")
        for path in filter(None, (self.predictions, self.embeddings)):
            if os.path.isdir(path):
                raise ValueError(f"{path} is a folder; give a file name")
            problem = unwritable_folder(os.path.dirname(os.path.abspath(path)))
            if problem:
                raise ValueError(f"cannot write {path}: {problem[0]} is {problem[1]}; give a writable folder")


@dataclasses.dataclass
class Result:
    """What a run did: rows written, unreadable ones, chunks skipped, speed; and, for a run
    kept in memory, the rows themselves."""

    rows: int
    unreadable: int
    chunks: int
    skipped_chunks: int
    skipped_images: int
    images: int  # predicted in this run
    seconds: float
    written: list[str]
    table: dict | None = None
    parts: str | None = None

    @property
    def images_per_second(self) -> float | None:
        return round(self.images / self.seconds, 2) if self.seconds > 0 and self.images else None

    def to_json(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "table"}
        out["images_per_second"] = self.images_per_second
        return out


def manifest(predictor, sources, chunk_size: int, columns, batch_size: int | None = None) -> dict:
    """What a run's chunks are made with: the predictor's identity (model, weights sha256,
    classes, preprocessing...), the inputs (their number and a sha256 of their paths and
    sizes), shard, chunk size, batch size (an image's last bits may depend on it) and columns."""
    return {**predictor.identity(),
            "inputs": {"sources": sources.total, "sha256": sources.fingerprint},
            "shard": f"{sources.shard[0]}/{sources.shard[1]}",
            "chunk_size": chunk_size,
            "batch_size": batch_size,
            "columns": columns_to_json(columns)}


def batch_size_of(batch_size: int, sources, replicas: int = 1) -> int:
    """The batch size a run uses: ``batch_size``, or fewer when the whole (unsharded) input has
    fewer images (files only; the same in every shard), not to compute blank images for nothing."""
    if replicas > 1 or sources.any_records:
        return batch_size
    return max(1, min(batch_size, sources.total))


def _description(meta_file: str) -> dict | None:
    """The run description in ``meta_file`` when it is one (written by a run or a merge)."""
    try:
        with open(meta_file, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "columns" in data and "rows" in data else None


def written_by_a_run(path: str, main: str) -> bool:
    """Whether ``path``, an output of a run whose main output is ``main``, was written by a run
    (or a merge): the description next to ``main`` is one and names it (or is ``path``), or a
    run was writing there (its parts folder has a manifest: killed while renaming its outputs
    into place, before the description was written)."""
    if os.path.isfile(os.path.join(main + ".parts", MANIFEST)):
        return True
    meta = writers.meta_path(main)
    data = _description(meta)
    if data is None:
        return False
    folder = os.path.dirname(os.path.abspath(main))
    named = [os.path.join(folder, data[k]) for k in ("predictions", "embeddings") if isinstance(data.get(k), str)]
    named += [writers.index_path(p) for p in named if p.lower().endswith(".npy")]
    return os.path.abspath(path) in {os.path.abspath(p) for p in [meta, *named]}


def output_files(predictions: str | None, embeddings: str | None) -> list[tuple[str, str]]:
    """``(path, option)`` of every file a run or a merge writes: the rows, the embeddings (and
    their index) and the description next to the main one."""
    files = []
    if predictions:
        files.append((predictions, "--output"))
    if embeddings:
        files.append((embeddings, "--embeddings"))
        if writers.embedding_format(embeddings) == "npy":
            files.append((writers.index_path(embeddings), "--embeddings index"))
    main = predictions or embeddings
    if main:
        files.append((writers.meta_path(main), "the run description"))
    return files


def check_outputs(predictions: str | None, embeddings: str | None, inputs=(), overwrite: bool = False) -> None:
    """:class:`inception_keras.utils.fileio.OverwriteError` when an output would replace one of
    ``inputs`` (always), or a file that no run wrote (unless ``overwrite``)."""
    files = output_files(predictions, embeddings)
    names = {os.path.basename(p) for p, _ in files}
    # (only the inputs of the same name are compared: millions of files are not stat'ed)
    same_names = [p for p in inputs if p is not None and os.path.basename(os.fspath(p)) in names]
    main = predictions or embeddings
    for path, flag in files:
        check_overwrite(path, ours=written_by_a_run(path, main), inputs=same_names, overwrite=overwrite, flag=flag)


def clean_output_folders(*paths) -> list[str]:
    """Delete the temporaries that killed runs left next to ``paths`` (by a pid that is gone)."""
    removed = []
    for folder in {os.path.dirname(os.path.abspath(p)) for p in paths if p}:
        removed += remove_stale_temporaries(folder)
    return removed


def _progress(total: int, skipped: int, enabled: bool):
    """A Keras progress bar counting ``skipped`` images as done, with images/s and an ETA
    from this run's own speed."""
    import keras  # noqa: PLC0415

    if not enabled:
        return None

    class Bar(keras.utils.Progbar):
        def _estimate_step_duration(self, current, now):  # the skipped images took no time
            done = current - skipped
            return (now - self._start) / done if done > 0 else 0.0

    bar = Bar(total, unit_name="image", stateful_metrics=["images/s"])
    bar.update(skipped)
    return bar


def run(predictor, sources, outputs: Outputs, *, chunk_size: int = DEFAULT_CHUNK_SIZE, batch_size: int = 32,
        progress: bool = True, engine: str = "local", ray_options: dict | None = None, on_resume=None,
        overwrite: bool = False, lock: bool = True) -> Result:
    """Predict every row of ``sources`` (see the module docstring) and write ``outputs``.

    ``on_resume(message)`` hears about the parts folder: finished chunks of an earlier run found,
    or chunks of unknown origin deleted (default: stderr). ``overwrite``: replace output files
    that no run wrote (never an input). ``lock``: take the output's lock (False: the caller
    holds it)."""
    if chunk_size < 1:
        raise ValueError(f"--chunk-size must be positive, got {chunk_size}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {batch_size}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    outputs.check()
    if outputs.main is None or not lock:
        return _run(predictor, sources, outputs, chunk_size, batch_size, progress, engine, ray_options, on_resume,
                    overwrite)
    with output_lock(outputs.main, "run", "wait for it to finish, or give another --output"):
        return _run(predictor, sources, outputs, chunk_size, batch_size, progress, engine, ray_options, on_resume,
                    overwrite)


def _run(predictor, sources, outputs, chunk_size, batch_size, progress, engine, ray_options, on_resume, overwrite):
    say = on_resume or (lambda message: print(message, file=sys.stderr))
    if outputs.main:
        check_outputs(outputs.predictions, outputs.embeddings, [*sources.files, *sources.tfrecords], overwrite)
        clean_output_folders(outputs.predictions, outputs.embeddings)
    batch_size = batch_size_of(batch_size, sources, predictor.replicas)
    plan = Plan(len(sources), chunk_size)
    columns = prediction_columns(predictor.top, synsets=imagenet_synsets(predictor.class_names) is not None,
                                 records=sources.any_records, embedding=outputs.embeddings_in_predictions)
    description = manifest(predictor, sources, chunk_size, columns, batch_size)
    store = PartsFolder(outputs.main + ".parts", description) if outputs.main else MemoryParts()
    done = store.open(notice=say) if isinstance(store, PartsFolder) else set()
    done = {k for k in done if k < plan.chunks}
    pending = [k for k in range(plan.chunks) if k not in done]
    skipped = sum(plan.size(k) for k in done)
    if done:
        say(f"resuming from {store.folder}: skipped {len(done)} finished chunks of {plan.chunks} "
            f"({skipped} of {plan.rows} images)")
    bar = _progress(plan.rows, skipped, progress and plan.rows > 0)
    state = {"done": skipped, "images": 0}
    start = time.perf_counter()

    def advance(n: int) -> None:
        state["done"] += n
        state["images"] += n
        if bar is not None:
            rate = state["images"] / max(time.perf_counter() - start, 1e-9)
            bar.update(state["done"], values=[("images/s", rate)])

    def finish(k: int, collector: Collector) -> None:
        arrays, missing = collector.pop(k)
        if missing:
            extra = predictor.predict_encoded(missing, [sources.read(r) for r in missing], batch_size)
            advance(len(missing))
            arrays = concat([arrays, extra]) if arrays is not None else extra
        store.write(k, arrays)

    if pending:
        if engine == "ray":
            run_ray(predictor, sources, plan, pending, finish, advance, batch_size, ray_options or {})
        else:
            _run_local(predictor, sources, plan, pending, finish, advance, batch_size)
    seconds = time.perf_counter() - start
    if bar is not None and state["done"] < plan.rows:  # (at the target the bar has finished itself)
        bar.update(plan.rows, values=[("images/s", state["images"] / max(seconds, 1e-9))], finalize=True)

    renderer = Renderer(sources, predictor.class_names, columns)
    chunks = [store.read(k) for k in range(plan.chunks)] if isinstance(store, MemoryParts) else None
    unreadable = 0
    for k in range(plan.chunks):
        unreadable += int(sum(1 for e in (chunks[k] if chunks else store.read(k, plan.bounds(k)))["error"] if e))
    result = Result(plan.rows, unreadable, plan.chunks, len(done), skipped, state["images"], seconds, [],
                    parts=getattr(store, "folder", None))
    if chunks is not None:
        result.table = renderer.rows(concat(chunks) if chunks else empty_chunk(predictor.top,
                                                                                predictor.embedding_size))
        return result
    result.written = assemble(store, plan, renderer, outputs, predictor, description, unreadable)
    store.remove()
    return result


def _run_local(predictor, sources, plan, pending, finish, advance, batch_size):
    rows = np.concatenate([np.arange(*plan.bounds(k)) for k in pending])
    ds = pipeline.batches(sources, rows, predictor.prep, batch_size, max_pixels=predictor.max_pixels)
    step, data = predictor.distributed(ds)
    collector = Collector(plan)
    queue = list(pending)
    for batch in data:
        outs = [np.asarray(t) for t in step(batch)]
        real = outs[-2] >= 0  # (the padding of the last batch: row -1)
        outs = [o[real] for o in outs]
        scores, feats = outs[0], (outs[1] if predictor.embeddings else None)
        batch_rows, filenames = outs[-2], outs[-1]
        collector.add(predictor.arrays(batch_rows, scores, feats, filenames))
        advance(len(batch_rows))
        last = int(batch_rows.max()) if len(batch_rows) else -1
        # The stream is in row order: a chunk whose last row is behind us is whole, or its
        # missing rows were dropped as undecodable (finish() retries them).
        while queue and plan.bounds(queue[0])[1] - 1 <= last:
            finish(queue.pop(0), collector)
    while queue:
        finish(queue.pop(0), collector)


def assemble(store, plan, renderer, outputs: Outputs, predictor, description: dict, unreadable: int) -> list[str]:
    """Write the outputs from every chunk (streamed, one chunk at a time), each renamed into
    place whole, then the description next to the main one; returns the paths written. An
    OSError (a full disk) names the file being written; the parts stay, for a rerun."""
    opened = []
    try:
        table = emb = None
        if outputs.predictions:
            with naming_path(outputs.predictions):
                table = writers.open_table(outputs.predictions, renderer.columns)
            opened.append(table)
        if outputs.embeddings:
            with naming_path(outputs.embeddings):
                emb = writers.open_embeddings(outputs.embeddings, plan.rows - unreadable, predictor.embedding_size,
                                              renderer.records)
            opened.append(emb)
        for k in range(plan.chunks):
            chunk = store.read(k, plan.bounds(k))
            if table is not None:
                with naming_path(table.path):
                    table.write(renderer.rows(chunk))
            if emb is not None:
                with naming_path(emb.path):
                    emb.write(*renderer.embeddings(chunk))
    except BaseException:
        writers.abort_all(opened)
        raise
    written = writers.commit_all(opened)
    meta = {**description, "weights": predictor.weights, "rows": plan.rows, "unreadable": unreadable,
            "records": renderer.records, "predictions": _relative(outputs.predictions, outputs.main),
            "embeddings": _relative(outputs.embeddings, outputs.main),
            "embedding_size": predictor.embedding_size,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with naming_path(writers.meta_path(outputs.main)):
        written.append(write_json(writers.meta_path(outputs.main), meta))
    return written


def _relative(path: str | None, main: str) -> str | None:
    """``path`` relative to the folder of ``main`` (the description moves with its files)."""
    return None if path is None else os.path.relpath(path, os.path.dirname(os.path.abspath(main)))
