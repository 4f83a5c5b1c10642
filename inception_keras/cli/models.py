"""Build every model of the zoo and print a table: name, variant, input, output, parameters.

    python tools/list_models.py
    python tools/list_models.py --input-size 224 --classes 10 --json models.json
    python tools/list_models.py --pretrained          # the named pretrained presets
    inception-keras-models --model inception_v4 inception_resnet_v2_slim

Runs offline: the models are built with random weights; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import options


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("inception-keras-models", __doc__)
    model = parser.add_argument_group("model")
    model.add_argument("--model", nargs="+", metavar="NAME", help="models to build (default: all)")
    model.add_argument("--classes", type=int, default=1000, help="classifier outputs (default 1000)")
    options.add_input_size(model)
    model.add_argument("--pretrained", action="store_true",
                       help="list the named pretrained presets instead (name, graph, classes, sources, published "
                            "top-1/top-5); nothing is built or downloaded")
    options.add_output_options(parser, progress=False)
    return parser


def describe(name: str, input_size: int = 299, classes: int = 1000) -> dict:
    """Build ``name`` and return its row of the table."""
    import keras  # noqa: PLC0415 - keep --help fast

    from .. import create_model  # noqa: PLC0415
    from ..models.registry import model_variant  # noqa: PLC0415

    start = time.perf_counter()
    model = create_model(name, input_shape=(input_size, input_size, 3), classes=classes)
    seconds = time.perf_counter() - start
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    variant = model_variant(name)
    row = {
        "name": name,
        "variant": variant,
        "input": list(model.input_shape[1:]),
        "output": list(model.output_shape[1:]),
        "features": int(model.get_layer("Logits__Logits").input.shape[-1]),
        "params": int(model.count_params()),
        "trainable": trainable,
        "layers": len(model.layers),
        "build_seconds": round(seconds, 2),
    }
    keras.backend.clear_session()
    return row


def format_table(rows: list[dict]) -> str:
    from ..utils.tables import format_table as table  # noqa: PLC0415

    header = ("model", "variant", "input", "output", "features", "params", "trainable", "layers")
    lines = [
        (r["name"], r["variant"], "x".join(map(str, r["input"])), "x".join(map(str, r["output"])),
         r["features"], f"{r['params']:,}", f"{r['trainable']:,}", r["layers"])
        for r in rows
    ]
    return table(header, lines, right=range(4, 8))


def pretrained_rows() -> list[dict]:
    from .. import list_pretrained  # noqa: PLC0415

    return [row._asdict() for row in list_pretrained()]


def _short_source(uri: str) -> str:
    if uri.startswith("$"):
        return "local folder"
    if uri.startswith(("https://download.tensorflow.org", "http://download.tensorflow.org")):
        return "TF-slim tarball"
    return uri


def format_pretrained(rows: list[dict]) -> str:
    from ..utils.tables import format_table as table  # noqa: PLC0415

    def pct(value):
        return "n/a" if value is None else f"{value:.1f}"

    header = ("preset", "graph", "classes", "top-1", "top-5", "sources, tried in order")
    lines = [(r["name"], r["graph"], r["classes"], pct(r["top1"]), pct(r["top5"]),
              ", ".join(_short_source(s) for s in r["sources"])) for r in rows]
    out = [table(header, lines, right=(2, 3, 4))]
    aliases = [f"  {a} -> {r['name']}" for r in rows for a in r["aliases"]]
    if aliases:
        out += ["", "aliases:", *aliases]
    out += ["", "top-1 / top-5: published ImageNet validation accuracy (%), single 299x299 crop.",
            "Load one with create_model('<preset>') or --model <preset>; --json gives the full source URIs."]
    return "\n".join(out)


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    from .. import list_models  # noqa: PLC0415

    if args.pretrained:
        rows = pretrained_rows()
        options.emit(args, rows, format_pretrained(rows))
        return 0

    names = args.model or list_models()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}; choose from {', '.join(list_models())}",
              file=sys.stderr)
        return 2
    try:
        rows = [describe(n, args.input_size, args.classes) for n in names]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    options.emit(args, rows, format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
