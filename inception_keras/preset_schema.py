"""What each file of a preset folder may hold: the file names, the preset errors, and a table
of keys, JSON types and value checks applied by :func:`check_preset_files` before anything is
built. Imports nothing of the package but the graphs' specs (no Keras)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping

from .specs import MIN_INPUT_SIZE

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


def square_size(shape):
    """The side of a square ``input_shape`` (channels last or first), None for any other."""
    if not shape:
        return None
    h, w = shape[:2] if shape[-1] in (1, 3, 4) else shape[1:3]  # channels last or first
    return h if h == w else None



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
    channel = channel_axis_of(v)
    if channel is None or v[channel] < 1:
        return f"is {v!r}; expected a positive number of channels, last (or first)"
    for d in (d for i, d in enumerate(v) if i != channel and d is not None):
        if _input_size(d):
            return f"is {v!r}; expected null (any size) or {_SIZES} for the height and width, not {d}"
    return None


def channel_axis_of(shape) -> int | None:
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
    if preprocessing.get("input_size") is None and (not shape or square_size(shape) is None):
        raise PresetFileError(prep_path, "input_size", f"is missing, and arguments.input_shape in {CONFIG_FILE} "
                              f"({shape!r}) gives no square size; expected {_SIZES}")
    meta_path = os.path.join(path, METADATA_FILE)
    _check_fields(meta_path, metadata, METADATA_FIELDS)
    _check_fields(meta_path, metadata["weights"], WEIGHTS_RECORD_FIELDS, "weights.")
    for i, source in enumerate(metadata.get("sources") or []):
        if not isinstance(source, dict):
            raise PresetFileError(meta_path, f"sources[{i}]", f"must be an object, got {_shown(source)}")
    if labels is not None:
        check_labels(os.path.join(path, LABELS_FILE), labels, args)


def check_labels(labels_path: str, labels: dict, args: dict) -> None:
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
