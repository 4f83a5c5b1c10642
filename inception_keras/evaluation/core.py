"""The evaluation loop: one model (a Keras model or an exported model's runner), and optionally
a reference run on the same batches, over a labelled image set."""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Callable

import numpy as np

from ..data import crops as crop_protocols
from ..data.datasets import DataError, ImageSet, fit_index_labels, no_exclusion_message
from ..data.preprocessing import Preprocessing, crop_views
from ..data.images import decode_any
from ..profile import MACS_COUNTED, count_macs, device_description, percentile_ms
from ..runtimes import Runner
from .agreement import Agreement
from .progress import readable_progbar
from .scores import (
    BOTTOM,
    CropMeans,
    Predictions,
    Tally,
    confused_pairs,
    first_output,
    first_output_tensor,
    label_shift,
    outputs_probabilities,
)

SPEED_NOTE = ("end-to-end images/s and latencies exclude the first batch (tracing and compilation) when there is "
              "more than one; pipeline-only images/s is the input pipeline alone; a batch holds up to batch_size "
              "crops")


@dataclasses.dataclass
class Scorer:
    """A Keras model or an exported model's runner behind one call: float32 batch -> class scores."""

    name: str
    classes: int
    probabilities: bool  # whether the scores are probabilities (else logits: softmax before averaging)
    params: int | None
    macs: int | None
    precision: str
    call: Callable
    model: object = None  # the Keras model (None for a runner)
    runner: Runner | None = None


def make_scorer(model, batch_size: int) -> Scorer:
    """The :class:`Scorer` of a Keras model or of a :class:`~inception_keras.runtimes.Runner`."""
    if isinstance(model, Runner):
        return Scorer(name=model.path, classes=model.num_classes, probabilities=True, params=None, macs=None,
                      precision=f"{model.format} {model.precision}", call=model, runner=model)
    import keras  # noqa: PLC0415

    def call(x):
        return np.concatenate([first_output(model(x[i : i + batch_size], training=False))
                               for i in range(0, len(x), batch_size)])

    return Scorer(name=model.name, classes=int(model.outputs[0].shape[-1]), probabilities=outputs_probabilities(model),
                  params=int(model.count_params()), macs=macs_of(model),
                  precision=keras.mixed_precision.dtype_policy().name, call=call, model=model)


@dataclasses.dataclass
class _Clock:
    """Batch latencies of the evaluated model; the reference's time is kept out of images/s."""

    start: float = dataclasses.field(default_factory=time.perf_counter)
    end: float = 0.0
    latencies: list = dataclasses.field(default_factory=list)
    seen: int = 0
    warm: tuple | None = None  # (time, images) after the first batch
    reference_seconds: float = 0.0  # after the first batch

    def speed(self) -> dict:
        several = len(self.latencies) > 1
        timed = self.latencies[1:] if several else self.latencies
        images = self.seen - self.warm[1] if several else self.seen
        seconds = (self.end - self.warm[0] if several else self.end - self.start) - self.reference_seconds
        return {"images_per_second": round(images / seconds, 2) if seconds > 0 else None,
                "batch_latency_ms_mean": round(float(np.mean(timed)) * 1000.0, 3) if timed else 0.0,
                "batch_latency_ms_p90": round(percentile_ms(timed, 90), 3) if timed else 0.0,
                "batches": len(self.latencies), "seconds": round(self.end - self.start, 3)}


def _step(scorer: Scorer, dataset, strategy, jit_compile: bool):
    if scorer.runner is not None:
        runner = scorer.runner
        return (lambda batch: (runner(np.asarray(batch[0])), batch[1], batch[2])), dataset
    return _distributed_predict(scorer.model, dataset, strategy, jit_compile)


