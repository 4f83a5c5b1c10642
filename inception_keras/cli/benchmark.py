"""Benchmark the zoo, or put any models side by side: a Keras model, its ONNX and int8 exports.

    python tools/benchmark.py                                   # every model, batches 1, 8, 32 at 299x299
    python tools/benchmark.py --model inception_v4 --batch-sizes 1,64 --jit-compile --mixed-precision
    python tools/benchmark.py --macs-only --json macs.json
    python tools/benchmark.py --model inception_v4 v4.onnx v4_int8.onnx --batch-size 8 --runs 10
    python tools/benchmark.py --model runs/x/best v1.tflite v1_saved_model --threads 2 --json side.json

Graph names and presets alone: one row per model and batch size, with parameters and
multiply-adds (Conv2D and Dense layers); latency is the wall time of one ``predict_on_batch``
call (inputs in, numpy scores out), median and 90th percentile over --runs calls after
--warmup untimed ones; images/s is the batch size over the median latency.

Side by side (any exported model among --model: .onnx, .tflite, .keras, a SavedModel folder;
or --compare): one row per model, each in its own runtime (ONNX Runtime, LiteRT, TensorFlow,
Keras), opened once, then timed in turn: every round runs each model at batch 1 and at
--batch-size (default 8), so that drift in the machine falls on all alike. Columns: format,
precision, file size, load time, RSS added, batch-1 latency (median, p90), images/s at
--batch-size. A local preset folder is loaded with its weights; a graph name, or a named or
remote preset, is built with random weights (no download: weights do not change the timing).
"""

from __future__ import annotations

import argparse
import sys

from . import options

COMPARE_BATCH = 8  # side by side: the default throughput batch


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes must be integers separated by commas, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("benchmark", __doc__)
    model = parser.add_argument_group("model")
    model.add_argument("--model", default=["all"], nargs="+",
                       help="graph names, presets (named, a preset folder, hf://...: their graph, classes and input "
                            "size; weights do not change the timing), exported models (.onnx, .tflite, .keras, a "
                            "SavedModel folder), or 'all' (default)")
    model.add_argument("--compare", action="store_true",
                       help="time the models side by side, in turn, in one table (the default when an exported "
                            "model is among --model)")
    model.add_argument("--variant", choices=("paper", "slim"),
                       help="for inception_resnet_v2: 'slim' is TF-slim's graph, the one with published weights")
    options.add_input_size(model, default=None)
    timing = parser.add_argument_group("timing")
    timing.add_argument("--batch-sizes", type=_batch_sizes, default=None,
                        help="comma-separated (default 1,8,32); side by side: throughput at the largest")
    timing.add_argument("--batch-size", dest="batch_sizes", type=_batch_sizes, default=argparse.SUPPRESS,
                        help="one batch size (the same as --batch-sizes N); side by side: the throughput batch "
                             f"(default {COMPARE_BATCH}; latency is always at batch 1)")
    timing.add_argument("--runs", type=int, default=20,
                        help="timed calls per batch size; side by side: timed rounds (default 20)")
    timing.add_argument("--warmup", type=int, default=3,
                        help="untimed calls first; side by side: untimed rounds (default 3)")
    timing.add_argument("--macs-only", action="store_true", help="parameters and multiply-adds only, no timing")
    options.add_runtime_options(parser)
    options.add_run_options(parser, strategies=(), jit_default="auto")
    options.add_output_options(parser, progress=False)
    return parser


def format_records(records: list[dict]) -> str:
    from ..utils.tables import format_table  # noqa: PLC0415

    if records and "batch_size" not in records[0]:
        header = ("model", "variant", "input", "params", "GMACs", "build s")
        rows = [(r["model"], r["variant"], r["input_size"], f"{r['params']:,}", f"{r['macs'] / 1e9:.2f}",
                 f"{r['build_seconds']:.2f}") for r in records]
        return format_table(header, rows, right=range(2, 6))
    header = ("model", "variant", "input", "params", "GMACs", "build s", "precision", "XLA", "batch",
              "median ms", "p90 ms", "images/s")
    rows = [(r["model"], r["variant"], r["input_size"], f"{r['params']:,}", f"{r['macs'] / 1e9:.2f}",
             f"{r['build_seconds']:.2f}", r["precision"], "yes" if r["jit_compile"] else "no", r["batch_size"],
             f"{r['latency_ms_median']:.1f}", f"{r['latency_ms_p90']:.1f}", f"{r['images_per_second']:.1f}")
            for r in records]
    return format_table(header, rows, right=(2, 3, 4, 5, 8, 9, 10, 11))


def _side_by_side(args) -> bool:
    from ..runtimes import is_exported  # noqa: PLC0415

    return args.compare or any(is_exported(m) for m in args.model)


