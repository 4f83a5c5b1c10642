"""``benchmark --model A B C``: models of any kind opened side by side and timed in turn.

One record per model: what it is (format, precision, runtime, file size), what opening it cost
(load seconds, RSS), latency at batch 1 (median, p90) and throughput at a batch size, all
measured in one process by :func:`~inception_keras.benchmark.timing.measure_alternately`.
"""

from __future__ import annotations

import contextlib

import keras

from ..utils.tables import format_table
from .artifacts import open_artifact
from .timing import MEMORY_NOTE, measure_alternately, memory_method

COLUMNS = ("model", "format", "precision", "size MB", "load s", "RSS +MB", "batch 1 ms", "p90 ms", "images/s")


@contextlib.contextmanager
def dtype_policy(policy: str):
    """Keras models built inside use ``policy`` ("float32", "mixed_bfloat16"...); restored after."""
    saved = keras.mixed_precision.dtype_policy().name
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(saved)


def warm_runtime() -> None:
    """Start TensorFlow's eager runtime before anything is measured, so that the first Keras
    model's load time and memory are its own, not the runtime's start-up."""
    import tensorflow as tf  # noqa: PLC0415

    (tf.constant([1.0]) + 1.0).numpy()


def open_all(refs, *, progress=None, **kwargs) -> list:
    """:func:`~inception_keras.benchmark.open_artifact` of each reference, in order, with
    ``kwargs``; the ones opened so far are closed when one fails."""
    artifacts = []
    try:
        for ref in refs:
            if progress:
                progress(f"opening {ref}")
            artifacts.append(open_artifact(ref, **kwargs))
    except BaseException:
        close_all(artifacts)
        raise
    return artifacts


def close_all(artifacts) -> None:
    for artifact in artifacts:
        artifact.runner.close()


def compare_models(refs, *, batch_size: int = 8, runs: int = 10, warmup: int = 2, policy: str = "float32",
                   progress=None, **open_kwargs) -> list[dict]:
    """Open every reference and time them alternately; one record per model, in order.

    ``open_kwargs`` go to :func:`~inception_keras.benchmark.open_artifact` (provider,
    threads, input_size, random_weights, jit_compile); ``policy`` is the Keras dtype policy
    the Keras models are built under. Names given twice are refused (their rows would be
    indistinguishable).
    """
    refs = [str(r) for r in refs]
    twice = sorted({r for r in refs if refs.count(r) > 1})
    if twice:
        raise ValueError(f"--model names {', '.join(twice)} more than once; give each model once")
    warm_runtime()
    with dtype_policy(policy):
        artifacts = open_all(refs, progress=progress, **open_kwargs)
    try:
        results = measure_alternately(artifacts, batch_size=batch_size, runs=runs, warmup=warmup, progress=progress)
    finally:
        close_all(artifacts)
    method = memory_method()
    records = []
    for artifact, result in zip(artifacts, results, strict=True):
        record = artifact.describe() | result.summary() | {"warmup": warmup, "schedule": "round-robin"}
        record["rss_mb"] = round(record["load_rss_mb"] + record["run_rss_mb"], 1)
        record["memory_method"] = method
        records.append(record)
    return records


def _size_mb(record: dict) -> str:
    return "-" if record.get("file_size") is None else f"{record['file_size'] / 1e6:.1f}"


def _number(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def comparison_rows(records: list[dict]) -> list[tuple]:
    """The rows of :data:`COLUMNS` (strings)."""
    return [(r["name"], r["format"], r["precision"], _size_mb(r), f"{r['load_seconds']:.2f}", f"{r['rss_mb']:.0f}",
             _number(r["latency_ms_median"]), _number(r["latency_ms_p90"]), _number(r["images_per_second"]))
            for r in records]


def format_comparison(records: list[dict]) -> str:
    """The side-by-side table, and lines that say what was measured."""
    if not records:
        return ""
    first = records[0]
    header = list(COLUMNS)
    header[-1] = f"images/s (batch {first['batch_size']})"
    table = format_table(header, comparison_rows(records), right=range(3, len(header)))
    runtimes = [f"  {r['name']}: {r['runtime']} (weights: {r['weights']})" for r in records]
    return "\n".join([
        table, "",
        (f"batch 1 ms: one call on 1 image, median and p90 of {first['runs']} after {first['warmup']} warm-up "
         f"calls; images/s: batch {first['batch_size']} over the median of its {first['runs']} calls. The models "
         f"ran in turn (round-robin), each round running every model once."),
        f"{MEMORY_NOTE}; measured by {first['memory_method']}.",
        "runtimes:", *runtimes,
    ])
