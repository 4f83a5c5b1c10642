"""The check: a written export against the Keras model on the same inputs, and its latency."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from ..data.images import decode_image
from ..data.preprocessing import preprocess_for_eval
from ..profile import time_calls
from ..runtimes import RuntimeOpenError, open_runner
from .options import BYTES_INPUT_NAME, SERVING, ExportCheckError, ExportError


def _keras_outputs(model, x: np.ndarray, chunk: int = 8) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i : i + chunk], training=False)) for i in range(0, len(x), chunk)])


def _in_batches(run, x, batch: int | None, chunk: int = 8) -> np.ndarray:
    """Run ``run`` over ``x`` in batches of the export's fixed size (the last one padded) or ``chunk``."""
    size = batch or chunk
    outs = []
    for i in range(0, len(x), size):
        part = x[i : i + size]
        n = len(part)
        if batch and n < batch:  # a fixed batch: pad with the first rows, drop their outputs
            part = np.concatenate([part, np.repeat(part[:1], batch - n, axis=0)])
        outs.append(np.asarray(run(part))[:n])
    return np.concatenate(outs)


def compare(reference: np.ndarray, exported: np.ndarray) -> dict:
    """Largest absolute difference, the same relative to the largest |reference|, top-1 agreement,
    and the number of exported rows that are constant (every class equal: argmax is then class 0)."""
    reference = np.asarray(reference, "float64").reshape(len(reference), -1)
    exported = np.asarray(exported, "float64").reshape(len(exported), -1)
    if reference.shape != exported.shape:
        raise ExportCheckError(f"the export returns shape {exported.shape}, the Keras model {reference.shape}")
    diff = float(np.max(np.abs(reference - exported)))
    scale = float(np.max(np.abs(reference)))
    agree = int(np.sum(reference.argmax(axis=1) == exported.argmax(axis=1)))
    return {
        "max_abs_diff": diff,
        "relative_diff": diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf")),
        "output_scale": scale,
        "top1_agree": agree,
        "top1_agreement": agree / len(reference),
        "count": len(reference),
        "constant_outputs": int(np.sum(np.ptp(exported, axis=1) == 0)),
    }


def _latency_ms(run, x_batch: np.ndarray, runs: int) -> float:
    """Median milliseconds per image of ``run(x_batch)``, after one warm-up call."""
    times = time_calls(lambda: run(x_batch), runs=runs, warmup=1)
    return 1000.0 * statistics.median(times) / len(x_batch)


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _open(written: str, fmt: str, threads: int, classes: int):
    """The written export (under its temporary name) in its runtime (:mod:`inception_keras.runtimes`):
    the runner the tools use."""
    try:
        return open_runner(written, threads=None if fmt == "saved_model" else threads, classes=classes,
                           as_format={"saved_model": "savedmodel"}.get(fmt, fmt))
    except RuntimeOpenError as e:
        raise ExportError(str(e)) from None


class OutputChecker:
    """Runs a written export on the check inputs and compares it with the Keras outputs.

    Called with the temporary path of the export, before it is renamed into place: it raises
    :class:`ExportCheckError` (and the writer removes the file) when the export does not match.
    """

    def __init__(self, model, fmt, *, x, encoded, kind, source, preprocessing, batch, quantized, tolerance,
                 min_agreement, latency_runs, output):
        self.fmt, self.x, self.encoded, self.batch = fmt, x, encoded, batch
        self.quantized, self.tolerance, self.min_agreement = quantized, tolerance, min_agreement
        self.latency_runs, self.output, self.threads = latency_runs, output, _threads()
        self.model, self.preprocessing = model, preprocessing
        self.reference = self.reference_bytes = None
        self.check = {"inputs": kind, "source": source}
        self.result = {}

    def _references(self) -> None:
        """The Keras outputs, computed with the export written: a TensorFlow run of the model keeps
        memory (half a GB at 299x299) that would otherwise add to the conversion's peak."""
        self.reference = _keras_outputs(self.model, self.x)
        if self.encoded is not None:  # the Keras side of the in-graph preprocessing: the same TF ops, eagerly
            import tensorflow as tf  # noqa: PLC0415

            self.reference_bytes = _keras_outputs(self.model, np.stack(
                [preprocess_for_eval(decode_image(tf.constant(b)), self.preprocessing).numpy()
                 for b in self.encoded]))

    def __call__(self, written: str) -> None:
        if self.reference is None:
            self._references()
        start = time.perf_counter()
        runner = _open(written, self.fmt, self.threads, int(self.reference.shape[-1]))
        run = runner.raw  # the outputs themselves (logits stay logits), in the export's batches
        stats = compare(self.reference, _in_batches(run, self.x, self.batch))  # a batch in memory at a time
        self.check.update(stats)
        self.check.update({"reference": "Keras model, float32",
                           "tolerance": None if self.quantized else self.tolerance,
                           "min_agreement": self.min_agreement if self.quantized else None})
        problems = []
        if not self.quantized and stats["relative_diff"] > self.tolerance:
            problems.append(f"max |export - keras| = {stats['max_abs_diff']:.3g} is {stats['relative_diff']:.3g} of "
                            f"the largest output ({stats['output_scale']:.3g}), above the tolerance {self.tolerance:g}")
        if self.quantized and stats["top1_agreement"] < self.min_agreement:
            problems.append(f"top-1 agreement {stats['top1_agreement']:.1%} is below "
                            f"--min-agreement {self.min_agreement:.1%}")
        if self.encoded is not None:
            run_bytes = runner.signature_call(SERVING)
            pre = compare(self.reference_bytes, _in_batches(run_bytes, np.asarray(self.encoded, dtype=object),
                                                            self.batch))
            pre["source"] = (f"{len(self.encoded)} encoded images through {SERVING} ({BYTES_INPUT_NAME}) vs the "
                             "Keras model on datasets.preprocess_for_eval of the same bytes")
            self.result["preprocessing_check"] = pre
            if pre["relative_diff"] > self.tolerance:
                problems.append(f"with the preprocessing in the graph, max |export - keras| = "
                                f"{pre['max_abs_diff']:.3g} ({pre['relative_diff']:.3g} relative), above the "
                                f"tolerance {self.tolerance:g}")
        self.check["passed"] = not problems
        if problems:
            raise ExportCheckError(f"the {self.fmt} export does not match the Keras model on {self.check['source']}: "
                                   + "; ".join(problems) + f". Nothing was written to {self.output}.")
        self.result["check_seconds"] = round(time.perf_counter() - start, 2)
        n = self.batch or 1
        sample = self.x[:n] if len(self.x) >= n else np.resize(self.x, (n, *self.x.shape[1:]))
        self.result["latency_ms_per_image"] = _latency_ms(run, sample, self.latency_runs)
        self.result["latency"] = {"batch": n, "runs": self.latency_runs, "statistic": "median",
                                  "threads": self.threads}
        self.result["runtime"] = runner.runtime
        self.result["signatures"] = runner.signatures()
        self.result["size_bytes"] = runner.file_size
        runner.close()
