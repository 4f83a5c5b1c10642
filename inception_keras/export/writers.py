"""Writing an export: the writers (convert, write under a temporary name, check, rename into place) and
:func:`export_model`, which checks the options, makes the check inputs and runs the writer of the format."""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import tempfile
import time
import warnings

import numpy as np

from ..data.preprocessing import Preprocessing
from ..utils.fileio import (
    STALE_SECONDS,
    atomic_save,
    atomic_save_dir,
    make_temporary_dir,
    remove_stale_temporaries,
    write_json,
    write_text,
)
from .build import build_archive, onnx_model, release_memory, tflite_bytes
from .check import OutputChecker
from .inputs import batch_at, find_images, fingerprint, random_encoded_images, random_inputs, select_per_class
from .quantize import PRECISION, quantize_onnx
from .metadata import STORED, add_tflite_metadata, export_metadata, labels_path, labels_text
from .options import (
    EXPORT_EXTRA,
    CALIBRATION_PERCENTILE,
    FLOAT16_TOLERANCE,
    DEFAULT_CALIBRATION_METHOD,
    DEFAULT_CALIBRATION_STEPS,
    DEFAULT_CHECK_SAMPLES,
    DEFAULT_LATENCY_RUNS,
    DEFAULT_ONNX_OPSET,
    DEFAULT_TOLERANCE,
    INPUT_NAME,
    ExportError,
    ExportWarning,
    missing_dirs,
    artefact_path,
    check_options,
    report_path,
)
from .outputs import prepare_output


# =========================================================================== #
# Writers: convert, write under a temporary name, check, rename into place
# =========================================================================== #
def _write_saved_model(archive, path: str, verify) -> float:
    start = time.perf_counter()
    seconds = []

    def save(tmp):
        archive.write_out(tmp, verbose=False)
        seconds.append(time.perf_counter() - start)
        verify(tmp)

    atomic_save_dir(save, path, "export")
    return seconds[0]


def _write_tflite(archive, path: str, quantize, representative, verify, metadata: dict) -> float:
    start = time.perf_counter()
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    work = make_temporary_dir(path, "export")
    try:  # through a SavedModel, as Keras' own LiteRT export does: the .tflite keeps the signature
        saved = os.path.join(work, "saved_model")
        archive.write_out(saved, verbose=False)
        flat = add_tflite_metadata(tflite_bytes(saved, quantize, representative), metadata)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - start
    labels = labels_path(path)
    had_labels = os.path.exists(labels)

    def save(tmp):
        with open(tmp, "wb") as f:
            f.write(flat)
        verify(tmp)  # the interpreter runs the file with its metadata entries
        # Once the check passed, just before the rename: a failed export keeps an older
        # export's labels file with its .tflite, and leaves none of its own.
        write_text(labels, labels_text(metadata["class_names"]))

    try:
        atomic_save(save, path, ".tflite", "export")
    except BaseException:
        if not had_labels and os.path.exists(labels):  # the rename itself failed
            os.remove(labels)
        raise
    return seconds


def _write_onnx(endpoint, path: str, batch, shape, opset: int, verify, metadata: dict | None = None,
                quantize=None, x=None, method=None) -> float:
    try:
        import onnx  # noqa: PLC0415
    except ImportError as e:
        raise ExportError(f"ONNX export needs the onnx package ({e}); {EXPORT_EXTRA}") from None
    start = time.perf_counter()
    proto = onnx_model(endpoint, batch, shape, opset, metadata)
    if quantize is not None:
        release_memory()  # what the conversion left, before the calibration runs the model
        work = make_temporary_dir(path, "export")
        try:
            proto = quantize_onnx(proto, quantize, work, x=x, batch=batch or 1, method=method)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - start

    def save(tmp):
        onnx.save(proto, tmp)
        verify(tmp)

    atomic_save(save, path, ".onnx", "export")
    return seconds


def _representative(x: np.ndarray, batch: int):
    """The int8 calibration batches: the check images in order, the last batch topped up from the start."""

    def batches():
        for i in range(0, len(x), batch):
            yield {INPUT_NAME: batch_at(x, i, batch)}

    return batches


def _remove_legacy_temporaries() -> None:
    """Delete the ``$TMPDIR/inception-keras-export-*`` folders of earlier versions (they held a
    SavedModel's assets and stayed after a kill), once they are a day old: their writer's pid
    is not in their name, so age is the only sign that it is gone. Exports now keep their
    temporaries next to the output, named for :func:`remove_stale_temporaries`."""
    now = time.time()
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), "inception-keras-export-*")):
        try:
            if os.path.isdir(folder) and not os.path.islink(folder) and \
                    now - os.lstat(folder).st_mtime > STALE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


