"""Building the artefacts: the Keras ExportArchive (SavedModel), the TFLite flatbuffer, the ONNX model."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import warnings
from collections import OrderedDict

from ..data.preprocessing import Preprocessing, preprocess_for_eval
from ..data.images import decode_image
from .options import (
    EXPORT_EXTRA,
    BYTES_INPUT_NAME,
    INPUT_NAME,
    METADATA_FILES,
    METADATA_SIGNATURE,
    OUTPUT_NAME,
    SERVING,
    SERVING_IMAGES,
    ExportCheckError,
    ExportError,
)
from .metadata import labels_text, metadata_props
from ..runtimes.ort import no_onnxruntime_telemetry


def _metadata_endpoint(archive, metadata: dict, asset_dir: str) -> None:
    """The ``metadata`` signature (no inputs): ``class_names`` (string ``[classes]``),
    ``preprocessing`` (JSON), ``metadata`` (all of it as JSON) and the paths of the two asset
    files, ``assets/class_names.txt`` and ``assets/metadata.json``, which travel with the SavedModel."""
    import tensorflow as tf  # noqa: PLC0415

    names_path = os.path.join(asset_dir, METADATA_FILES["class_names"])
    meta_path = os.path.join(asset_dir, METADATA_FILES["metadata"])
    with open(names_path, "w", encoding="utf-8") as f:
        f.write(labels_text(metadata["class_names"]))
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2)
    names_asset, meta_asset = tf.saved_model.Asset(names_path), tf.saved_model.Asset(meta_path)
    # The assets must be reachable from the object the archive saves, or the function keeps the
    # temporary path as a constant and nothing is copied. ExportArchive.track() keeps only
    # variables and lookup tables, so they hang on the object write_out() saves (Keras 3's
    # ``_tf_trackable``); tf.saved_model.load then shows them as ``metadata_assets``.
    # Public API misses: ExportArchive.track() keeps only TrackableResources, never an Asset.
    root = getattr(archive, "_tf_trackable", None)
    if root is None:
        raise ExportError("this Keras version's ExportArchive has no _tf_trackable root to attach "
                          "the metadata assets to")
    root.metadata_assets = [names_asset, meta_asset]
    names = tf.constant(metadata["class_names"], tf.string)
    preprocessing = tf.constant(json.dumps(metadata["preprocessing"]), tf.string)
    everything = tf.constant(json.dumps(metadata), tf.string)

    @tf.function(input_signature=[], autograph=False)
    def describe():
        return {"class_names": names, "preprocessing": preprocessing, "metadata": everything,
                "class_names_file": names_asset.asset_path, "metadata_file": meta_asset.asset_path}

    archive.add_endpoint(METADATA_SIGNATURE, describe)


def build_archive(model, batch, prep: Preprocessing | None, metadata: dict | None = None, asset_dir: str | None = None):
    """A Keras ExportArchive with the float signature and, given ``prep``, the encoded-image one
    (and, given ``metadata``, the ``metadata`` signature); and the ``tf.function`` of ``serving_default``."""
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    size = tuple(model.input_shape[1:])
    # No archive.track(model): the endpoints track the variables they use. In Keras 3.15,
    # track() saves every weight a second time (Keras variable and tf.Variable), which
    # doubles the SavedModel on disk; TF Serving, TFSMLayer and the TFLite converter need
    # only what the signatures use.
    archive = keras.export.ExportArchive()

    def serve_images(images):
        return {OUTPUT_NAME: model(images, training=False)}

    image_spec = tf.TensorSpec([batch, *size], tf.float32, name=INPUT_NAME)
    if metadata is not None:
        _metadata_endpoint(archive, metadata, asset_dir)
    if prep is None:
        return archive, archive.add_endpoint(SERVING, serve_images, input_signature=[image_spec])

    def serve_bytes(image_bytes):
        images = tf.map_fn(lambda data: preprocess_for_eval(decode_image(data), prep), image_bytes,
                           fn_output_signature=tf.TensorSpec(size, tf.float32))
        return {OUTPUT_NAME: model(images, training=False)}

    endpoint = archive.add_endpoint(SERVING, serve_bytes,
                                    input_signature=[tf.TensorSpec([batch], tf.string, name=BYTES_INPUT_NAME)])
    archive.add_endpoint(SERVING_IMAGES, serve_images, input_signature=[image_spec])
    return archive, endpoint


def tflite_bytes(saved_model_dir: str, quantize, representative) -> bytes:
    import tensorflow as tf  # noqa: PLC0415

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SERVING])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # weights to int8 ("dynamic range")
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":  # every op in int8, int8 input and output tensors
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with warnings.catch_warnings():  # the calibrator still uses tf.lite.Interpreter, which warns
            warnings.simplefilter("ignore")
            return converter.convert()
    except Exception as e:  # the converter raises ConverterError and assorted others
        raise ExportCheckError(f"the TFLite converter failed ({type(e).__name__}: {str(e).strip()[:2000]})") from e


def release_memory() -> None:
    """Free the garbage, and hand the memory malloc keeps for later back to the system (glibc's
    ``malloc_trim``: TensorFlow's threads free into arenas that Python's next allocations do not
    reuse, so without it a freed frozen graph still counts, and adds to grappler's copies)."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError, TypeError):  # not glibc
        pass


def _collecting(optimizers):
    """tf2onnx's ONNX optimizers, each made after a garbage collection.

    tf2onnx runs every optimizer on a deep copy of the graph (to drop it when it fails), a dozen
    optimizers three times over, and each copy holds every weight. The copies it drops are
    reference cycles: Python's collector, which counts objects and not bytes, frees them only
    when a full collection comes, after some 40 copies with a TensorFlow process's millions of
    long-lived objects (12.5 GB for Inception-v4). Collecting before each optimizer keeps one or
    two copies alive."""
    def after_collection(factory):
        def make():
            release_memory()
            return factory()
        return make

    return OrderedDict((name, after_collection(factory)) for name, factory in optimizers.items())


def _frozen_graph_def(concrete, input_names: list[str], output_names: list[str]):
    """The graph of ``concrete`` with its variables as constants, optimized by grappler: what
    ``tf2onnx.tf_loader.from_function`` returns, without keeping the frozen function (a second
    and third copy of every weight) alive while grappler makes its own copies."""

    import tensorflow as tf  # noqa: PLC0415
    from tf2onnx import tf_loader  # noqa: PLC0415

    frozen = tf_loader.convert_variables_to_constants_v2(concrete, lower_control_flow=False,
                                                         aggressive_inlining=True)
    graph_def = frozen.graph.as_graph_def(add_shapes=True)
    del frozen
    release_memory()
    graph_def = tf_loader.fix_freezing_errors_part2(graph_def)
    # tf2onnx imports the graph into a session first, only to drop resource inputs (there are
    # none: input_names has no resource tensors); grappler needs a graph context, not the import.
    with tf.Graph().as_default():
        return tf_loader.tf_optimize(input_names, output_names, graph_def)


def _has_tf2onnx_internals() -> bool:
    """Whether tf2onnx has the functions :func:`_convert_function` calls (tf2onnx 1.17 does; a
    later version is checked, not assumed)."""
    from tf2onnx import convert, optimizer, tf_loader  # noqa: PLC0415

    return all(hasattr(module, name) for module, name in (
        (convert, "_convert_common"), (convert, "tensor_names_from_structed"), (optimizer, "_get_optimizers"),
        (tf_loader, "convert_variables_to_constants_v2"), (tf_loader, "fix_freezing_errors_part2"),
        (tf_loader, "tf_optimize")))


def _convert_function(endpoint, spec, opset: int):
    """``tf2onnx.convert.from_function(endpoint, input_signature=spec, opset=opset)``, the same
    steps with the same arguments, in a fraction of the memory (see :func:`_collecting` and
    :func:`_frozen_graph_def`; Inception-v4: 12.5 GB peak before, about 3.5 GB now). The objects
    alive before the conversion are frozen out of the collections (``gc.freeze``), which makes
    each of them cheap. A tf2onnx without these internals converts with ``from_function``."""
    import tensorflow as tf  # noqa: PLC0415
    from tf2onnx import convert, optimizer  # noqa: PLC0415

    # Public from_function misses the memory: 4.42 GB peak (even gc-tuned) against 3.42 GB here (v4, 75x75).
    if not _has_tf2onnx_internals():
        return convert.from_function(endpoint, input_signature=spec, opset=opset)[0]
    concrete = endpoint.get_concrete_function(*spec)
    input_names = [t.name for t in concrete.inputs if t.dtype != tf.dtypes.resource]
    output_names = [t.name for t in concrete.outputs if t.dtype != tf.dtypes.resource]
    renames = convert.tensor_names_from_structed(concrete, input_names, output_names)
    gc.collect()
    gc.freeze()
    try:
        with tf.device("/cpu:0"):
            graph_def = _frozen_graph_def(concrete, input_names, output_names)
            proto, _ = convert._convert_common(
                graph_def, name=concrete.name, continue_on_error=True, target=None, opset=opset,
                custom_ops=None, custom_op_handlers=None, custom_rewriter=None, extra_opset=None,
                shape_override=None, input_names=input_names, output_names=output_names,
                inputs_as_nchw=None, outputs_as_nchw=None, large_model=False, tensors_to_rename=renames,
                initialized_tables=None, optimizers=_collecting(optimizer._get_optimizers()))
        del graph_def
    finally:
        gc.unfreeze()
        release_memory()
    return proto


def onnx_model(endpoint, batch, size, opset: int, metadata: dict | None = None):
    import tensorflow as tf  # noqa: PLC0415

    no_onnxruntime_telemetry()  # tf2onnx's einsum optimizer imports onnxruntime
    try:
        import tf2onnx  # noqa: PLC0415, F401
    except ImportError as e:
        raise ExportError(f"ONNX export needs tf2onnx ({e}); {EXPORT_EXTRA}") from None
    spec = [tf.TensorSpec([batch, *size], tf.float32, name=INPUT_NAME)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = _convert_function(endpoint, spec, opset)
    # tf2onnx names unknown dimensions unk__N: call the batch dimension what it is.
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = "batch"
    if metadata is not None:  # ONNX Runtime: session.get_modelmeta().custom_metadata_map
        import onnx  # noqa: PLC0415

        onnx.helper.set_model_props(proto, metadata_props(metadata))
    return proto
