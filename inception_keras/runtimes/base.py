"""The runner interface: a float32 NHWC preprocessed batch in, float32 probabilities out.

One implementation per runtime (:mod:`.onnx`, :mod:`.litert`, :mod:`.savedmodel`,
:mod:`.keras`); every tool calls a runner the same way, whatever runs behind it.
"""

from __future__ import annotations

import os
import time

import numpy as np

FORMATS = ("onnx", "tflite", "savedmodel", "keras")
PRECISIONS = ("fp32", "fp16", "int8", "dynamic")

KERAS = "keras"  # --runtime keras: the Keras model itself
# --runtime -> the export format it runs (runtimes.cache exports and caches it)
RUNTIME_FORMATS = {"onnxruntime": "onnx", "litert": "tflite"}
RUNTIMES = (KERAS, *RUNTIME_FORMATS)


class RuntimeOpenError(ValueError):
    """An exported model that cannot be opened as asked: a corrupt or truncated file, a provider
    that is not installed, several signatures, no embedded metadata. The message says what to do."""


class MissingMetadataError(RuntimeOpenError):
    """An exported model without the class names and preprocessing ``export`` embeds, and none
    given: the message asks for ``--classes``/``--labels``/``--input-size``."""


def unreadable(path: str, what: str, error: Exception, again: str = "export it again") -> RuntimeOpenError:
    """The error for a file its runtime cannot read: its own words, shortened, and what to do."""
    return RuntimeOpenError(f"{path} is not a readable {what} ({type(error).__name__}: {str(error).strip()[:300]}); "
                            f"the file is corrupt or truncated: {again}")


def size_on_disk(path: str) -> int:
    """Bytes of a file, or of every file under a folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    if not os.path.isdir(path):
        return 0
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def looks_like_probabilities(y: np.ndarray) -> bool:
    """Whether rows are distributions: in [0, 1] and summing to 1 (within 0.05: int8 outputs of a
    softmax are rounded to 1/256 each)."""
    y = np.asarray(y, dtype=np.float64)
    return bool(y.size == 0 or (y.min() >= -1e-6 and y.max() <= 1 + 1e-6
                                and np.allclose(y.sum(axis=-1), 1.0, atol=0.05)))


def softmax(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def softmax_if_logits(y: np.ndarray) -> np.ndarray:
    """Probabilities: rows that are not already distributions (:func:`looks_like_probabilities`)
    go through a softmax, as the outputs of a model exported with ``classifier_activation=None``."""
    return np.asarray(y, np.float32) if looks_like_probabilities(y) else softmax(y)


class Runner:
    """A model opened in its runtime. ``runner(batch)``: float32 ``(N, size, size, 3)``
    preprocessed images (any N) -> float32 probabilities ``(N, classes)``.

    Attributes: ``format`` ("onnx" | "tflite" | "savedmodel" | "keras"), ``precision`` ("fp32" |
    "fp16" | "int8" | "dynamic"), ``path``, ``file_size`` (bytes on disk; a folder: the sum),
    ``runtime`` (e.g. "ONNX Runtime 1.32 (CPUExecutionProvider, 2 threads)"), ``load_seconds``,
    ``class_names`` (list or None), ``preprocessing`` ({"name", "input_size", "crop_fraction", ...}),
    ``num_classes``, ``input_size``, ``metadata`` (everything embedded by ``export``).
    """

    format: str = ""
    precision: str = "fp32"
    path: str = ""
    file_size: int = 0
    runtime: str = ""
    load_seconds: float = 0.0
    class_names: list[str] | None = None
    preprocessing: dict = {}
    num_classes: int = 0
    input_size: int = 0
    # the largest batch the runtime takes in one call (None: any); larger batches are split
    fixed_batch: int | None = None
    # whether the raw outputs are probabilities; logits go through a softmax
    outputs_probabilities: bool | None = None

    def __init__(self, path: str):
        self.path = str(path)
        self.file_size = size_on_disk(self.path)
        self.metadata: dict = {}
        self._start = time.perf_counter()

    def _loaded(self) -> None:
        self.load_seconds = time.perf_counter() - self._start

    def _run(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - each runtime defines it
        raise NotImplementedError

    def raw(self, batch: np.ndarray) -> np.ndarray:
        """The runtime's own outputs (logits or probabilities, dequantized) of a batch of any size."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"{self.format} model {self.path} takes (N, {self.input_size}, {self.input_size}, 3) "
                             f"float32 images, got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        step = self.fixed_batch or len(batch)
        outs = []
        for i in range(0, len(batch), step):
            part = batch[i : i + step]
            n = len(part)
            if self.fixed_batch and n < self.fixed_batch:  # pad with the first row, drop its outputs
                part = np.concatenate([part, np.repeat(part[:1], self.fixed_batch - n, axis=0)])
            outs.append(np.asarray(self._run(part), dtype=np.float32).reshape(len(part), -1)[:n])
        return np.concatenate(outs)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities of a batch: the outputs, or their softmax when the model ends in logits
        (decided from the graph where it says, else from the first outputs, then kept)."""
        out = self.raw(batch)
        if self.outputs_probabilities is None and len(out):
            self.outputs_probabilities = looks_like_probabilities(out)
        return out if self.outputs_probabilities else softmax(out)

    def close(self) -> None:
        """Free the runtime's session (the runner cannot be called afterwards)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def to_preprocessing(self):
        """The eval preprocessing as :class:`inception_keras.data.preprocessing.Preprocessing`."""
        from ..data.preprocessing import Preprocessing  # noqa: PLC0415

        p = self.preprocessing
        return Preprocessing(p.get("name", "slim"), int(p.get("input_size", self.input_size)),
                             float(p.get("crop_fraction", 0.875)))

    def describe(self) -> dict:
        """What the tools print and write to JSON about the runner."""
        return {"format": self.format, "precision": self.precision, "path": self.path,
                "file_size": self.file_size, "runtime": self.runtime, "load_seconds": round(self.load_seconds, 3),
                "num_classes": self.num_classes, "input_size": self.input_size,
                "preprocessing": self.preprocessing}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.format} {self.precision} {self.path!r}: {self.runtime}>"
