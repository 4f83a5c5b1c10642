"""Top-1/top-5 evaluation of a classifier on a labelled image set, and its report.

    >>> from inception_keras import create_model
    >>> from inception_keras.data.datasets import Preprocessing, find_image_set
    >>> from inception_keras.evaluation import evaluate_model, write_report
    >>> model = create_model("inception_v4", weights="imagenet")              # doctest: +SKIP
    >>> report = evaluate_model(model, find_image_set("/data/imagenet/val"), Preprocessing("slim"))  # doctest: +SKIP
    >>> write_report(report, "reports/v4")                                     # doctest: +SKIP

Files TensorFlow cannot decode are retried with Pillow; what neither can read is listed in
the report and left out of the denominators, which the report states.

``crops`` picks a multi-crop protocol (:mod:`inception_keras.data.crops`: ``1``, ``flip``, ``10``,
``144``): every crop goes through the model, in batches of at most ``batch_size`` crops, and an
image's crops are averaged as softmax probabilities (the model's outputs when it ends in a
softmax, :func:`outputs_probabilities`; the softmax of its logits otherwise).
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
import functools
import io
import math
import os
import re
import sys
import time

import numpy as np

from .data import crops as crop_protocols
from .data.datasets import DataError, ImageSet, fit_index_labels, no_exclusion_message
from .data.preprocessing import Preprocessing, crop_views
from .data.images import decode_any
from .utils.fileio import naming_path, write_json, write_text
from .profile import MACS_COUNTED, count_macs, device_description, percentile_ms
from .utils.tables import format_table, key_value_table, markdown_table

BOTTOM = 10
CONFUSED = 10  # most confused pairs in the report


def _label_shift(model_classes: int, image_set: ImageSet) -> int:
    if model_classes == image_set.num_classes:
        return 0
    if model_classes == image_set.num_classes + 1:
        return 1  # TF-slim's 1001-way head: index 0 is the background class
    raise DataError(
        f"the model has {model_classes} outputs but the data has {image_set.num_classes} classes "
        f"({image_set.label_source}); build the model with classes={image_set.num_classes} "
        f"(or {image_set.num_classes + 1} with a background class) or point --data at the matching set")


def _first_output(out):
    return np.asarray(_first_output_tensor(out), dtype="float32")


def outputs_probabilities(model) -> bool:
    """Whether ``model``'s (first) output is a softmax: its last layer is a ``Softmax`` layer
    or has a softmax activation (``Dense(activation="softmax")``, ``Activation("softmax")``, the
    zoo's ``Predictions``), looking through layers that keep values (dropout, reshapes, linear
    activations) and into a nested model. Logits, and ``log_softmax`` outputs, are not."""
    import keras  # noqa: PLC0415

    keep_values = (keras.layers.Dropout, keras.layers.Identity, keras.layers.Reshape, keras.layers.Flatten)
    try:
        tensor = model.outputs[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        return False
    for _ in range(16):
        history = getattr(tensor, "_keras_history", None)
        if not history:
            return False
        layer, node_index = history[0], history[1]
        if isinstance(layer, keras.layers.Softmax):
            return True
        if isinstance(layer, keras.Model) and getattr(layer, "outputs", None):
            tensor = layer.outputs[history[2]]
            continue
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", "")
        if name == "softmax":
            return True
        if isinstance(layer, keep_values) or (
                isinstance(layer, keras.layers.Activation) and name == "linear"):
            inputs = layer._inbound_nodes[node_index].input_tensors
            if len(inputs) != 1:
                return False
            tensor = inputs[0]
            continue
        return False
    return False


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (class scores in the last axis)."""
    scores = np.asarray(scores, np.float64)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _CropMeans:
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


class _Tally:
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


