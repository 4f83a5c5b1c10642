"""Models side by side: any mix of Keras graphs, presets and exported files, opened as runners
(:mod:`.artifacts`), timed in turn in one process (:mod:`.timing`), and compared with a
reference on a labelled image set (:mod:`.report`, :mod:`.svg`).

    from inception_keras.benchmark import open_artifact, measure_alternately

    artifacts = [open_artifact(ref) for ref in ("inception_v4", "v4.onnx", "v4_int8.onnx")]
    results = measure_alternately(artifacts, batch_size=8, runs=5, warmup=2)

Used by ``inception-keras-benchmark --model A B C`` and ``inception-keras-deploy-report``.
The per-model costs of the Keras zoo (parameters, multiply-adds) stay in
:mod:`inception_keras.profile`.
"""

from __future__ import annotations

from .artifacts import Artifact, NotAModelError, keras_precision, keras_runner, open_artifact
from .timing import MEMORY_NOTE, Measurement, measure_alternately, memory_method

__all__ = ["MEMORY_NOTE", "Artifact", "Measurement", "NotAModelError", "keras_precision", "keras_runner",
           "measure_alternately", "memory_method", "open_artifact"]
