"""Export a Keras model to SavedModel, TFLite or ONNX, and check the export against the model.

Tool side: imports TensorFlow (and, per format, LiteRT, tf2onnx and ONNX Runtime); the model
code of the package stays pure Keras.

    from inception_keras import create_model
    from inception_keras.export import export_model

    model = create_model("inception_v4", weights="imagenet")
    export_model(model, "exported/v4", "saved_model", include_preprocessing=True)
    export_model(model, "exported/v4", "tflite", quantize="int8", calibration_data="calibration/")
    export_model(model, "exported/v4", "onnx")

Every export is written under a temporary name next to the output, run by its own runtime
(TensorFlow for the SavedModel, the LiteRT interpreter, ONNX Runtime) on the same inputs as
the Keras model, and only then renamed into place. A float export whose largest difference
exceeds ``tolerance`` times the largest Keras output (1e-4 by default) raises
:class:`ExportCheckError` and leaves nothing behind. Quantized TFLite exports report their
top-1 agreement with the float Keras model (``min_agreement`` makes that a check too).

The check inputs are the calibration images when ``calibration_data`` is given (eval
preprocessing of :mod:`inception_keras.datasets`), otherwise deterministic random inputs.

Signatures:

* SavedModel: ``serving_default`` takes ``images`` (float32 ``[batch, size, size, 3]`` in
  [-1, 1]) and returns ``predictions``. With ``include_preprocessing=True``,
  ``serving_default`` takes ``image_bytes`` (string ``[batch]``: encoded JPEG/PNG/GIF/BMP)
  and runs the eval preprocessing in the graph; the float signature is kept as
  ``serving_images``.
* TFLite: one signature, ``serving_default``: ``images`` -> ``predictions`` (int8 tensors
  with their scale and zero point for ``quantize="int8"``).
* ONNX: input ``images``, output ``predictions``; a dynamic batch dimension is named ``batch``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import warnings

import numpy as np

from .datasets import DataError, Preprocessing, decode_image, list_image_files, preprocess_for_eval
from .fileio import atomic_save, atomic_save_dir, write_json
from .profile import time_calls

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZATIONS = ("dynamic", "float16", "int8")
EXTENSIONS = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}
DEFAULT_TOLERANCE = 1e-4
# tf2onnx 1.17 writes opsets up to 18; ONNX Runtime runs opset 18 since 1.14 (2023).
DEFAULT_ONNX_OPSET = 18
DEFAULT_CALIBRATION_STEPS = 100
DEFAULT_CHECK_SAMPLES = 8
DEFAULT_LATENCY_RUNS = 10

INPUT_NAME = "images"
BYTES_INPUT_NAME = "image_bytes"
OUTPUT_NAME = "predictions"
SERVING = "serving_default"
SERVING_IMAGES = "serving_images"

_EXPORT_EXTRA = "pip install 'inception-keras[export]'"


class ExportError(ValueError):
    """Options, inputs or an output location that cannot be used; the message says what to change."""


class ExportCheckError(RuntimeError):
    """The exported model does not reproduce the Keras model; nothing was written."""


# =========================================================================== #
# Options
# =========================================================================== #
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
                  latency_runs=DEFAULT_LATENCY_RUNS):
    """Reject option combinations that cannot work, before any model is built. Returns the batch size."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if quantize is not None:
        if quantize not in QUANTIZATIONS:
            raise ExportError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
        if fmt != "tflite":
            raise ExportError(f"--quantize {quantize} applies to --format tflite only (got {fmt}); "
                              "export a float model or use --format tflite")
    if quantize == "int8" and calibration_data is None:
        raise ExportError("--quantize int8 needs --calibration-data DIR: a folder of representative images "
                          "(a few hundred of the kind the model will see) to calibrate the activation ranges")
    if include_preprocessing and fmt != "saved_model":
        raise ExportError(f"--include-preprocessing needs --format saved_model (got {fmt}): TFLite's builtin ops "
                          "and ONNX have no image decoder; preprocess on the client "
                          "(inception_keras.datasets.preprocess_for_eval) or export a SavedModel")
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


