"""``ImageClassifier``: a model of the zoo with its preprocessing and class names, in one object.

Modelled on KerasHub's ``ImageClassifier`` (a ``keras.Model`` made of a backbone, a head and a
preprocessor applied in the input pipeline) and timm's ``pretrained_cfg``. It does in Python
what the tools do: from any model reference to named classes of raw images, with the very
preprocessing ``evaluate`` uses.

Example:
    >>> import inception_keras as ik
    >>> clf = ik.ImageClassifier.from_preset("inception_v4.tf_in1k")          # doctest: +SKIP
    >>> clf.predict_labels(["cat.jpg", "dog.png"], top=3)                      # doctest: +SKIP
    [[Prediction(id='n02123045', name='tabby', score=0.71), ...], ...]
    >>> flowers = clf.reset_classifier(5, labels=["daisy", "dandelion", "rose", "sunflower",
    ...                                           "tulip"])                    # doctest: +SKIP
    >>> flowers.compile()                                                      # doctest: +SKIP
    >>> flowers.fit(train_ds, epochs=3)  # (encoded JPEG, int label) pairs     # doctest: +SKIP
    >>> flowers.save_to_preset("flowers")                                      # doctest: +SKIP

Backends: TensorFlow, JAX and PyTorch. The preprocessor is TensorFlow ops run on the host in
the input pipeline (``tf.data``, or one compiled function per image for Python inputs) for
every backend; the network (backbone and head) is pure Keras.

Saving: ``clf.save("x.keras")`` stores the backbone, the head, the preprocessor's settings,
the labels and the origin (``pretrained_cfg``); ``keras.models.load_model("x.keras")`` gives
the classifier back, with no ``custom_objects``, once the class has been imported
(``from inception_keras import ImageClassifier``, which imports this module): Keras 3 imports a saved class's module
by itself only for its own packages (keras, keras_hub, keras_cv, keras_nlp) and finds every
other class in the registry that ``register_keras_serializable`` fills when the module is
imported. In a process that never imported it, Keras raises ``TypeError: Could not locate
class 'ImageClassifier'``.
"""

from __future__ import annotations

import json
import os
import zipfile

import keras
import numpy as np
from keras import layers

from ..weights import factory as registry, loading, presets
from ..errors import UnknownModelError
from ..errors import PresetError
from ..weights.format import describe_model, is_preset_dir, looks_like_preset, save_preset
from . import labels as label_decoding
from ..runtimes import is_exported
from .base import ClassifierAPI
from .exported import ExportedClassifier
from .inputs import is_dataset as _is_dataset
from .preprocessor import ImagePreprocessor

HEAD = ("Logits__AvgPool_1a", "Logits__Dropout_1b", "Logits__Logits", "Predictions")
TIMM_KEYWORDS = ("pretrained", "num_classes", "in_chans")


