"""Draw the full graph of every model and each block type, into architectures/.

    python tools/plot_architectures.py                  # everything, into ./architectures
    python tools/plot_architectures.py --model inception_resnet_v2 --block inception_resnet_b --format svg
    python tools/plot_architectures.py --block full --format dot --output-dir /tmp/graphs
    inception-keras-plot --model inception_v4 --block stem inception_a --rankdir LR --dpi 120

Files: <dir>/<model>.<format> for the full graphs and <dir>/blocks/<model>/<block>.<format>
for the blocks, then <dir>/manifest.json and the index <dir>/README.md are brought up to
date (earlier entries of other files are kept). By default full graphs are written as
.dot, .svg and .png (48 dpi) and blocks as .png (96 dpi) and .svg. PNG and SVG need
Graphviz's `dot` program; `--format dot` needs only pydot. Runs offline.
"""

from __future__ import annotations

import argparse
import json
import sys

from inception_keras.cli import options
from pathlib import Path

from inception_keras.fileio import write_text

FULL = "full"  # the --block name of a model's full graph
FORMATS = ("png", "svg", "dot")  # as inception_keras.visualize, which imports keras: --help stays fast
RANKDIRS = ("TB", "LR")
FULL_FORMATS = ("dot", "svg", "png")
BLOCK_FORMATS = ("png", "svg")
FULL_DPI = 48  # a full graph is 20-30 thousand pixels tall at 48 dpi; its text is 10 pixels high
BLOCK_DPI = 96
MANIFEST = "manifest.json"
INDEX = "README.md"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inception-keras-plot", description=__doc__.splitlines()[0],
        epilog="Block names: full (the whole network), stem, inception_a/b/c or inception_resnet_a/b/c, "
               "reduction_a, reduction_b, aux_head, final_block (inception_resnet_v2_slim).",
    )
    what = parser.add_argument_group("what to draw")
    what.add_argument("--model", nargs="+", metavar="NAME", help="models to draw (default: all)")
    what.add_argument("--block", nargs="+", metavar="NAME",
                      help=f"drawings of each model: '{FULL}' and/or block types (default: all)")
    options.add_input_size(what)
    how = parser.add_argument_group("how to draw it")
    how.add_argument("--format", nargs="+", choices=FORMATS, metavar="FORMAT",
                     help=f"any of {', '.join(FORMATS)} (default: dot svg png for full graphs, png svg for blocks)")
    how.add_argument("--rankdir", choices=RANKDIRS, default="TB", help="TB: top to bottom (default); LR: left to right")
    how.add_argument("--dpi", type=int, help=f"PNG resolution (default {FULL_DPI} for full graphs, {BLOCK_DPI} for blocks)")
    how.add_argument("--show-shapes", action=argparse.BooleanOptionalAction, default=True,
                     help="show each layer's input and output shapes (default: yes)")
    parser.add_argument("--output-dir", default="architectures", help="folder to write into (default: architectures)")
    options.add_verbose(parser)
    return parser


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _plan(args):
    """[(model, [drawings])] from --model and --block, or an error message."""
    from inception_keras import list_models  # noqa: PLC0415
    from inception_keras.visualize import block_names  # noqa: PLC0415

    models = args.model or list_models()
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        return f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(list_models())}"
    if not args.block:
        return [(m, [FULL, *block_names(m)]) for m in models]
    known = {FULL} | {b for m in list_models() for b in block_names(m)}
    requested = args.block
    unknown = [b for b in requested if b not in known]
    if unknown:
        return f"unknown block(s) {', '.join(unknown)}; choose from {', '.join([FULL, *sorted(known - {FULL})])}"
    plan = [(m, [b for b in [FULL, *block_names(m)] if b in requested]) for m in models]
    missing = [b for b in requested if not any(b in drawings for _, drawings in plan)]
    if missing:
        choices = [FULL, *sorted({b for m in models for b in block_names(m)})]
        return (f"{', '.join(models)} {'has' if len(models) == 1 else 'have'} no block {', '.join(missing)}; "
                f"choose from {', '.join(choices)}")
    return plan


def _draw(name: str, drawing: str, model, base: Path, formats, dpi, args, title: str) -> list[dict]:
    from inception_keras import visualize  # noqa: PLC0415

    graph = visualize.to_dot(model, rankdir=args.rankdir, dpi=dpi, show_shapes=args.show_shapes, title=title)
    rows = []
    for fmt in formats:
        written = visualize.write(graph, base.with_suffix(f".{fmt}"), fmt)
        for line in written.warnings:
            print(f"warning: {written.path}: {line}", file=sys.stderr)
        rows.append({
            "file": written.path.relative_to(args.output_dir).as_posix(),
            "model": name,
            "block": drawing,
            "title": title,
            "format": fmt,
            "layers": len(model.layers),
            "bytes": written.bytes,
            **({"width": written.width, "height": written.height} if fmt == "png" else {}),
            "rankdir": args.rankdir,
            "dpi": dpi,
            "show_shapes": args.show_shapes,
        })
    return rows