def _missing_dirs(path: str) -> list[str]:
    """The folders above ``path`` that do not exist yet, deepest first."""
    missing = []
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    return missing


def prepare_output(path: str, fmt: str) -> None:
    """Prove that ``path`` can be written, before the (slow) export starts; creates nothing."""
    parent = os.path.dirname(os.path.abspath(path))
    if fmt == "saved_model":
        if os.path.isfile(path):
            raise ExportError(f"output {path!r} is a file; a SavedModel is a folder: give a new path")
        if os.path.isdir(path) and os.listdir(path) and not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ExportError(f"output {path!r} is a folder that does not hold a SavedModel; "
                              "it would be replaced: give a new path or remove it first")
    elif os.path.isdir(path):
        raise ExportError(f"output {path!r} is a folder; give a file path for the {fmt} export")
    missing = _missing_dirs(path)
    existing = os.path.dirname(missing[-1]) if missing else parent
    if not os.path.isdir(existing):
        raise ExportError(f"cannot write to the output folder {parent!r}: {existing!r} is a file, not a folder; "
                          "give an --output in a writable folder")
    try:  # the folder that will hold the new ones (or the output) must take a new file
        fd, probe = tempfile.mkstemp(prefix=".tmp-", dir=existing)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ExportError(f"cannot write to the output folder {parent!r}: {existing!r} is not writable "
                          f"({e.strerror or e}); give an --output in a writable folder") from None


# =========================================================================== #
# Check inputs
# =========================================================================== #
def load_images(folder, prep: Preprocessing, limit: int):
    """Read, decode and preprocess the first ``limit`` readable images under ``folder``.

    Returns (float32 [n, size, size, 3], encoded bytes list, file paths, skipped paths).
    Files TensorFlow cannot decode are skipped; a folder with none readable is an error.
    """
    import tensorflow as tf  # noqa: PLC0415

    images, encoded, used, skipped = [], [], [], []
    for path in list_image_files(folder):
        if len(used) >= limit:
            break
        with open(path, "rb") as f:
            data = f.read()
        try:
            image = preprocess_for_eval(decode_image(tf.constant(data)), prep)
        except (tf.errors.InvalidArgumentError, ValueError):
            skipped.append(path)
            continue
        images.append(image.numpy())
        encoded.append(data)
        used.append(path)
    if not used:
        raise DataError(f"none of the images in {os.fspath(folder)!r} could be decoded by TensorFlow "
                        f"({len(skipped)} tried); give JPEG, PNG, GIF or BMP files")
    return np.stack(images).astype("float32"), encoded, used, skipped


def random_inputs(count: int, shape, seed: int = 0) -> np.ndarray:
    """``count`` deterministic inputs uniform in [-1, 1] (the range of preprocessed images)."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (count, *shape)).astype("float32")


def random_encoded_images(count: int, size: int, seed: int = 0) -> list[bytes]:
    """``count`` deterministic JPEGs of assorted sizes (smooth colour ramps plus noise)."""
    import tensorflow as tf  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        h = int(size * rng.uniform(0.6, 1.6)) + i
        w = int(size * rng.uniform(0.6, 1.6)) + 2 * i
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = np.stack([xx / w, yy / h, (xx + yy) / (h + w)], axis=-1) * rng.uniform(80, 255, 3)
        pixels = np.clip(ramp + rng.normal(0, 25, (h, w, 3)), 0, 255).astype("uint8")
        out.append(tf.io.encode_jpeg(pixels, quality=90).numpy())
    return out


def _keras_outputs(model, x: np.ndarray, chunk: int = 8) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i : i + chunk], training=False)) for i in range(0, len(x), chunk)])


def _in_batches(run, x, batch: int | None, chunk: int = 8) -> np.ndarray:
    """Run ``run`` over ``x`` in batches of the export's fixed size (the last one padded) or ``chunk``."""
    size = batch or chunk
    outs = []
    for i in range(0, len(x), size):
        part = x[i : i + size]
        n = len(part)
        if batch and n < batch:  # a fixed batch: pad with the first rows, drop their outputs
            part = np.concatenate([part, np.repeat(part[:1], batch - n, axis=0)])
        outs.append(np.asarray(run(part))[:n])
    return np.concatenate(outs)


