"""The Ray engine: the same per-batch function (:meth:`.Predictor.predict_encoded`) run by
Ray Data actors, one model per actor, on one machine or a cluster.

``ray.data.from_items`` holds the rows still to do (row number and path), ``map_batches``
sends batches of them to a pool of :class:`PredictActor` (each loads the model once, reads its
batch's files and predicts), and the driver gathers the returned rows into the run's chunks
(:mod:`.chunks`), so resuming, the outputs and ``--shard`` work as with the local engine.

Without ``--ray-address`` Ray starts on this machine (``ray.init()``, no cluster needed); with
it the run joins a cluster, whose workers must have inception-keras installed and see the
image files at the same paths. Ray and pyarrow come with ``pip install "inception-keras[batch]"``.
"""

from __future__ import annotations

import os

import numpy as np

from ..utils.quiet import quiet_startup
from .chunks import Collector

RAY_PIP = 'pip install "inception-keras[batch]"'


def import_ray():
    """The ``ray`` module, or ValueError naming the extra that brings it."""
    try:
        import ray  # noqa: PLC0415
        import ray.data  # noqa: F401, PLC0415
    except ImportError:
        raise ValueError(f"--engine ray needs Ray Data: {RAY_PIP}") from None
    return ray


class PredictActor:
    """A Ray Data actor: builds the predictor once (``factory()``), then maps batches of
    ``{"row", "path"}`` to chunk arrays. ``threads``: TensorFlow's CPU threads (its share of
    the machine); ``digest``: the driver's weights digest, which the actor's must equal."""

    def __init__(self, factory, threads: int | None = None, digest: str | None = None,
                 batch_size: int | None = None):
        quiet_startup()
        import tensorflow as tf  # noqa: PLC0415

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        self.predictor = factory()
        self.batch_size = batch_size
        if digest is not None and self.predictor.identity()["weights_sha256"] != digest:
            raise RuntimeError("a Ray worker built other weights than the driver (random weights, or another "
                               "file at the same path?): give --weights a file every worker can read")

    def __call__(self, batch: dict) -> dict:
        items = []
        for path in batch["path"]:  # (bytes: the file system's name, UTF-8 or not)
            try:
                with open(bytes(path) if isinstance(path, (bytes, np.bytes_)) else str(path), "rb") as f:
                    items.append((f.read(), "", None))
            except OSError as e:
                items.append((b"", "", f"cannot be read ({e.strerror or e})"))
        return self.predictor.predict_encoded(batch["row"].tolist(), items, self.batch_size)


def _cluster_resources(ray) -> tuple[float, float]:
    res = ray.cluster_resources()
    return float(res.get("CPU", 1)), float(res.get("GPU", 0))


def run_ray(predictor, sources, plan, pending, finish, advance, batch_size: int, options: dict) -> None:
    """Predict the rows of the ``pending`` chunks with Ray Data actors, handing each whole
    chunk to ``finish``. ``options``: ``factory`` (a picklable callable building the
    :class:`.Predictor` in each actor; required), ``address`` (a cluster to join), ``workers``
    (actors; default one per GPU, or 1 without GPUs), ``cpus_per_worker``."""
    ray = import_ray()
    if sources.has_records:
        raise ValueError("--engine ray reads image files; for TFRecord shards use the local engine (split the "
                         "work with --shard I/N)")
    factory = options.get("factory")
    if factory is None:
        raise ValueError("the Ray engine needs a predictor factory (a picklable callable) to build the model "
                         "in each worker")
    started = False
    if not ray.is_initialized():
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        kwargs = {"address": options.get("address"), "include_dashboard": False, "log_to_driver": False}
        if not options.get("address"):  # local: the workers import this copy of the package
            path = os.environ.get("PYTHONPATH")
            kwargs["runtime_env"] = {"env_vars": {
                "PYTHONPATH": package_root + (os.pathsep + path if path else ""),
                "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"), "TF_CPP_MIN_LOG_LEVEL": "3"}}
        ray.init(**kwargs)
        started = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours is on stderr already
        cpus, gpus = _cluster_resources(ray)
        workers = int(options.get("workers") or (gpus if gpus >= 1 else 1))
        per_worker = options.get("cpus_per_worker") or max(1, int(cpus // workers))
        rows = np.concatenate([np.arange(*plan.bounds(k)) for k in pending])
        items = [{"row": int(r), "path": os.fsencode(sources.files[r])} for r in rows]
        ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // max(batch_size, 1), 1000)))
        ds = ds.map_batches(PredictActor, fn_constructor_kwargs={
                                "factory": factory, "threads": None if gpus >= 1 else per_worker,
                                "digest": predictor.identity()["weights_sha256"], "batch_size": batch_size},
                            batch_size=batch_size, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=workers),
                            num_cpus=per_worker, num_gpus=1 if gpus >= 1 else 0)
        collector = Collector(plan)
        queue = set(pending)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            arrays = {k: (np.asarray(v).astype(str) if k in ("error", "filename") else np.asarray(v))
                      for k, v in batch.items()}
            collector.add(arrays)
            advance(len(arrays["row"]))
            for k in collector.complete():
                queue.discard(k)
                finish(k, collector)
        for k in sorted(queue):
            finish(k, collector)
    finally:
        if started:
            ray.shutdown()
