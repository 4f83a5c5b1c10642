"""Which runtime opens a file: :func:`is_exported`, :func:`open_runner`."""

from __future__ import annotations

import os

from .base import FORMATS, RuntimeOpenError

def exported_format(reference) -> str | None:
    """"onnx" | "tflite" | "savedmodel" | "keras" for a path to an exported model, else None."""
    if not isinstance(reference, (str, os.PathLike)):
        return None
    path = os.fspath(reference)
    if "://" in path:
        return None
    lower = path.lower()
    for ext, fmt in ((".onnx", "onnx"), (".tflite", "tflite"), (".keras", "keras")):
        if lower.endswith(ext):
            return fmt
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
        return "savedmodel"
    return None


def is_exported(reference) -> bool:
    """Whether ``reference`` names an exported model: an ``.onnx``, ``.tflite`` or ``.keras``
    file or a SavedModel folder (with ``saved_model.pb``); presets, graphs and preset folders are not."""
    return exported_format(reference) is not None


def open_runner(reference, *, provider: str | None = None, threads: int | None = None, classes: int | None = None,
                labels=None, input_size: int | None = None, as_format: str | None = None):
    """The :class:`~inception_keras.runtimes.Runner` of an exported model, in its runtime.

    Args:
        reference: an ``.onnx``, ``.tflite`` or ``.keras`` file, or a SavedModel folder.
        provider: ONNX only: "cpu" (default), "cuda" or "tensorrt".
        threads: intra-op threads (ONNX Runtime, LiteRT; None: the runtime's default).
        classes: the number of classes of a model without the metadata ``export`` embeds.
        labels: its class names, a list or a file with one per line (instead of ``classes``).
        input_size: its input size, where the file does not say it.
        as_format: the format of a path whose name does not say it (a temporary file).

    Raises:
        RuntimeOpenError: not an exported model, a missing, corrupt or truncated file, an
            unknown or uninstalled provider, several TFLite signatures, no metadata.
    """
    fmt = as_format or exported_format(reference)
    if fmt not in FORMATS:
        raise RuntimeOpenError(f"{reference!r} is not an exported model: give an .onnx, .tflite or .keras file "
                               "or a SavedModel folder (with saved_model.pb)")
    path = os.fspath(reference)
    if not os.path.exists(path):
        raise RuntimeOpenError(f"no such {fmt} file: {path}")
    if fmt != "savedmodel" and not os.path.isfile(path):
        raise RuntimeOpenError(f"{path} is a folder, not a {fmt} file")
    if provider is not None and fmt != "onnx" and provider != "cpu":
        raise RuntimeOpenError(f"--provider {provider} is for ONNX models; {path} is {fmt}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise RuntimeOpenError(f"threads must be a positive integer, got {threads!r}")
    extra = {"classes": classes, "labels": labels, "input_size": input_size}
    if fmt == "onnx":
        from .onnx import OnnxRunner  # noqa: PLC0415

        return OnnxRunner(path, provider=provider or "cpu", threads=threads, **extra)
    if fmt == "tflite":
        from .litert import LiteRTRunner  # noqa: PLC0415

        return LiteRTRunner(path, threads=threads, **extra)
    if fmt == "savedmodel":
        from .savedmodel import SavedModelRunner  # noqa: PLC0415

        return SavedModelRunner(path, **extra)
    from .keras import KerasFileRunner  # noqa: PLC0415

    return KerasFileRunner(path, **extra)