def compare(reference: np.ndarray, exported: np.ndarray) -> dict:
    """Largest absolute difference, the same relative to the largest |reference|, top-1 agreement,
    and the number of exported rows that are constant (every class equal: argmax is then class 0)."""
    reference = np.asarray(reference, "float64").reshape(len(reference), -1)
    exported = np.asarray(exported, "float64").reshape(len(exported), -1)
    if reference.shape != exported.shape:
        raise ExportCheckError(f"the export returns shape {exported.shape}, the Keras model {reference.shape}")
    diff = float(np.max(np.abs(reference - exported)))
    scale = float(np.max(np.abs(reference)))
    agree = int(np.sum(reference.argmax(axis=1) == exported.argmax(axis=1)))
    return {
        "max_abs_diff": diff,
        "relative_diff": diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf")),
        "output_scale": scale,
        "top1_agree": agree,
        "top1_agreement": agree / len(reference),
        "count": len(reference),
        "constant_outputs": int(np.sum(np.ptp(exported, axis=1) == 0)),
    }


def _latency_ms(run, x_batch: np.ndarray, runs: int) -> float:
    """Median milliseconds per image of ``run(x_batch)``, after one warm-up call."""
    times = time_calls(lambda: run(x_batch), runs=runs, warmup=1)
    return 1000.0 * statistics.median(times) / len(x_batch)


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _size_on_disk(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


# =========================================================================== #
# Writers
# =========================================================================== #
def _archive(model, batch, prep: Preprocessing | None):
    """A Keras ExportArchive with the float signature and, given ``prep``, the encoded-image one;
    and the ``tf.function`` of ``serving_default``."""
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    size = tuple(model.input_shape[1:])
    # No archive.track(model): the endpoints track the variables they use. In Keras 3.15,
    # track() saves every weight a second time (Keras variable and tf.Variable), which
    # doubles the SavedModel on disk; TF Serving, TFSMLayer and the TFLite converter need
    # only what the signatures use.
    archive = keras.export.ExportArchive()

    def serve_images(images):
        return {OUTPUT_NAME: model(images, training=False)}

    image_spec = tf.TensorSpec([batch, *size], tf.float32, name=INPUT_NAME)
    if prep is None:
        return archive, archive.add_endpoint(SERVING, serve_images, input_signature=[image_spec])

    def serve_bytes(image_bytes):
        images = tf.map_fn(lambda data: preprocess_for_eval(decode_image(data), prep), image_bytes,
                           fn_output_signature=tf.TensorSpec(size, tf.float32))
        return {OUTPUT_NAME: model(images, training=False)}

    endpoint = archive.add_endpoint(SERVING, serve_bytes,
                                    input_signature=[tf.TensorSpec([batch], tf.string, name=BYTES_INPUT_NAME)])
    archive.add_endpoint(SERVING_IMAGES, serve_images, input_signature=[image_spec])
    return archive, endpoint


def _tflite_bytes(saved_model_dir: str, quantize, representative) -> bytes:
    import tensorflow as tf  # noqa: PLC0415

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SERVING])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # weights to int8 ("dynamic range")
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":  # every op in int8, int8 input and output tensors
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with warnings.catch_warnings():  # the calibrator still uses tf.lite.Interpreter, which warns
            warnings.simplefilter("ignore")
            return converter.convert()
    except Exception as e:  # the converter raises ConverterError and assorted others
        raise ExportCheckError(f"the TFLite converter failed ({type(e).__name__}: {str(e).strip()[:2000]})") from e


