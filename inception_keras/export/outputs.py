"""Before an export starts: prove that its output, report and labels file can be written."""

from __future__ import annotations

import os

from ..utils.fileio import check_overwrite, unwritable_folder
from .metadata import is_export_report, is_our_export, labels_path
from .options import ExportError, report_path


def prepare_output(path: str, fmt: str, *, overwrite: bool = False, inputs=()) -> None:
    """Prove that ``path`` can be written, before the (slow) export starts; creates nothing.

    An existing export of ours (:func:`~inception_keras.export.metadata.is_our_export`) and its
    report and labels file are replaced; anything else at those paths is refused
    (:class:`~inception_keras.utils.fileio.OverwriteError`) unless ``overwrite``, and one of ``inputs``
    (the weights, the label file...) always is."""
    parent = os.path.dirname(os.path.abspath(path))
    if fmt == "saved_model":
        if os.path.isfile(path):
            raise ExportError(f"output {path!r} is a file; a SavedModel is a folder: give a new path")
        if os.path.isdir(path) and os.listdir(path) and not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ExportError(f"output {path!r} is a folder that does not hold a SavedModel; "
                              "it would be replaced: give a new path or remove it first")
    elif os.path.isdir(path):
        raise ExportError(f"output {path!r} is a folder; give a file path for the {fmt} export")
    problem = unwritable_folder(parent)  # the folder that will hold the new ones (or the output)
    if problem:
        raise ExportError(f"cannot write to the output folder {parent!r}: {problem[0]!r} is {problem[1]}; "
                          "give an --output in a writable folder")
    inputs = [os.fspath(p) for p in inputs if p is not None]
    ours = os.path.lexists(path) and is_our_export(path, fmt)
    check_overwrite(path, ours=ours, inputs=inputs, overwrite=overwrite, flag="--output")
    report = report_path(path)
    check_overwrite(report, ours=os.path.lexists(report) and is_export_report(report) is not None,
                    inputs=inputs, overwrite=overwrite, flag="the export's report")
    if fmt == "tflite":  # the labels file goes with its .tflite (or with the report that names it)
        labels = labels_path(path)
        check_overwrite(labels, ours=os.path.lexists(labels) and (
            ours or (is_export_report(report) or {}).get("labels_file") == labels), inputs=inputs,
                        overwrite=overwrite, flag="the export's labels file")
