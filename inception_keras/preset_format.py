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

from .specs import MIN_INPUT_SIZE  # the graphs' smallest input (75: the last stride-2 stage); no Keras import

FORMAT = "inception-keras-preset"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.json"
PREPROCESSING_FILE = "preprocessing.json"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, PREPROCESSING_FILE)
# timm's layout on the Hugging Face Hub: architecture name -> our registry name.
TIMM_FILES = ("config.json", "model.safetensors")
TIMM_ARCHITECTURES = {"inception_v4": "inception_v4", "inception_resnet_v2": "inception_resnet_v2_slim"}
INTERPOLATION = {"slim": "bilinear (TF1 resize_bilinear grid)", "resize-crop": "bilinear, antialiased"}
SCALING = "x / 127.5 - 1: RGB 0..255 -> [-1, 1] (mean 0.5, std 0.5 on [0, 1])"


class PresetError(ValueError):
    """A folder or URI that is not a usable preset; the message names the file and the fix."""


class PresetFileError(PresetError):
    """A file of a preset folder with a missing, mistyped or out-of-range value, or one that
    contradicts the weights file; ``path`` is the file, ``key`` the value (``arguments.classes``)."""

    def __init__(self, path, key: str, problem: str):
        super().__init__(f"{path}: {key!r} {problem}" if key else f"{path}: {problem}")
        self.path = os.fspath(path)
        self.key = key