def _score_batches(scorer, dataset, strategy, jit_compile, means, tally, bar, agreement) -> _Clock:
    step, batches = _step(scorer, dataset, strategy, jit_compile)
    clock = _Clock()
    for batch in batches:
        t0 = time.perf_counter()
        scores, labels, indices = (np.asarray(t) for t in step(batch))
        clock.latencies.append(time.perf_counter() - t0)
        ranking, probs, done_labels, done_indices = means.add(scores, labels, indices)
        tally.add(ranking, probs, done_labels, done_indices)
        if agreement is not None:
            t1 = time.perf_counter()
            agreement.add_batch(np.asarray(batch[0]), labels, indices, ranking, probs, done_labels)
            if clock.warm is not None:
                clock.reference_seconds += time.perf_counter() - t1
        clock.seen += int(done_labels.shape[0])
        if clock.warm is None:
            clock.warm = (time.perf_counter(), clock.seen)
        if bar is not None:
            top1, top5 = tally.running()
            bar.update(clock.seen, values=[("top1", top1), ("top5", top5)])
    clock.end = time.perf_counter()
    return clock


def _score_missing(ev, scorer, means, tally, agreement, bar) -> list[dict]:
    """Examples the batches left out: a distributed run's last partial batch (decoded by
    TensorFlow here), and files TensorFlow cannot decode (Pillow's turn, else unreadable)."""
    done = tally.arrays()[2]
    missing = sorted(set(range(ev.total)) - set(done.tolist()))
    unreadable = []
    for index, where, encoded, label in ev.image_set.examples(missing):
        try:
            x = decode_one(encoded, ev.prep, ev.max_pixels, ev.protocol)
        except ValueError as e:
            unreadable.append({"index": int(index), "path": where, "error": str(e)})
            continue
        ranking, probs = means.one(scorer.call(x))
        labels = np.asarray([label + ev.shift])
        tally.add(ranking, probs, labels, np.asarray([index]))
        if agreement is not None:
            agreement.add_one(x, ranking, probs, labels)
    if bar is not None and missing:
        top1, top5 = tally.running()
        bar.update(ev.total, values=[("top1", top1), ("top5", top5)], finalize=True)
    return unreadable


@dataclasses.dataclass
class _Eval:
    """What one evaluation runs on."""

    image_set: ImageSet
    prep: Preprocessing
    protocol: str
    passes: int
    batch_size: int
    total: int
    shift: int
    max_pixels: int | None
    available: int | None
    exclusion: dict | None

    def dataset(self, replicas: int):
        kwargs = dict(limit=self.total, label_shift=self.shift, drop_remainder=replicas > 1,
                      max_pixels=self.max_pixels)
        if self.passes == 1:
            return self.image_set.dataset(self.prep, self.batch_size, **kwargs)
        return self.image_set.crop_dataset(self.prep, self.protocol, self.batch_size, **kwargs)

    def class_id(self, c: int) -> str:
        return self.image_set.class_names[c] if c >= 0 else "background"

    def class_name(self, c: int) -> str:
        return self.image_set.display_names[c] if c >= 0 else "background"


def _prepare(image_set, prep, crops, batch_size, limit, max_pixels, classes) -> _Eval:
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be positive, got {limit}")
    protocol = crop_protocols.check_protocol(crops)
    image_set = fit_index_labels(image_set, classes)
    shift = label_shift(classes, image_set)
    total = image_set.count(limit)
    exclusion = dict(image_set.exclusion) if image_set.exclusion else None
    if exclusion and exclusion.get("excluded") == 0 and exclusion.get("whole_set"):
        raise DataError(no_exclusion_message(exclusion, image_set.root, total))
    # the whole set's size, where that costs nothing (TFRecords are not read past --limit)
    available = len(image_set) if (limit is None or image_set.layout != "tfrecord") else None
    if total == 0:
        raise DataError(f"no images to evaluate in {image_set.root}")
    if exclusion:
        exclusion["scope"] = ("the whole set" if image_set.layout != "tfrecord" or exclusion.get("whole_set")
                              else f"the first {exclusion.get('records_read')} records read")
    return _Eval(image_set, prep, protocol, crop_protocols.forward_passes(protocol, prep), batch_size, total, shift,
                 max_pixels, available, exclusion)


