"""The deploy report: each artifact's accuracy, its agreement with a reference, its speed and size.

:func:`build_report` runs every artifact on the same images, read and preprocessed as
``evaluate`` reads them (:meth:`inception_keras.data.datasets.ImageSet.dataset`: the evaluation
preprocessing each model carries), batch by batch, every model on each batch before the next
is read, so memory holds one batch of images and each model's probabilities. Against the
reference it measures:

* top-1 agreement: the share of images whose top-1 class is the reference's;
* top-5 overlap: the share of the reference's top 5 classes also in the artifact's top 5;
* max |dp|: the largest difference of one class probability, over every image and class;
* mean max |dp|: the mean over images of each image's largest class-probability difference.

Accuracy (top-1, top-5) needs labels that match the models' classes: the same number of
classes (or one more, TF-slim's background class), or class names that include the data's.
Speed is :func:`~inception_keras.benchmark.timing.measure_alternately` (batch 1 latency,
throughput at the batch size), measured before the predictions so that the memory column
includes the buffers a runtime allocates on its first calls. :func:`format_markdown` and
:mod:`.svg` present it.
"""

from __future__ import annotations

import numpy as np

from ..data.datasets import align_classes
from ..data.preprocessing import Preprocessing
from ..utils.tables import markdown_table
from .timing import MEMORY_NOTE, measure_alternately, memory_method

TOP_K = 5
AGREEMENT_NOTES = (
    "top-1 agreement: share of images whose top-1 class is the reference's; top-5 overlap: share of the "
    "reference's top-5 classes also in the model's top 5; max |dp|: largest difference of a class probability "
    "over every image and class; mean max |dp|: mean over images of each image's largest difference.")


class ReportError(ValueError):
    """Models that cannot be compared (another number of classes than the reference)."""


def check_classes(artifacts, reference) -> None:
    """:class:`ReportError` unless every artifact has the reference's number of classes."""
    want = reference.runner.num_classes
    other = [f"{a.name} ({a.runner.num_classes})" for a in artifacts if a.runner.num_classes != want]
    if other:
        raise ReportError(f"--reference {reference.name} has {want} classes but {', '.join(other)} "
                          f"{'has' if len(other) == 1 else 'have'} another number; compare models of one "
                          f"classifier (the reference is the model the others were exported from)")


def labels_for(image_set, classes: int, class_names):
    """``(image_set, label_shift, "")`` to score ``classes``-way models on ``image_set``, the
    labels renumbered by class name where the names allow; ``(image_set, None, reason)`` when
    the labels do not match the models' classes."""
    names = list(class_names or [])
    data = list(image_set.class_names)
    if names and names != data and image_set.layout != "tfrecord" and set(data) <= set(names):
        return align_classes(image_set, names, names, "report", "the model's"), 0, ""
    if classes == image_set.num_classes:
        return image_set, 0, ""
    if classes == image_set.num_classes + 1:
        return image_set, 1, ""
    return image_set, None, (f"the data has {image_set.num_classes} classes ({image_set.label_source}) and the "
                             f"models {classes}: no accuracy, agreement only")


def _preprocessing(runner):
    p = runner.preprocessing
    return Preprocessing(p.get("name", "slim"), int(p.get("input_size") or runner.input_size),
                         float(p.get("crop_fraction", 0.875)))


def predict_all(artifacts, image_set, *, batch_size: int, limit=None, label_shift: int = 0, max_pixels=None,
                progress=None):
    """Every artifact's probabilities on the images, ``(probs, labels, seen)``: ``probs`` one
    ``(N, classes)`` array per artifact, ``labels`` (N,), ``seen`` a boolean mask of the images
    every model saw (an image that cannot be decoded is left out, as ``evaluate`` does).

    Artifacts that share a preprocessing share one pass over the data: each batch goes through
    all of them before the next is read."""
    total = image_set.count(limit)
    groups: dict = {}
    for i, artifact in enumerate(artifacts):
        groups.setdefault(_preprocessing(artifact.runner), []).append(i)
    probs = [np.zeros((total, a.runner.num_classes), np.float32) for a in artifacts]
    labels = np.full(total, -1, np.int64)
    seen = np.ones(total, bool)
    for g, (prep, members) in enumerate(groups.items()):
        got = np.zeros(total, bool)
        done = 0
        for images, batch_labels, indices in image_set.dataset(prep, batch_size, limit, label_shift=label_shift,
                                                               max_pixels=max_pixels).as_numpy_iterator():
            for i in members:
                probs[i][indices] = artifacts[i].runner(images)
            labels[indices], got[indices] = batch_labels, True
            done += len(indices)
            if progress:
                part = f" (preprocessing {g + 1}/{len(groups)})" if len(groups) > 1 else ""
                progress(f"predicting{part}: {done}/{total} images, {len(members)} models")
        seen &= got
    return probs, labels, seen


def _topk(probs: np.ndarray, k: int) -> np.ndarray:
    k = min(k, probs.shape[1])
    return np.argsort(-probs, axis=1, kind="stable")[:, :k]


