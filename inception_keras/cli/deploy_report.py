"""Compare deployed models with their source: accuracy, agreement, speed and size in one report.

    python tools/deploy_report.py --model runs/x/best v1.onnx v1_int8.onnx --data val/ --out report/
    python tools/deploy_report.py --model v4.onnx v4_int8.onnx v4.tflite --reference inception_v4.tf_in1k \\
        --data imagenet_val/ --limit 1000 --batch-size 8 --runs 10 --out deploy/

Every --model (graph names, presets, .onnx, .tflite, .keras, SavedModel folders) runs in its own
runtime on the same images, read and preprocessed as evaluate reads them (the evaluation
preprocessing each model carries). Against --reference (default: the first --model): top-1
agreement, top-5 overlap, largest and mean class-probability differences; with labels that
match the models' classes: top-1 and top-5. Then every model is timed in turn in one process
(batch-1 latency, images/s at --batch-size) and its file size and memory are noted.

Writes deploy_report.md, deploy_report.json and deploy_report.svg (top-1, or agreement when
there are no usable labels, against batch-1 latency; one point per model) into --out, each
atomically; nothing is written when an input is refused. A graph name is built with random
weights: name a preset or an exported model to compare real ones.
"""

from __future__ import annotations

import os
import sys

from . import options

OUTPUT_FILES = ("deploy_report.md", "deploy_report.json", "deploy_report.svg")


def build_parser():
    parser = options.make_parser("deploy-report", __doc__)
    models = parser.add_argument_group("models")
    models.add_argument("--model", nargs="+", required=True,
                        help="the models to compare: graph names, presets (named, a preset folder, hf://...), "
                             "exported models (.onnx, .tflite, .keras, a SavedModel folder)")
    models.add_argument("--reference", default=None,
                        help="the model the others are compared with, usually the one they were exported from "
                             "(default: the first --model); added to the report when not among --model")
    options.add_input_size(models, default=None)
    options.add_runtime_options(parser)
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True,
                      help="labelled images, as evaluate reads them: class folders, a folder with a label file, "
                           "or TFRecord shards")
    data.add_argument("--labels", default=None, help="label file for a flat folder of images (as in evaluate)")
    data.add_argument("--limit", type=options.positive, default=None, help="the first N images only")
    options.add_max_pixels(data)
    timing = parser.add_argument_group("timing")
    timing.add_argument("--batch-size", type=options.positive, default=8,
                        help="images per batch for the predictions and the throughput (default 8)")
    timing.add_argument("--runs", type=options.positive, default=10, help="timed rounds (default 10)")
    timing.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help=f"folder for {', '.join(OUTPUT_FILES)} (created if missing)")
    out.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    options.add_verbose(out)
    return parser


def check_output(folder: str) -> None:
    """OSError unless the report's files can be written into ``folder``; creates nothing."""
    from ..utils.fileio import check_output_folder  # noqa: PLC0415

    for name in OUTPUT_FILES:
        if os.path.isdir(os.path.join(folder, name)):
            raise OSError(f"--out {folder}: {name} is a folder; give another --out")
    check_output_folder(folder, ", ".join(OUTPUT_FILES), flag="--out")


def run(args, command: str | None = None) -> dict:
    """Build the report as the tool does, write its files and return it."""
    from ..benchmark.compare import close_all, open_all, warm_runtime  # noqa: PLC0415
    from ..benchmark.report import build_report  # noqa: PLC0415
    from ..data.datasets import find_image_set  # noqa: PLC0415
    from ..profile import device_description  # noqa: PLC0415

    check_output(args.out)
    if args.warmup < 0:
        raise ValueError("--warmup must be >= 0")
    refs = list(dict.fromkeys(args.model))  # a name given twice is one model
    reference = args.reference or refs[0]
    if reference not in refs:
        refs.insert(0, reference)
    image_set = find_image_set(args.data, args.labels)
    progress = None if args.no_progress else (lambda m: print(m, file=sys.stderr, flush=True))
    warm_runtime()
    with options.weights_errors():  # a named preset's weights that cannot be fetched: one line, exit 2
        artifacts = open_all(refs, progress=progress, provider=args.provider, threads=args.threads,
                             input_size=args.input_size)
    try:
        with options.max_pixels(args):
            report = build_report(artifacts, refs.index(reference), image_set, batch_size=args.batch_size,
                                  limit=args.limit, runs=args.runs, warmup=args.warmup,
                                  max_pixels=args.max_pixels, progress=progress)
    finally:
        close_all(artifacts)
    report["command"], report["device"] = command, device_description()
    write(report, args.out)
    return report


def write(report: dict, folder: str) -> list[str]:
    """deploy_report.svg, .json and .md into ``folder`` (made if missing), each atomically."""
    from ..benchmark.report import format_markdown  # noqa: PLC0415
    from ..benchmark.svg import report_plot  # noqa: PLC0415
    from ..utils.fileio import write_json, write_text  # noqa: PLC0415

    md, js, svg = (os.path.join(folder, name) for name in OUTPUT_FILES)
    plot, what = report_plot(report)
    report["plot"] = {"file": os.path.basename(svg), "y": what, "x": "batch-1 latency, median (ms)"}
    report["plot_y"] = what
    os.makedirs(folder, exist_ok=True)
    write_text(svg, plot)
    write_json(js, report)
    write_text(md, format_markdown(report, os.path.basename(svg)))
    return [md, js, svg]


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    command = options.command_line("deploy-report", sys.argv[1:] if argv is None else argv)
    from ..benchmark.report import report_rows  # noqa: PLC0415
    from ..utils.tables import format_table  # noqa: PLC0415

    try:
        report = run(args, command)
    except (ValueError, OSError) as e:  # DataError, RuntimeOpenError, ReportError, unknown names: all ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    header, rows = report_rows(report)
    print(format_table(header, rows, right=range(3, len(header))))
    for r in report["artifacts"]:
        if r["constant_outputs"]:
            print(f"warning: {r['name']} gives every class the same probability on {r['constant_outputs']} images: "
                  f"its top-1 there is arbitrary", file=sys.stderr)
    print(f"\nreference: {report['reference']}; {report['data']['images']} images; device: {report['device']}")
    print(f"wrote {', '.join(os.path.join(args.out, n) for n in OUTPUT_FILES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