@keras.saving.register_keras_serializable(package="inception_keras")
class ImageClassifier(ClassifierAPI, keras.Model):
    """An image classifier: ``backbone`` (the graph without its classifier), a head (average
    pooling, dropout, ``Logits__Logits``, softmax: the zoo's own layer names) and a
    ``preprocessor`` (:class:`~inception_keras.tasks.ImagePreprocessor`).

    Calling it (``clf(x)``) runs the network on preprocessed float32 inputs; ``predict``,
    ``predict_labels``, ``fit`` and ``evaluate`` take raw images and preprocess them in the
    input pipeline. Build one with :meth:`from_preset` (any model reference) or
    :meth:`from_model` (a model of the zoo you built).

    Args:
        backbone: a headless model of the zoo (its last feature map, before pooling).
        num_classes: outputs of the head.
        activation: the head's activation (``"softmax"``; None for logits).
        dropout_rate: the head's dropout before the classifier.
        preprocessor: an ``ImagePreprocessor`` (default: TF-slim's at the backbone's input size).
        labels: ``"imagenet"``, class names, ``(synset, name)`` pairs, ``labels.json`` rows or
            None. With ``num_classes`` one more than the names, output 0 is TF-slim's
            background class.
        origin: where the weights come from (``architecture``, ``tag``, ``source``,
            ``hf_hub_id``, ``sha256``): shown in ``pretrained_cfg``.
    """

    def __init__(self, backbone, num_classes: int, *, activation="softmax", dropout_rate: float = 0.2,
                 preprocessor=None, labels=None, origin=None, **kwargs):
        if not isinstance(backbone, keras.Model) or len(backbone.output.shape) != 4:
            raise ValueError(f"backbone must be a headless keras.Model with a 4-D feature map output (clf.backbone, "
                             f"or create_model(..., include_top=False)), got {type(backbone).__name__}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}; for features without a "
                             f"classifier use clf.backbone")
        # === Head === 8x8xC -> C -> classes, named as the graphs name it
        images = keras.Input(shape=backbone.input_shape[1:], name="images")
        x = layers.GlobalAveragePooling2D(name=HEAD[0])(backbone(images))
        x = layers.Dropout(dropout_rate, name=HEAD[1])(x)
        x = layers.Dense(num_classes, name=HEAD[2])(x)
        if activation is not None:
            x = layers.Activation(activation, name=HEAD[3])(x)
        kwargs.setdefault("name", "image_classifier")
        super().__init__(inputs=images, outputs=x, **kwargs)
        rows, background = label_decoding.label_rows(labels, num_classes)
        self.backbone = backbone
        if preprocessor is None:
            size = backbone.input_shape[1]
            preprocessor = ImagePreprocessor("slim", size if isinstance(size, int) else 299)
        self.preprocessor = preprocessor
        # Plain data, kept out of Keras' attribute tracking (it would wrap lists and dicts).
        object.__setattr__(self, "_settings", {"activation": activation, "dropout_rate": float(dropout_rate)})
        object.__setattr__(self, "_labels", rows)
        object.__setattr__(self, "_background", background)
        object.__setattr__(self, "_origin", dict(origin or {}))

    # ------------------------------------------------------------------ #
    # What the classifier says about itself
    # ------------------------------------------------------------------ #
    @property
    def labels(self) -> list[dict] | None:
        """The label rows (``labels.json``'s): ``{"id": output column, "name"[, "synset"]}``, or None."""
        return None if self._labels is None else [dict(r) for r in self._labels]

    @property
    def background(self) -> bool:
        """Whether output 0 is TF-slim's background class."""
        return self._background

    @property
    def num_classes(self) -> int:
        return int(self.get_layer(HEAD[2]).units)

    @property
    def activation(self):
        return self._settings["activation"]

    @property
    def preparation(self):
        """The preprocessing (:class:`~inception_keras.data.preprocessing.Preprocessing`)."""
        return self.preprocessor.preparation

    @property
    def max_pixels(self):
        return self.preprocessor.max_pixels

    @property
    def pretrained_cfg(self) -> dict:
        """timm's ``pretrained_cfg`` for this classifier, timm's key names where timm has one.

        ``architecture``, ``tag``; ``input_size`` ``(3, H, W)``, ``crop_pct``, ``crop_mode``,
        ``interpolation``, ``mean``, ``std`` (and our ``preprocessing``: ``slim`` or
        ``resize-crop``); ``num_classes`` (the outputs, background included), ``label_offset``
        (1 with TF-slim's background class), ``label_names`` (the classes' names, no
        background); ``first_conv``, ``classifier``; ``source`` (the reference it was loaded
        from), ``hf_hub_id``, ``sha256`` of the weights file where known."""
        origin = self._origin
        first = 1 if self.background else 0
        return {
            "architecture": origin.get("architecture"), "tag": origin.get("tag"),
            **self.preprocessor.timm_cfg(),
            "num_classes": self.num_classes, "label_offset": first, "label_names": self.class_names[first:],
            "first_conv": "Conv2d_1a_3x3", "classifier": HEAD[2],
            "source": origin.get("source"), "hf_hub_id": origin.get("hf_hub_id"), "sha256": origin.get("sha256"),
            **{k: v for k, v in origin.items() if k not in ("architecture", "tag", "source", "hf_hub_id", "sha256")},
        }

    # ------------------------------------------------------------------ #
    # Building
    # ------------------------------------------------------------------ #
    @classmethod
    def from_model(cls, model, *, labels=None, preprocessing=None, origin=None, **kwargs) -> ImageClassifier:
        """The classifier of a model of the zoo with its classifier (``include_top=True``).

        The backbone shares ``model``'s layers (and weights); the head is a copy of its own.
        ``preprocessing``: ``"slim"`` / ``"resize-crop"`` (at the model's input size), a
        ``preprocessing.json`` dict, a ``Preprocessing`` or an ``ImagePreprocessor``; None:
        ``"slim"``. An auxiliary head is left out.
        """
        names = {layer.name for layer in model.layers}
        if HEAD[2] not in names:
            raise ValueError(f"{model.name!r} has no classifier (include_top=False or features_only=True); build it "
                             f"with include_top=True, or give ImageClassifier(backbone, num_classes) a new head")
        backbone = keras.Model(model.inputs, model.get_layer(HEAD[0]).input, name=f"{model.name}_backbone")
        dense = model.get_layer(HEAD[2])
        activation = model.get_layer(HEAD[3]).get_config()["activation"] if HEAD[3] in names else None
        clf = cls(backbone, int(dense.units), activation=activation, dropout_rate=model.get_layer(HEAD[1]).rate,
                  preprocessor=_preprocessor(preprocessing, backbone), labels=labels,
                  origin=origin or {"architecture": _architecture(model)}, **kwargs)
        clf.get_layer(HEAD[2]).set_weights(dense.get_weights())
        return clf

    @classmethod
    def from_preset(cls, reference, **overrides) -> ImageClassifier:
        """The classifier of any model reference, with its weights, labels and preprocessing.

        Args:
            reference: an exported model (``.onnx``, ``.tflite``, a SavedModel folder): an
                :class:`~inception_keras.tasks.ExportedClassifier` run by its runtime, with
                the class names and preprocessing ``export`` embedded (``overrides``: only
                ``provider``, ``threads``); a named preset or alias (``"inception_v4.tf_in1k"``,
                ``"inception_resnet_v2.tf_in1k"``), a preset folder (a training run's ``best/``,
                or the run folder itself), a folder in timm's layout, an ``hf://`` or
                ``kaggle://`` URI, or a graph name (``"inception_v4"``: random weights unless
                ``weights=`` or ``pretrained=True``), or a ``.keras`` file that
                :meth:`save` wrote (the classifier as saved; no overrides).
            **overrides: constructor arguments, as ``create_model`` takes them: ``weights=``
                (with a graph name), ``input_shape=``, ``dropout_rate=``, and timm's
                ``pretrained=`` and ``num_classes=`` (with ``pretrained=True`` and other
                classes, a new random head, as timm's).

        Returns:
            An ``ImageClassifier`` whose labels are the preset's (ImageNet's for the published
            weights; a fine-tuned preset's own names), whose preprocessing is the preset's
            (``slim`` for TF-slim's weights, ``resize-crop`` for timm's) and whose
            ``pretrained_cfg`` records where it came from.

        Raises:
            UnknownModelError: ``reference`` is neither a graph, a named preset, a URI nor a path.
            PresetError: a folder that is not a usable preset, or weights that do not fit.
            ValueError: overrides that leave no classifier (``include_top=False``,
                ``num_classes=0``, ``features_only=True``) or an input of other than 3 channels.
        """
        if not isinstance(reference, (str, os.PathLike)):
            raise UnknownModelError(f"a model reference is a name, a path or a URI, got {type(reference).__name__}")
        if _saved_classifier(reference):  # classifier.save("x.keras"): the classifier as it was saved
            if overrides:
                raise ValueError(f"{os.fspath(reference)} is a saved ImageClassifier, loaded as saved: "
                                 f"{', '.join(sorted(overrides))} cannot change it; load it, then call "
                                 f"reset_classifier() for a new head")
            return keras.models.load_model(reference)
        if is_exported(reference) and not os.fspath(reference).endswith(".keras"):
            return ExportedClassifier.open(reference, **overrides)
        reference = _run_model(os.fspath(reference))
        _check_overrides(overrides)
        overrides.setdefault("aux_logits", False)  # the classifier has one head
        network, labels, prep = _load(reference, overrides)
        origin = _origin(reference, network, overrides.get("weights"))
        return cls.from_model(network, labels=labels, preprocessing=prep, origin=origin)

    def reset_classifier(self, num_classes: int, labels=None, *, activation="keep") -> ImageClassifier:
        """A classifier with a new, random head of ``num_classes`` outputs on this backbone (timm's
        name), for fine-tuning. The backbone is shared (the same layers and weights: training the
        new classifier trains them); the preprocessor's settings are kept. Unlike timm's, it
        returns a new object: a Keras functional graph cannot change its outputs in place.

        Args:
            num_classes: outputs of the new head (at least 1; for features, use ``backbone``).
            labels: class names (or ``(synset, name)`` pairs, ``"imagenet"``) for the new head.
            activation: the head's activation (default: this one's).
        """
        origin = {"architecture": self._origin.get("architecture"), "initialized_from": self._origin.get("source")}
        return type(self)(self.backbone, num_classes,
                          activation=self.activation if activation == "keep" else activation,
                          dropout_rate=self._settings["dropout_rate"],
                          preprocessor=ImagePreprocessor.from_config(self.preprocessor.get_config()),
                          labels=labels, origin=origin, name=self.name)

    @property
    def network(self) -> keras.Model:
        """The flat model the tools run (:meth:`to_model`, made once): layers by their zoo names,
        for embeddings, Grad-CAM, export and distribution strategies."""
        if getattr(self, "_network", None) is None:
            object.__setattr__(self, "_network", self.to_model())
        return self._network

    def to_model(self) -> keras.Model:
        """The classifier as one flat model of the zoo (``Mixed_*``, ``Logits__Logits`` layers,
        shared with this one): what ``save_preset`` and the tools take."""
        x = self.backbone.output
        for name in HEAD:
            if name in {layer.name for layer in self.layers}:
                x = self.get_layer(name)(x)
        return keras.Model(self.backbone.inputs, x, name=self.backbone.name.removesuffix("_backbone"))

    def save_to_preset(self, path, *, overwrite: bool = False) -> str:
        """Write the classifier as a preset folder (``save_preset``): weights, constructor
        arguments, labels, preprocessing and the source it came from. ``from_preset(path)``
        gives it back. Returns ``path``."""
        origin = self._origin
        source = {k: origin[k] for k in ("source", "sha256") if origin.get(k)}
        sources = [{"uri": source.pop("source"), **source}] if "source" in source else None
        return save_preset(self.to_model(), path, labels=label_decoding.as_save_labels(self._labels),
                           preprocessing=self.preprocessor.to_preprocessing_json(), sources=sources,
                           overwrite=overwrite)

    # ------------------------------------------------------------------ #
    # Running
    # ------------------------------------------------------------------ #
    def predict_preprocessed(self, batch) -> np.ndarray:
        """float32 ``N x size x size x 3`` inputs in [-1, 1] -> ``N x classes`` probabilities
        (the softmax of the logits for a head without activation)."""
        out = np.asarray(self.predict_on_batch(np.asarray(batch, np.float32)))
        if self.activation is None:
            out = np.exp(out - out.max(axis=-1, keepdims=True))
            out = out / out.sum(axis=-1, keepdims=True)
        return out.astype(np.float32)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Keras' ``compile`` with KerasHub-style defaults: Adam (1e-4), sparse categorical
        cross-entropy (from logits when the head has no activation), accuracy."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-4)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=self.activation is None)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        """Keras' ``fit`` on raw images: a ``tf.data.Dataset`` of ``(image, label[, weight])``
        (encoded bytes or uint8 images, batched or not) or ``x`` as ``predict`` takes it with
        ``y``. The preprocessor is mapped over the data in the input pipeline, as KerasHub's
        tasks do; ``validation_data`` likewise."""
        if _is_dataset(x):
            kwargs.setdefault("shuffle", False)  # a dataset brings its own order (Keras would warn)
        x, y, batch_size = self._raw_inputs(x, y, batch_size)
        if validation_data is not None:
            if isinstance(validation_data, tuple):
                images, *rest = validation_data
                validation_data = (self.preprocessor.preprocess(images), *rest)
            else:
                validation_data = self.preprocessor.map_dataset(validation_data, batch_size or 32)
        return super().fit(x, y, batch_size=batch_size, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """Keras' ``evaluate`` on raw images (as :meth:`fit` takes them)."""
        x, y, batch_size = self._raw_inputs(x, y, batch_size)
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def _raw_inputs(self, x, y, batch_size):
        if _is_dataset(x):
            if y is not None:
                raise ValueError("a dataset brings its labels: pass y=None, with elements (image, label)")
            return self.preprocessor.map_dataset(x, batch_size or 32), None, None
        return self.preprocessor.preprocess(x), y, batch_size

    # ------------------------------------------------------------------ #
    # Serialisation
    # ------------------------------------------------------------------ #
    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable,
                "backbone": keras.saving.serialize_keras_object(self.backbone), "num_classes": self.num_classes,
                "activation": self.activation, "dropout_rate": self._settings["dropout_rate"],
                "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
                "labels": self.labels, "origin": dict(self._origin)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)


