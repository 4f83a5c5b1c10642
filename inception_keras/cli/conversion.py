"""What every converter tool does around its converter (shared by ``convert`` and
``convert_timm``): check the output path, write the weights under a temporary name,
read them back into a fresh build and compare outputs, rename them into place with the
JSON report next to them, and print the summary table."""

from __future__ import annotations

import hashlib
import os
import time

from inception_keras.fileio import (folder_lock, make_temporary_file, remove_stale_temporaries, umask,
                                    writable_folder_problem, write_json)
from inception_keras.tables import key_value_table

# Tool --model names -> registry names (Inception-ResNet-v2's weights are for TF-slim's graph).
MODELS = {"inception_v4": "inception_v4", "inception_resnet_v2": "inception_resnet_v2_slim"}
# What a tool reports as "error: ..." on stderr with exit code 2 instead of a traceback.
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


def model_path(output: str, save_model: str | None) -> str | None:
    """Where ``--save-model`` writes the whole model (None: it was not given)."""
    if save_model is None:
        return None
    return save_model or output[: -len(".weights.h5")] + ".keras"


def check_output(output: str, save_model: str | None = None) -> None:
    """Refuse an output Keras would not write, a folder that does not exist or cannot be
    written, or an output that is a folder, before any work; then delete the temporaries that
    killed conversions left in the output folder."""
    if not output.endswith(".weights.h5"):
        raise ValueError(f"--output must end with .weights.h5 (Keras' weights format), got {output!r}")
    keras_path = model_path(output, save_model)
    if keras_path is not None and not keras_path.endswith(".keras"):
        raise ValueError(f"--save-model must end with .keras, got {keras_path!r}")
    for path in (output, output + ".json", keras_path):
        if path is None:
            continue
        out_dir = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(out_dir):
            raise ValueError(f"output folder {out_dir} does not exist")
        if os.path.isdir(path):
            raise ValueError(f"output {path} is a folder; give a file path")
        problem = writable_folder_problem(path)
        if problem:
            raise ValueError(f"cannot write {path}: {problem}; give an output in a writable folder")
        remove_stale_temporaries(out_dir)


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _outputs(model, x) -> list:
    import keras  # noqa: PLC0415

    y = model(x, training=False)
    return [keras.ops.convert_to_numpy(t) for t in (y if isinstance(y, (list, tuple)) else [y])]


def max_abs_diff(a: list, b: list) -> float:
    import numpy as np  # noqa: PLC0415

    return max(float(np.max(np.abs(p - q))) for p, q in zip(a, b))


def save_converted(model, output: str, summary: dict, report, start: float, *, arch: str, build_kwargs: dict,
                   verify=True, save_model: str | None = None) -> dict:
    """Write ``model``'s weights (and with ``save_model``, the whole model) under temporary
    names; with ``verify``, load each into a fresh ``create_model(arch, **build_kwargs)`` and
    require identical outputs on a fixed input. Only then rename them into place and write the
    JSON report, all under a lock on the output folder, so that the weights, model and report
    in place always belong to one conversion. A failed check removes only the temporaries: a
    file already in place stays. Returns ``summary`` completed (:func:`finish_summary`)."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from inception_keras import create_model  # noqa: PLC0415

    keras_path = model_path(output, save_model)
    temporaries = []
    try:
        tmp = make_temporary_file(output, ".weights.h5", "convert")
        temporaries.append(tmp)
        model.save_weights(tmp)
        tmp_model = None
        if keras_path is not None:
            tmp_model = make_temporary_file(keras_path, ".keras", "convert")
            temporaries.append(tmp_model)
            model.save(tmp_model)
        max_diff = None
        if verify:
            shape = tuple(d or 299 for d in model.input_shape[1:])
            x = np.random.default_rng(0).uniform(-1, 1, (1, *shape)).astype("float32")
            expected = _outputs(model, x)
            for written in filter(None, (tmp, tmp_model)):
                if written == tmp:
                    check = create_model(arch, **build_kwargs)
                    check.load_weights(written)
                else:
                    # The whole saved model, config included. (load_model extracts the weights from
                    # the zip; load_weights on a .keras seeks inside it, quadratic in its size.)
                    check = keras.models.load_model(written, compile=False)
                max_diff = max(max_diff or 0.0, max_abs_diff(expected, _outputs(check, x)))
                if max_diff != 0.0:
                    raise RuntimeError(f"the written weights give different outputs (max |diff| {max_diff}); "
                                       f"nothing was written to {output if written == tmp else keras_path}")
        summary.update(output=output, output_bytes=os.path.getsize(tmp), sha256=sha256(tmp),
                       verified_max_abs_diff=max_diff)
        if tmp_model is not None:
            summary.update(saved_model=keras_path, saved_model_bytes=os.path.getsize(tmp_model),
                           saved_model_sha256=sha256(tmp_model))
        finish_summary(summary, report, start)
        for path in temporaries:
            os.chmod(path, 0o666 & ~umask())  # mkstemp makes 0600; give the files the usual permissions
        with folder_lock(os.path.dirname(os.path.abspath(output))):
            if tmp_model is not None:
                os.replace(tmp_model, keras_path)
            os.replace(tmp, output)
            write_json(output + ".json", {k: v for k, v in summary.items() if k != "report_lines"})
    finally:
        for path in temporaries:
            if os.path.exists(path):
                os.remove(path)
    return summary


def print_summary(summary: dict, rows: list[tuple[str, str]], tail: list[tuple[str, str]] = ()) -> str:
    """Print ``rows``, the report lines, the output rows and ``tail`` as a two-column table;
    returns the path of the JSON report (written by :func:`save_converted`)."""
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
    print(key_value_table(rows))
    return report_path
