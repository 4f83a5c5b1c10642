"""What every converter tool does around its converter (shared by ``convert`` and
``convert_timm``): check the output path, write the weights under a temporary name,
read them back into a fresh build and compare outputs, rename them into place with the
JSON report next to them, and print the summary table."""

from __future__ import annotations

import hashlib
import json
import os
import time

from ..utils.fileio import (
    check_overwrite,
    folder_lock,
    make_temporary_file,
    remove_stale_temporaries,
    umask,
    writable_folder_problem,
    write_json,
)
from ..utils.tables import key_value_table

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
    out.add_argument("--overwrite", action="store_true",
                     help="replace an existing output (weights, report or .keras) that is not an earlier conversion's "
                          "(by default such a file is refused; an earlier conversion's outputs are replaced)")
    return out


def finish_summary(summary: dict, report, start: float) -> dict:
    """Add the conversion report, the elapsed time and the report's lines to ``summary``."""
    summary.update(report.to_json())
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["report_lines"] = report.summary_lines()
    return summary


def default_model_path(output: str) -> str:
    """The ``.keras`` that ``--save-model`` without a path writes: the output name with ``.keras``."""
    return output[: -len(".weights.h5")] + ".keras"


def model_path(output: str, save_model: str | None) -> str | None:
    """Where ``--save-model`` writes the whole model (None: it was not given)."""
    if save_model is None:
        return None
    return save_model or default_model_path(output)


def read_report(path: str) -> dict | None:
    """The JSON report a conversion wrote (None when ``path`` is missing or not one)."""
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return report if isinstance(report, dict) and all(k in report for k in ("checkpoint", "output", "sha256")) \
        else None


def _same_path(a, b) -> bool:
    return a is not None and b is not None and os.path.abspath(os.fspath(a)) == os.path.abspath(os.fspath(b))


def _names(recorded, path: str) -> bool:
    """Whether a path recorded in a report is ``path``: the same absolute path, or for a relative
    one (recorded from another working folder, perhaps) the same file name."""
    if not isinstance(recorded, str):
        return False
    return _same_path(recorded, path) if os.path.isabs(recorded) else \
        os.path.basename(recorded) == os.path.basename(path)


def _is_reported(path: str, report: dict | None, name_key: str, sha_key: str) -> bool:
    """Whether ``report`` names ``path`` (under ``name_key``) with the file's sha256 (``sha_key``)."""
    if not report or not _names(report.get(name_key), path):
        return False
    try:
        return report.get(sha_key) == sha256(path)
    except OSError:  # unreadable: nothing says it is the conversion's
        return False


def earlier_model(output: str) -> str | None:
    """The ``.keras`` of the output's name (:func:`default_model_path`) when the conversion whose
    report is in place wrote it, unchanged since (its sha256 is the report's); else None."""
    path = default_model_path(output)
    if not os.path.isfile(path):
        return None
    return path if _is_reported(path, read_report(output + ".json"), "saved_model", "saved_model_sha256") else None


def check_output(output: str, save_model: str | None = None, *, overwrite: bool = False, inputs=()) -> None:
    """Refuse an output Keras would not write, a folder that does not exist or cannot be
    written, or an output that is a folder, before any work; then delete the temporaries that
    killed conversions left in the output folder.

    The weights, their report and the ``.keras`` replace earlier conversions' (the report in
    place names the weights and the ``.keras`` with their sha256): any other existing file at
    those paths is refused (:class:`~inception_keras.utils.fileio.OverwriteError`) unless
    ``overwrite``, and one of ``inputs`` (the checkpoint) always is."""
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
    inputs = [os.fspath(p) for p in inputs if p is not None]
    report_file = output + ".json"
    # under the lock save_converted renames under: not halfway through another conversion's renames
    with folder_lock(os.path.dirname(os.path.abspath(output))):
        report = read_report(report_file)
        check_overwrite(report_file, ours=report is not None, inputs=inputs, overwrite=overwrite,
                        flag="the report of --output")
        check_overwrite(output, ours=os.path.isfile(output) and _is_reported(output, report, "output", "sha256"),
                        inputs=inputs, overwrite=overwrite, flag="--output")
        if keras_path is not None:
            # a .keras of an earlier conversion: named by this output's report, or by the report of its own name
            own = read_report(keras_path[: -len(".keras")] + ".weights.h5.json")
            ours = os.path.isfile(keras_path) and any(
                _is_reported(keras_path, r, "saved_model", "saved_model_sha256") for r in (report, own))
            check_overwrite(keras_path, ours=ours, inputs=inputs, overwrite=overwrite, flag="--save-model")


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
    in place always belong to one conversion: a ``.keras`` of the output's name that the replaced
    conversion wrote (:func:`earlier_model`) is removed when this one writes none there (the
    summary's ``removed``). A failed check removes only the temporaries: a file already in place
    stays. Returns ``summary`` completed (:func:`finish_summary`)."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from .. import create_model  # noqa: PLC0415

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
            # The .keras of the output's name that the conversion being replaced wrote goes with it,
            # unless this one writes it again: the files in place are one conversion's.
            stale = earlier_model(output)
            if stale is not None and not _same_path(stale, keras_path):
                os.remove(stale)
                summary["removed"] = [stale]
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
    for path in summary.get("removed", ()):
        rows.append(("removed", f"{path} (the earlier conversion's model; rerun with --save-model to write one)"))
    report_path = summary["output"] + ".json"
    rows += [*tail, ("report", report_path)]
    print(key_value_table(rows))
    return report_path
