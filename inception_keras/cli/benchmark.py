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
import os
import sys


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes must be integers separated by commas, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmark", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--model", default="all", nargs="+",
                        help="registry names, or 'all' (default)")
    parser.add_argument("--input-size", type=int, default=299, help="input height and width (default 299)")
    parser.add_argument("--batch-sizes", type=_batch_sizes, default=[1, 8, 32], help="comma-separated (default 1,8,32)")
    parser.add_argument("--runs", type=int, default=20, help="timed calls per batch size (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    parser.add_argument("--jit-compile", action="store_true", help="compile with XLA")
    parser.add_argument("--mixed-precision", nargs="?", const="auto", choices=("auto", "bfloat16", "float16"),
                        help="compute in bfloat16 or float16 (auto: bfloat16, float16 on GPUs without bf16)")
    parser.add_argument("--macs-only", action="store_true", help="parameters and multiply-adds only, no timing")
    parser.add_argument("--json", metavar="PATH", help="also write the records as a JSON list")
    return parser


def format_records(records: list[dict]) -> str:
    from inception_keras.tables import format_table  # noqa: PLC0415

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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from inception_keras.profile import mixed_precision_policy  # noqa: PLC0415
    from inception_keras.fileio import write_json  # noqa: PLC0415
    from inception_keras.profile import MACS_COUNTED, benchmark_model, device_description  # noqa: PLC0415
    from inception_keras.registry import list_models  # noqa: PLC0415

    names = list_models() if args.model in ("all", ["all"]) else list(args.model)
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}; choose from {', '.join(list_models())} or all",
              file=sys.stderr)
        return 2
    if args.runs < 1 or args.warmup < 0 or args.input_size < 75:
        print("error: --runs must be >= 1, --warmup >= 0 and --input-size >= 75", file=sys.stderr)
        return 2
    precision = mixed_precision_policy(args.mixed_precision)
    mixed = None if precision == "float32" else precision.split("_", 1)[1]
    records = []
    for name in names:
        records += benchmark_model(name, input_size=args.input_size, batch_sizes=args.batch_sizes, runs=args.runs,
                                   warmup=args.warmup, jit_compile=args.jit_compile, mixed_precision=mixed,
                                   macs_only=args.macs_only, progress=lambda m: print(m, file=sys.stderr))
    device = device_description()
    for r in records:
        r["device"] = device
    print(format_records(records))
    print(f"\ndevice: {device}\nmultiply-adds: {MACS_COUNTED}")
    if not args.macs_only:
        print(f"latency: one predict_on_batch call, median and p90 of {args.runs} after {args.warmup} warm-up calls")
    if args.json:
        write_json(args.json, records)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
