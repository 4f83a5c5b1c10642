"""What every converter tool does around its converter (shared by ``convert`` and
``convert_timm``): check the output path, write the weights under a temporary name,
read them back into a fresh build and compare outputs, describe the file, print the
summary table and write the JSON report next to the output."""

from __future__ import annotations

import hashlib
import os
import time

from inception_keras.fileio import atomic_save, write_json
from inception_keras.tables import key_value_table

# Tool --model names -> registry names (Inception-ResNet-v2's weights are for TF-slim's graph).
MODELS = {"inception_v4": "inception_v4", "inception_resnet_v2": "inception_resnet_v2_slim"}
# What a tool reports as "error: ..." with exit code 1 instead of a traceback.
ERRORS = (ValueError, FileNotFoundError, RuntimeError)  # ConversionError is a ValueError


def add_output_arguments(parser):
    """The output options every converter tool has; returns the group for the tool's own."""
    out = parser.add_argument_group("output")
    out.add_argument("--output", required=True, help="Keras weights file to write (.weights.h5)")
    out.add_argument("--save-model", nargs="?", const="", metavar="PATH",
                     help="also write the whole model as .keras (default: the output name with .keras)")
    out.add_argument("--no-verify", action="store_true", help="skip reading the output back and comparing outputs")
    return out


def finish_summary(summary: dict, report, start: float) -> dict:
    """Add the conversion report, the elapsed time and the report's lines to ``summary``."""
    summary.update(report.to_json())
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["report_lines"] = report.summary_lines()
    return summary


def check_output(output: str) -> None:
    """Refuse an output name Keras would not write, or a folder that does not exist, before any work."""
    if not output.endswith(".weights.h5"):
        raise ValueError(f"--output must end with .weights.h5 (Keras' weights format), got {output!r}")
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        raise ValueError(f"output folder {out_dir} does not exist")


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_converted(model, output: str, *, arch: str, build_kwargs: dict, verify=True,
                   save_model: str | None = None) -> dict:
    """Write ``model``'s weights to ``output`` atomically; with ``verify``, load them into a
    fresh ``create_model(arch, **build_kwargs)`` and require identical outputs on a fixed
    input (the file is removed otherwise). Returns the output part of the summary."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from inception_keras import create_model  # noqa: PLC0415

    atomic_save(model.save_weights, output, ".weights.h5")
    max_diff = None
    if verify:
        x = np.random.default_rng(0).uniform(-1, 1, (1, 299, 299, 3)).astype("float32")
        check = create_model(arch, weights=output, **build_kwargs)
        a, b = model(x, training=False), check(x, training=False)
        a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
        max_diff = max(float(np.max(np.abs(keras.ops.convert_to_numpy(p) - keras.ops.convert_to_numpy(q))))
                       for p, q in zip(a, b))
        if max_diff != 0.0:
            os.remove(output)
            raise RuntimeError(f"the written weights give different outputs (max |diff| {max_diff}); removed {output}")
    info = {
        "output": output,
        "output_bytes": os.path.getsize(output),
        "sha256": sha256(output),
        "verified_max_abs_diff": max_diff,
    }
    if save_model is not None:
        path = save_model or output[: -len(".weights.h5")] + ".keras"
        atomic_save(model.save, path, ".keras")
        info["saved_model"] = path
        info["saved_model_bytes"] = os.path.getsize(path)
    return info


def print_summary(summary: dict, rows: list[tuple[str, str]], tail: list[tuple[str, str]] = ()) -> str:
    """Print ``rows``, the report lines, the output rows and ``tail`` as a two-column table,
    and write the summary (without ``report_lines``) as ``<output>.json``; returns its path."""
    rows = [
        *rows,
        *[("", line) for line in summary["report_lines"]],
        ("time", f"{summary['seconds']:.1f} s"),
        ("output", f"{summary['output']} ({summary['output_bytes'] / 1e6:.1f} MB)"),
        ("sha256", summary["sha256"]),
    ]
    if summary["verified_max_abs_diff"] is not None:
        rows.append(("verified", "read back: identical outputs"))
    if "saved_model" in summary:
        rows.append(("model file", f"{summary['saved_model']} ({summary['saved_model_bytes'] / 1e6:.1f} MB)"))
    report_path = summary["output"] + ".json"
    rows += [*tail, ("report", report_path)]
    write_json(report_path, {k: v for k, v in summary.items() if k != "report_lines"})
    print(key_value_table(rows))
    return report_path
