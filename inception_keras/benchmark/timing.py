"""Timing models in turn, and the memory each one takes.

:func:`measure_alternately` runs every model once per round, round after round (round-robin):
batch 1, then a batch of ``batch_size``, then the next model. Whatever the machine does
meanwhile (another job, thermal throttling, a frequency change) falls on every model alike,
where timing one model after the other would hand it all to one of them.

Memory is the process' resident set (RSS) read from ``/proc/self/status``. Before each call
the kernel's high-water mark is reset (``/proc/self/clear_refs``, Linux), so each call's peak
is its own; where that cannot be done (other systems) the peak is the process' high-water
since it started (``resource.getrusage``), and :func:`memory_method` says so.
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time

import numpy as np

MEMORY_NOTE = ("RSS +MB: what the model adds to the process' resident memory: the RSS increase while it was "
               "opened, plus the largest increase of the RSS high-water mark above the RSS before one of its calls")


def _status_kb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def rss_mb() -> float:
    """The process' resident set now, in MB (its high-water mark where the current one is unknown)."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else _maxrss_mb()


def peak_rss_mb() -> float:
    """The process' RSS high-water mark in MB, since the last :func:`reset_peak` (Linux)."""
    kb = _status_kb("VmHWM")
    return kb / 1024 if kb is not None else _maxrss_mb()


def reset_peak() -> bool:
    """Reset the RSS high-water mark to the current RSS (Linux); False where it cannot be done."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_method() -> str:
    """How the peaks are measured here, in words (for reports)."""
    if reset_peak():
        return "RSS high-water mark reset before each call (/proc/self/clear_refs)"
    return "process RSS high-water mark since start (getrusage): per-model peaks cannot be told apart here"


@dataclasses.dataclass
class Measurement:
    """One model's times (seconds) at batch 1 and at ``batch_size``, and its memory (MB)."""

    name: str
    batch_size: int
    latency: list = dataclasses.field(default_factory=list)  # batch 1, timed rounds
    batch: list = dataclasses.field(default_factory=list)  # batch_size, timed rounds
    peak_rss_mb: float = 0.0  # the process' RSS high-water mark during its calls
    run_rss_mb: float = 0.0  # the largest rise of that mark above the RSS before one of its calls

    def summary(self) -> dict:
        def ms(values, q):
            return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 3) if values else None

        median = ms(self.latency, 50)
        batch_median = ms(self.batch, 50)
        return {"latency_ms_median": median, "latency_ms_p90": ms(self.latency, 90), "runs": len(self.latency),
                "batch_size": self.batch_size, "batch_ms_median": batch_median,
                "images_per_second": round(1000.0 * self.batch_size / batch_median, 2) if batch_median else None,
                "images_per_second_batch1": round(1000.0 / median, 2) if median else None,
                "peak_rss_mb": round(self.peak_rss_mb, 1), "run_rss_mb": round(self.run_rss_mb, 1)}


def _inputs(size: int, batch: int, cache: dict, seed: int = 0) -> np.ndarray:
    if (size, batch) not in cache:
        rng = np.random.default_rng(seed + size * 1000 + batch)
        cache[(size, batch)] = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    return cache[(size, batch)]


def timed_call(runner, x, measurement: Measurement) -> float:
    """Seconds of one ``runner(x)``; its RSS peak (the mark reset first) noted in ``measurement``."""
    before = rss_mb()
    reset_peak()
    start = time.perf_counter()
    runner(x)  # numpy out: the work is done
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    measurement.peak_rss_mb = max(measurement.peak_rss_mb, peak)
    measurement.run_rss_mb = max(measurement.run_rss_mb, peak - before)
    return seconds


def measure_alternately(artifacts, *, batch_size: int = 8, runs: int = 10, warmup: int = 2,
                        progress=None) -> list[Measurement]:
    """Time every artifact's runner in turn: ``warmup`` untimed rounds, then ``runs`` timed
    ones; in each round every model runs batch 1, then ``batch_size`` (once when it is 1).

    Args:
        artifacts: :class:`~inception_keras.benchmark.Artifact` objects (or anything with
            ``name`` and ``runner``), in the order they run within a round.
        progress: called with a line of text after each round.

    Returns:
        One :class:`Measurement` per artifact, in their order. The inputs are deterministic
        random images in [-1, 1] at each runner's input size; the memory peaks cover the
        warm-up calls too (the first call allocates a runtime's buffers).
    """
    if runs < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(f"runs must be >= 1, warmup >= 0 and the batch size >= 1 (got {runs}, {warmup}, {batch_size})")
    results = [Measurement(a.name, batch_size) for a in artifacts]
    cache: dict = {}
    sizes = (1,) if batch_size == 1 else (1, batch_size)
    for round_ in range(warmup + runs):
        timed = round_ >= warmup
        for artifact, result in zip(artifacts, results, strict=True):
            size = artifact.runner.input_size
            for bs in sizes:
                seconds = timed_call(artifact.runner, _inputs(size, bs, cache), result)
                if timed and bs == 1:
                    result.latency.append(seconds)
                if timed and bs == batch_size:
                    result.batch.append(seconds)
        if progress:
            what = f"timed round {round_ - warmup + 1}/{runs}" if timed else f"warm-up round {round_ + 1}/{warmup}"
            progress(f"{what}: {len(artifacts)} models, batch {' and '.join(map(str, sizes))}")
    return results
