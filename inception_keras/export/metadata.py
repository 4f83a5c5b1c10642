"""What travels with an export: the class names and the eval preprocessing, and where each format keeps them.

* SavedModel: the ``metadata`` signature (no inputs) and ``assets/class_names.txt``, ``assets/metadata.json``.
* ONNX: ``metadata_props``, one JSON value per key (ONNX Runtime:
  ``session.get_modelmeta().custom_metadata_map``).
* TFLite: the same keys and JSON values as entries of the flatbuffer's ``metadata`` list (name ->
  buffer), read with :func:`read_tflite_metadata` (LiteRT's Python interpreter has no reader; its C
  API has ``LiteRtGetModelMetadata(model, key, ...)``), and a labels file beside the ``.tflite``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..data.labels import default_class_names
from ..data.preprocessing import Preprocessing
from ..version import __version__
from .options import EXPORT_EXTRA, ExportError

FORMAT_VERSION = 1
# The keys of export_metadata(), in order: ONNX metadata_props and TFLite metadata entries.
METADATA_KEYS = ("format_version", "class_names", "class_names_source", "preprocessing", "model", "weights",
                 "input_shape", "inception_keras_version")
# Keys some exports add: ``calibration`` (int8: method, images, their relative paths and sha256).
OPTIONAL_METADATA_KEYS = ("calibration",)

STORED = {
    "saved_model": "the 'metadata' signature; assets/class_names.txt, assets/metadata.json",
    "onnx": "ONNX metadata_props (JSON values: class_names, preprocessing, ...)",
    "tflite": "TFLite metadata entries (JSON values: class_names, preprocessing, ...) and the labels file",
}

def labels_path(tflite_path: str) -> str:
    """The class-names file written beside a ``.tflite``: ``<path>.labels.txt``, one name per line."""
    return tflite_path + ".labels.txt"


def labels_text(names) -> str:
    return "".join(f"{name}\n" for name in names)


def export_metadata(model, preprocessing: Preprocessing, labels, info: dict | None) -> dict:
    """What travels with an export: class names (and where they came from), the eval
    preprocessing, the model and the package version. Raises ExportError for labels that do not
    fit the model (count, or a name with a line break)."""
    from ..weights.format import make_preprocessing  # noqa: PLC0415

    classes = int(model.output_shape[-1])
    if labels is not None:
        if isinstance(labels, (str, bytes)):
            raise ExportError("labels must be a list of class names, not one string")
        labels = [str(name) for name in labels]
        if len(labels) != classes:
            raise ExportError(f"{len(labels)} class names for a model with {classes} outputs; "
                              f"give one name per output, in output order")
        broken = [name for name in labels if "\n" in name or "\r" in name]
        if broken:
            raise ExportError(f"class names cannot hold a line break (they are written one per line): {broken[0]!r}")
        source = "given"
    else:
        labels = default_class_names(classes)
        source = "ImageNet" if classes in (1000, 1001) else "numbered (no class names given)"
    info = info or {}
    metadata = {
        "format_version": FORMAT_VERSION,
        "class_names": labels,
        "class_names_source": source,
        # the keys of a preset's preprocessing.json (name, input_size, crop_fraction, interpolation,
        # scaling), and the description the tools print
        "preprocessing": {**make_preprocessing(preprocessing, preprocessing.image_size),
                          "description": preprocessing.describe()},
        "model": info.get("registry_name", model.name),
        "weights": info.get("weights"),
        "input_shape": list(model.input_shape[1:]),
        "inception_keras_version": __version__,
    }
    assert tuple(metadata) == METADATA_KEYS
    return metadata


def metadata_props(metadata: dict) -> dict[str, str]:
    """Every key with its value as JSON: ONNX ``metadata_props`` and TFLite metadata entries."""
    return {key: json.dumps(value) for key, value in metadata.items()}


def _flatbuffer_utils():
    try:  # LiteRT's copy; TensorFlow's is the same module, kept while tf.lite lasts
        from ai_edge_litert.tools import flatbuffer_utils  # noqa: PLC0415
    except ImportError:
        try:
            from tensorflow.lite.tools import flatbuffer_utils  # noqa: PLC0415
        except ImportError as e:
            raise ExportError(f"writing TFLite metadata needs LiteRT's flatbuffer tools ({e}); "
                              f"{EXPORT_EXTRA}") from None
    return flatbuffer_utils


def add_tflite_metadata(flat: bytes, metadata: dict) -> bytearray:
    """``flat`` with one ``metadata`` entry per key (UTF-8 JSON buffers), replacing entries of the
    same name. The same object-API round trip the TFLite converter makes to add its own
    ``CONVERSION_METADATA``; the tensors and signatures are unchanged."""
    fb = _flatbuffer_utils()
    model = fb.read_model_from_bytearray(flat)  # the weights stay views of ``flat`` until packed
    model.buffers = model.buffers or []
    model.metadata = model.metadata or []
    entries = {entry.name.decode("utf-8"): entry for entry in model.metadata}
    for name, value in metadata_props(metadata).items():
        buffer = fb.schema_fb.BufferT()
        buffer.data = np.frombuffer(value.encode("utf-8"), np.uint8)  # packed in one copy
        if name in entries:
            model.buffers[entries[name].buffer] = buffer
            continue
        model.buffers.append(buffer)
        entry = fb.schema_fb.MetadataT()
        entry.name, entry.buffer = name.encode("utf-8"), len(model.buffers) - 1
        model.metadata.append(entry)
    return fb.convert_object_to_bytearray(model)


def read_tflite_metadata(model) -> dict:
    """The metadata an export wrote into a ``.tflite`` (a path or its bytes): {key: decoded JSON}."""
    fb = _flatbuffer_utils()
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            model = f.read()
    parsed = fb.schema_fb.Model.GetRootAs(model, 0)
    out = {}
    for i in range(parsed.MetadataLength()):
        entry = parsed.Metadata(i)
        name = entry.Name().decode("utf-8")
        if name in METADATA_KEYS or name in OPTIONAL_METADATA_KEYS:
            out[name] = json.loads(parsed.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("utf-8"))
    return out


# --------------------------------------------------------------------------- #
# Recognising an earlier export of ours (before replacing it)
# --------------------------------------------------------------------------- #
def _ours(metadata: dict) -> bool:
    return isinstance(metadata, dict) and "inception_keras_version" in metadata and "format_version" in metadata


def _embedded_metadata(path: str, fmt: str) -> dict:
    """The metadata an export of ours embedded in ``path`` ({} when there is none or the file
    cannot be read as ``fmt``)."""
    try:
        if fmt == "saved_model":
            with open(os.path.join(path, "assets", "metadata.json"), encoding="utf-8") as f:
                found = json.load(f)
            return found if os.path.isfile(os.path.join(path, "saved_model.pb")) else {}
        with open(path, "rb") as f:
            head = f.read(8)
        if fmt == "tflite":
            return read_tflite_metadata(path) if head[4:8] == b"TFL3" else {}  # the flatbuffer's identifier
        import onnx  # noqa: PLC0415

        proto = onnx.load(path, load_external_data=False)
        return {p.key: json.loads(p.value) for p in proto.metadata_props if p.key in METADATA_KEYS}
    except Exception:  # noqa: BLE001 - a file of anything else: not ours
        return {}


def is_export_report(path: str) -> dict | None:
    """The JSON summary an export of ours wrote (None when ``path`` is not one)."""
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    keys = ("format", "output", "check", "class_names")
    return report if isinstance(report, dict) and all(k in report for k in keys) else None


def is_our_export(path: str, fmt: str) -> bool:
    """Whether ``path`` holds an export that inception-keras wrote: the metadata every export
    embeds (SavedModel ``assets/metadata.json``, ONNX ``metadata_props``, TFLite metadata
    entries), or, for exports of versions before the metadata, the JSON report beside it naming
    ``path`` with its size on disk. An empty folder counts as ours for a SavedModel (nothing
    would be lost)."""
    if fmt == "saved_model" and os.path.isdir(path) and not os.listdir(path):
        return True
    if _ours(_embedded_metadata(path, fmt)):
        return True
    report = is_export_report(path + ".json")
    # the report lies next to the export: its file name is enough (the path may be relative to another folder)
    if report is None or report.get("format") != fmt or \
            os.path.basename(str(report.get("output")).rstrip("/\\")) != os.path.basename(path.rstrip("/\\")):
        return False
    if fmt == "saved_model":
        return os.path.isfile(os.path.join(path, "saved_model.pb"))
    return os.path.isfile(path) and report.get("size_bytes") == os.path.getsize(path)
