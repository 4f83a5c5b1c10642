"""Class names and preprocessing of an exported model: what ``export`` embedded, or what the
caller gives for a model without it (``classes``/``labels``/``input_size``)."""

from __future__ import annotations

import json
import os

from ..data.labels import default_class_names
from ..export.metadata import METADATA_KEYS, OPTIONAL_METADATA_KEYS, read_tflite_metadata
from ..export.options import METADATA_FILES
from .base import MissingMetadataError, RuntimeOpenError

ASK = "give --classes N or --labels FILE, and --input-size (Python: classes=, labels=, input_size=)"


def onnx_metadata(custom_map: dict) -> dict:
    """ONNX Runtime's ``custom_metadata_map`` (JSON values) -> {key: value} for our keys."""
    out = {}
    for key, value in custom_map.items():
        if key in METADATA_KEYS or key in OPTIONAL_METADATA_KEYS:
            try:
                out[key] = json.loads(value)
            except ValueError:
                raise RuntimeOpenError(f"metadata entry {key!r} is not JSON: {value[:80]!r}") from None
    return out


def tflite_metadata(path: str) -> dict:
    try:
        return read_tflite_metadata(path)
    except Exception as e:  # noqa: BLE001 - flatbuffer reading of a damaged file: any error
        raise RuntimeOpenError(f"{path}: cannot read its TFLite metadata ({type(e).__name__}: {e}); "
                               "the file is damaged or truncated: export it again") from None


def savedmodel_metadata(path: str) -> dict:
    """``assets/metadata.json`` of a SavedModel written by ``export`` ({} when absent)."""
    file = os.path.join(path, "assets", METADATA_FILES["metadata"])
    if not os.path.isfile(file):
        return {}
    try:
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeOpenError(f"{file}: cannot read the export's metadata ({e}); export the model again") from None


def read_labels_file(path: str) -> list[str]:
    """One class name per line (blank lines skipped)."""
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise RuntimeOpenError(f"cannot read the labels file {path}: {e}") from None
    if not names:
        raise RuntimeOpenError(f"the labels file {path} holds no class names (one per line)")
    return names


def resolve(runner, embedded: dict, *, graph_size: int | None, graph_classes: int | None,
            classes=None, labels=None, input_size=None) -> None:
    """Set ``runner``'s class names, preprocessing, number of classes and input size from the
    embedded metadata, overridden by what the caller gives; raise :class:`RuntimeOpenError`
    when neither says (``graph_size``/``graph_classes``: the graph's static sizes, or None)."""
    from ..weights.format import make_preprocessing  # noqa: PLC0415

    where = f"{runner.format} model {runner.path}"
    given = classes is not None or labels is not None or input_size is not None
    if not embedded.get("class_names") and not given:
        raise MissingMetadataError(f"{where} has no metadata from inception-keras export (class names, "
                                   f"preprocessing); {ASK} to run it anyway")
    if isinstance(labels, (str, os.PathLike)):
        labels = read_labels_file(os.fspath(labels))
    names = list(labels) if labels is not None else embedded.get("class_names")
    count = len(names) if names else (classes or graph_classes)
    if classes is not None and count != classes:
        raise RuntimeOpenError(f"{where}: --classes {classes} but {len(names)} class names")
    if graph_classes is not None and count is not None and count != graph_classes:
        raise RuntimeOpenError(f"{where} has {graph_classes} outputs but {count} class names are given or embedded; "
                               f"{ASK} for this model")
    if count is None:
        raise RuntimeOpenError(f"{where}: the number of classes is unknown; {ASK}")
    prep = dict(embedded.get("preprocessing") or {})
    meta_size = prep.get("input_size") or (embedded.get("input_shape") or [None])[0]
    size = input_size or meta_size or graph_size
    if size is None:
        raise RuntimeOpenError(f"{where}: the input size is unknown (dynamic in the graph, no metadata); {ASK}")
    if graph_size is not None and size != graph_size:
        raise RuntimeOpenError(f"{where} takes {graph_size}x{graph_size} images, but {size} is "
                               f"{'given' if input_size else 'in its metadata'}: this is another network's "
                               f"input shape; {ASK} matching the model")
    try:
        pre = make_preprocessing({**prep, "input_size": int(size)}, int(size))
    except ValueError as e:
        raise RuntimeOpenError(f"{where}: its preprocessing metadata cannot be used: {e}") from None
    pre["description"] = prep.get("description") if prep.get("input_size") == size else None
    runner.metadata = embedded
    runner.num_classes, runner.input_size, runner.preprocessing = int(count), int(size), pre
    runner.class_names = [str(n) for n in names] if names else default_class_names(int(count))
