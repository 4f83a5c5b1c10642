"""The preset format: a folder that is enough on its own to rebuild, run and describe a model.

Laid out like a KerasHub preset::

    my_preset/
      config.json          registry name and every constructor argument
      model.weights.h5     the weights (Keras ``save_weights``)
      metadata.json        format and package version, sources (URI + sha256), conversion
                           summary, sha256 of model.weights.h5
      labels.json          class ids and names (ImageNet: synsets too; background flag)
      preprocessing.json   the evaluation preprocessing (name, input size, crop fraction,
                           interpolation, scaling)

Writing is atomic (a temporary folder next to the target, then a rename). Reading checks,
before anything is built, every JSON file against a table of keys and types
(:func:`check_preset_files`: known constructor arguments only, an input size in
[``MIN_INPUT_SIZE``, ``MAX_INPUT_SIZE``], label ids unique and within the outputs) and the
classes against the classifier's shape in ``model.weights.h5`` (:func:`check_weights_file`);
loading checks the weights file against the sha256 in ``metadata.json``. Each refusal is a
:class:`PresetFileError` naming the file and the key.

Example:
    >>> import inception_keras
    >>> model = inception_keras.create_model("inception_v4", classes=2, input_shape=(128, 128, 3))
    >>> inception_keras.save_preset(model, "runs/x/best", labels=["cat", "dog"],
    ...                             preprocessing="slim")                              # doctest: +SKIP
    >>> info = inception_keras.preset_info("runs/x/best")                             # doctest: +SKIP
    >>> info.class_names, info.input_size                                              # doctest: +SKIP
    (['cat', 'dog'], 128)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence

from .preset_schema import (  # the files, their errors and their checks
    CONFIG_FILE,
    CorruptPresetError,
    FORMAT,
    FORMAT_VERSION,
    INTERPOLATION,
    LABELS_FILE,
    METADATA_FILE,
    PREPROCESSING_FILE,
    PresetError,
    PresetFileError,
    REQUIRED_FILES,
    SCALING,
    TIMM_ARCHITECTURES,
    TIMM_FILES,
    WEIGHTS_FILE,
    channel_axis_of,
    check_labels,
    check_preset_files,
    square_size,
)



def sha256_file(path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# =========================================================================== #
# What a preset says about its model
# =========================================================================== #
@dataclasses.dataclass
class PresetInfo:
    """Everything a preset says, read without building the model.

    Attributes:
        model: registry name of the graph (``inception_v4``, ...).
        arguments: the constructor arguments (``classes``, ``input_shape``, ...).
        labels: ``[{"id": 0, "name": ..., "synset": ...}, ...]`` or None; ids count the
            model's outputs, so with a background class the first label has id 1.
        background: output 0 is TF-slim's background class (1001-way heads).
        preprocessing: ``{"name", "input_size", "crop_fraction", "interpolation", "scaling"}``.
        metadata: ``metadata.json`` (sources, conversion, sha256 of the weights).
        path: the local folder, or None for a registry name.
        uri: what was asked for (name, URI or path).
    """

    model: str
    arguments: dict
    labels: list | None = None
    background: bool = False
    preprocessing: dict = dataclasses.field(default_factory=dict)
    metadata: dict = dataclasses.field(default_factory=dict)
    path: str | None = None
    uri: str | None = None

    @property
    def classes(self) -> int | None:
        """Outputs of the classifier (None without one)."""
        return self.arguments.get("classes") if self.arguments.get("include_top", True) else None

    @property
    def class_names(self) -> list[str] | None:
        """Names of the classes in output order (background first where there is one)."""
        if self.labels is None:
            return None
        return (["background"] if self.background else []) + [c["name"] for c in self.labels]

    @property
    def input_size(self) -> int | None:
        return self.preprocessing.get("input_size") or square_size(self.arguments.get("input_shape"))

    def to_preprocessing(self):
        """The preprocessing as :class:`inception_keras.datasets.Preprocessing` (tools' pipelines)."""
        from .datasets import Preprocessing  # noqa: PLC0415

        p = self.preprocessing
        return Preprocessing(p.get("name", "slim"), int(p.get("input_size") or 299), float(p.get("crop_fraction", 0.875)))

    def to_json(self) -> dict:
        return {"model": self.model, "arguments": self.arguments, "labels": self.labels,
                "background": self.background, "preprocessing": self.preprocessing, "uri": self.uri}


def make_preprocessing(preprocessing, input_size: int | None) -> dict:
    """The ``preprocessing.json`` dict from a name, a ``datasets.Preprocessing``, a dict or None."""
    if preprocessing is None:
        preprocessing = "slim"
    if isinstance(preprocessing, str):
        name, size, crop = preprocessing, input_size or 299, 0.875
    elif isinstance(preprocessing, Mapping):
        name = preprocessing.get("name", preprocessing.get("preset", "slim"))
        size = preprocessing.get("input_size", preprocessing.get("image_size", input_size or 299))
        crop = preprocessing.get("crop_fraction", 0.875)
    else:  # datasets.Preprocessing
        name, size, crop = preprocessing.name, preprocessing.image_size, preprocessing.crop_fraction
    if name not in INTERPOLATION:
        raise PresetError(f"unknown preprocessing {name!r}; choose one of {', '.join(INTERPOLATION)}")
    if not isinstance(size, int) or size < 1 or not 0.0 < float(crop) <= 1.0:
        raise PresetError(f"preprocessing needs a positive input size and a crop fraction in (0, 1], "
                          f"got input_size={size!r}, crop_fraction={crop!r}")
    out = {"name": name, "input_size": size, "crop_fraction": float(crop),
           "interpolation": INTERPOLATION[name], "scaling": SCALING}
    if isinstance(preprocessing, Mapping) and preprocessing.get("interpolation"):
        out["interpolation"] = preprocessing["interpolation"]
    return out


def make_labels(labels, classes: int | None) -> tuple[list | None, bool]:
    """``(labels.json classes, background)`` from ``"imagenet"``, names, (synset, name) pairs or None."""
    if labels is None:
        return None, False
    if isinstance(labels, str):
        if labels != "imagenet":
            raise PresetError(f"labels must be 'imagenet', a list of class names or None, got {labels!r}")
        from .preprocessing import imagenet_classes  # noqa: PLC0415

        pairs = [{"synset": s, "name": n} for s, n in imagenet_classes()]
    elif isinstance(labels, Sequence):
        pairs = [{"name": str(x)} if isinstance(x, str) else {"synset": str(x[0]), "name": str(x[1])} for x in labels]
    else:
        raise PresetError(f"labels must be 'imagenet', a list of class names or None, got {type(labels).__name__}")
    background = classes is not None and classes == len(pairs) + 1
    if classes is not None and len(pairs) not in (classes, classes - 1):
        raise PresetError(f"{len(pairs)} labels for a classifier with {classes} outputs; give one name per class")
    offset = 1 if background else 0
    return [{"id": i + offset, **p} for i, p in enumerate(pairs)], background


# =========================================================================== #
# A model's constructor arguments, read back from its layers
# =========================================================================== #
def describe_model(model) -> tuple[str, dict]:
    """``(registry name, constructor arguments)`` of a model of the zoo, from its layers.

    Works on any model built by the constructors (or loaded from a ``.keras`` file):
    the graph, head, pooling, auxiliary head, BatchNorm scale and residual scales are
    all visible in the layer names and configurations.
    """
    from .specs import SPECS  # noqa: PLC0415

    layers = {layer.name: layer for layer in model.layers}
    if "Mixed_6h" in layers or any(n.startswith("Mixed_6h__") for n in layers):
        name = "inception_v4"
    elif "Conv2d_7b_1x1" in layers:
        name = "inception_resnet_v2_slim"
    elif "Mixed_6a__Branch_1__Conv2d_0a_1x1" in layers:
        k = layers["Mixed_6a__Branch_1__Conv2d_0a_1x1"].filters
        found = [n for n in ("inception_resnet_v1", "inception_resnet_v2") if SPECS[n].reduction_a.k == k]
        if len(found) != 1:
            raise PresetError(f"{model.name!r} is not a model of inception_keras (Mixed_6a has k={k})")
        name = found[0]
    else:
        raise PresetError(f"{model.name!r} is not a model of inception_keras (no Mixed_6a block); "
                          f"save_preset writes models built by inception_keras.create_model")
    if isinstance(model.output, dict):
        raise PresetError("a features_only=True model has no head to describe; save a model built without it")
    top = "Logits__Logits" in layers
    bn = next(layer for n, layer in layers.items() if n.endswith("__BatchNorm"))
    args = {
        "include_top": top,
        "input_shape": [None if d is None else int(d) for d in model.input_shape[1:]],
        "classes": int(layers["Logits__Logits"].units) if top else 1000,
        "pooling": ("avg" if "global_avg_pool" in layers else "max" if "global_max_pool" in layers else None),
        "aux_logits": any(n.startswith("AuxLogits__") for n in layers),
        "batchnorm_scale": bool(bn.scale),
        "classifier_activation": (keras_activation_name(layers["Predictions"]) if "Predictions" in layers else None),
        "dropout_rate": float(layers["Logits__Dropout_1b"].rate) if top else 0.2,
    }
    if name != "inception_v4":
        args["scale"] = _residual_scale(layers, SPECS[name])
    return name, args


def keras_activation_name(layer) -> str:
    activation = layer.get_config()["activation"]
    return activation if isinstance(activation, str) else str(activation)


def _residual_scale(layers, spec):
    firsts = ("Repeat__block35_1", "Repeat_1__block17_1", "Repeat_2__block8_1")
    found = tuple(float(layers[f"{b}__scale"].scale) if f"{b}__scale" in layers else 1.0 for b in firsts)
    if found == tuple(spec.scales):
        return True
    if len(set(found)) == 1:
        return False if found[0] == 1.0 else found[0]
    raise PresetError(f"residual scales {found} are neither the spec's {spec.scales} nor one number")


# =========================================================================== #
# Writing
# =========================================================================== #
def save_preset(model, path, *, labels=None, preprocessing=None, sources=None, conversion=None,
                overwrite: bool = False) -> str:
    """Write ``model`` as a preset folder at ``path``, atomically.

    Args:
        model: a model of the zoo (any head, input size, BatchNorm scale).
        path: the folder to create.
        labels: ``"imagenet"`` (the 1000 synsets and names; with a 1001-way head the
            background class is recorded), a list of class names, a list of
            ``(synset, name)`` pairs, or None.
        preprocessing: ``"slim"`` / ``"resize-crop"`` (at the model's input size), a
            ``datasets.Preprocessing``, a dict, or None (``"slim"``).
        sources: where the weights came from: ``[{"uri": ..., "sha256": ...}, ...]``.
        conversion: the converter's ``ConversionReport`` (or its summary dict).
        overwrite: an existing folder at ``path`` is refused (PresetError) unless True.
            With True the new folder is written completely beside it first, then the old
            one is moved aside and the new one renamed in: a failed write leaves the old
            folder untouched, and a reader never sees a mix (only, for an instant between
            the two renames, no folder).

    Returns:
        ``path``. A failed save leaves nothing behind (no partial folder, no temporary).

    Example:
        >>> save_preset(model, "runs/x/best", labels=["cat", "dog"], preprocessing="slim")  # doctest: +SKIP
    """
    from . import __version__  # noqa: PLC0415
    from .fileio import atomic_save_dir  # noqa: PLC0415

    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise PresetError(f"{path} already exists; pass overwrite=True to replace it (atomically) or choose "
                          f"another folder")
    name, args = describe_model(model)
    classes = args["classes"] if args["include_top"] else None
    label_rows, background = make_labels(labels, classes)
    prep = make_preprocessing(preprocessing, square_size(args["input_shape"]))
    if hasattr(conversion, "to_json"):
        conversion = _conversion_summary(conversion)

    def write(tmp):
        os.makedirs(tmp)
        model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
        _dump(tmp, CONFIG_FILE, {"format": FORMAT, "format_version": FORMAT_VERSION, "model": name, "arguments": args})
        _dump(tmp, PREPROCESSING_FILE, prep)
        if label_rows is not None:
            _dump(tmp, LABELS_FILE, {"background": background, "classes": label_rows})
        _dump(tmp, METADATA_FILE, {
            "format": FORMAT, "format_version": FORMAT_VERSION, "package": "inception-keras",
            "package_version": __version__, "model": name, "sources": list(sources or []),
            "conversion": conversion, "weights": {"file": WEIGHTS_FILE,
                                                  "sha256": sha256_file(os.path.join(tmp, WEIGHTS_FILE))},
        })

    return atomic_save_dir(write, path)


def _conversion_summary(report) -> dict:
    data = report.to_json()
    keep = ("source", "tensors_mapped", "values_mapped", "tensors_read_into_others", "ignored_by_reason",
            "background_dropped", "batchnorm", "batchnorm_max_fold_error", "batchnorm_eps_source", "notes")
    return {k: data[k] for k in keep if k in data}


def _dump(folder, name, data):
    with open(os.path.join(folder, name), "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


# =========================================================================== #
# Reading
# =========================================================================== #
def is_preset_dir(path) -> bool:
    """Whether ``path`` is a folder with our ``config.json`` (complete or not)."""
    config = os.path.join(os.fspath(path), CONFIG_FILE)
    if not os.path.isfile(config):
        return False
    try:
        return _read_json(config).get("format") == FORMAT
    except PresetError:
        return False


def is_timm_dir(path) -> bool:
    """Whether ``path`` is a folder in timm's Hub layout (``config.json`` with ``architecture``)."""
    path = os.fspath(path)
    if not all(os.path.isfile(os.path.join(path, f)) for f in TIMM_FILES):
        return False
    try:
        return "architecture" in _read_json(os.path.join(path, "config.json"))
    except PresetError:
        return False


def _read_json(path) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise PresetError(f"{path} is not readable JSON ({e}); the preset is damaged: write it again") from None
    if not isinstance(data, dict):
        raise PresetError(f"{path} does not hold a JSON object")
    return data


def looks_like_preset(path) -> bool:
    """Whether ``path`` is meant as a preset folder: our ``config.json``, or a ``config.json``
    beside the weights file (so a damaged config is reported as such, not as "no preset")."""
    path = os.fspath(path)
    return is_preset_dir(path) or (os.path.isfile(os.path.join(path, CONFIG_FILE))
                                   and os.path.isfile(os.path.join(path, WEIGHTS_FILE)) and not is_timm_dir(path))


def read_preset(path, uri: str | None = None) -> PresetInfo:
    """The :class:`PresetInfo` of a local preset folder, checked before anything is built.

    Every file must be there and hold what the format says (:func:`check_preset_files`:
    types, known constructor arguments, label ids, bounded input size), and the classes of
    ``config.json`` and ``labels.json`` must match the classifier in ``model.weights.h5``
    (read from its layout, no values loaded). Raises :class:`PresetFileError` naming the file
    and the key, or :class:`CorruptPresetError` for a weights file that is not readable and
    does not match its sha256. The labels come ordered by id (output order).
    """
    path = os.fspath(path)
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise PresetError(f"{path} is not a complete preset: missing {', '.join(missing)} "
                          f"(a preset has {', '.join(REQUIRED_FILES)} and optionally {LABELS_FILE})")
    config = _read_json(os.path.join(path, CONFIG_FILE))
    if config.get("format") != FORMAT:
        raise PresetFileError(os.path.join(path, CONFIG_FILE), "format",
                              ("is missing" if "format" not in config else f"is {config['format']!r}")
                              + f": this is not an inception-keras preset config "
                              f"(expected \"format\": \"{FORMAT}\")")
    labels_path = os.path.join(path, LABELS_FILE)
    labels = _read_json(labels_path) if os.path.isfile(labels_path) else None
    preprocessing = _read_json(os.path.join(path, PREPROCESSING_FILE))
    metadata = _read_json(os.path.join(path, METADATA_FILE))
    check_preset_files(path, config, None, preprocessing, metadata)
    info = PresetInfo(model=config["model"], arguments=dict(config["arguments"]), preprocessing=preprocessing,
                      metadata=metadata, path=path, uri=uri or path)
    check_weights_file(info)  # config.json against the weights, then labels.json against both
    if labels is not None:
        check_labels(labels_path, labels, info.arguments)
        info.labels = sorted(labels["classes"], key=lambda c: c["id"])
        info.background = labels.get("background", False)
    return info


def weight_shapes(path) -> dict[str, list[tuple[int, ...]]]:
    """``{layer name: [variable shapes]}`` of a Keras 3 ``.weights.h5`` file, from its layout
    (``layers/<key>/vars/<i>``, the layer's name in the ``name`` attribute; see
    ``convert.transfer.h5_layers``), without reading any value nor importing Keras."""
    from .convert.transfer import h5_layer_shapes  # noqa: PLC0415 - one reader of the layout

    return h5_layer_shapes(os.fspath(path))


def check_weights_file(info: PresetInfo) -> None:
    """The preset's ``config.json`` agrees with the layers in its ``model.weights.h5``: the
    classifier's outputs (``arguments.classes``), the auxiliary head and the input channels.

    Run before any model is built, so that a config asking for a head the weights do not have
    (2,000,000 classes on a 3-class file) is refused at once instead of allocating it."""
    weights = os.path.join(info.path, WEIGHTS_FILE)
    config_path = os.path.join(info.path, CONFIG_FILE)
    try:
        shapes = weight_shapes(weights)
    except (OSError, KeyError, ValueError, TypeError) as e:
        verify_weights(info)  # a damaged file is a CorruptPresetError
        raise PresetFileError(weights, "", f"is not a Keras 3 weights file ({type(e).__name__}: {e}); write the "
                              f"preset again with save_preset") from None
    args = info.arguments

    def head(prefix):
        kernels = [v[0] for n, v in shapes.items() if n.startswith(prefix) and v and len(v[0]) == 2]  # Dense
        return kernels[0] if len(kernels) == 1 else None

    if args.get("include_top", True):
        classes = args.get("classes", 1000)
        kernel = head("Logits__Logits")
        if kernel is None:
            raise PresetFileError(config_path, "arguments.include_top", f"is true, but {WEIGHTS_FILE} has no "
                                  f"classifier (Logits__Logits): set it to false")
        if kernel[1] != classes:
            raise PresetFileError(config_path, "arguments.classes", f"is {classes}, but the classifier in "
                                  f"{WEIGHTS_FILE} has {kernel[1]} outputs (Logits__Logits kernel {kernel}); "
                                  f"expected {kernel[1]}")
        if args.get("aux_logits"):
            aux = head("AuxLogits__")
            if aux is None or aux[1] != classes:
                raise PresetFileError(config_path, "arguments.aux_logits", f"is true, but {WEIGHTS_FILE} has "
                                      + ("no auxiliary head" if aux is None else f"an auxiliary head with {aux[1]} "
                                         f"outputs, not {classes}") + ": set it to false")
    shape = args.get("input_shape")
    stem = shapes.get("Conv2d_1a_3x3")
    if shape and stem and len(stem[0]) == 4:
        channels = shape[channel_axis_of(shape)]
        if channels != stem[0][2]:
            raise PresetFileError(config_path, "arguments.input_shape", f"is {shape} ({channels} channels), but "
                                  f"the first convolution in {WEIGHTS_FILE} takes {stem[0][2]}; expected "
                                  f"{stem[0][2]} channels")


def verify_weights(info: PresetInfo) -> str:
    """The path of the preset's weights file, after checking its sha256; CorruptPresetError if it differs."""
    weights = os.path.join(info.path, WEIGHTS_FILE)
    record = info.metadata.get("weights")
    expected = record.get("sha256") if isinstance(record, dict) else None
    if not expected:
        raise PresetError(f"{os.path.join(info.path, METADATA_FILE)} records no sha256 for {WEIGHTS_FILE}")
    actual = sha256_file(weights)
    if actual != expected:
        raise CorruptPresetError(
            f"{weights} does not match the sha256 recorded in {METADATA_FILE} when it was written (expected "
            f"{expected[:16]}..., got {actual[:16]}...): the file is truncated or was changed; write the preset "
            f"again (a cached one is rebuilt from its source)", weights)
    return weights


def read_timm_dir(path, uri: str | None = None) -> PresetInfo:
    """A :class:`PresetInfo` for timm's Hub layout (``config.json`` + ``model.safetensors``)."""
    path = os.fspath(path)
    config = _read_json(os.path.join(path, "config.json"))
    arch = config.get("architecture")
    if arch not in TIMM_ARCHITECTURES:
        raise PresetError(f"{path}: timm architecture {arch!r} is not in this zoo; inception_keras reads "
                          f"{', '.join(TIMM_ARCHITECTURES)}")
    cfg = config.get("pretrained_cfg") or {}
    classes = int(config.get("num_classes", cfg.get("num_classes", 1000)))
    size = (cfg.get("input_size") or [3, 299, 299])[-1]
    prep = make_preprocessing({"name": "resize-crop", "input_size": int(size),
                               "crop_fraction": float(cfg.get("crop_pct", 0.875)),
                               "interpolation": cfg.get("interpolation")}, int(size))
    labels = None
    if config.get("label_names") and len(config["label_names"]) == classes:
        labels, _ = make_labels(list(config["label_names"]), classes)
    elif classes == 1000 and (cfg.get("tag", "").endswith("in1k") or "imagenet" in str(cfg.get("hf_hub_id", ""))):
        labels, _ = make_labels("imagenet", classes)
    return PresetInfo(model=TIMM_ARCHITECTURES[arch], arguments={"classes": classes, "include_top": True,
                                                               "input_shape": [int(size), int(size), 3]},
                      labels=labels, preprocessing=prep, metadata={"timm_config": config}, path=path, uri=uri or path)
