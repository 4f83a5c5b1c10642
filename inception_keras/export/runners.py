"""Where the export's runtimes went: :mod:`inception_keras.runtimes` (one runner per runtime,
used by the export's check and by every tool). The telemetry guard is re-exported here for the
modules that import it from this path."""

from __future__ import annotations

from ..runtimes.open import import_onnxruntime, no_onnxruntime_telemetry

__all__ = ["import_onnxruntime", "no_onnxruntime_telemetry"]
