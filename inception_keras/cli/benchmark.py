"""Benchmark the zoo: parameters, multiply-adds, build time, latency and throughput.

    python tools/benchmark.py                                   # every model, batches 1, 8, 32 at 299x299
    python tools/benchmark.py --model inception_v4 --batch-sizes 1,64 --jit-compile --mixed-precision
    python tools/benchmark.py --macs-only --json macs.json

Latency is the wall time of one ``predict_on_batch`` call (inputs in, numpy scores out),
median and 90th percentile over --runs calls after --warmup untimed ones; images/s is the
batch size over the median latency. Multiply-adds count the Conv2D and Dense layers.
"""

from __future__ import annotations

import argparse
import sys

from . import options


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
                            "size; weights do not change the timing), or 'all' (default)")
    model.add_argument("--variant", choices=("paper", "slim"),
                       help="for inception_resnet_v2: 'slim' is TF-slim's graph, the one with published weights")
    options.add_input_size(model, default=None)
    timing = parser.add_argument_group("timing")
    timing.add_argument("--batch-sizes", type=_batch_sizes, default=[1, 8, 32],
                        help="comma-separated (default 1,8,32)")
    timing.add_argument("--batch-size", dest="batch_sizes", type=_batch_sizes, default=argparse.SUPPRESS,
                        help="one batch size (the same as --batch-sizes N)")
    timing.add_argument("--runs", type=int, default=20, help="timed calls per batch size (default 20)")
    timing.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    timing.add_argument("--macs-only", action="store_true", help="parameters and multiply-adds only, no timing")
    options.add_run_options(parser, strategies=())
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


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    from ..profile import MACS_COUNTED, benchmark_model, device_description  # noqa: PLC0415
    from ..profile import mixed_precision_policy  # noqa: PLC0415
    from ..weights.factory import list_models  # noqa: PLC0415
    from ..models.registry import resolve_model_name

    from ..weights.loading import preset_info  # noqa: PLC0415

    targets = []  # (graph, label, constructor arguments, input size)
    try:
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
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.runs < 1 or args.warmup < 0 or min(t[3] for t in targets) < 75:
        print("error: --runs must be >= 1, --warmup >= 0 and --input-size >= 75", file=sys.stderr)
        return 2
    precision = mixed_precision_policy(args.mixed_precision)
    mixed = None if precision == "float32" else precision.split("_", 1)[1]
    records = []
    for name, label, kwargs, size in targets:
        records += benchmark_model(name, input_size=size, batch_sizes=args.batch_sizes, runs=args.runs,
                                   warmup=args.warmup, jit_compile=options.jit_value(args.jit_compile) is True,
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


if __name__ == "__main__":
    raise SystemExit(main())