# =========================================================================== #
# from_preset's pieces
# =========================================================================== #
def _check_overrides(overrides: dict) -> None:
    if overrides.get("include_top") is False or overrides.get("features_only") or overrides.get("num_classes") == 0:
        raise ValueError("an ImageClassifier needs a classifier: drop include_top=False / features_only / "
                         "num_classes=0, and use clf.backbone (or create_model(..., include_top=False)) for features")
    if overrides.get("in_chans", 3) != 3 or (overrides.get("input_shape") or (0, 0, 3))[-1] != 3:
        raise ValueError("an ImageClassifier takes RGB images (its preprocessor gives 3 channels); build a model of "
                         "other input channels with create_model(..., in_chans=N) and feed it yourself")


def _saved_classifier(reference) -> bool:
    """Whether ``reference`` is a ``.keras`` archive of an ImageClassifier (its config.json says so)."""
    path = os.fspath(reference)
    if not (path.endswith(".keras") and os.path.isfile(path) and zipfile.is_zipfile(path)):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False  # (not a Keras archive: the weights-file path reports it)
    return isinstance(config, dict) and config.get("registered_name") == "inception_keras>ImageClassifier"


def _run_model(reference: str) -> str:
    """A training run's folder stands for its model, the preset folder ``best/`` in it."""
    best = os.path.join(reference, "best")
    if os.path.isdir(reference) and not looks_like_preset(reference) and is_preset_dir(best):
        return best
    return reference


