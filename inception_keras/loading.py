"""One entry point from any model reference to a model and what it says about itself.

A reference is a registry name (``inception_v4``), a named preset or alias
(``inception_v4.tf_in1k``, ``inception_resnet_v2.tf_in1k``), a preset folder, a folder in
timm's layout, or a URI (``hf://``, ``kaggle://``, ``https://``, ``file://``; see
:mod:`inception_keras.hub`).

Example (what a tool does with ``--model``):
    >>> from inception_keras.loading import load_model
    >>> model, info = load_model("runs/x/best")                            # doctest: +SKIP
    >>> info.class_names, info.input_size, info.preprocessing["name"]      # doctest: +SKIP
    (['cat', 'dog'], 128, 'slim')
"""

from __future__ import annotations

import os

from .errors import UnknownModelError
from .preset_format import (
    WEIGHTS_FILE,
    PresetError,
    PresetInfo,
    is_preset_dir,
    is_timm_dir,
    looks_like_preset,
    make_labels,
    make_preprocessing,
    read_preset,
    read_timm_dir,
    verify_weights,
)


def _registry():
    from . import registry  # noqa: PLC0415

    return registry


class UnknownPresetError(UnknownModelError, PresetError):
    """A reference that is neither a graph, a named preset, a URI nor an existing path: an
    :class:`~inception_keras.errors.UnknownModelError` that is also a ``PresetError``."""


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
    from . import presets  # noqa: PLC0415
    from .hub import local_path  # noqa: PLC0415

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
    if uri in _registry().list_models():
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
    from . import presets  # noqa: PLC0415
    from .specs import DEFAULT_INPUT_SIZE  # noqa: PLC0415

    default = _registry().default_preset(name)
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
        from . import presets  # noqa: PLC0415

        return (f"unknown model {uri!r}: it is neither a graph ({', '.join(_registry().list_models())}), a named "
                f"preset ({', '.join(presets.NAMED)}), a URI (hf://, kaggle://, https://, file://) nor an existing path")
    return (f"{path} is not a preset folder (config.json + {WEIGHTS_FILE} + metadata.json) nor timm's layout "
            f"(config.json + model.safetensors){training_run_hint(path)}")


def training_run_hint(path) -> str:
    """A note for a training run's folder given where its model is meant: the model is its ``best/``."""
    best = os.path.join(os.fspath(path), "best")
    if os.path.isdir(path) and is_preset_dir(best):
        return f"; it is a training run, whose model is the preset folder {best}"
    return ""


