"""ONNX quantization: int8 (static, QDQ, calibrated by ONNX Runtime), float16 weights, dynamic.

* ``int8``: :func:`onnxruntime.quantization.quantize_static` in the QDQ format, int8 weights
  per output channel and int8 activations, their ranges calibrated on the calibration images
  by min/max, percentile (99.999 % of |activation|, the default) or entropy.
* ``float16``: every float32 weight stored as float16 and cast back to float32 where it is
  used (what TFLite's float16 quantization does): half the size, the float32 kernels of every
  execution provider, float32 inputs and outputs.
* ``dynamic``: :func:`onnxruntime.quantization.quantize_dynamic`: int8 weights, activations
  quantized at run time (ConvInteger / MatMulInteger).

Memory: ONNX Runtime's calibrators run a copy of the model that outputs every activation and
keep those outputs until a call of ``collect_data`` ends; ``quantize_static`` makes one call for
the whole data set unless ``CalibStridedMinMax`` splits it (despite the name, every calibrator
takes the strides: min/max merges ranges, percentile and entropy merge histograms). The data
reader here has the ``__len__`` and ``set_range`` the strides need, so at most
``CALIBRATION_STRIDE`` images' activations are held at a time (Inception-v4 at 299: about 200 MB
per image), whatever the number of images. The images themselves are decoded a batch at a time
(:class:`~inception_keras.export.inputs.FolderImages`), after the conversion.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os

import numpy as np

from .inputs import batch_at
from .options import EXPORT_EXTRA, CALIBRATION_PERCENTILE, INPUT_NAME, ExportCheckError, ExportError

CALIBRATION_STRIDE = 4  # images whose activations the calibrator holds at once

PRECISION = {
    "int8": "int8 weights (per channel) and activations, QuantizeLinear/DequantizeLinear (QDQ)",
    "float16": "float16 weights, float32 compute, inputs and outputs",
    "dynamic": "int8 weights, activations quantized at run time",
}


def stride(count: int, most: int = CALIBRATION_STRIDE) -> int:
    """The largest divisor of ``count`` up to ``most`` (ONNX Runtime needs strides that divide it)."""
    return max(d for d in range(1, max(1, min(most, count)) + 1) if count % d == 0)


def _data_reader(x: np.ndarray, batch: int):
    """A CalibrationDataReader over ``x`` in batches of ``batch`` (the last one topped up from the
    start, as for TFLite), with the ``__len__``/``set_range`` of ONNX Runtime's strided calibration
    (counted in batches)."""
    from onnxruntime.quantization import CalibrationDataReader  # noqa: PLC0415

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.count = -(-len(x) // batch)
            self.set_range(0, self.count)

        def __len__(self):
            return self.count

        def set_range(self, start_index: int, end_index: int):
            self.position, self.end = start_index, min(end_index, self.count)

        def get_next(self):
            if self.position >= self.end:
                return None
            part = batch_at(x, self.position * batch, batch)  # decoded now, when x is a FolderImages
            self.position += 1
            return {INPUT_NAME: part}

    return Reader()


def _float16_weights(proto):
    """``proto`` with its float32 initializers stored as float16 and a Cast back to float32 after each."""
    import onnx  # noqa: PLC0415
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    graph = proto.graph
    casts, kept = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or init.name in {i.name for i in graph.input}:
            kept.append(init)
            continue
        half = numpy_helper.from_array(
            np.clip(numpy_helper.to_array(init), -65504, 65504).astype(np.float16), init.name + "_fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "_to_fp32"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(proto)
    return proto


def quantize_onnx(proto, quantize: str, work: str, *, x=None, batch: int = 1, method: str = "percentile"):
    """The quantized ``proto`` (a new ModelProto, metadata_props kept); ``work`` is a folder for
    the intermediate files. ``x``: the preprocessed calibration images of ``int8``."""
    import onnx  # noqa: PLC0415

    if quantize == "float16":
        return _float16_weights(proto)
    try:
        from onnxruntime import quantization as q  # noqa: PLC0415
    except ImportError as e:
        raise ExportError(f"ONNX quantization needs onnxruntime ({e}); {EXPORT_EXTRA}") from None
    props = {p.key: p.value for p in proto.metadata_props}
    source, target = os.path.join(work, "float.onnx"), os.path.join(work, "quantized.onnx")
    onnx.save(proto, source)

    def no_preprocessing_advice(record):  # the model comes from tf2onnx: shapes known, batch norms folded
        return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(no_preprocessing_advice)
    try:
        _quantize_file(q, source, target, quantize, x, batch, method)
    except Exception as e:  # onnxruntime raises assorted errors (graph, kernel, calibration)
        raise ExportCheckError(f"ONNX Runtime's {quantize} quantization failed ({type(e).__name__}: "
                               f"{str(e).strip()[:2000]}); export without --quantize, or try another "
                               "--quantize or --calibration-method") from e
    finally:
        root.removeFilter(no_preprocessing_advice)
    out = onnx.load(target)
    onnx.helper.set_model_props(out, props)
    return out


def _quantize_file(q, source: str, target: str, quantize: str, x, batch: int, method: str) -> None:
    if quantize == "dynamic":
        # ConvInteger has uint8 kernels only on the CPU execution provider
        q.quantize_dynamic(source, target, weight_type=q.QuantType.QUInt8, per_channel=False)
    else:
        methods = {"minmax": q.CalibrationMethod.MinMax, "percentile": q.CalibrationMethod.Percentile,
                   "entropy": q.CalibrationMethod.Entropy}
        reader = _data_reader(x, batch)
        steps = stride(len(reader), max(1, CALIBRATION_STRIDE // batch))
        # Not CalibMaxIntermediateOutputs: ONNX Runtime 1.32's min/max calibrator drops the outputs it
        # holds when it reaches that count, without computing their ranges ("No data is collected.").
        extra = {"CalibStridedMinMax": steps}
        if method == "percentile":
            extra["CalibPercentile"] = CALIBRATION_PERCENTILE
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print their progress
            q.quantize_static(source, target, reader, quant_format=q.QuantFormat.QDQ, per_channel=True,
                              activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8,
                              calibrate_method=methods[method], extra_options=extra)