def _load(reference: str, overrides: dict):
    """``(network, labels, preprocessing dict)`` of ``reference`` built with ``overrides``."""
    if not any(key in overrides for key in TIMM_KEYWORDS):
        network, info = registry.load_model(reference, **overrides)
        weights = overrides.get("weights")
        if info.labels is None and weights is not None and loading.is_weights_reference(weights):
            return network, *_labels_of(loading.preset_info(weights), network, info.preprocessing)
        return network, info.labels, info.preprocessing
    network = registry.create_model(reference, **overrides)
    info = loading.preset_info(reference)
    classes = _classes(network)
    prep = dict(info.preprocessing)
    size = network.input_shape[1]
    if isinstance(size, int):
        prep["input_size"] = size
    if info.labels is not None and classes in (info.classes, len(info.labels)):
        return network, info.labels, prep
    pretrained = overrides.get("pretrained") or info.metadata.get("preset")
    return network, ("imagenet" if pretrained and classes in (1000, 1001) else None), prep


def _labels_of(source, network, preprocessing: dict):
    """A graph built with ``weights=`` a preset: that preset's labels (when its classes are the
    network's) and preprocessing, at the network's input size."""
    labels = source.labels if source.labels is not None and _classes(network) in (
        source.classes, len(source.labels)) else None
    return labels, {**source.preprocessing, "input_size": preprocessing.get("input_size")}


