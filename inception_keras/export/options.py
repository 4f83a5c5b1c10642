"""Export options: formats, defaults, signature names, the errors, and the output paths."""

from __future__ import annotations

import os

import numpy as np


FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZATIONS = ("dynamic", "float16", "int8")
EXTENSIONS = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}
DEFAULT_TOLERANCE = 1e-4
FLOAT16_TOLERANCE = 1e-2  # ONNX float16 weights: the check's tolerance is at least this
# tf2onnx 1.17 writes opsets up to 18; ONNX Runtime runs opset 18 since 1.14 (2023).
DEFAULT_ONNX_OPSET = 18
DEFAULT_CALIBRATION_STEPS = 100
DEFAULT_CHECK_SAMPLES = 8
DEFAULT_LATENCY_RUNS = 10
# int8 calibration: ONNX Runtime offers all three; the TFLite converter calibrates by min/max only.
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
DEFAULT_CALIBRATION_METHOD = {"onnx": "percentile", "tflite": "minmax"}
CALIBRATION_PERCENTILE = 99.999  # of |activation|, ONNX Runtime's percentile calibration

INPUT_NAME = "images"
BYTES_INPUT_NAME = "image_bytes"
OUTPUT_NAME = "predictions"
SERVING = "serving_default"
SERVING_IMAGES = "serving_images"
METADATA_SIGNATURE = "metadata"  # SavedModel: class names and preprocessing, no inputs
METADATA_FILES = {"class_names": "class_names.txt", "metadata": "metadata.json"}  # SavedModel assets/

EXPORT_EXTRA = "pip install 'inception-keras[export]'"


class ExportError(ValueError):
    """Options, inputs or an output location that cannot be used; the message says what to change."""


class ExportWarning(UserWarning):
    """Something the export did differently than asked (e.g. a class with fewer calibration images)."""


class ExportCheckError(RuntimeError):
    """The exported model does not reproduce the Keras model; nothing was written."""


def resolve_batch_size(batch_size, fmt: str):
    """``"auto"`` -> 1 for TFLite (static shapes for mobile delegates), dynamic (None) otherwise."""
    if batch_size == "auto":
        return 1 if fmt == "tflite" else None
    if batch_size is None or batch_size == "dynamic":
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ExportError(f"batch size must be a positive integer or 'dynamic', got {batch_size!r}")
    return int(batch_size)


def artefact_path(output, fmt: str) -> str:
    """The path written for ``output``: a folder for SavedModel, ``.tflite``/``.onnx`` added when missing."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = os.fspath(output).rstrip("/\\")
    if not path:
        raise ExportError("the output path is empty")
    for other, ext in EXTENSIONS.items():
        if ext and other != fmt and path.lower().endswith(ext):
            want = f"a path ending in {EXTENSIONS[fmt]} or without an extension" if EXTENSIONS[fmt] \
                else "a folder name without .tflite/.onnx"
            raise ExportError(f"--output {path!r} has the extension of {other} but the format is {fmt}; give {want}")
    ext = EXTENSIONS[fmt]
    if ext and not path.lower().endswith(ext):
        path += ext
    return path


def report_path(path: str) -> str:
    """The JSON summary written next to an export: ``<export path>.json``."""
    return path + ".json"


def check_options(fmt: str, *, quantize=None, include_preprocessing=False, calibration_data=None,
                  calibration_steps=DEFAULT_CALIBRATION_STEPS, batch_size="auto", check_samples=DEFAULT_CHECK_SAMPLES,
                  tolerance=DEFAULT_TOLERANCE, min_agreement=0.0, opset=DEFAULT_ONNX_OPSET,
                  latency_runs=DEFAULT_LATENCY_RUNS, calibration_method=None, calibration_per_class=None):
    """Reject option combinations that cannot work, before any model is built. Returns the batch size."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if quantize is not None:
        if quantize not in QUANTIZATIONS:
            raise ExportError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
        if fmt == "saved_model":
            raise ExportError(f"--quantize {quantize} applies to --format tflite or onnx (got {fmt}); "
                              "export a float SavedModel or use --format tflite/onnx")
    if calibration_method is not None:
        if calibration_method not in CALIBRATION_METHODS:
            raise ExportError(f"unknown calibration method {calibration_method!r}; "
                              f"choose one of {', '.join(CALIBRATION_METHODS)}")
        if quantize != "int8":
            raise ExportError(f"--calibration-method {calibration_method} applies to --quantize int8 only "
                              f"(got {'--quantize ' + quantize if quantize else 'a float export'}); drop it")
        if fmt == "tflite" and calibration_method != "minmax":
            raise ExportError(f"--calibration-method {calibration_method}: the TFLite converter calibrates int8 by "
                              "min/max only; drop --calibration-method (or give minmax), or use --format onnx "
                              "for percentile or entropy calibration")
    if calibration_per_class is not None:
        if isinstance(calibration_per_class, bool) or not isinstance(calibration_per_class, int) \
                or calibration_per_class < 1:
            raise ExportError(f"--calibration-per-class must be a positive integer, got {calibration_per_class!r}")
        if calibration_data is None:
            raise ExportError("--calibration-per-class needs --calibration-data DIR with one sub-folder per class")
    if quantize == "int8" and calibration_data is None:
        raise ExportError("--quantize int8 needs --calibration-data DIR: a folder of representative images "
                          "(a few hundred of the kind the model will see) to calibrate the activation ranges")
    if include_preprocessing and fmt != "saved_model":
        raise ExportError(f"--include-preprocessing needs --format saved_model (got {fmt}): TFLite's builtin ops "
                          "and ONNX have no image decoder; preprocess on the client "
                          "(inception_keras.data.preprocessing.preprocess_for_eval) or export a SavedModel")
    if not isinstance(calibration_steps, int) or calibration_steps < 1:
        raise ExportError(f"--calibration-steps must be a positive integer, got {calibration_steps!r}")
    if not isinstance(check_samples, int) or check_samples < 1:
        raise ExportError(f"--check-samples must be a positive integer, got {check_samples!r}")
    if not isinstance(latency_runs, int) or latency_runs < 1:
        raise ExportError(f"--latency-runs must be a positive integer, got {latency_runs!r}")
    if not tolerance > 0:
        raise ExportError(f"--tolerance must be positive, got {tolerance!r}")
    if not 0.0 <= min_agreement <= 1.0:
        raise ExportError(f"--min-agreement must be a fraction in [0, 1], got {min_agreement!r}")
    if fmt == "onnx" and not 7 <= opset <= 18:
        raise ExportError(f"--opset {opset} is outside what tf2onnx writes (7..18); "
                          f"the default is {DEFAULT_ONNX_OPSET}")
    return resolve_batch_size(batch_size, fmt)


def missing_dirs(path: str) -> list[str]:
    """The folders above ``path`` that do not exist yet, deepest first."""
    missing = []
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    return missing
