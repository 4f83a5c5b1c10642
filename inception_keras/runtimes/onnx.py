"""ONNX Runtime: ``.onnx`` files, on the CPU, CUDA or TensorRT execution provider."""

from __future__ import annotations

import numpy as np

from ..export.options import EXPORT_EXTRA
from .base import Runner, RuntimeOpenError, unreadable
from .metadata import onnx_metadata, resolve
from .ort import PROVIDERS, import_onnxruntime

# ops that tell how a graph was quantized (export --quantize int8 | dynamic | float16)
_DYNAMIC_OPS = {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul"}
_STATIC_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}


def _static(dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def onnx_graph_facts(path: str) -> tuple[str, bool]:
    """(precision, whether the output is a softmax's) read from the graph: precision "int8"
    (static QDQ or QOperator), "dynamic", "fp16" (float16 weights) or "fp32"."""
    import onnx  # noqa: PLC0415

    proto = onnx.load(path, load_external_data=False)
    output = proto.graph.output[0].name if proto.graph.output else None
    softmax = any(node.op_type == "Softmax" and output in node.output for node in proto.graph.node)
    return _precision(proto, onnx), softmax


def _precision(proto, onnx) -> str:
    ops = {node.op_type for node in proto.graph.node}
    if ops & _DYNAMIC_OPS:
        return "dynamic"
    if ops & _STATIC_OPS:
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer):
        return "fp16"
    return "fp32"


def _providers(ort, provider: str) -> list[str]:
    if provider not in PROVIDERS:
        raise RuntimeOpenError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    name, available = PROVIDERS[provider], ort.get_available_providers()
    if name not in available:
        raise RuntimeOpenError(f"the ONNX Runtime provider {provider!r} ({name}) is not installed here; this "
                               f"onnxruntime {ort.__version__} has {', '.join(available)} "
                               "(for CUDA and TensorRT: pip install onnxruntime-gpu)")
    return [name] if name == PROVIDERS["cpu"] else [name, PROVIDERS["cpu"]]


class OnnxRunner(Runner):
    format = "onnx"
    outputs_probabilities = None

    def __init__(self, path: str, *, provider: str = "cpu", threads: int | None = None, classes=None, labels=None,
                 input_size=None):
        super().__init__(path)
        try:
            ort = import_onnxruntime()
        except ImportError as e:
            raise RuntimeOpenError(f"running ONNX models needs ONNX Runtime ({e}); {EXPORT_EXTRA}") from None
        providers = _providers(ort, provider)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(path, options, providers=providers)
            self.precision, softmax = onnx_graph_facts(path)
        except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own types for a bad file
            raise unreadable(path, "ONNX model", e) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise RuntimeOpenError(f"{path} takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                                   "an image classifier takes one batch of images")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        shape = list(inputs[0].shape)
        if len(shape) != 4 or _static(shape[3]) != 3 or _static(shape[1]) != _static(shape[2]):
            raise RuntimeOpenError(f"{path} takes input {inputs[0].name!r} of shape {shape}, not a batch of "
                                   "square NHWC RGB images (N, size, size, 3): another network's input shape. "
                                   "Export the Keras model with inception-keras' export tool (NHWC, with its class "
                                   "names and preprocessing)")
        self.fixed_batch = _static(shape[0])
        out_shape = list(outputs[0].shape)
        embedded = onnx_metadata(self.session.get_modelmeta().custom_metadata_map)
        resolve(self, embedded, graph_size=_static(shape[1]), graph_classes=_static(out_shape[-1]) if out_shape
                else None, classes=classes, labels=labels, input_size=input_size)
        self.outputs_probabilities = softmax or None  # a graph ending elsewhere: decided from the outputs
        used = self.session.get_providers()[0]
        threads_text = f"{threads} threads" if threads else "default threads"
        self.runtime = f"ONNX Runtime {ort.__version__} ({used}, {threads_text})"
        self._loaded()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    def signatures(self) -> dict:
        """The graph's inputs and outputs: shape (None: dynamic) and dtype."""
        def one(v):
            dtype = v.type.removeprefix("tensor(").removesuffix(")")  # tensor(float) -> float32
            dtype = {"float": "float32", "double": "float64", "float16": "float16"}.get(dtype, dtype)
            return {"shape": [d if isinstance(d, int) else None for d in v.shape], "dtype": dtype}

        return {"graph": {"inputs": {v.name: one(v) for v in self.session.get_inputs()},
                          "outputs": {v.name: one(v) for v in self.session.get_outputs()}}}

    def close(self) -> None:
        self.session = None
