"""Top-1/top-5 evaluation of a classifier on a labelled image set, and its report.

    >>> from inception_keras import create_model
    >>> from inception_keras.data.datasets import Preprocessing, find_image_set
    >>> from inception_keras.evaluation import evaluate_model, write_report
    >>> model = create_model("inception_v4", weights="imagenet")              # doctest: +SKIP
    >>> report = evaluate_model(model, find_image_set("/data/imagenet/val"), Preprocessing("slim"))  # doctest: +SKIP
    >>> write_report(report, "reports/v4")                                     # doctest: +SKIP

The model is a Keras model or an exported model opened by
:func:`inception_keras.runtimes.open_runner` (ONNX, TFLite, SavedModel, .keras); with
``reference=`` a second model runs on the same batches and the report says how far the two
agree (:mod:`.agreement`).

Files TensorFlow cannot decode are retried with Pillow; what neither can read is listed in
the report and left out of the denominators, which the report states.

``crops`` picks a multi-crop protocol (:mod:`inception_keras.data.crops`: ``1``, ``flip``, ``10``,
``144``): every crop goes through the model, in batches of at most ``batch_size`` crops, and an
image's crops are averaged as softmax probabilities (the model's outputs when it ends in a
softmax, :func:`outputs_probabilities`; the softmax of its logits otherwise).

Modules: :mod:`.core` (the loop), :mod:`.scores` (crop averaging, tallies, predictions.csv),
:mod:`.agreement` (against a reference), :mod:`.report` (text and Markdown),
:mod:`.progress` (readable progress bars).
"""

from __future__ import annotations

import os

from ..utils.fileio import naming_path, write_json, write_text
from .agreement import Agreement
from .core import Scorer, decode_one, evaluate_model, make_scorer, measure_pipeline
from .progress import metric_text, readable_progbar
from .report import format_markdown, format_text, shows_topk, summary_rows
from .scores import (
    BOTTOM,
    CONFUSED,
    CropMeans,
    Predictions,
    Tally,
    confused_pairs,
    outputs_probabilities,
    softmax,
    write_predictions,
)



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


__all__ = ["Agreement", "BOTTOM", "CONFUSED", "CropMeans", "Predictions", "Scorer", "Tally", "confused_pairs",
           "decode_one", "evaluate_model", "format_markdown", "format_text", "make_scorer", "measure_pipeline",
           "metric_text", "outputs_probabilities", "readable_progbar", "shows_topk", "softmax", "summary_rows",
           "write_predictions", "write_report"]