def evaluate_model(model, image_set: ImageSet, prep: Preprocessing, *, batch_size: int = 64, limit: int | None = None,
                   progress: bool = True, command: str | None = None, pipeline_batches: int = 20,
                   strategy=None, jit_compile: bool = False, extra: dict | None = None,
                   max_pixels: int | None = None, crops: str = "1", return_predictions: bool = False,
                   reference=None):
    """Evaluate ``model`` on ``image_set`` and return the report as a dict (and, with
    ``return_predictions``, the :class:`Predictions` too).

    ``model`` is a Keras model or an exported model's :class:`~inception_keras.runtimes.Runner`;
    it takes ``prep.image_size`` squared RGB inputs in [-1, 1] and returns class scores (logits
    or probabilities) with one column per class of the set, or one more (TF-slim's background
    class first). ``crops`` is the crop protocol (:mod:`inception_keras.data.crops`); the model sees
    at most ``batch_size`` crops at a time. With a ``tf.distribute`` ``strategy`` (a Keras model
    built in its scope), each batch is split over its replicas; ``jit_compile`` compiles the
    forward pass with XLA. ``extra`` is merged into the report (the CLI puts weights and the
    like there). Images over ``max_pixels`` (read from their headers) are unreadable.
    ``reference`` (a Keras model or a runner with the same classes) runs on the same batches:
    the report's ``reference`` section holds their agreement (:mod:`.agreement`).
    """
    scorer = make_scorer(model, batch_size)
    ev = _prepare(image_set, prep, crops, batch_size, limit, max_pixels, scorer.classes)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    agreement = None
    if reference is not None:
        if replicas > 1:
            raise ValueError("--reference runs both models on the same batches: use one replica (--strategy none)")
        agreement = Agreement(make_scorer(reference, batch_size), scorer, ev.passes)
    k = min(5, scorer.classes)
    tally, means = Tally(k), CropMeans(ev.passes, scorer.probabilities)
    bar = readable_progbar(ev.total, stateful_metrics=["top1", "top5"], unit_name="image") if progress else None
    clock = _score_batches(scorer, ev.dataset(replicas), strategy, jit_compile, means, tally, bar, agreement)
    unreadable = _score_missing(ev, scorer, means, tally, agreement, bar)
    labels, topk, order, top_probs = tally.arrays()
    labels, topk = labels - ev.shift, topk - ev.shift
    if len(labels) == 0:
        raise DataError(f"none of the {ev.total} images could be read; first error: "
                        f"{unreadable[0]['path']}: {unreadable[0]['error']}")
    report = _report(ev, scorer, labels, topk, unreadable, clock, pipeline_batches, command)
    if agreement is not None:
        report["reference"] = agreement.summary(ev.shift, ev.class_id, ev.class_name)
    report.update(extra or {})
    if not return_predictions:
        return report
    by_index = np.argsort(order, kind="stable")
    names = ev.image_set.names(ev.total)
    predictions = Predictions(
        paths=[names[int(order[i])] for i in by_index], labels=[ev.class_id(int(labels[i])) for i in by_index],
        top_classes=[[ev.class_id(int(c)) for c in topk[i]] for i in by_index], top_probabilities=top_probs[by_index])
    return report, predictions


def per_class_rows(image_set: ImageSet, labels, hit1, hit5) -> list[dict]:
    rows = []
    for c in np.unique(labels):
        mask = labels == c
        rows.append({"index": int(c), "class": image_set.class_names[c], "name": image_set.display_names[c],
                     "images": int(mask.sum()), "top1_correct": int(hit1[mask].sum()),
                     "top5_correct": int(hit5[mask].sum()), "top1": float(hit1[mask].mean()),
                     "top5": float(hit5[mask].mean())})
    return rows


def _bottom(per_class, key) -> list[dict]:
    rows = sorted(per_class, key=lambda r: (r[key], r["index"]))[:BOTTOM]
    return [{"class": r["class"], "name": r["name"], "images": r["images"], "accuracy": r[key]} for r in rows]


