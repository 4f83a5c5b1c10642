"""Export a Keras model to SavedModel, TFLite or ONNX, and check the export against the model.

Tool side: imports TensorFlow (and, per format, LiteRT, tf2onnx and ONNX Runtime); the model
code of the package stays pure Keras.

    from inception_keras import create_model
    from inception_keras.export import export_model

    model = create_model("inception_v4", weights="imagenet")
    export_model(model, "exported/v4", "saved_model", include_preprocessing=True)
    export_model(model, "exported/v4", "tflite", quantize="int8", calibration_data="calibration/")
    export_model(model, "exported/v4", "onnx")
    export_model(model, "exported/v4_int8", "onnx", quantize="int8", calibration_data="calibration/",
                 calibration_method="percentile", calibration_per_class=10)

Every export is written under a temporary name next to the output, run by its own runtime
(TensorFlow for the SavedModel, the LiteRT interpreter, ONNX Runtime) on the same inputs as
the Keras model, and only then renamed into place. It replaces an earlier export (recognised by
its embedded metadata, :func:`is_our_export`) with its report and labels file; any other file at
those paths raises :class:`~inception_keras.utils.fileio.OverwriteError` unless ``overwrite=True``.
Its temporaries (named with host and pid) lie next to the output; those of a killed export go
with the next export into the folder. A float export whose largest difference
exceeds ``tolerance`` times the largest Keras output (1e-4 by default) raises
:class:`ExportCheckError` and leaves nothing behind. Quantized TFLite exports report their
top-1 agreement with the float Keras model (``min_agreement`` makes that a check too); so do
quantized ONNX exports (int8 QDQ calibrated by ONNX Runtime, float16 weights, dynamic:
:mod:`inception_keras.export.quantize`).

The check inputs are the calibration images when ``calibration_data`` is given (eval
preprocessing of :mod:`inception_keras.data.datasets`), otherwise deterministic random inputs.

Signatures:

* SavedModel: ``serving_default`` takes ``images`` (float32 ``[batch, size, size, 3]`` in
  [-1, 1]) and returns ``predictions``. With ``include_preprocessing=True``,
  ``serving_default`` takes ``image_bytes`` (string ``[batch]``: encoded JPEG/PNG/GIF/BMP)
  and runs the eval preprocessing in the graph; the float signature is kept as
  ``serving_images``.
* TFLite: one signature, ``serving_default``: ``images`` -> ``predictions`` (int8 tensors
  with their scale and zero point for ``quantize="int8"``).
* ONNX: input ``images``, output ``predictions``; a dynamic batch dimension is named ``batch``.

Every export carries the class names (``labels=``, or ImageNet's for 1000 outputs) and the eval
preprocessing (see :mod:`inception_keras.export.metadata`):

* SavedModel: a ``metadata`` signature without inputs returns ``class_names`` (string
  ``[classes]``), ``preprocessing`` and ``metadata`` (JSON) and the paths of its assets
  ``assets/class_names.txt`` (one name per line) and ``assets/metadata.json``.
* ONNX: ``metadata_props`` with JSON values (``class_names``, ``preprocessing``, ...), read by
  ONNX Runtime's ``session.get_modelmeta().custom_metadata_map``.
* TFLite: the same keys as entries of the flatbuffer's ``metadata`` list, read with
  :func:`read_tflite_metadata`, and ``<output>.tflite.labels.txt`` (one name per line) beside it.
"""

from __future__ import annotations

from .check import compare
from .inputs import (
    FolderImages,
    find_images,
    fingerprint,
    load_images,
    random_encoded_images,
    random_inputs,
    select_per_class,
)
from .metadata import METADATA_KEYS, export_metadata, is_our_export, labels_path, read_tflite_metadata
from .options import (
    BYTES_INPUT_NAME,
    CALIBRATION_METHODS,
    DEFAULT_CALIBRATION_METHOD,
    DEFAULT_CALIBRATION_STEPS,
    DEFAULT_CHECK_SAMPLES,
    DEFAULT_LATENCY_RUNS,
    DEFAULT_ONNX_OPSET,
    DEFAULT_TOLERANCE,
    EXTENSIONS,
    FORMATS,
    INPUT_NAME,
    METADATA_SIGNATURE,
    OUTPUT_NAME,
    QUANTIZATIONS,
    SERVING,
    SERVING_IMAGES,
    ExportCheckError,
    ExportError,
    ExportWarning,
    artefact_path,
    check_options,
    report_path,
    resolve_batch_size,
)
from .outputs import prepare_output
from .writers import export_model

__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "EXTENSIONS",
    "DEFAULT_TOLERANCE",
    "DEFAULT_ONNX_OPSET",
    "DEFAULT_CALIBRATION_STEPS",
    "DEFAULT_CHECK_SAMPLES",
    "DEFAULT_LATENCY_RUNS",
    "INPUT_NAME",
    "BYTES_INPUT_NAME",
    "OUTPUT_NAME",
    "SERVING",
    "SERVING_IMAGES",
    "METADATA_SIGNATURE",
    "METADATA_KEYS",
    "ExportError",
    "ExportCheckError",
    "ExportWarning",
    "CALIBRATION_METHODS",
    "DEFAULT_CALIBRATION_METHOD",
    "select_per_class",
    "fingerprint",
    "resolve_batch_size",
    "artefact_path",
    "report_path",
    "check_options",
    "prepare_output",
    "load_images",
    "find_images",
    "FolderImages",
    "random_inputs",
    "random_encoded_images",
    "compare",
    "export_metadata",
    "labels_path",
    "read_tflite_metadata",
    "is_our_export",
    "export_model",
]
