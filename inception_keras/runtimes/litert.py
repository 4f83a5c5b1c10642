"""LiteRT: ``.tflite`` files in the ``ai_edge_litert`` interpreter, with int8 input and output
quantization (scale, zero point) applied for the caller."""

from __future__ import annotations

import os

import numpy as np

from ..export.metadata import labels_path
from ..export.options import EXPORT_EXTRA
from .base import Runner, RuntimeOpenError, unreadable
from .metadata import read_labels_file, resolve, tflite_metadata


def _static(dim) -> int | None:
    return int(dim) if int(dim) > 0 else None


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float -> the integer type of an int8/uint8 tensor, with its scale and zero point."""
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def _quantized(detail: dict) -> bool:
    return np.dtype(detail["dtype"]) in (np.int8, np.uint8) and detail["quantization"][0] != 0


class LiteRTRunner(Runner):
    format = "tflite"

    def __init__(self, path: str, *, threads: int | None = None, classes=None, labels=None, input_size=None):
        super().__init__(path)
        try:
            import ai_edge_litert  # noqa: PLC0415
            from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
        except ImportError as e:
            raise RuntimeOpenError(f"running TFLite models needs the LiteRT interpreter ({e}); "
                                   f"{EXPORT_EXTRA}") from None
        with open(path, "rb") as f:
            head = f.read(8)
        if head[4:8] != b"TFL3":
            raise RuntimeOpenError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier): corrupt, truncated or "
                                   "another kind of file")
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=threads)
            signatures = self.interpreter.get_signature_list()
        except Exception as e:  # noqa: BLE001 - the interpreter raises ValueError/RuntimeError for a bad file
            raise unreadable(path, "TFLite model", e) from None
        if len(signatures) > 1:
            raise RuntimeOpenError(f"{path} has {len(signatures)} signatures ({', '.join(sorted(signatures))}); "
                                   "a classifier file has one: export the model again with inception-keras")
        self._open_tensors(path)
        embedded = tflite_metadata(path)
        if labels is None and classes is None and not embedded.get("class_names"):
            labels = self._labels_beside(path)
        resolve(self, embedded, graph_size=_static(self.input["shape_signature"][1]),
                graph_classes=_static(self.output["shape_signature"][-1]), classes=classes, labels=labels,
                input_size=input_size)
        self.precision = self._precision()
        version = getattr(ai_edge_litert, "__version__", "")
        threads_text = f"{threads} threads" if threads else "default threads"
        self.runtime = f"LiteRT {version} interpreter (ai_edge_litert, {threads_text})".replace("  ", " ")
        self._loaded()

    def _open_tensors(self, path: str) -> None:
        self.interpreter.allocate_tensors()
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise RuntimeOpenError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs; an image "
                                   "classifier has one of each")
        self.input, self.output = inputs[0], outputs[0]
        shape = list(self.input["shape_signature"])
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            raise RuntimeOpenError(f"{path} takes input of shape {shape}, not a batch of square NHWC RGB images")
        self.fixed_batch = _static(shape[0])
        self._batch = int(self.input["shape"][0])

    @staticmethod
    def _labels_beside(path: str):
        beside = labels_path(path)
        return read_labels_file(beside) if os.path.isfile(beside) else None

    def _precision(self) -> str:
        if _quantized(self.input):
            return "int8"
        dtypes = {np.dtype(t["dtype"]) for t in self.interpreter.get_tensor_details()}
        if np.dtype(np.int8) in dtypes:
            return "dynamic"
        return "fp16" if np.dtype(np.float16) in dtypes else "fp32"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self.fixed_batch is None and len(batch) != self._batch:  # a dynamic batch: resize to this one
            self.interpreter.resize_tensor_input(self.input["index"], [len(batch), *self.input["shape"][1:]])
            self.interpreter.allocate_tensors()
            self._batch = len(batch)
        x = quantize(batch, self.input) if _quantized(self.input) else batch.astype(self.input["dtype"])
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])
        return dequantize(y, self.output) if _quantized(self.output) else y

    def signatures(self) -> dict:
        """The signature's input and output: shape (None: dynamic), dtype, int8 scale and zero point."""
        def one(d):
            shape = d.get("shape_signature", d["shape"])
            out = {"shape": [None if int(s) < 0 else int(s) for s in shape], "dtype": np.dtype(d["dtype"]).name}
            if _quantized(d):
                out["quantization"] = {"scale": float(d["quantization"][0]), "zero_point": int(d["quantization"][1])}
            return out

        listed = self.interpreter.get_signature_list()
        name = next(iter(listed), "serving_default")
        inputs = listed.get(name, {}).get("inputs") or ["input"]
        outputs = listed.get(name, {}).get("outputs") or ["output"]
        return {name: {"inputs": {inputs[0]: one(self.input)}, "outputs": {outputs[0]: one(self.output)}}}

    def close(self) -> None:
        self.interpreter = None
