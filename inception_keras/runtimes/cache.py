"""``--runtime``: run a Keras classifier (a preset, a graph) in ONNX Runtime or LiteRT, exported once.

The first call exports the classifier's network (:func:`inception_keras.export.export_model`:
written under a temporary name, checked against the Keras model on deterministic inputs, the
run refused when a probability differs by more than :data:`CHECK_TOLERANCE`), and keeps the
export in the cache; later calls, in this process or another, open the cached file directly.

    import inception_keras as ik
    from inception_keras.runtimes.cache import cached_classifier

    clf = ik.ImageClassifier.from_preset("inception_v4.tf_in1k")
    fast = cached_classifier(clf, "onnxruntime", threads=2)   # exports once, then reuses
    fast.predict_labels(["cat.jpg"], top=3)                   # same labels, same preprocessing
    cached_classifier(clf, "keras") is clf                     # "keras": no export

Cache entries: ``<cache_dir()>/exports/<architecture>-<format>-<weights>-<rest>/``, holding the
export (``model.onnx`` or ``model.tflite``), its check report (``model.onnx.json``) and
``cache.json``: the inputs of the key and the export file's sha256. The key is the weights'
sha256 where the classifier knows it (a named preset's ``pretrained_cfg["sha256"]``, with a
digest of the classifier head, which ``num_classes=`` makes anew), else
:func:`~inception_keras.inference.predictor.weights_digest`; then the graph (every weight's
path, shape and dtype, the layers' types, the input shape), the class names, the
preprocessing, the format and the versions of this package, Keras and TensorFlow. An entry is
written into a temporary folder and renamed into place, under an inter-process lock on the
entry: several processes asking at once export once. Each use checks the file's sha256 against
``cache.json``; a damaged entry is exported again, with one line saying so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import sys

import keras

from ..inference.predictor import weights_digest
from ..tasks.classifier import HEAD
from ..tasks.exported import ExportedClassifier
from ..utils.fileio import atomic_save_dir, write_json
from ..version import __version__
from ..weights.format import sha256_file
from ..weights.hub import cache_dir, file_lock
from .base import KERAS, RUNTIME_FORMATS, RUNTIMES, RuntimeOpenError
from .open import open_runner

log = logging.getLogger("inception_keras")

FORMAT_NAMES = {"onnx": "ONNX", "tflite": "TFLite"}
CHECK_TOLERANCE = 1e-4  # the largest difference in probabilities an export may show
CHECK_SAMPLES = 4  # deterministic random inputs the export is checked on
RECORD = "cache.json"
EXPORT_NAME = "model"
CACHE_FORMAT = 1  # of the entries and their record: raised when either changes


class UnknownRuntimeError(ValueError):
    """A ``--runtime`` that is not one of :data:`RUNTIMES`."""


class NotExportableError(ValueError):
    """A classifier that cannot be exported for a runtime (no Keras network, another backend, ...)."""


def check_runtime(runtime) -> str:
    """``runtime`` when it is one of :data:`RUNTIMES`; else :class:`UnknownRuntimeError`."""
    if runtime not in RUNTIMES:
        raise UnknownRuntimeError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)} "
                                  f"(keras runs the model as it is; the others export it once and cache it)")
    return runtime


def exports_dir(cache_root=None) -> str:
    """Where cached exports live: ``<cache_root>/exports`` (default root: ``hub.cache_dir()``)."""
    return os.path.join(os.fspath(cache_root) if cache_root is not None else cache_dir(), "exports")


def cached_classifier(classifier, runtime: str, *, provider: str | None = None, threads: int | None = None,
                      cache_root=None, say=None):
    """``classifier`` run by ``runtime``: the Keras classifier itself, or its cached export.

    Args:
        classifier: an :class:`~inception_keras.tasks.ImageClassifier` (a preset, a graph, a
            training run's model).
        runtime: ``"keras"`` (returns ``classifier`` unchanged), ``"onnxruntime"`` (ONNX, fp32)
            or ``"litert"`` (TFLite, fp32).
        provider: ONNX Runtime's provider ("cpu", "cuda", "tensorrt"); None: CPU.
        threads: intra-op threads of the runtime (None: its default).
        cache_root: the cache root (default: :func:`inception_keras.weights.hub.cache_dir`).
        say: called with the one line written when an entry is exported (default: stderr).

    Returns:
        ``classifier`` for ``"keras"``; otherwise an
        :class:`~inception_keras.tasks.ExportedClassifier` over the cached export, with the
        Keras classifier's labels (synsets included), preprocessing and ``pretrained_cfg``
        (plus ``format``, ``precision``, ``runtime``, ``file_size``, ``export_path``).

    Raises:
        UnknownRuntimeError: ``runtime`` is none of :data:`RUNTIMES`.
        NotExportableError: the classifier cannot be exported (not a Keras classifier, another
            backend than TensorFlow, ...).
        inception_keras.export.ExportCheckError: the export disagrees with the Keras model
            (by more than :data:`CHECK_TOLERANCE`); nothing is cached.
        RuntimeOpenError: a provider that is not installed, or ``provider`` with LiteRT.
    """
    fmt = RUNTIME_FORMATS.get(check_runtime(runtime))
    if fmt is None:
        return classifier
    if provider not in (None, "cpu") and fmt != "onnx":
        raise RuntimeOpenError(f"--provider {provider} is for --runtime onnxruntime, not {runtime}")
    model = _network(classifier, runtime)
    inputs = key_inputs(classifier, model, fmt)
    entry = os.path.join(exports_dir(cache_root), entry_name(inputs))
    say = say or _stderr
    path = _valid_export(entry)
    if path is None:
        path = _export_once(classifier, model, inputs, entry, say)
    return CachedExportClassifier(open_runner(path, provider=provider, threads=threads), classifier, entry)


class CachedExportClassifier(ExportedClassifier):
    """The cached export of a Keras classifier: its runtime's forward pass, the Keras classifier's
    labels (synsets included) and origin."""

    def __init__(self, runner, source, entry: str):
        super().__init__(runner)
        self.labels, self.background = source.labels, source.background
        self.max_pixels = getattr(source, "max_pixels", None)
        self.export_path = entry
        self._source_cfg = dict(source.pretrained_cfg)

    @property
    def pretrained_cfg(self) -> dict:
        exported = super().pretrained_cfg
        return {**self._source_cfg, "export_path": self.export_path,
                **{k: exported[k] for k in ("format", "precision", "runtime", "file_size")}}


# =========================================================================== #
# The key
# =========================================================================== #
def _network(classifier, runtime: str):
    """The flat Keras model of ``classifier`` (``to_model``), or NotExportableError."""
    if isinstance(classifier, ExportedClassifier):
        raise NotExportableError(f"--runtime {runtime} exports a Keras model; this one is already exported and "
                                 f"runs in {classifier.runner.runtime}: drop --runtime")
    if not callable(getattr(classifier, "to_model", None)):
        raise NotExportableError(f"--runtime {runtime} takes an ImageClassifier (a preset or a graph), got "
                                 f"{type(classifier).__name__}")
    return classifier.to_model()


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _head_digest(model) -> str:
    """sha256 of the classifier head's weights (``Logits__Logits``; all weights where there is none)."""
    names = {layer.name for layer in model.layers}
    return weights_digest(model.get_layer(HEAD[2]) if HEAD[2] in names else model)


def key_inputs(classifier, model, fmt: str) -> dict:
    """What a cached export depends on: weights, graph, input, labels, preprocessing, format, versions."""
    cfg = classifier.pretrained_cfg
    known = cfg.get("sha256")
    weights = ({"sha256": known, "head": _head_digest(model)} if known
               else {"digest": weights_digest(model)})
    graph = [[w.path, list(w.shape), str(w.dtype)] for w in model.weights]
    graph += [type(layer).__name__ for layer in model.layers]
    return {
        "cache_format": CACHE_FORMAT, "architecture": cfg.get("architecture") or model.name, "source": cfg.get("source"),
        "weights": weights, "graph": _digest(graph), "input_shape": list(model.input_shape[1:]),
        "classes": int(model.output_shape[-1]), "class_names": _digest(list(classifier.class_names)),
        "preprocessing": dataclasses.asdict(classifier.preparation), "format": fmt, "precision": "fp32",
        "versions": {"inception_keras": __version__, "keras": keras.__version__, "tensorflow": _tf_version()},
    }


def _tf_version() -> str | None:
    try:
        import tensorflow as tf  # noqa: PLC0415
    except ImportError:
        return None
    return tf.__version__


def entry_name(inputs: dict) -> str:
    """``<architecture>-<format>-<weights sha256, 16>-<the rest hashed, 16>``."""
    weights = inputs["weights"].get("sha256") or inputs["weights"]["digest"]
    rest = _digest({k: v for k, v in inputs.items() if k not in ("weights", "source")}  # source: only recorded
                   | {"head": inputs["weights"].get("head")})
    arch = re.sub(r"[^A-Za-z0-9_.]", "_", str(inputs["architecture"]))[:40] or "model"
    return f"{arch}-{inputs['format']}-{weights[:16]}-{rest[:16]}"


# =========================================================================== #
# The entry: checked on use, exported once under a lock
# =========================================================================== #
def _entry_problem(entry: str) -> tuple[str | None, str | None]:
    """``(export path, None)`` for a sound entry, ``(None, what is wrong)`` otherwise ("" when absent)."""
    record = os.path.join(entry, RECORD)
    if not os.path.isdir(entry):
        return None, ""
    try:
        with open(record, encoding="utf-8") as f:
            data = json.load(f)
        path = os.path.join(entry, data["file"])
        expected = data["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"its {RECORD} is unreadable ({type(e).__name__})"
    if not os.path.isfile(path):
        return None, f"{data['file']} is missing"
    if sha256_file(path) != expected:
        return None, f"{data['file']} does not match the sha256 recorded when it was exported"
    return path, None


def _valid_export(entry: str) -> str | None:
    return _entry_problem(entry)[0]


def _export_once(classifier, model, inputs: dict, entry: str, say) -> str:
    """Export into ``entry`` unless another process did while this one waited for the lock."""
    with file_lock(entry):
        path, problem = _entry_problem(entry)
        if path is not None:
            return path
        name = FORMAT_NAMES[inputs["format"]]
        if problem:
            say(f"the cached {name} export in {entry} is damaged ({problem}); exporting it again")
        say(f"exporting {inputs['architecture']} to {name} once; cached in {entry}")
        atomic_save_dir(lambda tmp: _write_entry(tmp, classifier, model, inputs), entry, "runtime-cache")
    path, problem = _entry_problem(entry)
    if path is None:  # pragma: no cover - only a concurrent deletion of the cache gets here
        raise RuntimeOpenError(f"the cached export in {entry} cannot be used ({problem}); delete the folder")
    return path


def _write_entry(folder: str, classifier, model, inputs: dict) -> None:
    """Export, check and record one entry in ``folder`` (a new folder, renamed into place after)."""
    from ..export import ExportError, export_model  # noqa: PLC0415

    os.makedirs(folder)
    fmt = inputs["format"]
    try:
        summary = export_model(model, os.path.join(folder, EXPORT_NAME), fmt, batch_size=None,
                               preprocessing=classifier.preparation, labels=list(classifier.class_names),
                               info={"registry_name": inputs["architecture"], "weights": inputs["source"]},
                               tolerance=CHECK_TOLERANCE, check_samples=CHECK_SAMPLES, latency_runs=1)
    except ExportError as e:
        raise NotExportableError(f"cannot export {inputs['architecture']} for --runtime "
                                 f"{_runtime_of(fmt)}: {e}; run it with --runtime keras") from e
    file = os.path.basename(summary["output"])
    write_json(os.path.join(folder, RECORD), {
        "file": file, "sha256": sha256_file(os.path.join(folder, file)),
        "size": os.path.getsize(os.path.join(folder, file)), "key": inputs,
        "check": summary["check"], "runtime": summary.get("runtime"),
    })


def _runtime_of(fmt: str) -> str:
    return next(r for r, f in RUNTIME_FORMATS.items() if f == fmt)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


__all__ = ["CHECK_TOLERANCE", "RUNTIMES", "RUNTIME_FORMATS", "CachedExportClassifier", "NotExportableError",
           "UnknownRuntimeError", "cached_classifier", "check_runtime", "entry_name", "exports_dir", "key_inputs"]
