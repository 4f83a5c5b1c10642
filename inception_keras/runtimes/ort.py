"""ONNX Runtime's import without telemetry, and the execution providers ``--provider`` names."""

from __future__ import annotations

import os

# --provider -> ONNX Runtime's execution providers (the CPU one always last, as the fallback)
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}
ORT_TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def no_onnxruntime_telemetry() -> None:
    """Keep ONNX Runtime from making its telemetry store: importing it creates
    ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (``deviceid``, ``onnxruntime.db``; under
    ``$XDG_CACHE_HOME`` when set) unless ``ORT_DISABLE_TELEMETRY`` is set when it is first
    imported. Call before anything imports onnxruntime (tf2onnx's einsum optimizer does); an
    explicit setting of the variable is kept."""
    os.environ.setdefault(ORT_TELEMETRY_ENV, "1")


def import_onnxruntime():
    """onnxruntime, imported without its telemetry (:func:`no_onnxruntime_telemetry`)."""
    no_onnxruntime_telemetry()
    import onnxruntime as ort  # noqa: PLC0415

    if os.environ.get(ORT_TELEMETRY_ENV) == "1" and hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()  # no events either, where a build sends them (Windows)
    return ort
