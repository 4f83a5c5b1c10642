"""The classifier's preprocessor: a serialisable Keras layer holding the evaluation preprocessing.

It is KerasHub's image-classifier preprocessor for this zoo: it records how raw images become
model inputs (``slim``: TF-slim's central crop and TF1-grid bilinear resize; ``resize-crop``:
timm's), travels in the classifier's config (``.keras`` files) and is applied **in the input
pipeline, on the host**, by :class:`~inception_keras.tasks.ImageClassifier`'s ``predict``,
``fit`` and ``evaluate``: a ``tf.data`` map (or one compiled TensorFlow function per image for
Python inputs). That is the same on every Keras backend: ``tf.data`` runs on the CPU for
TensorFlow, JAX and PyTorch alike, and hands the model float32 NHWC batches; the model itself is
pure Keras. Images of different sizes cannot share a tensor, so the crop and resize cannot be
layers of the model graph.

Example:
    >>> pre = ImagePreprocessor("slim", image_size=75)
    >>> pre(b"...jpeg bytes...").shape                                         # doctest: +SKIP
    TensorShape([75, 75, 3])
"""

from __future__ import annotations

import keras
import numpy as np

from ..data.preprocessing import PREPROCESSING_PRESETS, Preprocessing
from . import inputs

# What each preprocessing means in timm's pretrained_cfg terms.
TIMM_INTERPOLATION = {"slim": "bilinear", "resize-crop": "bilinear"}
MEAN = STD = (0.5, 0.5, 0.5)  # x/255 -> (x - 0.5) / 0.5 = [-1, 1]


@keras.saving.register_keras_serializable(package="inception_keras")
class ImagePreprocessor(keras.layers.Layer):
    """Raw images -> the model's inputs (float32 ``size x size x 3`` in [-1, 1]).

    The numbers are those of ``evaluate`` and ``predict``
    (:func:`inception_keras.data.preprocessing.decode_and_preprocess`), computed by TensorFlow
    ops on the host whatever the Keras backend (see the module docstring).

    Args:
        preprocessing: ``"slim"`` (TF-slim's evaluation: central crop keeping
            ``crop_fraction`` of each side, bilinear resize on TF1's grid, aspect ratio not
            kept) or ``"resize-crop"`` (timm's: shorter side to ``image_size / crop_fraction``,
            antialiased bilinear, centre crop).
        image_size: the model's input height and width.
        crop_fraction: the kept fraction, in (0, 1].
        max_pixels: images whose header says more pixels are refused (None: the current
            limit, Pillow's by default; 0: none). Not saved: a limit of the machine, not
            of the model.

    Calling the layer (``pre(images)``) takes TensorFlow-convertible values: one encoded
    image (a string), a uint8 ``HxWx3`` / ``HxW`` image, or a batch (strings, uint8
    ``NxHxWx3``); it returns TensorFlow tensors, also under the JAX and PyTorch backends.
    """

    def __init__(self, preprocessing: str = "slim", image_size: int = 299, crop_fraction: float = 0.875,
                 max_pixels: int | None = None, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.preparation = Preprocessing(preprocessing, int(image_size), float(crop_fraction))
        self.max_pixels = max_pixels
        # KerasHub's preprocessing layers do the same: inputs stay TensorFlow tensors (strings
        # included), whatever the backend, and there is nothing to build.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @property
    def preprocessing(self) -> str:
        return self.preparation.name

    @property
    def image_size(self) -> int:
        return self.preparation.image_size

    @property
    def crop_fraction(self) -> float:
        return self.preparation.crop_fraction

    @classmethod
    def from_preprocessing(cls, prep, **kwargs) -> ImagePreprocessor:
        """From a :class:`~inception_keras.data.preprocessing.Preprocessing`, a name or a
        ``preprocessing.json`` dict (``{"name", "input_size", "crop_fraction"}``)."""
        if isinstance(prep, str):
            return cls(prep, **kwargs)
        if isinstance(prep, dict):
            return cls(prep.get("name", "slim"), int(prep.get("input_size") or kwargs.pop("image_size", 299)),
                       float(prep.get("crop_fraction", 0.875)), **kwargs)
        return cls(prep.name, prep.image_size, prep.crop_fraction, **kwargs)

    def call(self, images):
        return inputs.preprocess_tensor(images, self.preparation, self.max_pixels)

    def preprocess(self, images, batch_size: int = 32):
        """Python images (paths, bytes, uint8 arrays, Pillow images, lists of them) ->
        float32 numpy ``N x size x size x 3``; ValueError naming an unreadable image."""
        out = list(inputs.batches(images, self.preparation, batch_size, self.max_pixels))
        size = self.image_size
        return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.float32)

    def map_dataset(self, dataset, batch_size: int | None = 32):
        """A ``tf.data.Dataset`` of raw images (or ``(image, label[, weight])``) -> batches of
        model inputs, labels unchanged (:func:`inception_keras.tasks.inputs.map_dataset`)."""
        return inputs.map_dataset(dataset, self.preparation, batch_size, self.max_pixels)

    def compute_output_shape(self, input_shape):
        size = self.image_size
        batched = len(input_shape) in (1, 4)
        return (input_shape[0], size, size, 3) if batched else (size, size, 3)

    def to_preprocessing_json(self) -> dict:
        """The ``preprocessing`` argument of ``save_preset`` (``preprocessing.json``)."""
        p = self.preparation
        return {"name": p.name, "input_size": p.image_size, "crop_fraction": p.crop_fraction}

    def timm_cfg(self, channels: int = 3) -> dict:
        """The preprocessing in timm's ``pretrained_cfg`` key names."""
        p = self.preparation
        return {"input_size": (channels, p.image_size, p.image_size), "crop_pct": p.crop_fraction,
                "crop_mode": "center", "interpolation": TIMM_INTERPOLATION[p.name], "mean": MEAN, "std": STD,
                "preprocessing": p.name}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(preprocessing=self.preprocessing, image_size=self.image_size, crop_fraction=self.crop_fraction)
        return config


__all__ = ["PREPROCESSING_PRESETS", "ImagePreprocessor"]
