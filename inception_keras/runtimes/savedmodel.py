"""TensorFlow: a SavedModel folder, its ``serving_default`` signature (float images)."""

from __future__ import annotations

import numpy as np

from ..export.options import OUTPUT_NAME, SERVING, SERVING_IMAGES
from .base import Runner, RuntimeOpenError
from .metadata import resolve, savedmodel_metadata


def _static(dim) -> int | None:
    return int(dim) if dim is not None and int(dim) > 0 else None


def _spec(s) -> dict:
    return {"shape": [None if d is None else int(d) for d in s.shape], "dtype": s.dtype.name}


class SavedModelRunner(Runner):
    format = "savedmodel"

    def __init__(self, path: str, *, classes=None, labels=None, input_size=None):
        super().__init__(path)
        import tensorflow as tf  # noqa: PLC0415

        self._tf = tf
        try:
            self.loaded = tf.saved_model.load(path)
        except Exception as e:  # noqa: BLE001 - TensorFlow raises many types for a damaged folder
            raise RuntimeOpenError(f"{path} is not a readable SavedModel ({type(e).__name__}: "
                                   f"{str(e).strip()[:300]}); it is damaged or truncated: export it again") from None
        # with the preprocessing in the graph, serving_default takes bytes and serving_images the floats
        names = [n for n in (SERVING_IMAGES, SERVING) if n in self.loaded.signatures]
        if not names:
            raise RuntimeOpenError(f"{path} has no {SERVING} signature (it has "
                                   f"{', '.join(self.loaded.signatures) or 'none'})")
        self.signature = self.loaded.signatures[names[0]]
        specs = self.signature.structured_input_signature[1]
        self.input_key = next(iter(specs))
        spec = specs[self.input_key]
        if spec.dtype != tf.float32 or len(spec.shape) != 4 or spec.shape[3] != 3:
            raise RuntimeOpenError(f"{path}: signature {names[0]} takes {spec.dtype.name} {spec.shape}, not a batch "
                                   "of float32 NHWC RGB images")
        outputs = self.signature.structured_outputs
        self.output_key = OUTPUT_NAME if OUTPUT_NAME in outputs else next(iter(outputs))
        self.fixed_batch = _static(spec.shape[0])
        resolve(self, savedmodel_metadata(path), graph_size=_static(spec.shape[1]),
                graph_classes=_static(outputs[self.output_key].shape[-1]), classes=classes, labels=labels,
                input_size=input_size)
        self.runtime = f"TensorFlow {tf.__version__} (tf.saved_model.load, signature {names[0]})"
        self._loaded()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.signature(**{self.input_key: self._tf.constant(batch)})[self.output_key].numpy()

    def signature_call(self, name: str):
        """``signature(x)`` -> its ``predictions`` as numpy (``serving_default`` takes encoded
        images when the preprocessing is in the graph)."""
        fn = self.loaded.signatures[name]
        key = next(iter(fn.structured_input_signature[1]))
        output = OUTPUT_NAME if OUTPUT_NAME in fn.structured_outputs else next(iter(fn.structured_outputs))
        return lambda x: fn(**{key: self._tf.constant(x)})[output].numpy()

    def signatures(self) -> dict:
        """Every signature, serving_default first, its inputs (none for ``metadata``) and outputs
        by name: the order of a loaded SavedModel's dicts changes from run to run."""
        out = {}
        for name in sorted(self.loaded.signatures, key=lambda n: (n != SERVING, n)):
            fn = self.loaded.signatures[name]
            out[name] = {"inputs": {k: _spec(s) for k, s in sorted(fn.structured_input_signature[1].items())},
                         "outputs": {k: _spec(s) for k, s in sorted(fn.structured_outputs.items())}}
        return out

    def close(self) -> None:
        self.loaded = self.signature = None
