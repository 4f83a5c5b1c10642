"""Weights into the model to train: the source model of ``--weights``, copying it layer by
layer with a new head where the classes differ, and the inference view of a trained model."""

from __future__ import annotations

import dataclasses
import os

import h5py
import keras

from ..weights import presets
from ..weights.convert.core import ConversionError
from ..weights.factory import create_model
from ..weights.format import is_preset_dir, is_timm_dir
from ..weights.loading import preset_info
from .config import HEAD_PREFIXES, RUN_FILES, TrainingError


@dataclasses.dataclass
class Transfer:
    """What fine-tuning took from the source weights."""

    source: str
    source_classes: int | None
    copied: list[str]
    new: list[str]  # layers left freshly initialised (the new head)
    label_offset: int = 0

    def describe(self) -> str:
        head = f"new head: {', '.join(self.new)}" if self.new else "head kept"
        classes = f"{self.source_classes} classes" if self.source_classes else "no classifier"
        return f"weights {self.source} ({classes}): {len(self.copied)} layers copied, {head}"


def is_head_layer(name: str) -> bool:
    return name.startswith(HEAD_PREFIXES)


def _file_heads(path: str) -> tuple[int | None, bool]:
    """(classes, has auxiliary head) of a Keras weights file, from its 2D (dense) kernels."""
    shapes = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: shapes.append(tuple(obj.shape))
                         if isinstance(obj, h5py.Dataset) and obj.ndim == 2 and not name.startswith("optimizer") else None)
    except OSError as e:
        raise TrainingError(f"weights file {path!r} is not a readable HDF5 file: {e}") from e
    if not shapes:
        return None, False
    return int(shapes[0][1]), len(shapes) > 1


def source_model(name: str, weights: str, input_size: int):
    """The model ``weights`` belong to, built with its own head and loaded; and the label
    offset of its head (1 for TF-slim's background class).

    ``weights``: a published name (``"imagenet"``), a preset (folder such as a run's
    ``runs/x/best``, a folder in timm's layout, ``hf://``, ``kaggle://``), a Keras weights file
    or a TF-slim checkpoint."""
    if weights in presets.WEIGHT_NAMES:
        preset = presets.get_preset(name, weights)
        return create_model(name, weights=weights, classes=preset.num_classes, aux_logits=True,
                            name=f"{name}_{weights}"), preset.label_offset
    path = os.fspath(weights)
    if _is_preset_reference(path):
        return _preset_source(name, path, input_size)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, RUN_FILES["config"])):
        best = os.path.join(path, RUN_FILES["best"])
        raise TrainingError(f"--weights {path!r} is a training run's folder; its best model is the preset {best!r}: "
                            f"pass --weights {best}")
    if path.endswith((".weights.h5", ".h5", ".keras")):
        if not os.path.isfile(path):
            raise TrainingError(f"weights file not found: {path!r}")
        classes, aux = _file_heads(path)
        size = max(input_size, 299) if aux else input_size
        if classes is None:
            return create_model(name, weights=path, include_top=False, input_shape=(size, size, 3),
                                name=f"{name}_source"), 0
        return create_model(name, weights=path, classes=classes, aux_logits=aux, input_shape=(size, size, 3),
                            name=f"{name}_source"), 0
    return create_model(name, weights=path, classes=1001, aux_logits=True, name=f"{name}_source"), 1


def _is_preset_reference(path: str) -> bool:
    """A preset folder, a folder in timm's layout, or an ``hf://`` / ``kaggle://`` URI of one."""
    if path.startswith(("hf://", "kaggle://")):
        return True
    return os.path.isdir(path) and (is_preset_dir(path) or is_timm_dir(path))


def _preset_source(name: str, uri: str, input_size: int):
    """The model of a preset (``runs/x/best``, ``hf://...``), with its own head, at ``input_size``."""
    info = preset_info(uri)  # reads the files only: a wrong graph fails before the build
    if info.model != name:
        raise TrainingError(f"--weights {uri!r} holds {info.model} weights, not {name}: pass --model {info.model} "
                            f"(or weights of {name})")
    aux = bool(info.arguments.get("aux_logits"))
    size = max(input_size, 299) if aux else input_size
    head = {"classes": info.classes, "aux_logits": aux} if info.classes else {"include_top": False}
    model = create_model(name, weights=uri, input_shape=(size, size, 3), name=f"{name}_source", **head)
    return model, 1 if info.background else 0


def transfer_weights(source, target, *, label_offset: int = 0, source_name: str = "") -> Transfer:
    """Copy every layer of ``target`` from the same-named layer of ``source``.

    Backbone layers must all be there with the same shapes. Classifier layers whose class
    count differs stay freshly initialised (a new head), except a source with ``label_offset``
    more classes (TF-slim's background class), whose extra first columns are dropped. Auxiliary
    head layers missing from the source are new.
    """
    copied, new = [], []
    src_layers = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        if not layer.weights:
            continue
        src = src_layers.get(layer.name)
        if src is None:
            if is_head_layer(layer.name):
                new.append(layer.name)
                continue
            raise ConversionError(f"the weights {source_name or source.name!r} have no layer {layer.name!r}: "
                                  f"they belong to another architecture than {target.name!r}")
        have = src.get_weights()
        want = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in have] == want:
            layer.set_weights(have)
            copied.append(layer.name)
        elif is_head_layer(layer.name) and isinstance(layer, _dense_class()):
            if label_offset and have[0].shape[-1] - label_offset == want[0][-1]:
                layer.set_weights([v[..., label_offset:] for v in have])
                copied.append(layer.name)
            else:
                new.append(layer.name)
        else:
            raise ConversionError(f"{layer.name}: shapes {want} in {target.name!r} but {[v.shape for v in have]} "
                                  f"in the weights {source_name or source.name!r}; were they saved at another "
                                  f"--input-size or from another model?")
    return Transfer(source_name or source.name, _classes_of(source), copied, new, label_offset)


def _dense_class():
    return keras.layers.Dense


def _classes_of(model):
    try:
        return int(model.get_layer("Logits__Logits").units)
    except ValueError:
        return None


def inference_view(model):
    """The model without its auxiliary output (same layers, no optimizer): what the run's
    preset ``best/`` holds and what the final evaluation scores."""
    outputs = model.outputs
    return keras.Model(model.inputs, outputs[0] if len(outputs) > 1 else outputs, name=model.name)