def load_preset(uri, **overrides):
    """Build the model a preset describes and load its weights (checked against their sha256).

    ``overrides`` replace constructor arguments: ``include_top=False, pooling="avg"``, an
    ``input_shape``, ``classifier_activation=None``; a head with the preset's classes
    minus its background class drops that class.

    Example:
        >>> model = load_preset("inception_v4.tf_in1k", include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return load_model(uri, **overrides)[0]


def load_model(value, *, weights=None, **overrides):
    """``(model, PresetInfo)`` for any reference: what a tool does with its ``--model`` value.

    A registry name builds that graph with ``weights`` (None: random); anything else is a
    preset (``weights`` must then be None). The info's labels and preprocessing describe the
    returned model (ImageNet's for the published weights).
    """
    value = os.fspath(value)
    registry = _registry()
    if value in registry.list_models():
        model = registry.create_model(value, weights=weights, **overrides)
        return model, _info_for_built(model, value, weights)
    if weights is not None:
        raise PresetError(f"{value!r} is a preset and brings its own weights; weights={weights!r} applies only "
                          f"to a graph name (create_model('<graph>', weights={value!r}) loads these weights into "
                          f"another head)")
    info = preset_info(value)
    if info.metadata.get("preset"):
        kwargs = {k: v for k, v in info.arguments.items() if k != "input_shape"} | overrides
        model = registry.create_model(info.model, weights=info.metadata["preset"], **kwargs)
    elif info.path and is_preset_dir(info.path):
        verify_weights(info)  # before the (seconds-long) build
        model = registry.create_model(info.model, **(info.arguments | overrides))
        load_folder_weights(model, info.path, info, verified=True)
    else:  # timm's layout
        model = registry.create_model(info.model, **(info.arguments | overrides))
        _load_timm_folder(model, info.path, info.model)
    return model, _describe_result(model, info)


def _info_for_built(model, name: str, weights) -> PresetInfo:
    from . import presets  # noqa: PLC0415
    from .preset_format import describe_model  # noqa: PLC0415

    _, args = describe_model(model)
    pretrained = presets.is_pretrained_name(weights) if isinstance(weights, str) else False
    classes = args["classes"] if args["include_top"] else None
    labels, background = make_labels("imagenet", classes) if pretrained and classes in (1000, 1001) else (None, False)
    size = args["input_shape"][0]
    return PresetInfo(model=name, arguments=args, labels=labels, background=background,
                      preprocessing=make_preprocessing("slim", size if isinstance(size, int) else 299),
                      metadata={"weights": None if weights is None else str(weights)}, uri=name)


def _describe_result(model, info: PresetInfo) -> PresetInfo:
    """The info of the model actually built (overrides applied: input size, head, background)."""
    from .preset_format import describe_model  # noqa: PLC0415

    _, args = describe_model(model)
    labels, background = info.labels, info.background
    if not args["include_top"]:
        labels, background = None, False
    elif info.background and args["classes"] == len(info.labels or []):
        background = False
    prep = dict(info.preprocessing)
    size = args["input_shape"][0]
    if isinstance(size, int) and size != prep.get("input_size"):
        prep["input_size"] = size
    return PresetInfo(model=info.model, arguments=args, labels=labels, background=background, preprocessing=prep,
                      metadata=info.metadata, path=info.path, uri=info.uri)


# =========================================================================== #
# weights= : loading into a model that is already built
# =========================================================================== #
def is_weights_reference(value) -> bool:
    """Whether ``weights=value`` is for this module: a named preset, a URI, or a preset / timm folder."""
    from . import presets  # noqa: PLC0415
    from .hub import is_uri  # noqa: PLC0415

    if not isinstance(value, (str, os.PathLike)):
        return False
    text = os.fspath(value)
    return presets.is_pretrained_name(text) or is_uri(text) or (os.path.isdir(text) and
                                                                 (looks_like_preset(text) or is_timm_dir(text)))


def load_weights_into(model, weights, arch: str, load_file) -> None:
    """Load ``weights`` (named preset, URI, preset or timm folder) into ``model`` of graph ``arch``.

    ``load_file(model, path)`` loads a local weights file (the constructors' own loader),
    for URLs of plain weights files.
    """
    from . import presets  # noqa: PLC0415
    from .hub import local_path  # noqa: PLC0415

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
        _load_timm_folder(model, path, arch)
    elif os.path.isdir(path) and not os.path.isfile(os.path.join(path, "checkpoint")):
        raise PresetError(_not_a_preset(text, path))
    else:
        load_file(model, path)


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


def load_folder_weights(model, folder: str, info: PresetInfo | None = None, *, verified: bool = False) -> None:
    """Load a preset folder's weights into ``model`` by layer name, after checking their sha256.

    The model may differ from the preset in input size, pooling, BatchNorm scale (gamma 1),
    or by having no top, no auxiliary head, or the preset's classes minus its background
    class. Anything else is a PresetError that names both heads.
    """
    from .convert.core import ConversionError  # noqa: PLC0415
    from .convert.transfer import copy_by_name, h5_layers  # noqa: PLC0415

    info = info or read_preset(folder)
    _check_heads(model, info)
    weights = os.path.join(info.path, WEIGHTS_FILE) if verified else verify_weights(info)
    try:
        copy_by_name(h5_layers(weights), model, label_offset=1 if info.background else 0,
                     source_name=f"preset {info.uri or folder}")
    except ConversionError as e:
        raise PresetError(f"cannot load {weights} into {model.name!r}: {e}") from None


def _check_heads(model, info: PresetInfo) -> None:
    names = {layer.name for layer in model.layers}
    args = info.arguments
    if "Logits__Logits" in names:
        classes = model.get_layer("Logits__Logits").units
        if not args.get("include_top", True):
            raise PresetError(f"preset {info.uri} has no classifier (include_top=False) but {model.name!r} has one: "
                              f"build it with include_top=False")
        allowed = {args["classes"]} | ({args["classes"] - 1} if info.background else set())
        if classes not in allowed:
            raise PresetError(
                f"preset {info.uri} has a {args['classes']}-class classifier but {model.name!r} was built with "
                f"classes={classes}: pass classes={min(allowed)}, or include_top=False and add a head")
    if any(n.startswith("AuxLogits__") for n in names) and not args.get("aux_logits"):
        raise PresetError(f"preset {info.uri} has no auxiliary head: build the model with aux_logits=False")


def _load_timm_folder(model, folder: str, arch: str) -> None:
    from .convert.timm import load_timm_weights, open_timm_checkpoint  # noqa: PLC0415

    with open_timm_checkpoint(os.path.join(folder, "model.safetensors")) as ckpt:
        load_timm_weights(model, ckpt, arch=arch)


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
    import numpy as np  # noqa: PLC0415

    if len(shape) != 4 or kernel.shape[2] != 3 or kernel.shape[:2] != shape[:2] or kernel.shape[3] != shape[3]:
        raise ValueError(f"cannot adapt the weights of layer {layer!r} from shape {kernel.shape} to {tuple(shape)}: "
                         f"only the first convolution's input channels may differ")
    channels = shape[2]
    if channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    repeats = -(-channels // 3)
    return (np.concatenate([kernel] * repeats, axis=2)[:, :, :channels, :] * (3.0 / channels)).astype(kernel.dtype)
