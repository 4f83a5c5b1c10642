"""Runtimes: a written export run by TensorFlow (SavedModel), the LiteRT interpreter or ONNX Runtime."""

from __future__ import annotations

import os

import numpy as np

from .options import _EXPORT_EXTRA, INPUT_NAME, OUTPUT_NAME, SERVING, ExportError


ORT_TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def no_onnxruntime_telemetry() -> None:
    """Keep ONNX Runtime from making its telemetry store: importing it creates
    ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (``deviceid``, ``onnxruntime.db``; under
    ``$XDG_CACHE_HOME`` when set) unless ``ORT_DISABLE_TELEMETRY`` is set when it is first
    imported. Call before anything imports onnxruntime (tf2onnx's einsum optimizer does); an
    explicit setting of the variable is kept."""
    os.environ.setdefault(ORT_TELEMETRY_ENV, "1")


def import_onnxruntime():
    """onnxruntime, imported without its telemetry (:func:`no_onnxruntime_telemetry`)."""
    no_onnxruntime_telemetry()
    import onnxruntime as ort  # noqa: PLC0415

    if os.environ.get(ORT_TELEMETRY_ENV) == "1" and hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()  # no events either, where a build sends them (Windows)
    return ort


class _SavedModelRunner:
    def __init__(self, path):
        import tensorflow as tf  # noqa: PLC0415

        self._tf = tf
        self.loaded = tf.saved_model.load(path)
        self.runtime = f"TensorFlow {tf.__version__} (tf.saved_model.load, signature {SERVING})"

    def signature(self, name):
        fn = self.loaded.signatures[name]
        key = next(iter(fn.structured_input_signature[1]))
        return lambda x: fn(**{key: self._tf.constant(x)})[OUTPUT_NAME].numpy()

    def describe(self) -> dict:
        """Every signature, serving_default first, its inputs (none for ``metadata``) and outputs
        by name: the order of a loaded SavedModel's dicts changes from run to run."""
        out = {}
        for name in sorted(self.loaded.signatures, key=lambda n: (n != SERVING, n)):
            fn = self.loaded.signatures[name]
            out[name] = {
                "inputs": {k: _spec(s) for k, s in sorted(fn.structured_input_signature[1].items())},
                "outputs": {k: _spec(s) for k, s in sorted(fn.structured_outputs.items())},
            }
        return out


def _spec(s) -> dict:
    return {"shape": [None if d is None else int(d) for d in s.shape], "dtype": s.dtype.name}


class _TFLiteRunner:
    def __init__(self, path, threads):
        try:
            import ai_edge_litert  # noqa: PLC0415
            from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
        except ImportError as e:
            raise ExportError(f"running TFLite exports needs the LiteRT interpreter ({e}); {_EXPORT_EXTRA}") from None
        self.interpreter = Interpreter(model_path=path, num_threads=threads)
        self.runner = self.interpreter.get_signature_runner(SERVING)
        self.input = self.runner.get_input_details()[INPUT_NAME]
        self.output = self.runner.get_output_details()[OUTPUT_NAME]
        version = getattr(ai_edge_litert, "__version__", "")
        self.runtime = f"LiteRT {version} interpreter (ai_edge_litert, {threads} threads)".replace("  ", " ")

    def __call__(self, x):
        if self.input["dtype"] == np.int8:
            scale, zero = self.input["quantization"]
            x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
        y = self.runner(**{INPUT_NAME: x})[OUTPUT_NAME]
        if self.output["dtype"] == np.int8:
            scale, zero = self.output["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y

    def describe(self) -> dict:
        def one(d):
            shape = d.get("shape_signature", d["shape"])
            out = {"shape": [None if int(s) < 0 else int(s) for s in shape], "dtype": np.dtype(d["dtype"]).name}
            if d["dtype"] == np.int8:
                out["quantization"] = {"scale": float(d["quantization"][0]), "zero_point": int(d["quantization"][1])}
            return out

        return {SERVING: {"inputs": {INPUT_NAME: one(self.input)}, "outputs": {OUTPUT_NAME: one(self.output)}}}


class _OnnxRunner:
    def __init__(self, path, threads):
        try:
            ort = import_onnxruntime()
        except ImportError as e:
            raise ExportError(f"running ONNX exports needs ONNX Runtime ({e}); {_EXPORT_EXTRA}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.runtime = f"ONNX Runtime {ort.__version__} (CPUExecutionProvider, {threads} threads)"

    def __call__(self, x):
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    def describe(self) -> dict:
        def one(v):
            dtype = v.type.removeprefix("tensor(").removesuffix(")")  # tensor(float) -> float32
            dtype = {"float": "float32", "double": "float64", "float16": "float16"}.get(dtype, dtype)
            return {"shape": [d if isinstance(d, int) else None for d in v.shape], "dtype": dtype}

        return {"graph": {"inputs": {v.name: one(v) for v in self.session.get_inputs()},
                          "outputs": {v.name: one(v) for v in self.session.get_outputs()}}}