def _classes(network) -> int:
    return int(network.get_layer(HEAD[2]).units)


def _architecture(model) -> str | None:
    try:
        return describe_model(model)[0]
    except PresetError:
        return None


def _origin(reference: str, network, weights=None) -> dict:
    """Where the weights of ``reference`` (a graph's: of ``weights``) come from, for ``pretrained_cfg``."""
    origin = {"architecture": _architecture(network), "source": reference, "tag": None, "hf_hub_id": None,
              "sha256": None}
    named = presets.resolve_name(reference)
    if reference in registry.list_models():
        if weights is None:
            return origin
        graph, origin["weights"] = reference, os.fspath(weights)
        reference = origin["weights"]
        named = presets.get_preset(graph, reference) if presets.is_pretrained_name(reference) else None
    if named is not None:
        origin.update(tag=named.name.split(".", 1)[1], hf_hub_id=named.hf_repo or None, sha256=named.sha256)
        return origin
    if reference.startswith("hf://"):
        origin["hf_hub_id"] = reference[len("hf://"):]
    try:
        info = loading.preset_info(reference)
    except (PresetError, UnknownModelError):
        return origin
    weights = info.metadata.get("weights")
    if isinstance(weights, dict):
        origin["sha256"] = weights.get("sha256")
    timm_cfg = (info.metadata.get("timm_config") or {}).get("pretrained_cfg") or {}
    origin["hf_hub_id"] = origin["hf_hub_id"] or timm_cfg.get("hf_hub_id")
    origin["tag"] = timm_cfg.get("tag")
    return origin


def _preprocessor(preprocessing, backbone) -> ImagePreprocessor:
    if isinstance(preprocessing, ImagePreprocessor):
        return preprocessing
    size = backbone.input_shape[1]
    size = size if isinstance(size, int) else 299
    if preprocessing is None or isinstance(preprocessing, str):
        return ImagePreprocessor(preprocessing or "slim", size)
    if isinstance(preprocessing, dict):
        return ImagePreprocessor.from_preprocessing({**preprocessing, "input_size": size})
    return ImagePreprocessor.from_preprocessing(preprocessing)


__all__ = ["ImageClassifier"]