def _onnx_model(endpoint, batch, size, opset: int):
    import tensorflow as tf  # noqa: PLC0415

    try:
        import tf2onnx  # noqa: PLC0415
    except ImportError as e:
        raise ExportError(f"ONNX export needs tf2onnx ({e}); {_EXPORT_EXTRA}") from None
    spec = [tf.TensorSpec([batch, *size], tf.float32, name=INPUT_NAME)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto, _ = tf2onnx.convert.from_function(endpoint, input_signature=spec, opset=opset)
    # tf2onnx names unknown dimensions unk__N: call the batch dimension what it is.
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = "batch"
    return proto


# =========================================================================== #
# Runtimes
# =========================================================================== #
class _SavedModelRunner:
    def __init__(self, path):
        import tensorflow as tf  # noqa: PLC0415

        self._tf = tf
        self.loaded = tf.saved_model.load(path)
        self.runtime = f"TensorFlow {tf.__version__} (tf.saved_model.load, signature {SERVING})"

    def signature(self, name):
        fn = self.loaded.signatures[name]
        key = next(iter(fn.structured_input_signature[1]))
        return lambda x: fn(**{key: self._tf.constant(x)})[OUTPUT_NAME].numpy()

    def describe(self) -> dict:
        out = {}
        for name, fn in self.loaded.signatures.items():
            out[name] = {
                "inputs": {k: _spec(s) for k, s in fn.structured_input_signature[1].items()},
                "outputs": {k: _spec(s) for k, s in fn.structured_outputs.items()},
            }
        return out


def _spec(s) -> dict:
    return {"shape": [None if d is None else int(d) for d in s.shape], "dtype": s.dtype.name}


class _TFLiteRunner:
    def __init__(self, path, threads):
        try:
            import ai_edge_litert  # noqa: PLC0415
            from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
        except ImportError as e:
            raise ExportError(f"running TFLite exports needs the LiteRT interpreter ({e}); {_EXPORT_EXTRA}") from None
        self.interpreter = Interpreter(model_path=path, num_threads=threads)
        self.runner = self.interpreter.get_signature_runner(SERVING)
        self.input = self.runner.get_input_details()[INPUT_NAME]
        self.output = self.runner.get_output_details()[OUTPUT_NAME]
        version = getattr(ai_edge_litert, "__version__", "")
        self.runtime = f"LiteRT {version} interpreter (ai_edge_litert, {threads} threads)".replace("  ", " ")

    def __call__(self, x):
        if self.input["dtype"] == np.int8:
            scale, zero = self.input["quantization"]
            x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
        y = self.runner(**{INPUT_NAME: x})[OUTPUT_NAME]
        if self.output["dtype"] == np.int8:
            scale, zero = self.output["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y

    def describe(self) -> dict:
        def one(d):
            shape = d.get("shape_signature", d["shape"])
            out = {"shape": [None if int(s) < 0 else int(s) for s in shape], "dtype": np.dtype(d["dtype"]).name}
            if d["dtype"] == np.int8:
                out["quantization"] = {"scale": float(d["quantization"][0]), "zero_point": int(d["quantization"][1])}
            return out

        return {SERVING: {"inputs": {INPUT_NAME: one(self.input)}, "outputs": {OUTPUT_NAME: one(self.output)}}}


class _OnnxRunner:
    def __init__(self, path, threads):
        try:
            import onnxruntime as ort  # noqa: PLC0415
        except ImportError as e:
            raise ExportError(f"running ONNX exports needs ONNX Runtime ({e}); {_EXPORT_EXTRA}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.runtime = f"ONNX Runtime {ort.__version__} (CPUExecutionProvider, {threads} threads)"

    def __call__(self, x):
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    def describe(self) -> dict:
        def one(v):
            dtype = v.type.removeprefix("tensor(").removesuffix(")")  # tensor(float) -> float32
            dtype = {"float": "float32", "double": "float64", "float16": "float16"}.get(dtype, dtype)
            return {"shape": [d if isinstance(d, int) else None for d in v.shape], "dtype": dtype}

        return {"graph": {"inputs": {v.name: one(v) for v in self.session.get_inputs()},
                          "outputs": {v.name: one(v) for v in self.session.get_outputs()}}}


# =========================================================================== #
# The check
# =========================================================================== #
class _Checker:
    """Runs a written export on the check inputs and compares it with the Keras outputs.

    Called with the temporary path of the export, before it is renamed into place: it raises
    :class:`ExportCheckError` (and the writer removes the file) when the export does not match.
    """

    def __init__(self, model, fmt, *, x, encoded, kind, source, preprocessing, batch, quantized, tolerance,
                 min_agreement, latency_runs, output):
        self.fmt, self.x, self.encoded, self.batch = fmt, x, encoded, batch
        self.quantized, self.tolerance, self.min_agreement = quantized, tolerance, min_agreement
        self.latency_runs, self.output, self.threads = latency_runs, output, _threads()
        self.reference = _keras_outputs(model, x)
        if encoded is not None:  # the Keras side of the in-graph preprocessing: the same TF ops, eagerly
            import tensorflow as tf  # noqa: PLC0415

            self.reference_bytes = _keras_outputs(model, np.stack(
                [preprocess_for_eval(decode_image(tf.constant(b)), preprocessing).numpy() for b in encoded]))
        self.check = {"inputs": kind, "source": source}
        self.result = {}

    def __call__(self, written: str) -> None:
        start = time.perf_counter()
        if self.fmt == "saved_model":
            runner = _SavedModelRunner(written)
            run = runner.signature(SERVING_IMAGES if self.encoded is not None else SERVING)
        else:
            runner = (_TFLiteRunner if self.fmt == "tflite" else _OnnxRunner)(written, self.threads)
            run = runner
        stats = compare(self.reference, _in_batches(run, self.x, self.batch))
        self.check.update(stats)
        self.check.update({"reference": "Keras model, float32",
                           "tolerance": None if self.quantized else self.tolerance,
                           "min_agreement": self.min_agreement if self.quantized else None})
        problems = []
        if not self.quantized and stats["relative_diff"] > self.tolerance:
            problems.append(f"max |export - keras| = {stats['max_abs_diff']:.3g} is {stats['relative_diff']:.3g} of "
                            f"the largest output ({stats['output_scale']:.3g}), above the tolerance {self.tolerance:g}")
        if self.quantized and stats["top1_agreement"] < self.min_agreement:
            problems.append(f"top-1 agreement {stats['top1_agreement']:.1%} is below "
                            f"--min-agreement {self.min_agreement:.1%}")
        if self.encoded is not None:
            run_bytes = runner.signature(SERVING)
            pre = compare(self.reference_bytes, _in_batches(run_bytes, np.asarray(self.encoded, dtype=object),
                                                            self.batch))
            pre["source"] = (f"{len(self.encoded)} encoded images through {SERVING} ({BYTES_INPUT_NAME}) vs the "
                             "Keras model on datasets.preprocess_for_eval of the same bytes")
            self.result["preprocessing_check"] = pre
            if pre["relative_diff"] > self.tolerance:
                problems.append(f"with the preprocessing in the graph, max |export - keras| = "
                                f"{pre['max_abs_diff']:.3g} ({pre['relative_diff']:.3g} relative), above the "
                                f"tolerance {self.tolerance:g}")
        self.check["passed"] = not problems
        if problems:
            raise ExportCheckError(f"the {self.fmt} export does not match the Keras model on {self.check['source']}: "
                                   + "; ".join(problems) + f". Nothing was written to {self.output}.")
        self.result["check_seconds"] = round(time.perf_counter() - start, 2)
        n = self.batch or 1
        sample = self.x[:n] if len(self.x) >= n else np.resize(self.x, (n, *self.x.shape[1:]))
        self.result["latency_ms_per_image"] = _latency_ms(run, sample, self.latency_runs)
        self.result["latency"] = {"batch": n, "runs": self.latency_runs, "statistic": "median",
                                  "threads": self.threads}
        self.result["runtime"] = runner.runtime
        self.result["signatures"] = runner.describe()
        self.result["size_bytes"] = _size_on_disk(written)


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

    atomic_save_dir(save, path)
    return seconds[0]


def _write_tflite(archive, path: str, quantize, representative, verify) -> float:
    start = time.perf_counter()
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:  # through a SavedModel, as Keras' own LiteRT export does: the .tflite keeps the signature
        saved = os.path.join(work, "saved_model")
        archive.write_out(saved, verbose=False)
        flat = _tflite_bytes(saved, quantize, representative)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - start

    def save(tmp):
        with open(tmp, "wb") as f:
            f.write(flat)
        verify(tmp)

    atomic_save(save, path, ".tflite")
    return seconds


def _write_onnx(endpoint, path: str, batch, shape, opset: int, verify) -> float:
    try:
        import onnx  # noqa: PLC0415
    except ImportError as e:
        raise ExportError(f"ONNX export needs the onnx package ({e}); {_EXPORT_EXTRA}") from None
    start = time.perf_counter()
    proto = _onnx_model(endpoint, batch, shape, opset)
    seconds = time.perf_counter() - start

    def save(tmp):
        onnx.save(proto, tmp)
        verify(tmp)

    atomic_save(save, path, ".onnx")
    return seconds


def _representative(x: np.ndarray, batch: int):
    """The int8 calibration batches: the check images in order, the last batch topped up from the start."""

    def batches():
        for i in range(0, len(x), batch):
            part = x[i : i + batch]
            if len(part) < batch:
                part = np.concatenate([part, np.resize(x, (batch - len(part), *x.shape[1:]))])
            yield {INPUT_NAME: part}

    return batches


# =========================================================================== #
# The export
# =========================================================================== #
def export_model(model, output, fmt: str = "saved_model", *, quantize: str | None = None, batch_size="auto",
                 include_preprocessing: bool = False, preprocessing: Preprocessing | None = None,
                 calibration_data=None, calibration_steps: int = DEFAULT_CALIBRATION_STEPS,
                 check_samples: int = DEFAULT_CHECK_SAMPLES, tolerance: float = DEFAULT_TOLERANCE,
                 min_agreement: float = 0.0, opset: int = DEFAULT_ONNX_OPSET,
                 latency_runs: int = DEFAULT_LATENCY_RUNS, seed: int = 0, info: dict | None = None,
                 write_report: bool = True) -> dict:
    """Export ``model`` as ``fmt`` to ``output``, check it, and return the summary.

    Args:
        model: a single-input, single-output Keras model with a fixed input size
            (TensorFlow backend).
        output: the SavedModel folder, or the ``.tflite`` / ``.onnx`` file (the extension is
            added when missing).
        fmt: ``"saved_model"``, ``"tflite"`` or ``"onnx"``.
        quantize: TFLite only: ``None`` (float32), ``"float16"`` (float16 weights),
            ``"dynamic"`` (int8 weights, float activations) or ``"int8"`` (full integer,
            int8 input and output, calibrated on ``calibration_data``).
        batch_size: an integer, ``None`` / ``"dynamic"``, or ``"auto"`` (1 for TFLite,
            dynamic otherwise).
        include_preprocessing: SavedModel only: ``serving_default`` takes encoded images.
        preprocessing: the eval preprocessing (default: slim at the model's input size);
            used for the calibration images and baked in by ``include_preprocessing``.
        calibration_data: a folder of images; its first ``calibration_steps`` readable
            images calibrate int8 and are the check inputs of every format. Without it,
            ``check_samples`` deterministic random inputs.
        tolerance: largest allowed difference of a float export, relative to the largest
            absolute Keras output.
        min_agreement: quantized exports fail below this top-1 agreement (0: report only).
        opset: ONNX opset.
        latency_runs: timed runs (after a warm-up) of the exported model; the median is reported.
        seed: of the random check inputs.
        info: extra entries for the summary (the CLI adds the registry name and weights).
        write_report: also write the summary as JSON to ``<output>.json``.

    Returns:
        The summary dict (also the content of the JSON report).

    Raises:
        ExportError: options or paths that cannot be used (nothing is written).
        ExportCheckError: the export failed or does not match the model (nothing is written).
    """
    import keras  # noqa: PLC0415

    if keras.backend.backend() != "tensorflow":
        raise ExportError(f"export runs on the TensorFlow backend, not {keras.backend.backend()!r}: "
                          "set KERAS_BACKEND=tensorflow")
    batch = check_options(fmt, quantize=quantize, include_preprocessing=include_preprocessing,
                          calibration_data=calibration_data, calibration_steps=calibration_steps,
                          batch_size=batch_size, check_samples=check_samples, tolerance=tolerance,
                          min_agreement=min_agreement, opset=opset, latency_runs=latency_runs)
    path = artefact_path(output, fmt)
    prepare_output(path, fmt)

    if isinstance(model.output, (list, tuple, dict)):
        raise ExportError("export takes a model with one output; build it without aux_logits / features_only")
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or any(d is None for d in shape):
        raise ExportError(f"the model's input size must be fixed to export it, got {shape}; "
                          "build it with input_shape=(size, size, 3)")
    if preprocessing is None:
        preprocessing = Preprocessing("slim", shape[0])
    if (calibration_data is not None or include_preprocessing) and (
            shape[2] != 3 or shape[0] != shape[1] or preprocessing.image_size != shape[0]):
        raise ExportError(f"image inputs need a square RGB model of the preprocessing size "
                          f"({preprocessing.image_size}); the model takes {shape}")

    # ---- check inputs: real images, or deterministic random ones ----------
    skipped = []
    if calibration_data is not None:
        x, encoded, files, skipped = load_images(calibration_data, preprocessing, calibration_steps)
        source = f"{len(files)} images from {os.fspath(calibration_data)} ({preprocessing.describe()})"
        kind = "images"
    else:
        x = random_inputs(check_samples, shape, seed)
        encoded = random_encoded_images(check_samples, shape[0], seed) if include_preprocessing else None
        source = f"{check_samples} deterministic random inputs, uniform in [-1, 1] (seed {seed})"
        kind = "random"
    verify = _Checker(model, fmt, x=x, encoded=encoded if include_preprocessing else None, kind=kind, source=source,
                      preprocessing=preprocessing, batch=batch, quantized=quantize is not None,
                      tolerance=tolerance, min_agreement=min_agreement, latency_runs=latency_runs, output=path)
    if skipped:
        verify.check["skipped"] = skipped

    summary = {
        "model": model.name,
        **(info or {}),
        "input_shape": list(shape),
        "classes": int(model.output_shape[-1]),
        "params": int(model.count_params()),
        "format": fmt,
        "quantize": quantize,
        "batch_size": batch if batch is not None else "dynamic",
        "include_preprocessing": include_preprocessing,
        "output": path,
    }
    if fmt == "onnx":
        summary["opset"] = opset
    if include_preprocessing or calibration_data is not None:
        summary["preprocessing"] = preprocessing.to_json()
    if quantize == "int8":
        n = batch or 1
        summary["calibration"] = {"folder": os.fspath(calibration_data), "images": len(x),
                                  "steps": -(-len(x) // n), "batch": n}

    created = _missing_dirs(path)  # made by the writers; removed again when the export fails
    try:
        archive, endpoint = _archive(model, batch, preprocessing if include_preprocessing else None)
        if fmt == "saved_model":
            seconds = _write_saved_model(archive, path, verify)
        elif fmt == "tflite":
            representative = _representative(x, batch or 1) if quantize == "int8" else None
            seconds = _write_tflite(archive, path, quantize, representative, verify)
        else:
            seconds = _write_onnx(endpoint, path, batch, shape, opset, verify)
    except BaseException:
        for folder in created:
            try:
                os.rmdir(folder)
            except OSError:
                break
        raise

    summary["export_seconds"] = round(seconds, 2)
    summary.update(verify.result)
    summary["check"] = verify.check
    if write_report:
        summary["report"] = report_path(path)
        write_json(summary["report"], summary)
    return summary