def evaluate_model(model, image_set: ImageSet, prep: Preprocessing, *, batch_size: int = 64, limit: int | None = None,
                   progress: bool = True, command: str | None = None, pipeline_batches: int = 20,
                   strategy=None, jit_compile: bool = False, extra: dict | None = None,
                   max_pixels: int | None = None, crops: str = "1", return_predictions: bool = False):
    """Evaluate ``model`` on ``image_set`` and return the report as a dict (and, with
    ``return_predictions``, the :class:`Predictions` too).

    ``model`` takes ``prep.image_size`` squared RGB inputs in [-1, 1] and returns class
    scores (logits or probabilities) with one column per class of the set, or one more
    (TF-slim's background class first). ``crops`` is the crop protocol
    (:mod:`inception_keras.data.crops`); the model sees at most ``batch_size`` crops at a time.
    With a ``tf.distribute`` ``strategy`` (the model built in its scope), each batch is split
    over its replicas; ``jit_compile`` compiles the forward pass with XLA. ``extra`` is merged
    into the report (the CLI puts weights and the like there). Images over ``max_pixels``
    (read from their headers) are unreadable.
    """
    import keras  # noqa: PLC0415

    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be positive, got {limit}")
    protocol = crop_protocols.check_protocol(crops)
    passes = crop_protocols.forward_passes(protocol, prep)
    model_classes = int(model.outputs[0].shape[-1])
    image_set = fit_index_labels(image_set, model_classes)
    shift = _label_shift(model_classes, image_set)
    total = image_set.count(limit)
    exclusion = dict(image_set.exclusion) if image_set.exclusion else None
    if exclusion and exclusion.get("excluded") == 0 and exclusion.get("whole_set"):
        raise DataError(no_exclusion_message(exclusion, image_set.root, total))
    # the whole set's size, where that costs nothing (TFRecords are not read past --limit)
    available = len(image_set) if (limit is None or image_set.layout != "tfrecord") else None
    if total == 0:
        raise DataError(f"no images to evaluate in {image_set.root}")
    k = min(5, model_classes)
    probabilities = outputs_probabilities(model)

    tally = _Tally(k)
    means = _CropMeans(passes, probabilities)
    bar = readable_progbar(total, stateful_metrics=["top1", "top5"], unit_name="image") if progress else None
    latencies, seen = [], 0
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    # Several replicas: whole batches only (a replica given no images fails on some
    # backends); the remainder is evaluated after the loop with the undecodable files.
    if passes == 1:
        dataset = image_set.dataset(prep, batch_size, limit=total, label_shift=shift, drop_remainder=replicas > 1,
                                    max_pixels=max_pixels)
    else:
        dataset = image_set.crop_dataset(prep, protocol, batch_size, limit=total, label_shift=shift,
                                         drop_remainder=replicas > 1, max_pixels=max_pixels)
    step, batches = _distributed_predict(model, dataset, strategy, jit_compile)
    start = time.perf_counter()
    warm = None  # the clock restarts after the first batch (tracing, compilation, autotuning)
    for batch in batches:
        t0 = time.perf_counter()
        scores, labels, indices = (np.asarray(t) for t in step(batch))
        latencies.append(time.perf_counter() - t0)
        ranking, probs, labels, indices = means.add(scores, labels, indices)
        tally.add(ranking, probs, labels, indices)
        seen += int(labels.shape[0])
        if warm is None:
            warm = (time.perf_counter(), seen)
        if bar is not None:
            top1, top5 = tally.running()
            bar.update(seen, values=[("top1", top1), ("top5", top5)])
    end = time.perf_counter()

    # Examples the batches left out: a distributed run's last partial batch (decoded by
    # TensorFlow here), and files TensorFlow cannot decode (Pillow's turn, else unreadable).
    done = tally.arrays()[2]
    missing = sorted(set(range(total)) - set(done.tolist()))
    unreadable = []
    for index, where, encoded, label in image_set.examples(missing):
        try:
            x = _decode_one(encoded, prep, max_pixels, protocol)
        except ValueError as e:
            unreadable.append({"index": int(index), "path": where, "error": str(e)})
            continue
        scores = np.concatenate([_first_output(model(x[i : i + batch_size], training=False))
                                 for i in range(0, len(x), batch_size)])
        ranking, probs = means.one(scores)
        tally.add(ranking, probs, np.asarray([label + shift]), np.asarray([index]))
    if bar is not None and missing:
        top1, top5 = tally.running()
        bar.update(total, values=[("top1", top1), ("top5", top5)], finalize=True)

    labels, topk, order, top_probs = tally.arrays()
    labels = labels - shift
    topk = topk - shift
    evaluated = int(len(labels))
    if evaluated == 0:
        raise DataError(f"none of the {total} images could be read; first error: "
                        f"{unreadable[0]['path']}: {unreadable[0]['error']}")
    hit1 = topk[:, 0] == labels
    hit5 = (topk == labels[:, None]).any(1)

    def class_id(c):
        return image_set.class_names[c] if c >= 0 else "background"

    def class_name(c):
        return image_set.display_names[c] if c >= 0 else "background"

    per_class = []
    for c in np.unique(labels):
        mask = labels == c
        n = int(mask.sum())
        per_class.append({"index": int(c), "class": image_set.class_names[c], "name": image_set.display_names[c],
                          "images": n, "top1_correct": int(hit1[mask].sum()), "top5_correct": int(hit5[mask].sum()),
                          "top1": float(hit1[mask].mean()), "top5": float(hit5[mask].mean())})

    def bottom(key):
        rows = sorted(per_class, key=lambda r: (r[key], r["index"]))[:BOTTOM]
        return [{"class": r["class"], "name": r["name"], "images": r["images"], "accuracy": r[key]} for r in rows]

    timed = latencies[1:] if len(latencies) > 1 else latencies
    timed_images = seen - warm[1] if len(latencies) > 1 else seen
    timed_seconds = end - warm[0] if len(latencies) > 1 else end - start
    pipeline = measure_pipeline(image_set, prep, batch_size, total, pipeline_batches, max_pixels, crops=protocol)
    if exclusion:
        exclusion["scope"] = ("the whole set" if image_set.layout != "tfrecord" or exclusion.get("whole_set")
                              else f"the first {exclusion.get('records_read')} records read")

    report = {
        "model": model.name,
        "data": {
            "path": image_set.root, "layout": image_set.layout, "labels": image_set.label_source,
            "classes": image_set.num_classes, "images_found": available, "images_requested": total,
            "evaluated": evaluated, "unreadable": unreadable,
            "not_in_label_file": len(image_set.unlabelled),
            "not_in_label_file_examples": image_set.unlabelled[:BOTTOM],
            "excluded": exclusion,
        },
        "crops": {"protocol": protocol, "forward_passes": passes,
                  "description": crop_protocols.describe(protocol, prep),
                  "averaging": "softmax probabilities (" + ("the model's softmax outputs" if probabilities
                                                            else "softmax of the model's logits") + ")"},
        "top1": {"correct": int(hit1.sum()), "total": evaluated, "accuracy": float(hit1.mean())},
        "top5": {"correct": int(hit5.sum()), "total": evaluated, "accuracy": float(hit5.mean()), "k": k,
                 "outputs": int(model_classes)},
        "per_class": per_class,
        "bottom_top1": bottom("top1"),
        "bottom_top5": bottom("top5"),
        "confused_pairs": confused_pairs(labels, topk[:, 0], class_id, class_name),
        "params": int(model.count_params()),
        "macs": _macs(model),
        "macs_counted": MACS_COUNTED,
        "speed": {
            "batch_size": batch_size,
            "batches": len(latencies),
            "forward_passes_per_image": passes,
            "images_per_second": round(timed_images / timed_seconds, 2) if timed_seconds > 0 else None,
            "pipeline_images_per_second": pipeline,
            "batch_latency_ms_mean": round(float(np.mean(timed)) * 1000.0, 3),
            "batch_latency_ms_p90": round(percentile_ms(timed, 90), 3),
            "seconds": round(end - start, 3),
            "note": "end-to-end images/s and latencies exclude the first batch (tracing and compilation) "
                    "when there is more than one; pipeline-only images/s is the input pipeline alone; "
                    "a batch holds up to batch_size crops",
        },
        "device": device_description(),
        "precision": keras.mixed_precision.dtype_policy().name,
        "preprocessing": prep.to_json(),
        "label_shift": shift,
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if extra:
        report.update(extra)
    if not return_predictions:
        return report
    by_index = np.argsort(order, kind="stable")
    names = image_set.names(total)
    predictions = Predictions(
        paths=[names[int(order[i])] for i in by_index], labels=[class_id(int(labels[i])) for i in by_index],
        top_classes=[[class_id(int(c)) for c in topk[i]] for i in by_index], top_probabilities=top_probs[by_index])
    return report, predictions


# --------------------------------------------------------------------------- #
# Progress bars people read
# --------------------------------------------------------------------------- #
def metric_text(name: str, value) -> str:
    """A metric as a progress bar shows it: ``top-1 71.2%``, ``loss 1.234``, ``7.1 images/s``,
    ``iterations 3``, ``lr 0.00045``; validation ones start with ``val``. (Keras' own bar prints
    ``top1: 0.0000e+00``; logs and files keep the numbers.)"""
    try:
        value = float(np.mean(value))
    except (TypeError, ValueError):
        return f"{name} {value}"
    prefix, base = ("val ", name[4:]) if name.startswith("val_") else ("", name)
    if not math.isfinite(value):
        return f"{prefix}{base} {value}"
    top = re.fullmatch(r"(?:(?P<head>\w*?)_)?top_?(?P<k>\d+)(?:_accuracy)?", base)
    if top:
        head = top["head"] if top["head"] not in (None, "", "Predictions") else ""
        return f"{prefix}{head + ' ' if head else ''}top-{top['k']} {100 * value:.1f}%"
    if base in ("images_per_second", "images/s"):
        return f"{prefix}{value:.1f} images/s"
    if base in ("iterations", "epoch", "step", "steps"):
        return f"{prefix}{base} {round(value)}"
    if base in ("lr", "learning_rate"):
        return f"{prefix}lr {value:.3g}"
    return f"{prefix}{base} {value:.4g}"


@functools.lru_cache(maxsize=1)
def _readable_progbar_class():
    import keras  # noqa: PLC0415

    class ReadableProgbar(keras.utils.Progbar):
        """Keras' progress bar (its averaging, bar and ETA) with the metrics of :func:`metric_text`."""

        def update(self, current, values=None, finalize=None):
            if finalize is None:
                finalize = self.target is not None and current >= self.target
            verbose, last = self.verbose, self._last_update
            self.verbose = 0  # Keras keeps the running values; the line is drawn here
            try:
                super().update(current, values, finalize)
            finally:
                self.verbose, self._last_update = verbose, last
            now = time.time()
            if verbose == 1:
                if now - self._last_update < self.interval and not finalize:
                    return
                self._draw(current, now, finalize)
            elif verbose == 2 and finalize and self.target:
                digits = int(math.log10(self.target)) + 1
                line = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -" + \
                    self._format_time(self._estimate_step_duration(current, now), self.unit_name)
                self._print(line + self._metrics() + "\n")
            self._last_update = now

        def _metrics(self) -> str:
            out = ""
            for k in self._values_order:
                value = self._values[k]
                if isinstance(value, list):
                    total, count = value
                    value = (total if isinstance(total, float) else np.mean(total)) / max(1, count)
                out += f" - {metric_text(k, value)}"
            return out

        def _draw(self, current, now, finalize):
            message, special = ("\b" * self._prev_total_width + "\r") if self._dynamic_display else "\n", 0
            if self.target is not None and self.target > 0:
                digits = int(math.log10(self.target)) + 1
                width = int(self.width * current / self.target)
                bar = f"\x1b[1m{current:{digits}d}/{self.target}\x1b[0m "
                special += 8
                if width > 0:
                    bar += f"\33[32m{'━' * width}\x1b[0m"
                    special += 9
                bar += f"\33[37m{'━' * (self.width - width)}\x1b[0m"
                special += 9
            else:
                bar = f"{current:7d}/Unknown"
            per_unit = self._estimate_step_duration(current, now)
            if self.target and not finalize:
                eta = per_unit * (self.target - current)
                when = (f"{eta // 3600:.0f}:{eta % 3600 // 60:02.0f}:{eta % 60:02.0f}" if eta > 3600
                        else f"{eta // 60:.0f}:{eta % 60:02.0f}" if eta > 60 else f"{eta:.0f}s")
            else:
                when = f"{now - self._start:.0f}s"
            info = f" \x1b[1m{when}\x1b[0m" + self._format_time(per_unit, self.unit_name) + self._metrics()
            special += 8
            total_width = len(bar) + len(info) - special
            line = message + bar + info + " " * max(0, self._prev_total_width - total_width)
            self._print(line + ("\n" if finalize else ""))
            self._prev_total_width = total_width

        @staticmethod
        def _print(text):
            if keras.config.is_interactive_logging_enabled():  # as Keras' bar (io_utils.print_msg)
                sys.stdout.write(text)
                sys.stdout.flush()
            else:
                import logging  # noqa: PLC0415

                logging.getLogger("keras").info(text)

    return ReadableProgbar


def readable_progbar(target, **kwargs):
    """A ``keras.utils.Progbar`` whose metrics read as :func:`metric_text` writes them."""
    return _readable_progbar_class()(target, **kwargs)


def _distributed_predict(model, dataset, strategy, jit_compile):
    """A step returning (scores, labels, indices) of a batch, split over the strategy's
    replicas and gathered back in order; and the (distributed) batches to feed it."""
    import tensorflow as tf  # noqa: PLC0415

    strategy = strategy or tf.distribute.get_strategy()

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def forward(images):
        return tf.cast(_first_output_tensor(model(images, training=False)), tf.float32)

    @tf.function(reduce_retracing=True)
    def step(batch):
        images, labels, indices = batch
        scores = strategy.run(forward, args=(images,))
        return (strategy.gather(scores, axis=0), strategy.gather(labels, axis=0),
                strategy.gather(indices, axis=0))

    if strategy.num_replicas_in_sync > 1:
        dataset = strategy.experimental_distribute_dataset(dataset)
    return step, dataset


def _decode_one(encoded: bytes, prep: Preprocessing, max_pixels: int | None, crops: str = "1") -> np.ndarray:
    """One example's model inputs (a batch of its crops, one for protocol ``1``): TensorFlow's
    decoder, else Pillow's, else ValueError."""
    return np.asarray(crop_views(decode_any(encoded, max_pixels), crops, prep))


def _first_output_tensor(out):
    if isinstance(out, dict):
        out = next(iter(out.values()))
    if isinstance(out, (list, tuple)):
        out = out[0]
    return out


def _macs(model):
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


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def shows_topk(report: dict) -> bool:
    """Top-k is shown only where it can miss: k below the model's number of outputs."""
    top = report["top5"]
    return top["k"] < top.get("outputs", top["k"] + 1)


def _bottom_sections(report: dict):
    yield "bottom_top1", "top-1"
    if shows_topk(report):
        yield "bottom_top5", f"top-{report['top5']['k']}"


def _fraction(part):
    return f"{part['correct']} / {part['total']} = {part['accuracy']:.4f}"


def summary_rows(report: dict) -> list[tuple[str, str]]:
    speed, data = report["speed"], report["data"]
    rows = [
        ("model", report["model"] + (f" ({report['weights']})" if report.get("weights") else "")),
        ("data", f"{data['path']} [{data['layout']}, {data['labels']}]"),
        ("images", f"{data['evaluated']} evaluated of {data['images_requested']} "
                   f"({len(data['unreadable'])} unreadable"
                   + (f", {data['images_found']} in the set)" if data["images_found"] is not None else ")")
                   + (f"; {data['not_in_label_file']} images in the folder are not in the label file, not evaluated"
                      if data.get("not_in_label_file") else "")
                   + _excluded_text(data.get("excluded"))),
        *([("crops", _crops_text(report["crops"]))] if report.get("crops") else []),
        ("top-1", _fraction(report["top1"])),
        *([(f"top-{report['top5']['k']}", _fraction(report["top5"]))] if shows_topk(report) else []),
        ("parameters", f"{report['params']:,}"),
        ("multiply-adds", f"{report['macs'] / 1e9:.2f} G" if report["macs"] else "n/a (dynamic input size)"),
        ("images/s", f"{speed['images_per_second']} end-to-end, "
                     + (f"{speed['pipeline_images_per_second']} input pipeline only"
                        if speed.get("pipeline_images_per_second") is not None
                        else "input pipeline not measured")),
        ("batch latency", f"{speed['batch_latency_ms_mean']:.1f} ms mean, {speed['batch_latency_ms_p90']:.1f} ms p90 "
                          f"(batch {speed['batch_size']}, {speed['batches']} batches)"),
        ("device", report["device"]),
        ("precision", report["precision"] + (", XLA" if report.get("jit_compile") else "")),
        ("preprocessing", report["preprocessing"]["description"]),
    ]
    if report.get("strategy"):
        replicas = report.get("replicas", 1)
        rows.append(("strategy", f"{report['strategy']} ({replicas} replica{'s' if replicas != 1 else ''})"))
    rows.append(("command", report.get("command") or ""))
    return rows


def _excluded_text(exclusion: dict | None) -> str:
    if not exclusion:
        return ""
    scope = exclusion.get("scope", "the whole set")
    return (f"; {exclusion.get('excluded')} excluded by {exclusion['file']} ({exclusion['listed']} listed, "
            f"counted over {scope})")


def _crops_text(crops: dict) -> str:
    passes = crops["forward_passes"]
    return (f"{crops['protocol']}: {passes} forward pass{'es' if passes != 1 else ''} per image "
            f"({crops['description']}); {crops['averaging']}")


def _class_label(key: str, name: str) -> str:
    """``n01440764 tench`` for ImageNet; a class whose name is its key (a folder) once."""
    return key if key == name else f"{key} {name}"


def _confused_rows(report: dict):
    return [(_class_label(r["true"], r["true_name"]), _class_label(r["predicted"], r["predicted_name"]), r["count"])
            for r in report.get("confused_pairs", [])]


CONFUSED_HEADER = ("true", "predicted", "count")


def _bottom_rows(rows):
    return [(r["class"], r["name"], r["images"], f"{r['accuracy']:.4f}") for r in rows]


def format_text(report: dict) -> str:
    """The report as printed by the tool."""
    out = [key_value_table(summary_rows(report))]
    for key, title in _bottom_sections(report):
        out += ["", f"bottom {len(report[key])} classes by {title} accuracy",
                format_table(("class", "name", "images", "accuracy"), _bottom_rows(report[key]), right=(2, 3))]
    if report.get("confused_pairs"):
        out += ["", f"most confused pairs ({len(report['confused_pairs'])}, true -> predicted top-1)",
                format_table(CONFUSED_HEADER, _confused_rows(report), right=(2,))]
    if report["data"]["unreadable"]:
        out += ["", f"unreadable files ({len(report['data']['unreadable'])}, not counted)"]
        out += [f"  {u['path']}: {u['error']}" for u in report["data"]["unreadable"]]
    out += _not_labelled(report["data"], "  ")
    return "\n".join(out)


def _not_labelled(data: dict, indent: str) -> list[str]:
    count = data.get("not_in_label_file")
    if not count:
        return []
    names = data.get("not_in_label_file_examples", [])
    return ["", f"images in the folder but not in the label file ({count}, not evaluated)"] + \
        [f"{indent}{name}" for name in names] + ([f"{indent}..."] if count > len(names) else [])


def format_markdown(report: dict) -> str:
    out = [f"# Evaluation of {report['model']}", "", markdown_table(("", ""), summary_rows(report))]
    for key, title in _bottom_sections(report):
        out += ["", f"## Bottom {len(report[key])} classes by {title} accuracy", "",
                markdown_table(("class", "name", "images", "accuracy"), _bottom_rows(report[key]), right=(2, 3))]
    if "confused_pairs" in report:
        out += ["", "## Most confused pairs (true -> predicted top-1)", ""]
        out += [markdown_table(CONFUSED_HEADER, _confused_rows(report), right=(2,))] if report["confused_pairs"] \
            else ["None."]
    unreadable = report["data"]["unreadable"]
    out += ["", f"## Unreadable files ({len(unreadable)})", ""]
    out += [f"- `{u['path']}`: {u['error']}" for u in unreadable] or ["None."]
    out += _not_labelled(report["data"], "- ")
    topk = shows_topk(report)
    out += ["", "## Per-class accuracy", "",
            markdown_table(("class", "name", "images", "top-1", *((f"top-{report['top5']['k']}",) if topk else ())),
                           [(r["class"], r["name"], r["images"], f"{r['top1']:.4f}",
                             *((f"{r['top5']:.4f}",) if topk else ())) for r in report["per_class"]],
                           right=(2, 3, 4) if topk else (2, 3))]
    out += ["", f"Multiply-adds: {report['macs_counted']}.", "", f"Speed: {report['speed']['note']}.", ""]
    return "\n".join(out)


def write_report(report: dict, output_dir) -> tuple[str, str]:
    """Write ``report.json`` and ``report.md`` into ``output_dir`` (atomically); return their paths."""
    output_dir = os.fspath(output_dir)
    json_path, md_path = os.path.join(output_dir, "report.json"), os.path.join(output_dir, "report.md")
    with naming_path(json_path):
        os.makedirs(output_dir, exist_ok=True)
        write_json(json_path, report)
    with naming_path(md_path):
        write_text(md_path, format_markdown(report))
    return json_path, md_path