# =========================================================================== #
# The export
# =========================================================================== #
def export_model(model, output, fmt: str = "saved_model", *, quantize: str | None = None, batch_size="auto",
                 include_preprocessing: bool = False, preprocessing: Preprocessing | None = None,
                 calibration_data=None, calibration_steps: int = DEFAULT_CALIBRATION_STEPS,
                 check_samples: int = DEFAULT_CHECK_SAMPLES, tolerance: float = DEFAULT_TOLERANCE,
                 min_agreement: float = 0.0, opset: int = DEFAULT_ONNX_OPSET,
                 latency_runs: int = DEFAULT_LATENCY_RUNS, seed: int = 0, info: dict | None = None,
                 write_report: bool = True, labels: list[str] | None = None, overwrite: bool = False,
                 calibration_method: str | None = None, calibration_per_class: int | None = None) -> dict:
    """Export ``model`` as ``fmt`` to ``output``, check it, and return the summary.

    Args:
        model: a single-input, single-output Keras model with a fixed input size (TensorFlow backend).
        output: the SavedModel folder, or the ``.tflite`` / ``.onnx`` file (the extension is added when missing).
        fmt: ``"saved_model"``, ``"tflite"`` or ``"onnx"``.
        quantize: TFLite or ONNX: ``None`` (float32), ``"float16"`` (float16 weights), ``"dynamic"`` (int8
            weights, float activations) or ``"int8"`` (calibrated on ``calibration_data``; TFLite: full
            integer with int8 input and output; ONNX: QDQ with int8 per-channel weights and int8
            activations, float32 input and output; see :mod:`inception_keras.export.quantize`).
        batch_size: an integer, ``None`` / ``"dynamic"``, or ``"auto"`` (1 for TFLite, dynamic otherwise).
        include_preprocessing: SavedModel only: ``serving_default`` takes encoded images.
        preprocessing: the eval preprocessing (default: slim at the model's input size); used for the
            calibration images and baked in by ``include_preprocessing``.
        calibration_data: a folder of images; its first ``calibration_steps`` readable images calibrate
            int8 and are the check inputs of every format (decoded a batch at a time when used).
            Without it, ``check_samples`` deterministic random inputs.
        calibration_method: int8 only: ``"minmax"``, ``"percentile"`` (99.999) or ``"entropy"``;
            default percentile for ONNX, minmax for TFLite (its converter's only method).
        calibration_per_class: pick this many images (the first by path) from every class folder of
            ``calibration_data`` instead of its first ``calibration_steps`` images; a class with fewer
            gives a warning (and ``calibration.short_classes``). The files used and their sha256
            (:func:`~inception_keras.export.inputs.fingerprint`) go into the report and, for int8,
            into the export's metadata (``calibration``).
        tolerance: largest allowed difference of a float export, relative to the largest |Keras output|.
        min_agreement: quantized exports fail below this top-1 agreement (0: report only).
        opset: ONNX opset.
        latency_runs: timed runs (after a warm-up) of the exported model; the median is reported.
        seed: of the random check inputs.
        info: extra entries for the summary (the CLI adds the registry name and weights).
        write_report: also write the summary as JSON to ``<output>.json``.
        labels: the class names in output order (default: ImageNet's for 1000/1001 outputs, ``class i``
            otherwise). They travel with the export, with the preprocessing: the SavedModel's
            ``metadata`` signature and ``assets/``, ONNX ``metadata_props``, TFLite metadata entries
            (:func:`read_tflite_metadata`) plus ``<output>.labels.txt`` beside the ``.tflite``; the
            summary's ``class_names`` says where (and ``labels_file``).
        overwrite: replace an existing file (or SavedModel) at the output paths that is not an export
            of ours (by default an earlier export is replaced, anything else refused).

    Returns:
        The summary dict (also the content of the JSON report).

    Raises:
        ExportError: options or paths that cannot be used (nothing is written).
        OverwriteError: the output, its report or labels file exists and was not written by an
            export of ours (nothing is written; ``overwrite=True`` replaces it).
        ExportCheckError: the export failed or does not match the model (nothing is written).
    """
    job = _Job(fmt, quantize, include_preprocessing, opset, calibration_method, check_options(
        fmt, quantize=quantize, include_preprocessing=include_preprocessing, calibration_data=calibration_data,
        calibration_steps=calibration_steps, batch_size=batch_size, check_samples=check_samples,
        tolerance=tolerance, min_agreement=min_agreement, opset=opset, latency_runs=latency_runs,
        calibration_method=calibration_method, calibration_per_class=calibration_per_class))
    path = _prepare_path(model, output, fmt, overwrite)
    shape, preprocessing, metadata = _model_facts(model, preprocessing, labels, info,
                                                  calibration_data is not None or include_preprocessing)
    inputs = _check_inputs(calibration_data, calibration_per_class, calibration_steps, preprocessing, shape,
                           check_samples, seed, include_preprocessing)
    verify = _checker(model, job, inputs, preprocessing, tolerance, min_agreement, latency_runs, path)
    summary = _summary(model, job, info, shape, path, metadata)
    if quantize == "int8":
        _record_calibration(summary, metadata, job, inputs, calibration_data, calibration_per_class,
                            calibration_steps)
    summary["export_seconds"] = round(_write_export(model, path, job, shape, preprocessing, metadata, verify,
                                                    inputs.x), 2)
    summary.update(verify.result)
    summary["check"] = verify.check
    if write_report:
        summary["report"] = report_path(path)
        write_json(summary["report"], summary)
    return summary