def accuracy(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 and top-5 accuracy (fractions)."""
    top = _topk(probs, TOP_K)
    return {"top1": float(np.mean(top[:, 0] == labels)), "top5": float(np.mean((top == labels[:, None]).any(1)))}


def agreement(probs: np.ndarray, reference: np.ndarray) -> dict:
    """Agreement of ``probs`` with ``reference`` (same images, same classes); see the module notes."""
    top, ref = _topk(probs, TOP_K), _topk(reference, TOP_K)
    overlap = [len(set(a) & set(b)) / ref.shape[1] for a, b in zip(top, ref, strict=True)]
    diff = np.abs(probs - reference)
    return {"top1_agreement": float(np.mean(top[:, 0] == ref[:, 0])), "top5_overlap": float(np.mean(overlap)),
            "max_prob_diff": float(diff.max()), "mean_max_prob_diff": float(diff.max(axis=1).mean())}


def build_report(artifacts, reference: int, image_set, *, batch_size: int = 8, limit=None, runs: int = 10,
                 warmup: int = 2, max_pixels=None, progress=None) -> dict:
    """The report of ``artifacts`` (``artifacts[reference]`` is the reference) on ``image_set``.

    Raises :class:`ReportError` when the classes differ, before any image is read."""
    ref = artifacts[reference]
    check_classes(artifacts, ref)
    image_set, shift, no_accuracy = labels_for(image_set, ref.runner.num_classes, ref.runner.class_names)
    # timed first: a runtime's first calls allocate its buffers, which the memory column is to include
    timing = measure_alternately(artifacts, batch_size=batch_size, runs=runs, warmup=warmup, progress=progress)
    probs, labels, seen = predict_all(artifacts, image_set, batch_size=batch_size, limit=limit,
                                      label_shift=shift or 0, max_pixels=max_pixels, progress=progress)
    if not seen.any():
        raise ReportError(f"none of the images in {image_set.root} could be read; give a folder of images")
    rows = []
    for i, (artifact, measured) in enumerate(zip(artifacts, timing, strict=True)):
        row = artifact.describe() | {"reference": i == reference}
        row |= accuracy(probs[i][seen], labels[seen]) if shift is not None else {"top1": None, "top5": None}
        row |= agreement(probs[i][seen], probs[reference][seen]) | measured.summary()
        row["constant_outputs"] = int(np.sum(np.ptp(probs[i][seen], axis=1) == 0))  # all classes equal
        row["rss_mb"] = round(row["load_rss_mb"] + row["run_rss_mb"], 1)
        rows.append(row)
    return {"reference": ref.name, "artifacts": rows,
            "data": {"root": image_set.root, "layout": image_set.layout, "images": int(seen.sum()),
                     "unreadable": int((~seen).sum()), "classes": image_set.num_classes,
                     "label_source": image_set.label_source, "labelled": shift is not None,
                     "no_accuracy": no_accuracy or None},
            "timing": {"batch_size": batch_size, "runs": runs, "warmup": warmup, "schedule": "round-robin",
                       "memory_method": memory_method()},
            "notes": {"agreement": AGREEMENT_NOTES, "memory": MEMORY_NOTE}}


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _float(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report_rows(report: dict) -> tuple[list[str], list[tuple]]:
    """Header and rows of the comparison table (strings)."""
    batch = report["timing"]["batch_size"]
    header = ["model", "format", "precision", "size MB", "top-1", "top-5", "top-1 agree", "top-5 overlap",
              "max |dp|", "mean max |dp|", "batch 1 ms", "p90 ms", f"images/s (batch {batch})", "RSS +MB"]
    rows = []
    for r in report["artifacts"]:
        size = "-" if r["file_size"] is None else f"{r['file_size'] / 1e6:.1f}"
        rows.append((r["name"] + (" (reference)" if r["reference"] else ""), r["format"], r["precision"], size,
                     _pct(r["top1"]), _pct(r["top5"]), _pct(r["top1_agreement"]), _pct(r["top5_overlap"]),
                     f"{r['max_prob_diff']:.2e}", f"{r['mean_max_prob_diff']:.2e}", _float(r["latency_ms_median"]),
                     _float(r["latency_ms_p90"]), _float(r["images_per_second"]), f"{r['rss_mb']:.0f}"))
    return header, rows


def format_markdown(report: dict, plot_file: str | None = None) -> str:
    """The report as Markdown: what was compared, the table, the plot, the definitions."""
    data, timing = report["data"], report["timing"]
    header, rows = report_rows(report)
    lines = ["# Deploy report", "",
             f"- data: `{data['root']}`: {data['images']} images, {data['classes']} classes, labels from "
             f"{data['label_source']}" + (f"; {data['unreadable']} unreadable, left out" if data["unreadable"] else ""),
             f"- reference: `{report['reference']}`"]
    if report.get("command"):
        lines.append(f"- command: `{report['command']}`")
    if report.get("device"):
        lines.append(f"- device: {report['device']}")
    if data.get("no_accuracy"):
        lines.append(f"- {data['no_accuracy']}")
    lines += ["", markdown_table(header, rows, right=range(3, len(header))), ""]
    for r in report["artifacts"]:
        if r.get("constant_outputs"):
            warning = (f"Warning: `{r['name']}` gives every class the same probability on {r['constant_outputs']} "
                       f"of {data['images']} images, so its top-1 there is arbitrary (an int8 softmax over "
                       f"near-equal probabilities, e.g. random weights, rounds them to one level).")
            lines += [warning, ""]
    if plot_file:
        lines += [f"![{report.get('plot_y', 'top-1')} against batch-1 latency]({plot_file})", ""]
    lines += ["## How it was measured", "", f"- {AGREEMENT_NOTES}",
              (f"- batch 1 ms: one call on one image, median and p90 of {timing['runs']} after "
               f"{timing['warmup']} warm-up calls; images/s: batch {timing['batch_size']} over the median of its "
               f"calls. The models ran in turn (round-robin) in one process."),
              f"- {MEMORY_NOTE}; measured by {timing['memory_method']}.", "- runtimes:"]
    lines += [f"  - `{r['name']}`: {r['runtime']} (weights: {r['weights']})" for r in report["artifacts"]]
    return "\n".join(lines) + "\n"
