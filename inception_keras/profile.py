"""What a model costs: parameters, multiply-adds from the Keras graph, build time, latency
and throughput. Used by the benchmark and evaluation tools."""

from __future__ import annotations

import os
import platform
import time

import numpy as np

MACS_COUNTED = ("multiply-adds of Conv2D and Dense layers at the given input size (BatchNorm, pooling, "
                "activations, concatenations and residual additions are not counted)")


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:  # nested model
            yield from _layers(layer)
        else:
            yield layer


def count_macs(model) -> int:
    """Multiply-adds of one image through ``model``'s convolutions and dense layers.

    Needs static spatial sizes (build the model with a fixed ``input_shape``).
    """
    import keras  # noqa: PLC0415

    total = 0
    for layer in _layers(model):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
            out_shape = tuple(layer.output.shape[1:])
            if any(d is None for d in out_shape):
                raise ValueError(f"layer {layer.name} has a dynamic output shape {out_shape}; "
                                 f"build the model with a fixed input_shape to count multiply-adds")
            kernel = tuple(layer.kernel.shape)
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                per_output = kernel[0] * kernel[1]  # one input channel per output channel
            elif isinstance(layer, keras.layers.Conv2D):
                per_output = kernel[0] * kernel[1] * kernel[2]  # kh * kw * (in / groups)
            else:
                per_output = kernel[0]
            total += int(np.prod(out_shape)) * per_output
    return int(total)


def _accelerators() -> list[tuple[str, tuple[int, int] | None]]:
    """(name, compute capability) of each GPU that the Keras backend computes on; [] on CPU."""
    import keras  # noqa: PLC0415

    backend = keras.backend.backend()
    if backend == "jax":
        import jax  # noqa: PLC0415

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return [(d.device_kind, _capability(getattr(d, "compute_capability", None))) for d in gpus]
    if backend == "torch":
        import torch  # noqa: PLC0415

        if not torch.cuda.is_available():
            return []
        return [(torch.cuda.get_device_name(i), torch.cuda.get_device_capability(i))
                for i in range(torch.cuda.device_count())]
    if backend == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415

        found = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            found.append((details.get("device_name", gpu.name), details.get("compute_capability")))
        return found
    return []


def _capability(value) -> tuple[int, int] | None:
    """JAX gives the compute capability as text ("9.0")."""
    if not value:
        return None
    major, _, minor = str(value).partition(".")
    return int(major), int(minor or 0)


def device_description() -> str:
    """The accelerator (or CPU) that the Keras backend computes on, in words, with the backend's name."""
    import keras  # noqa: PLC0415

    backend = keras.backend.backend()
    names = [name for name, _ in _accelerators()]
    if names:
        counts = {n: names.count(n) for n in names}
        return ", ".join(f"{c} x {n}" for n, c in counts.items()) + f" (Keras backend: {backend})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU: {cpu} ({os.cpu_count()} cores, Keras backend: {backend})"


def mixed_precision_policy(choice: str | None) -> str:
    """Keras dtype policy for ``--mixed-precision``: ``auto`` is bfloat16, or float16 on a GPU older
    than compute capability 8.0 (no bfloat16 there)."""
    if choice is None:
        return "float32"
    if choice == "auto":
        gpus = _accelerators()
        capability = (gpus[0][1] or (8, 0)) if gpus else (8, 0)
        choice = "bfloat16" if tuple(capability) >= (8, 0) else "float16"
    return f"mixed_{choice}"


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q)) if seconds else float("nan")


def time_calls(call, *, runs: int, warmup: int = 1) -> list[float]:
    """Seconds of each of ``runs`` calls of ``call()``, after ``warmup`` untimed ones. ``call``
    must return only when its work is done (numpy results, not pending device work)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def time_batches(model, batch_size: int, input_size: int, *, runs: int = 20, warmup: int = 3, seed: int = 0):
    """Seconds per ``predict_on_batch`` call on random inputs, after ``warmup`` untimed calls."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch_size, input_size, input_size, 3)).astype("float32")
    return time_calls(lambda: model.predict_on_batch(x), runs=runs, warmup=warmup)  # numpy out: finished


def benchmark_model(name: str, *, input_size: int = 299, batch_sizes=(1, 8, 32), runs: int = 20, warmup: int = 3,
                    jit_compile: bool | str = False, mixed_precision: str | None = None, macs_only: bool = False,
                    progress=None, build: dict | None = None, label: str | None = None) -> list[dict]:
    """One record per batch size (or one with ``macs_only``) for the registry model ``name``, built
    with random weights and ``build`` (a preset's constructor arguments); ``label`` names it in the records."""
    import keras  # noqa: PLC0415

    from .weights.factory import create_model  # noqa: PLC0415
    from .models.registry import model_variant

    policy = keras.mixed_precision.dtype_policy().name
    precision = {None: "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[mixed_precision]
    keras.backend.clear_session()  # before the policy: clear_session resets it to float32
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        start = time.perf_counter()
        model = create_model(name, input_shape=(input_size, input_size, 3), **(build or {}))
        build_seconds = time.perf_counter() - start
        base = {
            "model": label or name,
            "variant": model_variant(name),
            "input_size": input_size,
            "params": int(model.count_params()),
            "macs": count_macs(model),
            "build_seconds": round(build_seconds, 3),
            "precision": model.dtype_policy.name,  # what the built model computes in
            "jit_compile": jit_compile is True,
        }
        if macs_only:
            return [base]
        model.compile(jit_compile=jit_compile)
        base["jit_compile"] = bool(model.jit_compile)  # "auto": what Keras chose
        records = []
        for bs in batch_sizes:
            if progress:
                progress(f"{label or name}: batch {bs}, {warmup} warm-up + {runs} timed runs")
            times = time_batches(model, bs, input_size, runs=runs, warmup=warmup)
            median = percentile_ms(times, 50)
            records.append({**base, "batch_size": int(bs), "runs": runs,
                            "latency_ms_median": round(median, 3),
                            "latency_ms_p90": round(percentile_ms(times, 90), 3),
                            "images_per_second": round(1000.0 * bs / median, 2)})
        return records
    finally:
        keras.backend.clear_session()
        keras.mixed_precision.set_dtype_policy(policy)
