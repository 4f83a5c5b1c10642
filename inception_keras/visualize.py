"""Architecture drawings: the full graph of each model, and one small model per block type.

    from inception_keras import create_model, visualize

    visualize.render(create_model("inception_v4"), "inception_v4.svg")      # every layer, one box per block
    models = visualize.block_models("inception_resnet_v2", ["inception_resnet_b"])
    visualize.render(models["inception_resnet_b"], "block17.png", dpi=96)   # 17x17x1152 -> 17x17x1152
    text = visualize.to_dot(models["inception_resnet_b"]).to_string()      # needs pydot only

The graphs come from ``keras.utils.model_to_dot`` (pydot) with shapes and the slim-style
layer names. Three things are changed so that graphs of several hundred layers stay
legible and the ``.dot`` files diff cleanly:

- nodes are named after their layers (Keras names them ``id(layer)``, which changes
  from run to run);
- the layers of each block (``Mixed_6b``, ``Repeat_1__block17_3``, ...) are drawn
  inside one labelled box. Keras draws such boxes only around nested models, and the
  models here are flat, so the boxes are made from the slim scopes of the names;
- the tables are padded less, and edges are splines: Graphviz 2.43 aborts on the
  full graphs with Keras's default ``splines="ortho"``.

PNG and SVG need the Graphviz ``dot`` program; ``.dot`` text needs only pydot.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import keras

from . import blocks
from .layers import SEP, conv_bn
from .fileio import write_bytes
from .specs import DEFAULT_INPUT_SIZE, SPECS

FORMATS = ("png", "svg", "dot")
RANKDIRS = ("TB", "LR")
INSTALL_HINT = (
    "Graphviz's 'dot' program is not on PATH, and PNG/SVG drawings need it: install it with "
    "`apt-get install graphviz`, `conda install graphviz` or `brew install graphviz` "
    "(--format dot needs only pydot)"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Cairo cannot draw bitmaps taller or wider than this; Graphviz then shrinks the whole drawing.
PNG_MAX_SIDE = 32767
_MIN_CLUSTER_LAYERS = 4  # a lone conv + BatchNorm + ReLU gets no box of its own


class GraphvizNotFoundError(RuntimeError):
    """PNG or SVG was asked for, but the Graphviz ``dot`` program is not on PATH."""


class RenderError(RuntimeError):
    """Graphviz ran but failed."""


def graphviz_available() -> bool:
    """Whether the Graphviz ``dot`` program is on PATH (looked up on every call)."""
    return shutil.which("dot") is not None


# =========================================================================== #
# Blocks: each one drawn as a keras.Model of its own, at its real input shape
# =========================================================================== #
@dataclasses.dataclass(frozen=True)
class BlockDrawing:
    """One block type of one model, built by ``build(x, spec)`` on the output of ``after``.

    ``after=None`` means the image input. The input shape of every other block is the
    output shape of the block it follows, so no channel count is written down here.
    """

    name: str
    title: str
    build: Callable
    after: str | None


def _v4_blocks():
    return (
        BlockDrawing("stem", "Stem (Fig. 3)", lambda x, s: blocks.stem_v4(x), None),
        BlockDrawing("inception_a", "Inception-A (Fig. 4), Mixed_5b",
                     lambda x, s: blocks.inception_a(x, s.inception_a, "Mixed_5b"), "stem"),
        BlockDrawing("reduction_a", "Reduction-A (Fig. 7), Mixed_6a",
                     lambda x, s: blocks.reduction_a(x, s.reduction_a), "inception_a"),
        BlockDrawing("inception_b", "Inception-B (Fig. 5), Mixed_6b",
                     lambda x, s: blocks.inception_b(x, s.inception_b, "Mixed_6b"), "reduction_a"),
        BlockDrawing("reduction_b", "Reduction-B (Fig. 8), Mixed_7a",
                     lambda x, s: blocks.reduction_b_v4(x, s.reduction_b), "inception_b"),
        BlockDrawing("inception_c", "Inception-C (Fig. 6), Mixed_7b",
                     lambda x, s: blocks.inception_c(x, s.inception_c, "Mixed_7b"), "reduction_b"),
        BlockDrawing("aux_head", "Auxiliary classifier on Mixed_6h, AuxLogits", _aux_head, "inception_b"),
    )


def _resnet_blocks(figures, stem_title):
    a, b, c, red_b = figures
    return (
        BlockDrawing("stem", stem_title, lambda x, s: blocks.STEMS[s.stem](x), None),
        BlockDrawing("inception_resnet_a", f"Inception-ResNet-A ({a}), Repeat/block35_1",
                     lambda x, s: blocks.block35(x, s.block_a, s.scales[0], "Repeat__block35_1"), "stem"),
        BlockDrawing("reduction_a", "Reduction-A (Fig. 7), Mixed_6a",
                     lambda x, s: blocks.reduction_a(x, s.reduction_a), "inception_resnet_a"),
        BlockDrawing("inception_resnet_b", f"Inception-ResNet-B ({b}), Repeat_1/block17_1",
                     lambda x, s: blocks.block17(x, s.block_b, s.scales[1], "Repeat_1__block17_1"), "reduction_a"),
        BlockDrawing("reduction_b", f"Reduction-B ({red_b}), Mixed_7a",
                     lambda x, s: blocks.reduction_b_resnet(x, s.reduction_b), "inception_resnet_b"),
        BlockDrawing("inception_resnet_c", f"Inception-ResNet-C ({c}), Repeat_2/block8_1",
                     lambda x, s: blocks.block8(x, s.block_c, s.scales[2], "Repeat_2__block8_1"), "reduction_b"),
        BlockDrawing("aux_head", "Auxiliary classifier before Reduction-B, AuxLogits", _aux_head,
                     "inception_resnet_b"),
    )


def _aux_head(x, spec):
    return blocks.aux_head(x, 1000, spec.aux_conv, spec.aux_logits, "softmax")


def _slim_final_block(x, spec):
    x = blocks.block8(x, spec.block_c, 1.0, "Block8", activation=False)
    return conv_bn(x, spec.final_conv, "Conv2d_7b_1x1")


BLOCKS: dict[str, tuple[BlockDrawing, ...]] = {
    "inception_v4": _v4_blocks(),
    "inception_resnet_v1": _resnet_blocks(("Fig. 10", "Fig. 11", "Fig. 13", "Fig. 12"), "Stem (Fig. 14)"),
    "inception_resnet_v2": _resnet_blocks(("Fig. 16", "Fig. 17", "Fig. 19", "Fig. 18"), "Stem (Fig. 3)"),
    "inception_resnet_v2_slim": _resnet_blocks(
        ("TF-slim", "TF-slim", "TF-slim", "TF-slim"), "Stem (TF-slim, not in the paper), up to Mixed_5b"
    )
    + (
        BlockDrawing("final_block", "Block8 (scale 1.0, no ReLU) and Conv2d_7b_1x1 (TF-slim)", _slim_final_block,
                     "inception_resnet_c"),
    ),
}
"""For each model of :data:`inception_keras.specs.SPECS`, its block types in graph order."""


def block_names(model_name: str) -> list[str]:
    """The block types drawn for ``model_name``: ``["stem", "inception_a", ...]``."""
    return [b.name for b in _blocks_of(model_name)]


def _blocks_of(model_name: str):
    try:
        return BLOCKS[model_name]
    except KeyError:
        raise ValueError(f"unknown model {model_name!r}; choose one of {', '.join(BLOCKS)}") from None


def block_models(model_name: str, names: Sequence[str] | None = None) -> dict[str, keras.Model]:
    """Each block type of ``model_name`` as a small ``keras.Model``, in graph order.

    The block functions of :mod:`inception_keras.blocks` run on a ``keras.Input`` named
    ``"input"`` with the shape that block gets in the 299x299 model: the stem on
    299x299x3, the next block on the stem's output, and so on. ``names`` picks some
    of :func:`block_names` (default: all); the blocks they follow are built too, for
    their output shapes, but not returned.
    """
    spec = SPECS[model_name]
    drawings = _blocks_of(model_name)
    by_name = {b.name: b for b in drawings}
    wanted = list(by_name) if names is None else list(names)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"{model_name} has no block {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(by_name)}")
    needed = set()
    for name in wanted:
        while name is not None and name not in needed:
            needed.add(name)
            name = by_name[name].after
    if keras.config.image_data_format() == "channels_first":
        image_shape = (3, DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)
    else:
        image_shape = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE, 3)
    out_shapes, models = {}, {}
    for drawing in drawings:
        if drawing.name not in needed:
            continue
        shape = image_shape if drawing.after is None else out_shapes[drawing.after]
        inp = keras.Input(shape=shape, name="input")
        model = keras.Model(inp, drawing.build(inp, spec), name=f"{model_name}{SEP}{drawing.name}")
        out_shapes[drawing.name] = tuple(model.output.shape[1:])
        if drawing.name in wanted:
            models[drawing.name] = model
    return {name: models[name] for name in by_name if name in models}


def block_title(model_name: str, block: str) -> str:
    """``"Inception-ResNet-B (Fig. 17), Repeat_1/block17_1"``."""
    return {b.name: b.title for b in _blocks_of(model_name)}[block]


# =========================================================================== #
# Dot graphs
# =========================================================================== #
def block_scope(layer_name: str) -> str:
    """The block a layer belongs to, from its slim scope.

    ``Mixed_6b__Branch_1__Conv2d_0a_1x1`` -> ``Mixed_6b``;
    ``Repeat_1__block17_3__Conv2d_1x1`` -> ``Repeat_1__block17_3``.
    """
    parts = layer_name.split(SEP)
    if parts[0].startswith("Repeat") and len(parts) > 1:
        return SEP.join(parts[:2])
    return parts[0]


def shape_text(shape) -> str:
    """``(None, 17, 17, 1152)`` -> ``"17x17x1152"``."""
    return "x".join("?" if d is None else str(d) for d in shape[1:])


def to_dot(model: keras.Model, *, rankdir: str = "TB", dpi: int = 96, show_shapes: bool = True,
           title: str | None = None, clusters: bool = True):
    """``keras.utils.model_to_dot(model)``, with stable node names and one box per block.

    Args:
        model: a functional ``keras.Model``.
        rankdir: "TB" (top to bottom) or "LR" (left to right).
        dpi: resolution of PNG output (SVG is always drawn at its natural size).
        show_shapes: show each layer's input and output shapes.
        title: a line drawn above the graph (default: the model's name).
        clusters: draw the layers of each block (slim scope) inside a labelled box.

    Returns:
        A ``pydot.Dot`` whose nodes are named after the layers.
    """
    import pydot  # noqa: PLC0415 - keras imports it too; only drawings need it

    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    source = keras.utils.model_to_dot(model, show_shapes=show_shapes, show_layer_names=True, rankdir=rankdir,
                                      dpi=dpi, splines="spline", expand_nested=True)
    names = {str(id(layer)): layer.name for layer in model.layers}

    graph = pydot.Dot(graph_name=_dot_id(model.name), graph_type="digraph")
    for key, value in source.get_attributes().items():
        graph.set(key, value)
    graph.set("ranksep", "0.2")
    graph.set("nodesep", "0.15")
    graph.set("label", _quote(title if title is not None else model.name))
    graph.set("labelloc", "t")
    graph.set("fontname", "Helvetica-Bold")
    graph.set("fontsize", "24")
    graph.set_node_defaults(shape="plaintext")

    boxes = {}
    if clusters:
        counts = {}
        for layer in model.layers:
            counts[block_scope(layer.name)] = counts.get(block_scope(layer.name), 0) + 1
        for scope, count in counts.items():
            if count >= _MIN_CLUSTER_LAYERS:
                box = pydot.Cluster(graph_name=_dot_id(scope), label=_quote(scope.replace(SEP, "/")),
                                    style="rounded,dashed", color="gray40", fontname="Helvetica-Bold",
                                    fontsize="18", labeljust="l")
                graph.add_subgraph(box)
                boxes[scope] = box

    for node in source.get_nodes():
        if node.get_name() in ("node", "edge", "graph"):
            continue  # Keras's default node attributes: set above
        name = names[node.get_name()]
        attributes = dict(node.get_attributes())
        # Keras pads every table cell by 10 points: half the height of a node.
        attributes["label"] = attributes["label"].replace('cellpadding="10"', 'cellpadding="3"')
        boxes.get(block_scope(name), graph).add_node(pydot.Node(name, **attributes))
    for edge in source.get_edges():
        graph.add_edge(pydot.Edge(names[edge.get_source()], names[edge.get_destination()],
                                  **edge.get_attributes()))
    return graph


def _dot_id(name: str) -> str:
    return name if name.isidentifier() else _quote(name)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# =========================================================================== #
# Files
# =========================================================================== #
@dataclasses.dataclass(frozen=True)
class Written:
    """What :func:`write` wrote: the path, its size, PNG pixels and Graphviz's warnings."""

    path: Path
    format: str
    bytes: int
    width: int | None = None
    height: int | None = None
    warnings: tuple[str, ...] = ()


def write(graph, path, fmt: str | None = None, *, png_colors: int | None = 16) -> Written:
    """Write a pydot graph as ``fmt`` ("png", "svg" or "dot"; default: from the suffix).

    The file appears complete or not at all: it is written under a temporary name in
    the same folder, then renamed. PNGs are reduced to ``png_colors`` grey levels
    (the drawings are black, white and grey), which makes them 3x smaller.

    Raises:
        GraphvizNotFoundError: PNG or SVG without the ``dot`` program.
        RenderError: Graphviz failed.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    text = graph.to_string()
    warnings = ()
    if fmt == "dot":
        data = text.encode("utf-8")
    else:
        data, warnings = _run_dot(text, fmt)
        if fmt == "png" and png_colors:
            data = _fewer_colors(data, png_colors)
    width = height = None
    if fmt == "png":
        width, height = png_size(data)
    write_bytes(path, data)
    return Written(path, fmt, len(data), width, height, warnings)


def render(model: keras.Model, path, fmt: str | None = None, **to_dot_kwargs) -> Written:
    """``write(to_dot(model, **to_dot_kwargs), path, fmt)``."""
    return write(to_dot(model, **to_dot_kwargs), path, fmt)


def _run_dot(text: str, fmt: str) -> tuple[bytes, tuple[str, ...]]:
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    args = [program, f"-T{fmt}"]
    if fmt == "svg":
        args.append("-Gdpi=72")  # Graphviz scales SVGs by dpi/72; vector output needs no dpi
    result = subprocess.run(args, input=text.encode("utf-8"), capture_output=True, check=False)
    stderr = result.stderr.decode("utf-8", "replace").strip()
    if result.returncode != 0 or not result.stdout:
        raise RenderError(f"Graphviz 'dot -T{fmt}' failed (exit status {result.returncode}): {stderr}")
    return result.stdout, tuple(line for line in stderr.splitlines() if line.strip())


def _fewer_colors(data: bytes, colors: int) -> bytes:
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415 - pillow is a dependency; only PNGs need it

    step = 255 / (colors - 1)  # evenly spaced greys, black and white included
    palette = Image.new("P", (1, 1))
    palette.putpalette([round(i * step) for i in range(colors) for _ in range(3)])
    with Image.open(io.BytesIO(data)) as image:
        grey = image.convert("L").convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
        out = io.BytesIO()
        grey.save(out, format="PNG", optimize=True)
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])
