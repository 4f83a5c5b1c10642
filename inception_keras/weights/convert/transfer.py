"""Copy weights between two builds of the same graph by layer name (heads may differ).

The source is another model or a Keras ``.weights.h5`` file read by layer name
(:func:`h5_layers`), so a cached full graph (1001 classes, auxiliary head) loads into any
head configuration without building the full graph first.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping

import h5py
import numpy as np

from .core import HEAD_LAYERS, ConversionError

# Variable names of a Keras BatchNormalization in save order, with and without gamma.
_BN_VARS = {4: ("gamma", "beta", "moving_mean", "moving_variance"), 3: ("beta", "moving_mean", "moving_variance")}


def model_layers(model) -> dict[str, dict[str, np.ndarray]]:
    """``{layer name: {variable name: value}}`` of every weighted layer of ``model``."""
    return {layer.name: {w.name: np.asarray(v) for w, v in zip(layer.weights, layer.get_weights())}
            for layer in model.layers if layer.weights}


def h5_layers(path: str) -> dict[str, dict[str, np.ndarray]]:
    """``{layer name: {variable name: value}}`` read from a Keras 3 ``.weights.h5`` file.

    Keras stores each layer's variables as ``layers/<key>/vars/<i>`` with the layer's name
    in the ``name`` attribute; the variable names follow from the layer kind and count
    (Conv2D: kernel[, bias]; Dense: kernel, bias; BatchNormalization: [gamma,] beta,
    moving_mean, moving_variance). Raises ConversionError naming the file when it is not
    a readable weights file of this zoo.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as f:
            if "layers" not in f:
                raise ConversionError(f"{path} is not a Keras 3 .weights.h5 file (no 'layers' group)")
            for name, variables in _h5_layer_variables(f):
                out[name] = _name_variables(name, [np.asarray(v) for v in variables], path)
    except OSError as e:
        raise ConversionError(f"weights file {path} is not a readable HDF5 file (truncated or corrupt): {e}") from None
    return out


def _h5_layer_variables(f):
    """(layer name, [h5 datasets of its variables in order]) of each weighted layer of an open file."""
    for key, group in f["layers"].items():
        vars_group = group.get("vars")
        if vars_group is None or not len(vars_group):
            continue
        name = vars_group.attrs.get("name", key)
        name = name.decode() if isinstance(name, bytes) else str(name)
        yield name, [vars_group[str(i)] for i in range(len(vars_group))]


def h5_layer_shapes(path: str) -> dict[str, list[tuple[int, ...]]]:
    """``{layer name: [variable shapes]}`` of a Keras 3 ``.weights.h5`` file, or of the weights
    inside a ``.keras`` archive, without reading the values. Raises OSError / ValueError /
    KeyError for a file that is neither."""
    def read(f):
        return {name: [tuple(v.shape) for v in variables] for name, variables in _h5_layer_variables(f)}

    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
            with h5py.File(member, "r") as f:
                return read(f)
    with h5py.File(path, "r") as f:
        return read(f)


def layer_differences(model, in_file: Mapping[str, list], limit: int = 5) -> list[str]:
    """How the weighted layers of ``model`` and of a weights file (:func:`h5_layer_shapes`)
    differ: at most ``limit`` lines, then one line counting the rest. Empty when they agree."""
    in_model = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers if layer.weights}
    lines = [f"{name}: not in the file" for name in in_model if name not in in_file]
    lines += [f"{name}: in the file, not in the model" for name in in_file if name not in in_model]
    lines += [f"{name}: shapes {in_file[name]} in the file, {shapes} in the model"
              for name, shapes in in_model.items() if name in in_file and in_file[name] != shapes]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more differences"]
    return lines


def _name_variables(layer: str, values: list[np.ndarray], path: str) -> dict[str, np.ndarray]:
    if layer.endswith("__BatchNorm") and len(values) in _BN_VARS:
        return dict(zip(_BN_VARS[len(values)], values))
    if len(values) in (1, 2) and values[0].ndim in (2, 4):
        return dict(zip(("kernel", "bias"), values))
    raise ConversionError(f"{path}: layer {layer!r} has {len(values)} variables of shapes "
                          f"{[v.shape for v in values]}, which is no layer kind of this zoo")


def copy_by_name(source, target, *, label_offset: int = 1, source_name: str | None = None) -> int:
    """Give every weighted layer of ``target`` the weights of the same-named layer of ``source``.

    ``source`` is a model or a ``{layer: {variable: value}}`` mapping (:func:`h5_layers`)
    and may have more layers (a full graph with the auxiliary head); a classifier of
    ``target`` with ``label_offset`` fewer classes takes the source's minus the first
    ``label_offset`` (TF-slim's background class). Variables are matched by name, so a
    target built with ``batchnorm_scale=True`` from a source without it gets gamma = 1
    (exact); the other way round works only where every gamma is 1. Returns the number
    of layers copied.
    """
    if not isinstance(source, Mapping):
        source_name = source_name or repr(source.name)
        source = model_layers(source)
    source_name = source_name or "the source"
    copied = 0
    for layer in target.layers:
        if not layer.weights:
            continue
        if layer.name not in source:
            raise ConversionError(f"{source_name} has no layer {layer.name!r} to copy into {target.name!r}")
        have = dict(source[layer.name])
        wanted = {w.name for w in layer.weights}
        gamma = have.pop("gamma", None)
        if gamma is not None and "gamma" not in wanted and not np.all(gamma == 1):
            raise ConversionError(
                f"{layer.name} has a BatchNorm scale (gamma) in {source_name} but not in {target.name!r}; "
                f"build {target.name!r} with batchnorm_scale=True"
            )
        values = []
        for want in layer.weights:
            if want.name == "gamma":
                value = gamma if gamma is not None else np.ones(want.shape, "float32")
            elif want.name in have:
                value = have[want.name]
            else:
                raise ConversionError(f"{layer.name} has no variable {want.name!r} in {source_name}")
            if tuple(want.shape) != value.shape:
                if layer.name in HEAD_LAYERS and value.shape[-1] - label_offset == want.shape[-1]:
                    value = value[..., label_offset:]
                else:
                    raise ConversionError(
                        f"{layer.name}/{want.name}: shape {tuple(want.shape)} in {target.name!r} but "
                        f"{value.shape} in {source_name}"
                    )
            values.append(value)
        layer.set_weights(values)
        copied += 1
    return copied
