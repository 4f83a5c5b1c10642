"""Draw every model and each block type into architectures/, compact like the paper's figures.

    python tools/plot_architectures.py                  # everything, into ./architectures
    python tools/plot_architectures.py --model inception_resnet_v2 --block inception_resnet_b --format svg
    python tools/plot_architectures.py --model inception_v4 --block overview --format png
    python tools/plot_architectures.py --style full --block full --format dot --output-dir /tmp/graphs
    inception-keras-plot --model inception_v4 --block stem inception_a --rankdir LR --dpi 120

Two styles. `--style paper` (the default) draws one box per conv unit (Conv2D + BatchNorm +
ReLU), labelled as the paper labels it ("3x3 Conv (384 stride 2 V)"), branches left to right
from Branch_0, and per model an overview like the paper's Figures 9 and 15 ("4 x Inception-A",
with the output shape of every stage). `--style full` draws every Keras layer with its
slim-style name and shapes (the `full` graph of a whole model is 20-30 thousand pixels tall).

Files: <dir>/<model>.<format> (the overview) and <dir>/blocks/<model>/<block>.<format>;
with --style full, <dir>/full/<model>.<format> and <dir>/full/blocks/<model>/<block>.<format>.
Then <dir>/manifest.json and the index <dir>/README.md are brought up to date (earlier
entries of other files are kept). By default paper drawings are written as .png (96 dpi),
.svg and .dot; full graphs as .dot, .svg and .png (48 dpi), full-style blocks as .png and .svg.
PNG and SVG need a Graphviz `dot` program: the system's when one is on PATH (apt-get, conda or
brew install graphviz), else the graphviz-pure wheel's, which `pip install inception-keras` brings;
`--format dot` needs only pydot. Runs offline.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import options
from pathlib import Path

from ..utils.fileio import write_text

OVERVIEW = "overview"  # the --block name of a model's overview (--style paper)
FULL = "full"  # the --block name of a model's full graph (--style full)
STYLES = ("paper", "full")
FORMATS = ("png", "svg", "dot")  # as inception_keras.visualize, which imports keras: --help stays fast
RANKDIRS = ("TB", "LR")
PAPER_FORMATS = ("png", "svg", "dot")
FULL_FORMATS = ("dot", "svg", "png")
BLOCK_FORMATS = ("png", "svg")
PAPER_DPI = 96
FULL_DPI = 48  # a full graph is 20-30 thousand pixels tall at 48 dpi; its text is 10 pixels high
BLOCK_DPI = 96
FULL_DIR = "full"  # --style full drawings go into <dir>/full/
MANIFEST = "manifest.json"
INDEX = "README.md"
REGENERATE = "python tools/plot_architectures.py"
NEWLINE = "\n"  # a paper drawing's title has two lines: the block, then its shapes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=options.program_name("inception-keras-plot"), description=__doc__.splitlines()[0],
        epilog=f"Drawing names: {OVERVIEW} (--style paper: the stages of the whole network), {FULL} "
               "(--style full: every layer of the whole network), stem, inception_a/b/c or inception_resnet_a/b/c, "
               "reduction_a, reduction_b, aux_head, final_block (inception_resnet_v2_slim).",
    )
    what = parser.add_argument_group("what to draw")
    what.add_argument("--model", nargs="+", metavar="NAME", help="models to draw (default: all)")
    what.add_argument("--block", nargs="+", metavar="NAME",
                      help=f"drawings of each model: '{OVERVIEW}' or '{FULL}' and/or block types "
                           f"(default: {OVERVIEW} or {FULL} as the style, and every block)")
    options.add_input_size(what)
    how = parser.add_argument_group("how to draw it")
    how.add_argument("--style", choices=STYLES, default="paper",
                     help="paper: one box per conv unit, labelled as in the paper, and an overview per model "
                          "(default); full: every Keras layer with its name and shapes")
    how.add_argument("--format", nargs="+", choices=FORMATS, metavar="FORMAT",
                     help=f"any of {', '.join(FORMATS)} (default: png svg dot for --style paper; dot svg png for "
                          "full graphs and png svg for blocks with --style full)")
    how.add_argument("--rankdir", choices=RANKDIRS, default="TB", help="TB: top to bottom (default); LR: left to right")
    how.add_argument("--dpi", type=int, help=f"PNG resolution (default {PAPER_DPI}; {FULL_DPI} for full graphs)")
    how.add_argument("--show-shapes", action=argparse.BooleanOptionalAction, default=True,
                     help="show shapes: each layer's (--style full), the input and output and each stage's "
                          "(--style paper) (default: yes)")
    parser.add_argument("--output-dir", default="architectures", help="folder to write into (default: architectures)")
    options.add_verbose(parser)
    return parser


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _whole(style: str) -> str:
    """The drawing of a whole network in ``style``: its overview, or its full graph."""
    return OVERVIEW if style == "paper" else FULL


def _plan(args):
    """[(model, [drawings])] from --model, --block and --style, or an error message."""
    from .. import list_models  # noqa: PLC0415
    from ..visualize import block_names  # noqa: PLC0415

    models = args.model or list_models()
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        return f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(list_models())}"
    whole = _whole(args.style)
    if not args.block:
        return [(m, [whole, *block_names(m)]) for m in models]
    known = {OVERVIEW, FULL} | {b for m in list_models() for b in block_names(m)}
    requested = args.block
    unknown = [b for b in requested if b not in known]
    if unknown:
        return f"unknown block(s) {', '.join(unknown)}; choose from {', '.join([OVERVIEW, FULL, *sorted(known - {OVERVIEW, FULL})])}"
    other = ({OVERVIEW, FULL} - {whole}) & set(requested)
    if other:
        (name,) = other
        return (f"'{name}' is drawn with --style {'paper' if name == OVERVIEW else 'full'}, not --style {args.style} "
                f"(which draws '{whole}' and the blocks)")
    plan = [(m, [b for b in [whole, *block_names(m)] if b in requested]) for m in models]
    missing = [b for b in requested if not any(b in drawings for _, drawings in plan)]
    if missing:
        choices = [whole, *sorted({b for m in models for b in block_names(m)})]
        return (f"{', '.join(models)} {'has' if len(models) == 1 else 'have'} no block {', '.join(missing)}; "
                f"choose from {', '.join(choices)}")
    return plan


def _path(out: Path, style: str, name: str, drawing: str) -> Path:
    """Where a drawing goes, without its suffix."""
    base = out / FULL_DIR if style == "full" else out
    return base / name if drawing in (OVERVIEW, FULL) else base / "blocks" / name / drawing


def _draw(name: str, drawing: str, model, out: Path, args, title: str) -> list[dict]:
    from .. import visualize  # noqa: PLC0415

    whole = drawing in (OVERVIEW, FULL)
    if args.style == "paper":
        formats, dpi = args.format or PAPER_FORMATS, args.dpi or PAPER_DPI
        if drawing == OVERVIEW:
            boxes = len(visualize.model_stages(model, name))
            graph = visualize.overview_dot(model, name, rankdir=args.rankdir, dpi=dpi, title=title,
                                           show_shapes=args.show_shapes)
        else:
            boxes = len(visualize.paper_units(model))
            graph = visualize.paper_dot(model, rankdir=args.rankdir, dpi=dpi, title=title, show_shapes=args.show_shapes)
    else:
        formats = args.format or (FULL_FORMATS if whole else BLOCK_FORMATS)
        dpi = args.dpi or (FULL_DPI if whole else BLOCK_DPI)
        boxes = len(model.layers)
        graph = visualize.to_dot(model, rankdir=args.rankdir, dpi=dpi, show_shapes=args.show_shapes, title=title)
    base = _path(out, args.style, name, drawing)
    rows = []
    for fmt in formats:
        written = visualize.write(graph, base.with_suffix(f".{fmt}"), fmt)
        for line in written.warnings:
            print(f"warning: {written.path}: {line}", file=sys.stderr)
        rows.append({
            "file": written.path.relative_to(out).as_posix(),
            "model": name,
            "block": drawing,
            "style": args.style,
            "title": title.replace(NEWLINE, ": "),
            "format": fmt,
            "layers": len(model.layers),
            "boxes": boxes,
            "bytes": written.bytes,
            **({"width": written.width, "height": written.height} if fmt == "png" else {}),
            "rankdir": args.rankdir,
            "dpi": dpi,
            "show_shapes": args.show_shapes,
        })
    return rows


def _draw_all(plan, args) -> list[dict]:
    import keras  # noqa: PLC0415

    from .. import create_model, visualize  # noqa: PLC0415

    out = Path(args.output_dir)
    rows = []
    for name, drawings in plan:
        whole = [d for d in drawings if d in (OVERVIEW, FULL)]
        if whole:
            model = create_model(name, input_shape=(args.input_size, args.input_size, 3))
            shapes = f"{visualize.shape_text(model.input.shape)} -> {visualize.shape_text(model.output.shape)}"
            if whole[0] == OVERVIEW:
                title = f"{name} ({visualize.OVERVIEW_FIGURES.get(name, 'overview')}): {shapes}"
            else:
                title = f"{name}: {len(model.layers)} layers, {shapes}"
            rows += _draw(name, whole[0], model, out, args, title)
            del model
            keras.backend.clear_session()
        blocks = [b for b in drawings if b not in (OVERVIEW, FULL)]
        if blocks:
            for block, model in visualize.block_models(name, blocks).items():
                title = (f"{name}: {visualize.block_title(name, block)}"
                         f"{NEWLINE if args.style == 'paper' else ': '}"
                         f"{visualize.shape_text(model.input.shape)} -> {visualize.shape_text(model.output.shape)}")
                rows += _draw(name, block, model, out, args, title)
            keras.backend.clear_session()
    return rows


# =========================================================================== #
# Manifest and index
# =========================================================================== #
def _sort_key(row):
    from .. import list_models  # noqa: PLC0415
    from ..visualize import block_names  # noqa: PLC0415

    models = list_models()
    model = models.index(row["model"]) if row["model"] in models else len(models)
    style = row.get("style", "full")  # rows of earlier versions, which drew only this style
    style = STYLES.index(style) if style in STYLES else len(STYLES)
    drawings = [OVERVIEW, FULL, *block_names(row["model"])] if row["model"] in models else []
    block = drawings.index(row["block"]) if row["block"] in drawings else len(drawings)
    fmt = FORMATS.index(row["format"]) if row["format"] in FORMATS else len(FORMATS)
    return model, style, block, fmt, row["file"]


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
        f"Written by `{REGENERATE}` (`inception_keras/cli/plot.py`); do not edit by hand:",
        f"`{REGENERATE}` regenerates this folder, this index and `manifest.json` (which lists every",
        "file with its size and drawing options).",
        "",
        "Paper style (`--style paper`, the default): per model an **overview** like the paper's Figures 9",
        "and 15, one box per stage with its output shape, and each block type drawn as a small model of",
        "its own at the input shape it has in the 299x299 network, one box per conv unit (Conv2D +",
        "BatchNorm + ReLU) labelled as in the paper: `3x3 Conv (384 stride 2 V)`, where `V` marks 'valid'",
        "padding and 'same' padding is unmarked; `Linear` marks a conv without ReLU. Branches run left to",
        "right from Branch_0, as in the paper. Every label is read from the built Keras graph.",
        "",
        "Full style (`--style full`, written into `full/`): every Keras layer with its slim-style name",
        "(`/` written `__`) and shapes; the full graphs of whole models are tens of thousands of pixels tall.",
    ]
    model = None
    drawings = {}
    for row in rows:
        drawings.setdefault((row["model"], row.get("style", "full"), row["block"]), []).append(row)
    for (name, style, block), files in drawings.items():
        if name != model:
            lines += ["", f"## {name}", ""]
            model = name
        first = files[0]
        what = first["title"].split(": ", 1)[-1]  # the title without the model's name
        tag = " (full style)" if style == "full" else ""
        if block == OVERVIEW:  # "inception_v4 (Fig. 9): 299x299x3 -> 1000"
            figure, shapes = first["title"][len(name):].strip().split(": ", 1)
            label, what = f"**overview** {figure}", f"{shapes}, {first['boxes']} boxes"
        elif block == FULL:
            label = f"**full graph**{tag}"  # the title has the number of layers
        else:
            label = f"`{block}`{tag}"
            what = f"{what}, {first['layers']} layers" + (f" in {first['boxes']} boxes" if style == "paper" else "")
        links = " · ".join(f"[{r['format']}]({r['file']})" for r in files)
        lines.append(f"- {label}: {what}: {links}")
    return "\n".join(lines) + "\n"


def format_table(rows: list[dict]) -> str:
    """The files written: name, layers, boxes drawn and size (and pixels of PNGs)."""
    header = ("file", "layers", "boxes", "size")
    lines = []
    for r in rows:
        size = f"{r['bytes'] / 1e6:.2f} MB" if r["bytes"] >= 1e6 else f"{r['bytes'] / 1e3:.1f} kB"
        if "width" in r:
            size = f"{size}, {r['width']}x{r['height']} px"
        lines.append((r["file"], str(r["layers"]), str(r.get("boxes", "")), size))
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    right = (1, 2)  # numbers

    def row(cells):
        return "  ".join((str.rjust if i in right else str.ljust)(c, w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([row(header), "  ".join("-" * w for w in widths), *(row(line) for line in lines)])


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    from .. import visualize  # noqa: PLC0415
    from ..models.specs import MIN_INPUT_SIZE  # noqa: PLC0415

    plan = _plan(args)
    if isinstance(plan, str):
        return _error(plan)
    if args.input_size < MIN_INPUT_SIZE:
        return _error(f"--input-size must be at least {MIN_INPUT_SIZE}, got {args.input_size}")
    if args.dpi is not None and not 1 <= args.dpi <= 600:
        return _error(f"--dpi must be between 1 and 600, got {args.dpi}")
    formats = set(args.format or FORMATS)
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
