"""The user-facing API every classifier shares, whatever runs the network.

:class:`ClassifierAPI` turns raw images into probabilities and named classes. A subclass
provides one model-specific method, :meth:`ClassifierAPI.predict_preprocessed` (a float32
NHWC batch, already preprocessed -> probabilities), and four attributes: ``preparation`` (an
:class:`~inception_keras.data.preprocessing.Preprocessing`), ``labels`` and ``background`` (the
preset format's label rows), and ``pretrained_cfg``. :class:`~inception_keras.tasks.ImageClassifier`
is the Keras one; a runtime-backed classifier (an exported ``.onnx``, ``.tflite`` or SavedModel)
subclasses this with its runtime's forward pass and gets the same ``predict``,
``predict_labels`` and ``decode``. Nothing here imports Keras.

Example (a runtime-backed classifier):
    >>> class OnnxClassifier(ClassifierAPI):                                # doctest: +SKIP
    ...     def __init__(self, session, preparation, labels, background, pretrained_cfg):
    ...         self.session, self.preparation = session, preparation
    ...         self.labels, self.background, self.pretrained_cfg = labels, background, pretrained_cfg
    ...     def predict_preprocessed(self, batch):
    ...         return self.session.run(None, {"input": batch})[0]
"""

from __future__ import annotations

import numpy as np

from . import inputs
from . import labels as label_decoding


class ClassifierAPI:
    """predict / predict_labels / decode / class_names on top of one forward pass."""

    preparation = None  # eval_preprocessing.Preprocessing
    labels: list | None = None
    background: bool = False
    max_pixels: int | None = None

    def predict_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``N x size x size x 3`` model inputs -> ``N x classes`` probabilities."""
        raise NotImplementedError

    @property
    def network(self):
        """What runs the forward pass for the tools: a flat Keras model, or a runtime's runner."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        raise NotImplementedError

    @property
    def class_names(self) -> list[str]:
        """The name of each output column (``"background"`` first for TF-slim's 1001-way heads)."""
        return label_decoding.class_names(self.labels, self.background, self.num_classes)

    def predict(self, images, batch_size: int | None = None, verbose="auto", **kwargs) -> np.ndarray:
        """Probabilities of raw images, after the classifier's own preprocessing.

        Args:
            images: file paths, encoded bytes, uint8 arrays (one ``HxWx3`` / ``HxW`` image or
                an ``NxHxWx3`` batch, any size), Pillow images, a list of these, or a
                ``tf.data.Dataset`` of encoded bytes or uint8 images (batched or not; the
                first entry of tuples). See :mod:`inception_keras.tasks.inputs`.
            batch_size: images per forward pass (default 32; a batched dataset keeps its own).
            verbose: ``"auto"`` / 1 shows a progress bar when there is more than one batch; 0
                shows none.

        Returns:
            float32 numpy ``N x classes``, one row per image in input order.

        Raises:
            ValueError: an image that cannot be read or decoded (the message names it: its
                path, or ``images[i]``), or a value that is none of the above.
        """
        if kwargs:
            raise TypeError(f"predict() got unexpected arguments {', '.join(kwargs)}; it takes raw images, "
                            f"batch_size and verbose")
        batch_size = int(batch_size or 32)
        if inputs.is_dataset(images):
            return self._predict_dataset(images, batch_size, verbose)
        total = inputs.count_images(images)
        bar = self._progress(total, batch_size, verbose)
        out = []
        for batch in inputs.batches(images, self.preparation, batch_size, self.max_pixels):
            out.append(np.asarray(self.predict_preprocessed(batch), np.float32))
            if bar is not None:
                bar.add(len(batch))
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)

    def _predict_dataset(self, dataset, batch_size: int, verbose) -> np.ndarray:
        import tensorflow as tf  # noqa: PLC0415

        mapped = inputs.map_dataset(dataset, self.preparation, batch_size, self.max_pixels)
        count = int(dataset.cardinality())  # elements: images when unbatched
        unbatched = count >= 0 and not inputs.is_batched(_images_spec(dataset))
        bar = self._progress(count if unbatched else None, batch_size, verbose)
        out = []
        try:
            for element in mapped.as_numpy_iterator():
                batch = element[0] if isinstance(element, tuple) else element
                out.append(np.asarray(self.predict_preprocessed(batch), np.float32))
                if bar is not None:
                    bar.add(len(batch))
        except tf.errors.OpError as e:
            raise ValueError(f"an image of the dataset is not readable: {e.message.splitlines()[0]}") from None
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)

    @staticmethod
    def _progress(total, batch_size: int, verbose):
        if not verbose or total is None or total <= batch_size:
            return None
        from keras.utils import Progbar  # noqa: PLC0415 - only for long work

        return Progbar(total, unit_name="image")

    def decode(self, preds, top: int = 5) -> list[list[label_decoding.Prediction]]:
        """The ``top`` classes of each row of ``preds``, best first, named by this classifier's
        labels: ``[[Prediction(id, name, score), ...], ...]``, ``id`` being the synset where the
        labels have one (ImageNet's) and the output column otherwise. TF-slim's background
        column is never listed."""
        return label_decoding.decode(preds, self.labels, self.background, top)

    def predict_labels(self, images, top: int = 5, batch_size: int | None = None, verbose="auto"):
        """:meth:`predict` then :meth:`decode`: a list (one per image) of its ``top``
        :class:`~inception_keras.tasks.labels.Prediction` ``(id, name, score)``."""
        return self.decode(self.predict(images, batch_size=batch_size, verbose=verbose), top)


def _images_spec(dataset):
    spec = dataset.element_spec
    return spec[0] if isinstance(spec, tuple) else spec


__all__ = ["ClassifierAPI"]
