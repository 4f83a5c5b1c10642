"""``ExportedClassifier``: an exported model (``.onnx``, ``.tflite``, a SavedModel folder, a
``.keras`` file) as a classifier with the same API as :class:`~inception_keras.tasks.ImageClassifier`.

The network runs in its own runtime (:mod:`inception_keras.runtimes`: ONNX Runtime, LiteRT,
TensorFlow, Keras); the class names and the preprocessing are the ones ``export`` embedded, so
``predict``, ``predict_labels`` and ``decode`` give what the Keras classifier gives, within the
export's precision. ``ImageClassifier.from_preset("model.onnx")`` returns one.

Example:
    >>> import inception_keras as ik
    >>> clf = ik.ImageClassifier.from_preset("exports/v4_int8.onnx", threads=2)    # doctest: +SKIP
    >>> clf.predict_labels(["cat.jpg"], top=1), clf.pretrained_cfg["precision"]    # doctest: +SKIP
    ([[Prediction(id='n02123045', name='tabby', score=0.69)]], 'int8')
"""

from __future__ import annotations

import os

import numpy as np

from ..runtimes import is_exported, open_runner
from . import labels as label_decoding
from .base import ClassifierAPI

RUNNER_OPTIONS = ("provider", "threads", "classes", "labels", "input_size")


class ExportedClassifier(ClassifierAPI):
    """A classifier whose network is an exported model, run by its runtime.

    Args:
        runner: an open :class:`~inception_keras.runtimes.Runner`.

    Attributes:
        runner: the runner (``format``, ``precision``, ``runtime``, ``file_size``, ...).
        labels, background: the embedded class names as label rows.
        preparation: the embedded preprocessing
            (:class:`~inception_keras.data.preprocessing.Preprocessing`).
    """

    def __init__(self, runner):
        self.runner = runner
        self.preparation = runner.to_preprocessing()
        names = list(runner.class_names or [])
        if len(names) == runner.num_classes and names[:1] == ["background"]:
            names = names[1:]  # TF-slim's background column: label_rows marks it
        self.labels, self.background = label_decoding.label_rows(names or None, runner.num_classes)

    @classmethod
    def open(cls, reference, **options) -> ExportedClassifier:
        """Open ``reference`` (an exported file or SavedModel folder) in its runtime.

        ``options``: ``provider`` (ONNX: "cpu", "cuda", "tensorrt"), ``threads``, and for a
        model exported without metadata ``classes``, ``labels`` and ``input_size``. Anything
        else is a ``TypeError``: an exported model's graph, weights and head are fixed."""
        unknown = sorted(set(options) - set(RUNNER_OPTIONS))
        if unknown:
            raise TypeError(f"an exported model takes only {', '.join(RUNNER_OPTIONS)}; {', '.join(unknown)} "
                            f"change the graph or its weights: export the model again with them")
        return cls(open_runner(reference, **options))

    @property
    def num_classes(self) -> int:
        return int(self.runner.num_classes)

    @property
    def network(self):
        """What runs the forward pass: the runner (a preprocessed batch in, probabilities out)."""
        return self.runner

    def predict_preprocessed(self, batch) -> np.ndarray:
        """float32 ``N x size x size x 3`` inputs -> ``N x classes`` probabilities, in the runtime."""
        return self.runner(np.asarray(batch, np.float32))

    @property
    def pretrained_cfg(self) -> dict:
        """timm's ``pretrained_cfg`` keys for the export, with its format, precision, runtime and file."""
        prep = self.preparation
        cfg = {"input_size": (3, prep.image_size, prep.image_size), "crop_pct": prep.crop_fraction,
               "crop_mode": "center", "interpolation": "bilinear", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
               "num_classes": self.num_classes, "label_names": self.class_names,
               "preprocessing": prep.name, "source": os.path.abspath(self.runner.path),
               "format": self.runner.format, "precision": self.runner.precision, "runtime": self.runner.runtime,
               "file_size": self.runner.file_size}
        model = self.runner.metadata.get("model") if isinstance(self.runner.metadata, dict) else None
        if model:
            cfg["architecture"] = model
        return cfg

    def close(self) -> None:
        self.runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["ExportedClassifier", "is_exported"]
