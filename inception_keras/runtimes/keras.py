"""Keras: a ``.keras`` file (``keras.models.load_model``), or a model already built."""

from __future__ import annotations

import json
import time
import zipfile

import numpy as np

from .base import Runner, RuntimeOpenError, unreadable

# what export (or ImageClassifier.save) may put in the .keras archive beside the model
METADATA_ENTRY = "inception_keras_metadata.json"


def _archive_metadata(path: str) -> dict:
    try:
        with zipfile.ZipFile(path) as z:
            if METADATA_ENTRY in z.namelist():
                return json.loads(z.read(METADATA_ENTRY).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise RuntimeOpenError(f"{path} is not a readable .keras archive ({e}); the file is corrupt or "
                               "truncated: save it again") from None
    return {}


def outputs_probabilities(model) -> bool:
    """Whether ``model``'s (first) output is a softmax: its last layer is a ``Softmax`` layer
    or has a softmax activation (``Dense(activation="softmax")``, ``Activation("softmax")``, the
    zoo's ``Predictions``), looking through layers that keep values (dropout, reshapes, linear
    activations) and into a nested model. Logits, and ``log_softmax`` outputs, are not."""
    import keras  # noqa: PLC0415

    keep_values = (keras.layers.Dropout, keras.layers.Identity, keras.layers.Reshape, keras.layers.Flatten)
    try:
        tensor = model.outputs[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        return False
    for _ in range(16):
        history = getattr(tensor, "_keras_history", None)
        if not history:
            return False
        layer, node_index = history[0], history[1]
        if isinstance(layer, keras.layers.Softmax):
            return True
        if isinstance(layer, keras.Model) and getattr(layer, "outputs", None):
            tensor = layer.outputs[history[2]]
            continue
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", "")
        if name == "softmax":
            return True
        if isinstance(layer, keep_values) or (
                isinstance(layer, keras.layers.Activation) and name == "linear"):
            inputs = layer._inbound_nodes[node_index].input_tensors
            if len(inputs) != 1:
                return False
            tensor = inputs[0]
            continue
        return False
    return False


def _precision(model) -> str:
    policy = getattr(getattr(model, "dtype_policy", None), "compute_dtype", "float32")
    return {"float16": "fp16", "bfloat16": "fp16"}.get(str(policy), "fp32")


def _sizes(model) -> tuple[int | None, int | None]:
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
        raise RuntimeOpenError(f"the Keras model takes {shape}, not a batch of square NHWC RGB images")
    return shape[1], model.output_shape[-1]


class KerasModelRunner(Runner):
    """A built Keras model behind the runner interface (the tools' Keras path)."""

    format = "keras"

    def __init__(self, model, *, path: str = "", class_names=None, preprocessing: dict | None = None,
                 batch_size: int | None = None, predict=None):
        super().__init__(path or model.name)
        self.model, self.precision = model, _precision(model)
        self.input_size, self.num_classes = _sizes(model)
        self.class_names = list(class_names) if class_names is not None else None
        self.preprocessing = dict(preprocessing or {})
        self.batch_size, self._predict = batch_size, predict
        self.runtime = _keras_runtime()
        self.outputs_probabilities = outputs_probabilities(model)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._predict is not None:
            return self._predict(batch)
        if len(batch) <= (self.batch_size or 32):
            return np.asarray(self.model(batch, training=False))
        return self.model.predict(batch, batch_size=self.batch_size or 32, verbose=0)

    def close(self) -> None:
        self.model = None


def _keras_runtime() -> str:
    import keras  # noqa: PLC0415

    return f"Keras {keras.__version__} ({keras.backend.backend()} backend)"


class KerasFileRunner(KerasModelRunner):
    """A ``.keras`` file: its labels and preprocessing from the metadata stored in the archive,
    else from ``classes``/``labels``/``input_size``."""

    def __init__(self, path: str, *, classes=None, labels=None, input_size=None):
        import keras  # noqa: PLC0415

        from ..models import layers  # noqa: F401, PLC0415 - registers ScaledResidual for deserialization
        from .metadata import resolve  # noqa: PLC0415 - reads export's formats: imported when used

        start = time.perf_counter()
        embedded = _archive_metadata(path)
        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as e:  # noqa: BLE001 - keras raises many types for a damaged archive
            raise unreadable(path, ".keras model", e, "save it again") from None
        super().__init__(model, path=path)
        self._start = start
        size, count = _sizes(model)
        resolve(self, embedded, graph_size=size, graph_classes=count, classes=classes, labels=labels,
                input_size=input_size)
        self._loaded()
