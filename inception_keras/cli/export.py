"""Export a model of the zoo to SavedModel, TFLite or ONNX, and check it against the Keras model.

    python tools/export.py --model inception_v4 --weights imagenet --format saved_model --output exported/v4
    python tools/export.py --model inception_v4 --weights imagenet --format saved_model --output exported/v4_jpeg \\
        --include-preprocessing
    python tools/export.py --model inception_v4 --weights imagenet --format tflite --output exported/v4 \\
        --quantize int8 --calibration-data calibration_images/ --calibration-steps 100
    python tools/export.py --model inception_resnet_v2_slim --weights imagenet --format onnx --output exported/irv2 \\
        --batch-size dynamic
    python tools/export.py --model runs/flowers/best --format onnx --output exported/flowers   # a fine-tuned run
    python tools/export.py --model inception_v4 --weights imagenet --format onnx --output exported/v4_int8 \
        --quantize int8 --calibration-data calibration_images/ --calibration-per-class 2 \
        --calibration-method percentile

Outputs: saved_model -> the folder OUTPUT; tflite -> OUTPUT.tflite; onnx -> OUTPUT.onnx (the
extension is added when missing), and a JSON summary next to it (OUTPUT[.ext].json). The class
names and the eval preprocessing travel with the export: the SavedModel's 'metadata' signature
and assets/, ONNX metadata_props, a labels file beside a .tflite (OUTPUT.tflite.labels.txt).

The export is run by its own runtime (TensorFlow, the LiteRT interpreter, ONNX Runtime) on
the same inputs as the Keras model before it is renamed into place: the calibration images
when --calibration-data is given, otherwise deterministic random inputs. A float export
whose max |difference| exceeds --tolerance (1e-4) times the largest Keras output fails
(exit 1) and writes nothing; so does an ONNX float16 export, at a tolerance of at least 1e-2.
Other quantized exports report their top-1 agreement with the float model (--min-agreement
turns that into a check).

--quantize (tflite, onnx): float16 (float16 weights), dynamic (int8 weights, activations
quantized at run time) or int8 (calibrated on --calibration-data; ONNX: QDQ with per-channel
int8 weights, by ONNX Runtime with --calibration-method minmax, percentile (99.999, the
default) or entropy; TFLite's converter calibrates by min/max only, and other methods are
refused with exit 2). --calibration-per-class N takes the first N images (by path) of every
class folder of --calibration-data; classes with fewer give a warning. The calibration files
and their sha256 go into the report and the export's metadata.

An existing output is replaced only when it is an earlier export (recognised by the metadata
every export embeds), with its report and labels file; any other file at those paths is
refused (exit 2) unless --overwrite, and an input of the export (weights, labels, calibration
images) always is.

--include-preprocessing (SavedModel): serving_default takes image_bytes, a string tensor of
encoded images (JPEG, PNG, GIF, BMP), and runs the eval preprocessing in the graph; the float
signature stays available as serving_images.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..data.datasets import list_image_files
from ..utils.fileio import remove_stale_temporaries
from . import options
from ..export import (
    CALIBRATION_METHODS,
    DEFAULT_CALIBRATION_STEPS,
    DEFAULT_CHECK_SAMPLES,
    DEFAULT_LATENCY_RUNS,
    DEFAULT_ONNX_OPSET,
    DEFAULT_TOLERANCE,
    FORMATS,
    QUANTIZATIONS,
    ExportCheckError,
    ExportWarning,
    artefact_path,
    check_options,
    export_model,
    prepare_output,
)


def _batch_size(text: str):
    if text in ("dynamic", "auto"):
        return text
    return options.positive(text, also=" or 'dynamic'")


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("export", __doc__)
    model = options.add_model_options(parser)
    model.add_argument("--classifier-activation", choices=("softmax", "none"), default="softmax",
                       help="'none' exports the logits (default softmax)")
    out = parser.add_argument_group("export")
    out.add_argument("--format", required=True, choices=FORMATS, help="saved_model, tflite or onnx")
    out.add_argument("--output", required=True,
                     help="SavedModel folder, or .tflite/.onnx file (the extension is added when missing)")
    out.add_argument("--quantize", choices=QUANTIZATIONS,
                     help="tflite or onnx: float16 weights, dynamic (int8 weights), or int8 (calibrated on "
                          "--calibration-data; tflite: full integer, onnx: static QDQ, per-channel weights); "
                          "default float32")
    out.add_argument("--batch-size", type=_batch_size, default="auto", metavar="N|dynamic",
                     help="fixed batch size of the exported signature, or 'dynamic' "
                          "(default: 1 for tflite, dynamic otherwise)")
    out.add_argument("--include-preprocessing", action="store_true",
                     help="saved_model only: serving_default takes encoded images (string tensor) and "
                          "decodes, crops, resizes and scales them in the graph")
    out.add_argument("--opset", type=int, default=DEFAULT_ONNX_OPSET,
                     help=f"ONNX opset (default {DEFAULT_ONNX_OPSET})")
    out.add_argument("--overwrite", action="store_true",
                     help="replace a file (or SavedModel) at the output paths that is not an earlier export of "
                          "inception-keras (by default such a file is refused; an earlier export is replaced)")
    data = parser.add_argument_group("calibration and check inputs")
    data.add_argument("--calibration-data", metavar="DIR",
                      help="a folder of images (sub-folders included): calibrates int8 and is the check input "
                           "of every format; without it the check uses random inputs")
    data.add_argument("--calibration-steps", type=int, default=DEFAULT_CALIBRATION_STEPS,
                      help=f"calibration (and check) images to use, one per step at batch 1 "
                           f"(default {DEFAULT_CALIBRATION_STEPS})")
    data.add_argument("--calibration-method", choices=CALIBRATION_METHODS,
                      help="int8: how activation ranges are chosen; onnx: minmax, percentile (99.999, default) "
                           "or entropy; tflite: minmax only (its converter's method)")
    data.add_argument("--calibration-per-class", type=options.positive, metavar="N",
                      help="take the first N images (by path) of every class folder of --calibration-data "
                           "(DIR/<class>/...) instead of the first --calibration-steps images")
    options.add_max_pixels(data)
    data.add_argument("--check-samples", type=int, default=DEFAULT_CHECK_SAMPLES,
                      help=f"random check inputs without --calibration-data (default {DEFAULT_CHECK_SAMPLES})")
    check = parser.add_argument_group("checks")
    check.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                       help=f"float exports: largest |export - keras| allowed, relative to the largest output "
                            f"(default {DEFAULT_TOLERANCE:g})")
    check.add_argument("--min-agreement", type=float, default=0.0,
                       help="quantized exports: fail below this top-1 agreement with the float model "
                            "(a fraction; default 0: report only)")
    check.add_argument("--latency-runs", type=int, default=DEFAULT_LATENCY_RUNS,
                       help=f"timed runs of the export for the latency (median; default {DEFAULT_LATENCY_RUNS})")
    options.add_preprocessing_options(parser)
    options.add_output_options(parser, progress=False, json_help="--json alone prints the summary as JSON instead "
                               "of the table (the summary is always written next to the export too)")
    return parser


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def format_summary(s: dict) -> str:
    """The summary as a two-column table."""
    kind = s["format"] + (f" {s['quantize']}" if s["quantize"] else (" float32" if s["format"] == "tflite" else ""))
    check = s["check"]
    rows = [
        ("model", f"{s.get('registry_name', s['model'])} (weights {s.get('weights', '?')}, "
                  f"{'x'.join(map(str, s['input_shape']))}, {s['classes']} classes"
                  f"{', logits' if 'classifier_activation' in s and s['classifier_activation'] is None else ''}, "
                  f"{s['params']:,} params)"),
        ("format", f"{kind}, batch {s['batch_size']}" + (f", opset {s['opset']}" if "opset" in s else "")),
        ("output", f"{s['output']} ({_mb(s['size_bytes'])} on disk)"),
    ]
    for name, sig in s["signatures"].items():
        ins = ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in sig["inputs"].items())
        outs = ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in sig["outputs"].items())
        rows.append(("signature", f"{name}: {ins} -> {outs}"))
    if "precision" in s:
        rows.append(("precision", s["precision"]))
    if "calibration" in s:
        c = s["calibration"]
        method = c.get("method", "minmax") + (f" {c['percentile']:g}" if "percentile" in c else "")
        rows.append(("calibration",
                     f"{method}, {c['images']} images from {c['folder']} ({c.get('selection', 'first by path')}; "
                     f"{c['steps']} steps of batch {c['batch']}), sha256 {c['sha256'][:12]}"
                     if "sha256" in c else
                     f"{c['images']} images from {c['folder']} ({c['steps']} steps of batch {c['batch']})"))
        if c.get("short_classes"):
            rows.append(("warning", f"{len(c['short_classes'])} class(es) with fewer calibration images: "
                         + ", ".join(f"{k} ({v})" for k, v in c["short_classes"].items())))
    rows += [
        ("export time", f"{s['export_seconds']:.1f} s (check {s['check_seconds']:.1f} s)"),
        ("check inputs", check["source"]
         + (f"; {len(check['skipped'])} unreadable skipped" if check.get("skipped") else "")),
        ("max |diff|", f"{check['max_abs_diff']:.3g} vs Keras float32 ({check['relative_diff']:.3g} of the largest "
                       f"output {check['output_scale']:.3g})"),
        ("top-1 agree", f"{check['top1_agree']}/{check['count']} ({check['top1_agreement']:.1%})"),
    ]
    if check.get("constant_outputs"):
        rows.append(("warning", f"{check['constant_outputs']} of {check['count']} exported outputs are constant "
                                "(all classes equal), so their top-1 is meaningless; with int8 a softmax over "
                                "near-equal probabilities (e.g. random weights) rounds to one level: "
                                "--classifier-activation none exports the logits"))
    if "preprocessing_check" in s:
        p = s["preprocessing_check"]
        rows.append(("encoded in",
                     f"max |diff| {p['max_abs_diff']:.3g}, top-1 {p['top1_agree']}/{p['count']}: {p['source']}"))
    if check["tolerance"] is not None:
        kind = "float16 weights" if s.get("quantize") == "float16" else "float export"
        verdict = f"passed ({kind}: relative difference <= {check['tolerance']:g})"
    elif check["min_agreement"]:
        verdict = f"passed (quantized: top-1 agreement >= {check['min_agreement']:.1%})"
    else:
        verdict = "reported (quantized: differences are expected; --min-agreement makes it a check)"
    rows += [
        ("check", verdict),
        ("latency", f"{s['latency_ms_per_image']:.2f} ms/image ({s['runtime']}, batch {s['latency']['batch']}, "
                    f"median of {s['latency']['runs']})"),
    ]
    if "report" in s:
        rows.append(("report", s["report"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _inputs(args) -> list[str]:
    """The files and folders the export reads, which it must never write over."""
    return [p for p in (args.model, args.weights, args.class_names_file, args.calibration_data)
            if p is not None and os.path.exists(p)]


def _show(caught) -> None:
    """The warnings recorded during the export: ours as one line each, the others as Python shows them."""
    for w in caught:
        if issubclass(w.category, ExportWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    export_options = dict(quantize=args.quantize, include_preprocessing=args.include_preprocessing,
                   calibration_data=args.calibration_data, calibration_steps=args.calibration_steps,
                   batch_size=args.batch_size, check_samples=args.check_samples, tolerance=args.tolerance,
                   min_agreement=args.min_agreement, opset=args.opset, latency_runs=args.latency_runs,
                   calibration_method=args.calibration_method, calibration_per_class=args.calibration_per_class)
    try:
        # Everything that can be checked cheaply, before the model is built (or downloaded).
        check_options(args.format, **export_options)
        if args.calibration_data is not None:
            list_image_files(args.calibration_data)
        path = artefact_path(args.output, args.format)
        prepare_output(path, args.format, overwrite=args.overwrite, inputs=_inputs(args))
        remove_stale_temporaries(os.path.dirname(os.path.abspath(path)))  # what killed exports left there
        activation = None if args.classifier_activation == "none" else args.classifier_activation
        if options.is_exported_model(args):
            raise ValueError(f"--model {args.model} is already an exported model; export takes a graph name, a "
                             "preset or a .keras file (evaluate, predict and benchmark run exported models)")
        clf = options.load_model(args, classifier_activation=activation)
        weights = args.model if not options.is_graph(args) else (args.weights or "none")
        info = {"registry_name": clf.pretrained_cfg["architecture"], "weights": weights,
                "classifier_activation": activation}
        caught = []
        try:
            with options.max_pixels(args), warnings.catch_warnings(record=True) as caught:
                # calibration images, and the SavedModel's in-graph decoding
                warnings.simplefilter("always", ExportWarning)
                summary = export_model(clf.network, path, args.format, preprocessing=clf.preparation,
                                       info=info, labels=clf.class_names, overwrite=args.overwrite,
                                       **export_options)
        finally:
            _show(caught)  # outside the recording: a warning shown inside it would be recorded again
    except ExportCheckError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    options.emit(args, summary, format_summary(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