class CorruptPresetError(PresetError):
    """A preset whose weights file does not match the sha256 recorded when it was written."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


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
        return self.preprocessing.get("input_size") or _size(self.arguments.get("input_shape"))

    def to_preprocessing(self):
        """The preprocessing as :class:`inception_keras.datasets.Preprocessing` (tools' pipelines)."""
        from .datasets import Preprocessing  # noqa: PLC0415

        p = self.preprocessing
        return Preprocessing(p.get("name", "slim"), int(p.get("input_size") or 299), float(p.get("crop_fraction", 0.875)))

    def to_json(self) -> dict:
        return {"model": self.model, "arguments": self.arguments, "labels": self.labels,
                "background": self.background, "preprocessing": self.preprocessing, "uri": self.uri}


def _size(shape):
    if not shape:
        return None
    h, w = shape[:2] if shape[-1] in (1, 3, 4) else shape[1:3]  # channels last or first
    return h if h == w else None


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
    prep = make_preprocessing(preprocessing, _size(args["input_shape"]))
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
        _check_labels(labels_path, labels, info.arguments)
        info.labels = sorted(labels["classes"], key=lambda c: c["id"])
        info.background = labels.get("background", False)
    return info


# =========================================================================== #
# What each file may hold: a table of keys, JSON types and value checks
# =========================================================================== #
# The largest input size a preset may ask for. Memory grows with the pixels: 1024x1024 is ~12x
# the pixels of the published 299x299 (a few hundred MB of activations per image, GBs per batch),
# while 30000 would need TBs and dies in the allocator. The published weights are 299 and
# fine-tuning rarely goes past ~600, so a larger value in a file is damage or a hostile file,
# refused before anything is allocated. (create_model(input_shape=...) itself has no such limit.)
MAX_INPUT_SIZE = 1024

_KINDS = {
    "an integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "a number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "true or false": lambda v: isinstance(v, bool),
    "a string": lambda v: isinstance(v, str),
    "an object": lambda v: isinstance(v, dict),
    "a list": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


@dataclasses.dataclass(frozen=True)
class _Field:
    kinds: tuple[str, ...]  # keys of _KINDS
    required: bool = False
    check: object = None  # value -> a problem (str) or None; not called for null

    @property
    def expected(self) -> str:
        return " or ".join(self.kinds)


def _f(kinds: str, required: bool = False, check=None) -> _Field:
    return _Field(tuple(kinds.split("|")), required, check)


def _between(low, high, *, low_open=False, high_open=False):
    def check(v):
        ok = (low < v if low_open else low <= v) and (v < high if high_open else v <= high)
        return None if ok else (f"is {v!r}; expected a value in {'(' if low_open else '['}{low}, {high}"
                                f"{')' if high_open else ']'}")
    return check


def _one_of(*choices):
    return lambda v: None if v in choices else f"is {v!r}; expected one of {', '.join(map(repr, choices))}"


def _model_name(v):
    from .specs import SPECS  # noqa: PLC0415 - no Keras import

    return None if v in SPECS else f"is {v!r}, not a graph of this zoo; expected one of {', '.join(SPECS)}"


_SIZES = (f"an input size from {MIN_INPUT_SIZE} (the graphs' smallest) to {MAX_INPUT_SIZE} (a bound against "
          f"runaway memory; see preset_format.MAX_INPUT_SIZE)")


def _input_size(v):
    return None if MIN_INPUT_SIZE <= v <= MAX_INPUT_SIZE else f"is {v}; expected {_SIZES}"


def _input_shape(v):
    if len(v) != 3 or not all(d is None or _KINDS["an integer"](d) for d in v):
        return f"is {v!r}; expected 3 entries [height, width, channels], each an integer or null"
    channel = _channel_axis(v)
    if channel is None or v[channel] < 1:
        return f"is {v!r}; expected a positive number of channels, last (or first)"
    for d in (d for i, d in enumerate(v) if i != channel and d is not None):
        if _input_size(d):
            return f"is {v!r}; expected null (any size) or {_SIZES} for the height and width, not {d}"
    return None


def _channel_axis(shape) -> int | None:
    """Where the channels are in a 3-entry input shape: the last entry, or the first (channels
    first), whichever is a number below the smallest input size; None when neither is."""
    for axis in (2, 0):
        if isinstance(shape[axis], int) and shape[axis] < MIN_INPUT_SIZE:
            return axis
    return None


def _sha256(v):
    return None if len(v) == 64 and all(c in "0123456789abcdef" for c in v) else \
        f"is {v[:80]!r}; expected 64 lowercase hex digits"


CONFIG_FIELDS = {
    "format": _f("a string", True),
    "format_version": _f("an integer", check=lambda v: None if v >= 1 else f"is {v}; expected 1 or more"),
    "model": _f("a string", True, _model_name),
    "arguments": _f("an object", True),
}
# The constructor arguments a preset may give (describe_model writes them); anything else would
# reach the constructor as an unexpected keyword, so an unknown key is refused.
ARGUMENT_FIELDS = {
    "include_top": _f("true or false"),
    "input_shape": _f("a list|null", check=_input_shape),
    "classes": _f("an integer", check=_between(1, 1 << 31)),
    "pooling": _f("a string|null", check=_one_of("avg", "max")),
    "aux_logits": _f("true or false"),
    "batchnorm_scale": _f("true or false"),
    "classifier_activation": _f("a string|null"),
    "dropout_rate": _f("a number", check=_between(0, 1, high_open=True)),
    "scale": _f("true or false|a number"),
    "name": _f("a string"),
}
LABELS_FIELDS = {"background": _f("true or false"), "classes": _f("a list", True)}
LABEL_FIELDS = {"id": _f("an integer", True), "name": _f("a string", True), "synset": _f("a string|null")}
PREPROCESSING_FIELDS = {
    "name": _f("a string", True, _one_of(*INTERPOLATION)),
    "input_size": _f("an integer|null", check=_input_size),
    "crop_fraction": _f("a number", check=_between(0, 1, low_open=True)),
    "interpolation": _f("a string|null"),
    "scaling": _f("a string|null"),
}
METADATA_FIELDS = {
    "format": _f("a string"),
    "format_version": _f("an integer"),
    "package_version": _f("a string|null"),
    "model": _f("a string|null"),
    "sources": _f("a list|null"),
    "conversion": _f("an object|null"),
    "weights": _f("an object", True),
}
WEIGHTS_RECORD_FIELDS = {"file": _f("a string"), "sha256": _f("a string", True, _sha256)}


def _shown(value) -> str:
    kind = next((k for k in ("true or false", "an integer", "a number", "a string", "an object", "a list", "null")
                 if _KINDS[k](value)), type(value).__name__)
    kind = {"true or false": "a boolean", "null": "null"}.get(kind, kind)
    text = json.dumps(value)
    return kind if kind in ("an object", "a list") or len(text) > 60 else f"{kind} ({text})"


def _check_fields(path, data: dict, fields: Mapping[str, _Field], prefix: str = "", strict: bool = False) -> None:
    """Check ``data`` (an object read from ``path``) against ``fields``; ``prefix`` locates it in the file."""
    if strict:
        unknown = [k for k in data if k not in fields]
        if unknown:
            raise PresetFileError(path, prefix + str(unknown[0]), f"is not a known key; expected only "
                                  f"{', '.join(fields)} (remove it, or write the preset again with save_preset)")
    for key, field in fields.items():
        if key not in data:
            if field.required:
                raise PresetFileError(path, prefix + key, f"is missing; expected {field.expected}")
            continue
        value = data[key]
        if not any(_KINDS[k](value) for k in field.kinds):
            raise PresetFileError(path, prefix + key, f"must be {field.expected}, got {_shown(value)}")
        problem = field.check(value) if field.check is not None and value is not None else None
        if problem:
            raise PresetFileError(path, prefix + key, problem)


def check_preset_files(path, config: dict, labels: dict | None, preprocessing: dict, metadata: dict) -> None:
    """Check the JSON files of the preset folder ``path`` against the format (no weights read).

    Raises :class:`PresetFileError` naming the file, the key and what was expected: a wrong
    JSON type, an unknown constructor argument, an input size outside
    [``MIN_INPUT_SIZE``, ``MAX_INPUT_SIZE``], label ids that repeat or fall outside the
    classifier's outputs, or a label count that does not match the classes.
    """
    path = os.fspath(path)
    config_path = os.path.join(path, CONFIG_FILE)
    _check_fields(config_path, config, {"format_version": CONFIG_FIELDS["format_version"]})
    if config.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:  # before the rest: a newer format may differ
        raise PresetFileError(config_path, "format_version", f"is {config['format_version']}; this inception-keras "
                              f"reads preset format versions up to {FORMAT_VERSION}: upgrade inception-keras")
    _check_fields(config_path, config, CONFIG_FIELDS)
    args = config["arguments"]
    _check_fields(config_path, args, ARGUMENT_FIELDS, "arguments.", strict=True)
    if "scale" in args and config["model"] == "inception_v4":
        raise PresetFileError(config_path, "arguments.scale", "is given, but inception_v4 has no residual scales: "
                              "remove it")
    prep_path = os.path.join(path, PREPROCESSING_FILE)
    _check_fields(prep_path, preprocessing, PREPROCESSING_FIELDS)
    shape = args.get("input_shape")
    if preprocessing.get("input_size") is None and (not shape or _size(shape) is None):
        raise PresetFileError(prep_path, "input_size", f"is missing, and arguments.input_shape in {CONFIG_FILE} "
                              f"({shape!r}) gives no square size; expected {_SIZES}")
    meta_path = os.path.join(path, METADATA_FILE)
    _check_fields(meta_path, metadata, METADATA_FIELDS)
    _check_fields(meta_path, metadata["weights"], WEIGHTS_RECORD_FIELDS, "weights.")
    for i, source in enumerate(metadata.get("sources") or []):
        if not isinstance(source, dict):
            raise PresetFileError(meta_path, f"sources[{i}]", f"must be an object, got {_shown(source)}")
    if labels is not None:
        _check_labels(os.path.join(path, LABELS_FILE), labels, args)


def _check_labels(labels_path: str, labels: dict, args: dict) -> None:
    _check_fields(labels_path, labels, LABELS_FIELDS)
    rows = labels["classes"]
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise PresetFileError(labels_path, f"classes[{i}]", f"must be an object "
                                  f"{{\"id\": integer, \"name\": string[, \"synset\": string]}}, got {_shown(row)}")
        _check_fields(labels_path, row, LABEL_FIELDS, f"classes[{i}].")
    offset = 1 if labels.get("background", False) else 0
    classes = args.get("classes", 1000) if args.get("include_top", True) else None
    outputs = classes if classes is not None else len(rows) + offset
    if classes is not None and len(rows) != classes - offset:
        raise PresetFileError(labels_path, "classes", f"has {len(rows)} labels, but the classifier has {classes} "
                              f"outputs ({CONFIG_FILE} arguments.classes{', one is the background' if offset else ''});"
                              f" expected {classes - offset} labels")
    seen = {}
    for i, row in enumerate(rows):
        if not offset <= row["id"] < outputs:
            raise PresetFileError(labels_path, f"classes[{i}].id", f"is {row['id']}, outside the classifier's "
                                  f"outputs: expected an id from {offset} to {outputs - 1}"
                                  + (" (0 is the background)" if offset else ""))
        if row["id"] in seen:
            raise PresetFileError(labels_path, f"classes[{i}].id", f"is {row['id']}, already the id of classes"
                                  f"[{seen[row['id']]}] ({rows[seen[row['id']]]['name']!r}); give each class "
                                  f"its own id")
        seen[row["id"]] = i


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
        channels = shape[_channel_axis(shape)]
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