@dataclasses.dataclass
class _Job:
    """The options of an export that its steps share."""

    fmt: str
    quantize: str | None
    include_preprocessing: bool
    opset: int
    calibration_method: str | None
    batch: int | None  # None: dynamic

    def __post_init__(self):
        if self.quantize == "int8" and self.calibration_method is None:
            self.calibration_method = DEFAULT_CALIBRATION_METHOD[self.fmt]


@dataclasses.dataclass
class _Inputs:
    """The check (and calibration) inputs: images of a folder, or deterministic random ones."""

    x: object  # float32 [n, size, size, 3]: an array, or FolderImages decoded when indexed
    encoded: list | None  # the encoded images, for a SavedModel with the preprocessing in the graph
    kind: str  # "images" or "random"
    source: str  # in words, for the report
    files: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    short: dict = dataclasses.field(default_factory=dict)  # class -> images, for classes with too few


def _prepare_path(model, output, fmt: str, overwrite: bool) -> str:
    """The path written (checked, free to write), after the temporaries of killed exports are removed."""
    import keras  # noqa: PLC0415

    if keras.backend.backend() != "tensorflow":
        raise ExportError(f"export runs on the TensorFlow backend, not {keras.backend.backend()!r}: "
                          "set KERAS_BACKEND=tensorflow")
    path = artefact_path(output, fmt)
    prepare_output(path, fmt, overwrite=overwrite)
    remove_stale_temporaries(os.path.dirname(os.path.abspath(path)))  # of killed exports and conversions
    _remove_legacy_temporaries()
    return path


def _model_facts(model, preprocessing, labels, info, image_inputs: bool):
    """The model's input shape, the preprocessing (default: slim at its size) and the export's
    metadata, once the model is known to be exportable."""
    if isinstance(model.output, (list, tuple, dict)):
        raise ExportError("export takes a model with one output; build it without aux_logits / features_only")
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or any(d is None for d in shape):
        raise ExportError(f"the model's input size must be fixed to export it, got {shape}; "
                          "build it with input_shape=(size, size, 3)")
    if preprocessing is None:
        preprocessing = Preprocessing("slim", shape[0])
    metadata = export_metadata(model, preprocessing, labels, info)  # checks the labels: before any work
    if image_inputs and (shape[2] != 3 or shape[0] != shape[1] or preprocessing.image_size != shape[0]):
        raise ExportError(f"image inputs need a square RGB model of the preprocessing size "
                          f"({preprocessing.image_size}); the model takes {shape}")
    return shape, preprocessing, metadata


def _check_inputs(calibration_data, per_class, steps, preprocessing, shape, check_samples, seed,
                  include_preprocessing) -> _Inputs:
    """The images of ``calibration_data`` (found now, decoded when used: memory does not grow with
    their number), or ``check_samples`` deterministic random inputs."""
    if calibration_data is None:
        return _Inputs(x=random_inputs(check_samples, shape, seed),
                       encoded=random_encoded_images(check_samples, shape[0], seed) if include_preprocessing else None,
                       kind="random",
                       source=f"{check_samples} deterministic random inputs, uniform in [-1, 1] (seed {seed})")
    chosen, short = None, {}
    if per_class is not None:
        chosen, short = select_per_class(calibration_data, per_class)
        if short:
            warnings.warn(f"--calibration-per-class {per_class}: {len(short)} class(es) of "
                          f"{os.fspath(calibration_data)} have fewer images: "
                          + ", ".join(f"{k} ({v})" for k, v in short.items()), ExportWarning, stacklevel=3)
    x, encoded, files, skipped = find_images(calibration_data, preprocessing, len(chosen) if chosen else steps,
                                             files=chosen, keep_bytes=include_preprocessing)
    return _Inputs(x=x, encoded=encoded, kind="images", files=files, skipped=skipped, short=short,
                   source=f"{len(files)} images from {os.fspath(calibration_data)} ({preprocessing.describe()})")


