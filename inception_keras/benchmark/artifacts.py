"""Any model reference as a runner (float32 NHWC batch in, probabilities out).

* an exported model (``.onnx``, ``.tflite``, ``.keras``, a SavedModel folder) runs in its own
  runtime: :func:`inception_keras.runtimes.open_runner`;
* a graph name (``inception_v4``) or a preset (named, a preset folder, ``hf://``...) is built
  in Keras (:func:`inception_keras.weights.factory.load_model`) and wrapped in the same interface
  (:class:`inception_keras.runtimes.keras.KerasModelRunner`), its ``predict_on_batch`` called.

Example:
    >>> art = open_artifact("runs/flowers/best")            # doctest: +SKIP
    >>> art.runner.format, art.runner.precision, art.weights  # doctest: +SKIP
    ('keras', 'fp32', 'preset')
"""

from __future__ import annotations

import dataclasses
import os
import time

from ..data.labels import default_class_names
from ..runtimes import is_exported, open_runner, size_on_disk
from ..runtimes.keras import KerasModelRunner
from .timing import rss_mb

# Keras dtype policy -> the precision column
KERAS_PRECISION = {"float32": "fp32", "mixed_float16": "fp16", "mixed_bfloat16": "bf16"}
MODEL_KINDS = ("a graph name (inception_v4), a preset (named, a preset folder, hf://, kaggle://) or an exported "
               "model (.onnx, .tflite, .keras, a SavedModel folder)")


class NotAModelError(ValueError):
    """A reference that names no model: a file that is neither an exported model nor a preset.
    The message says what to give instead."""


@dataclasses.dataclass
class Artifact:
    """One model to measure: ``name`` as the user gave it, its ``runner``, where its weights
    came from (``"random"``, ``"preset"``, ``"embedded"``) and the process' RSS increase in MB
    while it was opened (``load_rss_mb``)."""

    name: str
    runner: object
    weights: str
    load_rss_mb: float

    def describe(self) -> dict:
        r = self.runner
        size = getattr(r, "file_size", None)
        return {"name": self.name, "format": r.format, "precision": r.precision, "runtime": r.runtime,
                "weights": self.weights, "file_size": None if size is None else int(size),
                "load_seconds": round(float(r.load_seconds), 3), "load_rss_mb": round(self.load_rss_mb, 1),
                "num_classes": int(r.num_classes), "input_size": int(r.input_size),
                "preprocessing": {k: r.preprocessing.get(k) for k in ("name", "input_size", "crop_fraction")}}


def keras_precision() -> str:
    """The precision column of a Keras model built under the current dtype policy."""
    import keras  # noqa: PLC0415

    name = keras.mixed_precision.dtype_policy().name
    return KERAS_PRECISION.get(name, name)


def open_artifact(ref, *, provider: str | None = None, threads: int | None = None, input_size: int | None = None,
                  random_weights: bool = False, jit_compile: bool | str = False) -> Artifact:
    """Open ``ref`` (a graph name, a preset or an exported model) as an :class:`Artifact`.

    Args:
        ref: the ``--model`` value.
        provider, threads: for exported models (ONNX Runtime's provider; runtime threads).
        input_size: for a graph name (default 299); a preset or an exported model has its own,
            and a different one is an error.
        random_weights: a named or remote preset is built with random weights instead of
            downloading them (timing only: weights do not change it); a local preset folder
            is always loaded with its weights. Graph names always have random weights.
        jit_compile: compile Keras models with XLA (True, False, or "auto": Keras' choice).

    Raises:
        NotAModelError: ``ref`` is an existing file or folder that holds no model.
        ValueError: an unknown name (:class:`~inception_keras.errors.UnknownModelError`), a
            preset that cannot be used, an exported model that cannot be opened
            (:class:`~inception_keras.runtimes.RuntimeOpenError`).
    """
    ref = os.fspath(ref)
    before = rss_mb()
    if is_exported(ref):
        runner = open_runner(ref, provider=provider, threads=threads)
        if input_size is not None and input_size != runner.input_size:
            runner.close()
            raise ValueError(f"--input-size {input_size} contradicts the exported model {ref} "
                             f"({runner.input_size}); drop it")
        weights = "embedded"
    else:
        runner, weights = _open_keras(ref, input_size=input_size, random_weights=random_weights,
                                      jit_compile=jit_compile)
    return Artifact(ref, runner, weights, max(0.0, rss_mb() - before))


def _open_keras(ref: str, *, input_size, random_weights: bool, jit_compile: bool | str):
    from ..weights.factory import load_model  # noqa: PLC0415
    from ..weights.loading import preset_info
    from ..weights.format import is_preset_dir  # noqa: PLC0415
    from ..weights.factory import list_models  # noqa: PLC0415

    start = time.perf_counter()
    file_size = None
    if ref in list_models():
        size = input_size or 299
        model, info = load_model(ref, weights=None, input_shape=(size, size, 3))
        weights = "random"
    else:
        if os.path.isfile(ref):
            raise NotAModelError(f"{ref} is not a model: give {MODEL_KINDS}")
        info = preset_info(ref)
        if input_size is not None and input_size != info.input_size:
            raise ValueError(f"--input-size {input_size} contradicts the preset {ref} ({info.input_size}); drop it")
        local = bool(info.path) and is_preset_dir(info.path)
        if random_weights and not local:
            model, _ = load_model(info.model, weights=None, **info.arguments)
            weights = "random"
        else:
            model, info = load_model(ref)
            weights = "preset"
        if info.path:
            file_size = size_on_disk(info.path)
    return _keras_runner(model, info, ref, start, file_size, jit_compile), weights


def _keras_runner(model, info, ref: str, start: float, file_size, jit_compile: bool | str):
    model.compile(jit_compile=jit_compile)
    runner = keras_runner(model, class_names=info.class_names, preprocessing=info.preprocessing)
    runner.path, runner.file_size = ref, file_size
    runner.runtime += ", XLA" if model.jit_compile else ""  # ("auto" resolved by Keras)
    runner.load_seconds = time.perf_counter() - start
    return runner


def keras_runner(model, *, class_names=None, preprocessing=None):
    """A built Keras model behind the runner interface, called through ``predict_on_batch``;
    its precision from the current dtype policy. ``preprocessing``: {"name", "input_size",
    "crop_fraction"} (default: TF-slim's at the model's input size)."""
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        raise ValueError(f"{model.name!r} takes {shape}: build it with a fixed square input_shape to run it here")
    size = int(shape[1])
    prep = dict(preprocessing or {"name": "slim", "input_size": size, "crop_fraction": 0.875})
    runner = KerasModelRunner(model, class_names=class_names or default_class_names(int(model.output_shape[-1])),
                              preprocessing=prep, predict=model.predict_on_batch)
    runner.file_size, runner.metadata, runner.precision = None, {}, keras_precision()
    return runner