def _json_problem(args) -> str | None:
    from ..utils.fileio import writable_folder_problem  # noqa: PLC0415

    if args.json in (None, "-"):
        return None
    problem = writable_folder_problem(args.json)
    return f"--json {args.json}: {problem}" if problem else None


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    problem = _json_problem(args)
    if args.runs < 1 or args.warmup < 0:
        problem = "--runs must be >= 1 and --warmup >= 0"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        if _side_by_side(args):
            return _compare(args)
        return _zoo(args)
    except (ValueError, OSError) as e:  # unknown names, unusable presets or exports: nothing written
        print(f"error: {e}", file=sys.stderr)
        return 2


def _compare(args) -> int:
    """Side by side: every --model opened once, timed in turn, one row each."""
    from ..benchmark.compare import compare_models, format_comparison  # noqa: PLC0415
    from ..profile import device_description, mixed_precision_policy  # noqa: PLC0415
    from ..weights.factory import list_models  # noqa: PLC0415

    if args.macs_only:
        raise ValueError("--macs-only counts the Keras graphs' multiply-adds; it does not apply to exported models "
                         "(drop them, or drop --macs-only)")
    if args.variant:
        raise ValueError("--variant applies to one graph name; side by side, name the graph itself "
                         "(inception_resnet_v2_slim)")
    if args.input_size is not None and args.input_size < 75:
        raise ValueError("--input-size must be >= 75")
    refs = list_models() if args.model in ("all", ["all"]) else list(args.model)
    batch = max(args.batch_sizes) if args.batch_sizes else COMPARE_BATCH
    with options.weights_errors():  # a remote preset that cannot be fetched: one line, exit 2
        records = compare_models(refs, batch_size=batch, runs=args.runs, warmup=args.warmup,
                                 policy=mixed_precision_policy(args.mixed_precision),
                                 progress=lambda m: print(m, file=sys.stderr, flush=True), provider=args.provider,
                                 threads=args.threads, input_size=args.input_size, random_weights=True,
                                 jit_compile=options.jit_value(args.jit_compile))
    device = device_description()
    for r in records:
        r["device"] = device
    options.emit(args, records, "\n".join([format_comparison(records), f"device: {device}"]))
    return 0


def _zoo(args) -> int:
    """Graph names and presets: parameters, multiply-adds and timing per model and batch size."""
    from ..profile import MACS_COUNTED, benchmark_model, device_description  # noqa: PLC0415
    from ..profile import mixed_precision_policy  # noqa: PLC0415

    targets = _zoo_targets(args)
    if min(t[3] for t in targets) < 75:
        raise ValueError("--input-size must be >= 75")
    precision = mixed_precision_policy(args.mixed_precision)
    mixed = None if precision == "float32" else precision.split("_", 1)[1]
    batch_sizes = args.batch_sizes or [1, 8, 32]
    records = []
    for name, label, kwargs, size in targets:
        records += benchmark_model(name, input_size=size, batch_sizes=batch_sizes, runs=args.runs,
                                   warmup=args.warmup, jit_compile=options.jit_value(args.jit_compile),
                                   mixed_precision=mixed,
                                   macs_only=args.macs_only, progress=lambda m: print(m, file=sys.stderr),
                                   build=kwargs, label=label)
    device = device_description()
    for r in records:
        r["device"] = device
    lines = [format_records(records), "", f"device: {device}", f"multiply-adds: {MACS_COUNTED}"]
    if not args.macs_only:
        lines.append(f"latency: one predict_on_batch call, median and p90 of {args.runs} after {args.warmup} "
                     f"warm-up calls")
    options.emit(args, records, "\n".join(lines))
    return 0


def _zoo_targets(args) -> list[tuple]:
    """(graph, label, constructor arguments, input size) of each --model."""
    from ..weights.loading import preset_info  # noqa: PLC0415
    from ..weights.factory import list_models  # noqa: PLC0415
    from ..models.registry import resolve_model_name

    targets = []
    for value in (list_models() if args.model in ("all", ["all"]) else list(args.model)):
        if value in list_models() or (value == "inception_resnet_v2" and args.variant):
            name = resolve_model_name(value, args.variant) if value.startswith("inception_resnet_v2") else value
            targets.append((name, name, {}, args.input_size or 299))
        else:
            info = preset_info(value)
            if args.input_size is not None and args.input_size != info.input_size:
                raise ValueError(f"--input-size {args.input_size} contradicts the preset {value} "
                                 f"({info.input_size}); drop it")
            kwargs = {k: v for k, v in info.arguments.items() if k != "input_shape"}
            targets.append((info.model, value, kwargs, info.input_size))
    return targets


if __name__ == "__main__":
    raise SystemExit(main())