def _checker(model, job: _Job, inputs: _Inputs, preprocessing, tolerance, min_agreement, latency_runs, path):
    """The check of the written export against ``model``. ONNX float16 keeps float32 compute: checked
    like a float export, at a float16 tolerance; int8 and dynamic (and TFLite float16, whose kernels
    may run in float16) by top-1 agreement."""
    fp16_checked = job.fmt == "onnx" and job.quantize == "float16"
    verify = OutputChecker(model, job.fmt, x=inputs.x, encoded=inputs.encoded if job.include_preprocessing else None,
                      kind=inputs.kind, source=inputs.source, preprocessing=preprocessing, batch=job.batch,
                      quantized=job.quantize is not None and not fp16_checked,
                      tolerance=max(tolerance, FLOAT16_TOLERANCE) if fp16_checked else tolerance,
                      min_agreement=min_agreement, latency_runs=latency_runs, output=path)
    if inputs.skipped:
        verify.check["skipped"] = inputs.skipped
    return verify


def _summary(model, job: _Job, info, shape, path: str, metadata: dict) -> dict:
    """What was exported, how, and where the class names and preprocessing travel."""
    summary = {
        "model": model.name,
        **(info or {}),
        "input_shape": list(shape),
        "classes": int(model.output_shape[-1]),
        "params": int(model.count_params()),
        "format": job.fmt,
        "quantize": job.quantize,
        "batch_size": job.batch if job.batch is not None else "dynamic",
        "include_preprocessing": job.include_preprocessing,
        "output": path,
    }
    if job.fmt == "onnx":
        summary["opset"] = job.opset
    summary["preprocessing"] = metadata["preprocessing"]  # travels with every export
    summary["class_names"] = {"count": len(metadata["class_names"]), "source": metadata["class_names_source"],
                              "stored": STORED[job.fmt]}
    if job.fmt == "tflite":
        summary["labels_file"] = labels_path(path)
    if job.quantize is not None:
        summary["precision"] = PRECISION[job.quantize] if job.fmt == "onnx" else {
            "int8": "int8 weights and activations, int8 input and output",
            "float16": "float16 weights", "dynamic": "int8 weights, activations quantized at run time"}[job.quantize]
    return summary


def _record_calibration(summary: dict, metadata: dict, job: _Job, inputs: _Inputs, folder, per_class, steps):
    """The calibration set (which images, how chosen, their sha256, the method) into the summary and,
    to travel with the export (ONNX metadata_props, TFLite metadata), into its metadata."""
    n = job.batch or 1
    rel = [os.path.relpath(f, folder).replace(os.sep, "/") for f in inputs.files]
    summary["calibration"] = {"folder": os.fspath(folder), "images": len(inputs.x),
                              "steps": -(-len(inputs.x) // n), "batch": n, "method": job.calibration_method,
                              **({"percentile": CALIBRATION_PERCENTILE} if job.calibration_method == "percentile"
                                 else {}),
                              "selection": f"{per_class} per class" if per_class else f"first {steps} by path",
                              "sha256": fingerprint(folder, inputs.files), "files": rel}
    if inputs.short:
        summary["calibration"]["short_classes"] = inputs.short
    metadata["calibration"] = {k: v for k, v in summary["calibration"].items() if k != "folder"}


def _write_export(model, path: str, job: _Job, shape, preprocessing, metadata: dict, verify, x) -> float:
    """Convert, write, check and rename into place with the writer of ``job.fmt``; the seconds the
    conversion took. The folders made for the output are removed again when it fails."""
    created = missing_dirs(path)  # made by the writers
    asset_dir = None
    try:
        try:
            if job.fmt == "saved_model":  # next to the output, named for remove_stale_temporaries after a kill
                asset_dir = make_temporary_dir(path, "export")
            archive, endpoint = build_archive(model, job.batch, preprocessing if job.include_preprocessing else None,
                                              metadata if job.fmt == "saved_model" else None, asset_dir)
            if job.fmt == "saved_model":
                return _write_saved_model(archive, path, verify)
            if job.fmt == "tflite":
                representative = _representative(x, job.batch or 1) if job.quantize == "int8" else None
                return _write_tflite(archive, path, job.quantize, representative, verify, metadata)
            return _write_onnx(endpoint, path, job.batch, shape, job.opset, verify, metadata, quantize=job.quantize,
                               x=x if job.quantize == "int8" else None, method=job.calibration_method)
        finally:
            if asset_dir is not None:  # copied into the SavedModel's assets/ by then
                shutil.rmtree(asset_dir, ignore_errors=True)
    except BaseException:
        for folder in created:
            try:
                os.rmdir(folder)
            except OSError:
                break
        raise
