"""From any weights reference to weights in a model, and to what a preset says about itself.

A reference is a registry name (``inception_v4``), a named preset or alias
(``inception_v4.tf_in1k``, ``inception_resnet_v2.tf_in1k``), a preset folder, a folder in
timm's layout, or a URI (``hf://``, ``kaggle://``, ``https://``, ``file://``; see
:mod:`inception_keras.weights.hub`). Models are built by :mod:`inception_keras.weights.factory`.

Example:
    >>> from inception_keras.weights.loading import preset_info
    >>> info = preset_info("runs/x/best")                                  # doctest: +SKIP
    >>> info.class_names, info.input_size, info.preprocessing["name"]      # doctest: +SKIP
    (['cat', 'dog'], 128, 'slim')
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import PresetError, UnknownPresetError
from ..models.registry import GRAPHS
from ..models.specs import DEFAULT_INPUT_SIZE
from . import presets
from .files import load_folder_weights, load_timm_folder, load_weights_file
from .format import (
    WEIGHTS_FILE,
    PresetInfo,
    is_timm_dir,
    looks_like_preset,
    make_labels,
    make_preprocessing,
    read_preset,
    read_timm_dir,
    training_run_hint,
)
from .hub import is_uri, local_path


def preset_info(uri) -> PresetInfo:
    """Labels, preprocessing and constructor arguments of a preset, without building the model.

    Args:
        uri: a named preset or alias, a preset folder, a folder in timm's layout, an
            ``hf://`` / ``kaggle://`` URI of either, or a graph name. Named presets and graph
            names need no download.

    Returns:
        A ``PresetInfo``. For a graph name (``"inception_v4"``) it describes the graph as
            ``create_model(name)`` builds it: 1000 classes, its default input size, no labels
            (random weights); ``metadata["default_preset"]`` is the preset
            ``create_model(name, pretrained=True)`` loads (None for a graph without published
            weights), and the preprocessing is that preset's (TF-slim's otherwise).

    Raises:
        UnknownModelError: ``uri`` is neither a graph, a named preset, a URI nor an existing
            path (it is also a ``PresetError``).
        PresetError: a path that is not a usable preset.

    Example:
        >>> info = preset_info("inception_v4.tf_in1k")
        >>> info.model, info.classes, info.input_size, info.preprocessing["name"]
        ('inception_v4', 1000, 299, 'slim')
        >>> preset_info("inception_v4").metadata["default_preset"]
        'inception_v4.tf_in1k'
    """
    uri = os.fspath(uri)
    named = presets.resolve_name(uri)
    if named is not None:
        labels, _ = make_labels("imagenet", 1000)
        prep = make_preprocessing({"name": "slim", "input_size": named.input_size,
                                   "crop_fraction": named.crop_pct}, named.input_size)
        return PresetInfo(model=named.arch, arguments={"classes": 1000, "include_top": True,
                                                       "input_shape": [named.input_size, named.input_size, 3]},
                          labels=labels, preprocessing=prep,
                          metadata={"preset": named.name, "sources": list(presets.source_uris(named))}, uri=uri)
    if uri in list(GRAPHS):
        return _graph_info(uri)
    path = local_path(uri)
    if looks_like_preset(path):  # a damaged config.json is reported as such, naming the file
        return read_preset(path, uri)
    if os.path.isdir(path) and is_timm_dir(path):
        return read_timm_dir(path, uri)
    if not os.path.exists(path):
        raise UnknownPresetError(_not_a_preset(uri, path))
    raise PresetError(_not_a_preset(uri, path))


def _graph_info(name: str) -> PresetInfo:
    """What ``create_model(name)`` builds, and the preset ``pretrained=True`` would load."""
    default = presets.default_preset(name)
    preset = presets.NAMED[default] if default else None
    size = preset.input_size if preset else DEFAULT_INPUT_SIZE
    prep = make_preprocessing({"name": "slim", "input_size": size,
                               "crop_fraction": preset.crop_pct if preset else 0.875}, size)
    return PresetInfo(model=name, arguments={"classes": 1000, "include_top": True, "input_shape": [size, size, 3]},
                      preprocessing=prep, metadata={"graph": name, "default_preset": default, "weights": None},
                      uri=name)


def _not_a_preset(uri, path) -> str:
    if os.path.isfile(path):
        return (f"{uri!r} is a weights file, not a preset: it does not say which graph it belongs to; "
                f"use create_model('<graph>', weights={uri!r})")
    if not os.path.exists(path):
        return (f"unknown model {uri!r}: it is neither a graph ({', '.join(list(GRAPHS))}), a named "
                f"preset ({', '.join(presets.NAMED)}), a URI (hf://, kaggle://, https://, file://) nor an existing path")
    return (f"{path} is not a preset folder (config.json + {WEIGHTS_FILE} + metadata.json) nor timm's layout "
            f"(config.json + model.safetensors){training_run_hint(path)}")


# =========================================================================== #
# weights= : loading into a model that is already built
# =========================================================================== #
def is_weights_reference(value) -> bool:
    """Whether ``weights=value`` is for this module: a named preset, a URI, or a preset / timm folder."""
    if not isinstance(value, (str, os.PathLike)):
        return False
    text = os.fspath(value)
    return presets.is_pretrained_name(text) or is_uri(text) or (os.path.isdir(text) and
                                                                 (looks_like_preset(text) or is_timm_dir(text)))


def load_weights(model, weights, arch: str) -> None:
    """Load ``weights`` into ``model``, a graph ``arch`` built without them: None (nothing), a
    published name (``"imagenet"``, a named preset or alias), a preset or timm folder, a URI
    (``hf://``, ``kaggle://``, ``https://``, ``file://``) or a local weights file (Keras,
    PyTorch in timm's layout, a TF-slim checkpoint)."""
    if weights is None:
        return
    text = os.fspath(weights)
    if presets.is_pretrained_name(text):
        presets.load_pretrained(model, arch, text)
        return
    path = local_path(text)
    if looks_like_preset(path):
        info = read_preset(path, text)
        _check_arch(info, arch, text)
        load_folder_weights(model, path, info)
    elif os.path.isdir(path) and is_timm_dir(path):
        info = read_timm_dir(path, text)
        _check_arch(info, arch, text)
        load_timm_folder(model, path, arch)
    elif os.path.isdir(path) and not os.path.isfile(os.path.join(path, "checkpoint")):
        raise PresetError(_not_a_preset(text, path))
    else:
        load_weights_file(model, path, arch)


def check_folder_arch(folder, arch: str) -> None:
    """For a local preset or timm folder given as ``weights=``: its graph is ``arch`` (read, not built)."""
    folder = os.fspath(folder)
    if looks_like_preset(folder):
        _check_arch(read_preset(folder), arch, folder)
    elif is_timm_dir(folder):
        _check_arch(read_timm_dir(folder), arch, folder)


def _check_arch(info: PresetInfo, arch: str, uri: str) -> None:
    if info.model != arch:
        raise PresetError(f"{uri} holds {info.model} weights, not {arch}: build it with create_model({uri!r}) "
                          f"or create_model({info.model!r}, weights={uri!r})")


# =========================================================================== #
# in_chans: weights of a 3-channel input into an N-channel one (timm's adapt_input_conv)
# =========================================================================== #
def adapt_input_channels(source, target, *, new: tuple[str, ...] = ()) -> None:
    """Copy ``source``'s weights (3 input channels) into ``target``: the same graph with N input
    channels, or a new classifier (``new``), or both.

    Every layer is copied by name; the first convolution, whose kernel alone depends on the
    input channels, is adapted as timm's ``adapt_input_conv`` does: for 1 channel the RGB
    kernels are summed, for N channels they are repeated (R, G, B, R, ...) and scaled by 3/N,
    so that an input whose channels are equal gives the same first activations. Layers whose
    names start with one of ``new`` (a new classifier) may be missing from ``source``: they
    keep their initial weights.
    """
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        wanted = layer.get_weights()
        if not wanted:
            continue
        origin = by_name.get(layer.name)
        if origin is None and new and layer.name.startswith(new):
            continue
        if origin is None:
            raise ValueError(f"cannot adapt {source.name!r} to {target.name!r}: layer {layer.name!r} is missing "
                             f"from the 3-channel model; build both with the same arguments")
        values = []
        for want, have in zip(wanted, origin.get_weights(), strict=True):
            if want.shape != have.shape:
                have = _adapt_kernel(have, want.shape, layer.name)
            values.append(have)
        layer.set_weights(values)


def _adapt_kernel(kernel, shape, layer: str):
    """A (kh, kw, 3, out) kernel for ``shape[2]`` input channels (timm's adapt_input_conv)."""
    if len(shape) != 4 or kernel.shape[2] != 3 or kernel.shape[:2] != shape[:2] or kernel.shape[3] != shape[3]:
        raise ValueError(f"cannot adapt the weights of layer {layer!r} from shape {kernel.shape} to {tuple(shape)}: "
                         f"only the first convolution's input channels may differ")
    channels = shape[2]
    if channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    repeats = -(-channels // 3)
    return (np.concatenate([kernel] * repeats, axis=2)[:, :, :channels, :] * (3.0 / channels)).astype(kernel.dtype)
