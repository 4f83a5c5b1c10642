"""Tasks: a model of the zoo with its preprocessing and class names (KerasHub's "task").

* :class:`ImageClassifier`: ``from_preset`` any model reference, ``predict`` /
  ``predict_labels`` on raw images, ``fit`` / ``evaluate`` on raw-image datasets,
  ``reset_classifier``, ``save_to_preset``, ``pretrained_cfg``;
* :class:`ImagePreprocessor`: the serialisable preprocessing layer (TF-slim's or timm's
  evaluation preprocessing, run on the host in the input pipeline);
* :class:`ExportedClassifier`: an exported model (``.onnx``, ``.tflite``, SavedModel) run by
  its runtime, with the same API (``ImageClassifier.from_preset("x.onnx")`` returns one);
* :class:`ClassifierAPI`: the user-facing methods every classifier shares;
* :class:`Prediction`: one decoded class ``(id, name, score)``.

Names are imported on first use: ``ClassifierAPI`` and ``Prediction`` do not import Keras.
"""

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "ImageClassifier": ".classifier",
    "ImagePreprocessor": ".preprocessor",
    "ExportedClassifier": ".exported",
    "ClassifierAPI": ".base",
    "Prediction": ".labels",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