def _report(ev: _Eval, scorer: Scorer, labels, topk, unreadable, clock: _Clock, pipeline_batches, command) -> dict:
    hit1 = topk[:, 0] == labels
    hit5 = (topk == labels[:, None]).any(1)
    evaluated = int(len(labels))
    per_class = per_class_rows(ev.image_set, labels, hit1, hit5)
    pipeline = measure_pipeline(ev.image_set, ev.prep, ev.batch_size, ev.total, pipeline_batches, ev.max_pixels,
                                crops=ev.protocol)
    data = ev.image_set
    return {
        "model": scorer.name,
        "data": {"path": data.root, "layout": data.layout, "labels": data.label_source, "classes": data.num_classes,
                 "images_found": ev.available, "images_requested": ev.total, "evaluated": evaluated,
                 "unreadable": unreadable, "not_in_label_file": len(data.unlabelled),
                 "not_in_label_file_examples": data.unlabelled[:BOTTOM], "excluded": ev.exclusion},
        "crops": {"protocol": ev.protocol, "forward_passes": ev.passes,
                  "description": crop_protocols.describe(ev.protocol, ev.prep),
                  "averaging": "softmax probabilities (" + ("the model's softmax outputs" if scorer.probabilities
                                                            else "softmax of the model's logits") + ")"},
        "top1": {"correct": int(hit1.sum()), "total": evaluated, "accuracy": float(hit1.mean())},
        "top5": {"correct": int(hit5.sum()), "total": evaluated, "accuracy": float(hit5.mean()),
                 "k": int(topk.shape[1]), "outputs": int(scorer.classes)},
        "per_class": per_class,
        "bottom_top1": _bottom(per_class, "top1"),
        "bottom_top5": _bottom(per_class, "top5"),
        "confused_pairs": confused_pairs(labels, topk[:, 0], ev.class_id, ev.class_name),
        "params": scorer.params,
        "macs": scorer.macs,
        "macs_counted": MACS_COUNTED,
        "speed": {"batch_size": ev.batch_size, "forward_passes_per_image": ev.passes, **clock.speed(),
                  "pipeline_images_per_second": pipeline,
                  "note": SPEED_NOTE + ("; the reference's forward passes are not counted" if clock.reference_seconds
                                        else "")},
        "device": device_description(),
        "precision": scorer.precision,
        "preprocessing": ev.prep.to_json(),
        "label_shift": ev.shift,
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _distributed_predict(model, dataset, strategy, jit_compile):
    """A step returning (scores, labels, indices) of a batch, split over the strategy's
    replicas and gathered back in order; and the (distributed) batches to feed it."""
    import tensorflow as tf  # noqa: PLC0415

    strategy = strategy or tf.distribute.get_strategy()

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def forward(images):
        return tf.cast(first_output_tensor(model(images, training=False)), tf.float32)

    @tf.function(reduce_retracing=True)
    def step(batch):
        images, labels, indices = batch
        scores = strategy.run(forward, args=(images,))
        return (strategy.gather(scores, axis=0), strategy.gather(labels, axis=0),
                strategy.gather(indices, axis=0))

    if strategy.num_replicas_in_sync > 1:
        dataset = strategy.experimental_distribute_dataset(dataset)
    return step, dataset


def decode_one(encoded: bytes, prep: Preprocessing, max_pixels: int | None, crops: str = "1") -> np.ndarray:
    """One example's model inputs (a batch of its crops, one for protocol ``1``): TensorFlow's
    decoder, else Pillow's, else ValueError."""
    return np.asarray(crop_views(decode_any(encoded, max_pixels), crops, prep))


def macs_of(model):
    try:
        return count_macs(model)
    except ValueError:
        return None


def measure_pipeline(image_set: ImageSet, prep: Preprocessing, batch_size: int, total: int, batches: int,
                     max_pixels: int | None = None, crops: str = "1"):
    """Images/s of the input pipeline alone (read, decode, preprocess or cut the ``crops``
    protocol's crops, batch) over up to ``batches`` batches, without the model."""
    if batches <= 0:
        return None
    passes = crop_protocols.forward_passes(crops, prep)
    count = min(total, max(1, batches * batch_size // passes))
    if passes == 1:
        ds = image_set.dataset(prep, batch_size, limit=count, max_pixels=max_pixels)
    else:
        ds = image_set.crop_dataset(prep, crops, batch_size, limit=count, max_pixels=max_pixels)
    start = time.perf_counter()
    n = 0
    for images, _, _ in ds:
        n += int(images.shape[0])
    seconds = time.perf_counter() - start
    return round(n / passes / seconds, 2) if seconds > 0 and n else None