def _draw_all(plan, args) -> list[dict]:
    import keras  # noqa: PLC0415

    from inception_keras import create_model, visualize  # noqa: PLC0415

    out = Path(args.output_dir)
    rows = []
    for name, drawings in plan:
        if FULL in drawings:
            model = create_model(name, input_shape=(args.input_size, args.input_size, 3))
            title = (f"{name}: {len(model.layers)} layers, "
                     f"{visualize.shape_text(model.input.shape)} -> {visualize.shape_text(model.output.shape)}")
            rows += _draw(name, FULL, model, out / name, args.format or FULL_FORMATS, args.dpi or FULL_DPI, args, title)
            del model
            keras.backend.clear_session()
        blocks = [b for b in drawings if b != FULL]
        if blocks:
            for block, model in visualize.block_models(name, blocks).items():
                title = (f"{name}: {visualize.block_title(name, block)}: "
                         f"{visualize.shape_text(model.input.shape)} -> {visualize.shape_text(model.output.shape)}")
                rows += _draw(name, block, model, out / "blocks" / name / block, args.format or BLOCK_FORMATS,
                              args.dpi or BLOCK_DPI, args, title)
            keras.backend.clear_session()
    return rows


# =========================================================================== #
# Manifest and index
# =========================================================================== #
def _sort_key(row):
    from inception_keras import list_models  # noqa: PLC0415
    from inception_keras.visualize import block_names  # noqa: PLC0415

    models = list_models()
    model = models.index(row["model"]) if row["model"] in models else len(models)
    drawings = [FULL, *block_names(row["model"])] if row["model"] in models else []
    block = drawings.index(row["block"]) if row["block"] in drawings else len(drawings)
    fmt = FORMATS.index(row["format"]) if row["format"] in FORMATS else len(FORMATS)
    return model, block, fmt, row["file"]


def merge_manifest(out: Path, rows: list[dict]) -> list[dict]:
    """This run's rows, plus the earlier rows of ``out/manifest.json`` whose files still exist."""
    new = {r["file"] for r in rows}
    try:
        old = json.loads((out / MANIFEST).read_text())["drawings"]
    except (OSError, ValueError, KeyError, TypeError):
        old = []
    kept = [r for r in old if isinstance(r, dict) and r.get("file") not in new and (out / str(r.get("file"))).is_file()]
    return sorted(kept + rows, key=_sort_key)


def format_index(rows: list[dict]) -> str:
    """architectures/README.md: one line per drawing, linking its files."""
    lines = [
        "# Architecture drawings",
        "",
        "Written by `python tools/plot_architectures.py` (`inception_keras/cli/plot.py`); do not edit by hand.",
        "Each box is one layer: its slim-style name (`/` written `__`), its class and, unless drawn with",
        "`--no-show-shapes`, its input and output shapes. Full graphs draw every layer, the layers of each",
        "block inside a dashed box; their PNGs are tens of thousands of pixels tall, so open them at 100 %",
        "or use the SVG, which a browser zooms and searches. Each block type is drawn as a small model of",
        "its own, at the input shape it has in the 299x299 network. `manifest.json` lists every file with",
        "its size and drawing options.",
    ]
    model = None
    drawings = {}
    for row in rows:
        drawings.setdefault((row["model"], row["block"]), []).append(row)
    for (name, block), files in drawings.items():
        if name != model:
            lines += ["", f"## {name}", ""]
            model = name
        first = files[0]
        what = first["title"].split(": ", 1)[-1]  # the title without the model's name
        if block == FULL:
            label = "**full graph**"  # the title has the number of layers
        else:
            label, what = f"`{block}`", f"{what}, {first['layers']} layers"
        links = " · ".join(f"[{r['format']}]({r['file']})" for r in files)
        lines.append(f"- {label}: {what}: {links}")
    return "\n".join(lines) + "\n"


def format_table(rows: list[dict]) -> str:
    header = ("file", "layers", "size")
    lines = []
    for r in rows:
        size = f"{r['bytes'] / 1e6:.2f} MB" if r["bytes"] >= 1e6 else f"{r['bytes'] / 1e3:.1f} kB"
        if "width" in r:
            size = f"{size}, {r['width']}x{r['height']} px"
        lines.append((r["file"], str(r["layers"]), size))
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join((str.ljust if i != 1 else str.rjust)(h, w) for i, (h, w) in enumerate(zip(header, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join((str.ljust if i != 1 else str.rjust)(c, w) for i, (c, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    from inception_keras import visualize  # noqa: PLC0415
    from inception_keras.specs import MIN_INPUT_SIZE  # noqa: PLC0415

    plan = _plan(args)
    if isinstance(plan, str):
        return _error(plan)
    if args.input_size < MIN_INPUT_SIZE:
        return _error(f"--input-size must be at least {MIN_INPUT_SIZE}, got {args.input_size}")
    if args.dpi is not None and not 1 <= args.dpi <= 600:
        return _error(f"--dpi must be between 1 and 600, got {args.dpi}")
    formats = set(args.format or FULL_FORMATS + BLOCK_FORMATS)
    if formats & {"png", "svg"} and not visualize.graphviz_available():
        return _error(visualize.INSTALL_HINT)

    try:
        rows = _draw_all(plan, args)
    except ImportError as e:  # pydot missing: Keras says how to install it
        return _error(str(e))
    except visualize.RenderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.output_dir)
    manifest = merge_manifest(out, rows)
    write_text(out / MANIFEST, json.dumps({"drawings": manifest}, indent=1) + "\n")
    write_text(out / INDEX, format_index(manifest))
    print(format_table(rows))
    print(f"wrote {len(rows)} files into {out}/, and {MANIFEST} and {INDEX} listing {len(manifest)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
