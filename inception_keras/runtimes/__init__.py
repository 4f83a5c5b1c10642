"""Exported models run by their own runtime, behind one interface: batch -> probabilities.

    from inception_keras.runtimes import is_exported, open_runner

    runner = open_runner("exported/v4.onnx", provider="cpu", threads=2)
    probs = runner(batch)                # float32 (N, 299, 299, 3) in [-1, 1] -> (N, 1000)
    runner.class_names, runner.preprocessing, runner.precision, runner.runtime
    runner.close()

* ``.onnx``: ONNX Runtime (``provider`` "cpu" | "cuda" | "tensorrt", ``threads``);
* ``.tflite``: the LiteRT interpreter (``threads``), int8 input/output quantization applied;
* a SavedModel folder (``saved_model.pb``): TensorFlow, its ``serving_default`` signature;
* ``.keras``: ``keras.models.load_model``;
* a Keras model already built: ``KerasModelRunner(model, class_names=..., preprocessing=...)``.

Class names and preprocessing come from the metadata ``export`` embeds
(:mod:`inception_keras.export.metadata`); a model without it needs ``classes=``/``labels=``
and ``input_size=`` (the tools' ``--classes``/``--labels``/``--input-size``).
"""

from __future__ import annotations

# Imports here stay clear of inception_keras.export (whose check runs these runners): the
# modules that read export's metadata (.metadata and the runtimes) are imported when used.

from .base import (
    FORMATS,
    PRECISIONS,
    MissingMetadataError,
    Runner,
    RuntimeOpenError,
    looks_like_probabilities,
    size_on_disk,
    softmax_if_logits,
)
from .keras import KerasModelRunner
from .open import exported_format, is_exported, open_runner
from .ort import PROVIDERS, import_onnxruntime

__all__ = ["FORMATS", "PRECISIONS", "PROVIDERS", "KerasModelRunner", "MissingMetadataError", "Runner",
           "RuntimeOpenError", "exported_format", "import_onnxruntime", "is_exported", "looks_like_probabilities",
           "open_runner", "size_on_disk", "softmax_if_logits"]
