"""Where an ONNX export's memory goes: tools/export.py with the resident memory of each phase.

    python benchmarks/onnx_export_memory.py --model inception_v4 --weights none --format onnx \\
        --output /tmp/v4 --check-samples 2 --latency-runs 2

Each phase prints its RSS before and after and its own peak (VmHWM, reset at the start of the
phase through /proc/self/clear_refs; Linux only). A nested phase resets its parent's peak, so a
parent's figure is its peak after its last nested phase. Findings: benchmarks/onnx_export_memory.md.
"""

from __future__ import annotations

import functools
import sys
import time


def _status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1e6  # kB to GB
    return out


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


_depth = [0]


def _wrap(owner, attr: str, label: str) -> None:
    fn = getattr(owner, attr)

    @functools.wraps(fn)
    def phase(*args, **kwargs):
        before = _status()["VmRSS"]
        _reset_peak()
        _depth[0] += 1
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _depth[0] -= 1
            now = _status()
            print(f"[mem] {'  ' * _depth[0]}{label}: rss {before:.2f} -> {now['VmRSS']:.2f} GB, "
                  f"peak within {now['VmHWM']:.2f} GB, {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    setattr(owner, attr, phase)


def main() -> int:
    import onnx
    from tf2onnx import convert, optimizer, tf_loader

    import inception_keras.export.check as check
    import inception_keras.export.writers as writers
    from inception_keras.cli import export, options

    _wrap(options, "load_model", "build the model")
    _wrap(check.OutputChecker, "_references", "Keras reference outputs")
    _wrap(writers, "build_archive", "ExportArchive")
    _wrap(writers, "onnx_model", "conversion (all of it)")
    _wrap(tf_loader, "convert_variables_to_constants_v2", "freeze: variables to constants")
    _wrap(tf_loader, "tf_optimize", "grappler (constfold, function, dependency)")
    _wrap(convert, "process_tf_graph", "tf2onnx process_tf_graph")
    _wrap(optimizer, "optimize_graph", "tf2onnx ONNX optimizers")
    _wrap(onnx, "save", "onnx.save")
    _wrap(check.OutputChecker, "__call__", "check (ORT session, run, compare, latency)")
    _wrap(check, "_OnnxRunner", "ORT InferenceSession")
    _wrap(check, "_in_batches", "ORT check run")
    _wrap(check, "_latency_ms", "latency runs")
    rc = export.main(sys.argv[1:])
    print(f"[mem] end: rss {_status()['VmRSS']:.2f} GB", file=sys.stderr)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
