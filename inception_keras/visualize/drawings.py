"""Block drawings: each block type of a model built as a keras.Model of its own, at its real input shape."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import keras

from ..models import blocks
from ..models.layers import SEP, conv_bn
from ..models.specs import DEFAULT_INPUT_SIZE, SPECS

# =========================================================================== #
# Blocks: each one drawn as a keras.Model of its own, at its real input shape
# =========================================================================== #
@dataclasses.dataclass(frozen=True)
class BlockDrawing:
    """One block type of one model, built by ``build(x, spec)`` on the output of ``after``.

    ``after=None`` means the image input. The input shape of every other block is the
    output shape of the block it follows, so no channel count is written down here.
    ``title`` is the paper's name of the block, ``figure`` where it is drawn ("Fig. 4",
    or "TF-slim" for the graph without a figure) and ``scope`` the slim scope drawn.
    """

    name: str
    title: str
    figure: str | None
    scope: str | None
    build: Callable
    after: str | None

    @property
    def heading(self) -> str:
        """``"Inception-A (Fig. 4), Mixed_5b"``."""
        figure = f" ({self.figure})" if self.figure else ""
        return f"{self.title}{figure}" + (f", {self.scope}" if self.scope else "")


def _v4_blocks():
    return (
        BlockDrawing("stem", "Stem", "Fig. 3", None, lambda x, s: blocks.stem_v4(x), None),
        BlockDrawing("inception_a", "Inception-A", "Fig. 4", "Mixed_5b",
                     lambda x, s: blocks.inception_a(x, s.inception_a, "Mixed_5b"), "stem"),
        BlockDrawing("reduction_a", "Reduction-A", "Fig. 7", "Mixed_6a",
                     lambda x, s: blocks.reduction_a(x, s.reduction_a), "inception_a"),
        BlockDrawing("inception_b", "Inception-B", "Fig. 5", "Mixed_6b",
                     lambda x, s: blocks.inception_b(x, s.inception_b, "Mixed_6b"), "reduction_a"),
        BlockDrawing("reduction_b", "Reduction-B", "Fig. 8", "Mixed_7a",
                     lambda x, s: blocks.reduction_b_v4(x, s.reduction_b), "inception_b"),
        BlockDrawing("inception_c", "Inception-C", "Fig. 6", "Mixed_7b",
                     lambda x, s: blocks.inception_c(x, s.inception_c, "Mixed_7b"), "reduction_b"),
        BlockDrawing("aux_head", "Auxiliary classifier on Mixed_6h", None, "AuxLogits", _aux_head, "inception_b"),
    )


def _resnet_blocks(figures, stem_figure, stem_scope=None):
    a, b, c, red_b = figures
    return (
        BlockDrawing("stem", "Stem", stem_figure, stem_scope, lambda x, s: blocks.STEMS[s.stem](x), None),
        BlockDrawing("inception_resnet_a", "Inception-ResNet-A", a, "Repeat/block35_1",
                     lambda x, s: blocks.block35(x, s.block_a, s.scales[0], "Repeat__block35_1"), "stem"),
        BlockDrawing("reduction_a", "Reduction-A", "Fig. 7", "Mixed_6a",
                     lambda x, s: blocks.reduction_a(x, s.reduction_a), "inception_resnet_a"),
        BlockDrawing("inception_resnet_b", "Inception-ResNet-B", b, "Repeat_1/block17_1",
                     lambda x, s: blocks.block17(x, s.block_b, s.scales[1], "Repeat_1__block17_1"), "reduction_a"),
        BlockDrawing("reduction_b", "Reduction-B", red_b, "Mixed_7a",
                     lambda x, s: blocks.reduction_b_resnet(x, s.reduction_b), "inception_resnet_b"),
        BlockDrawing("inception_resnet_c", "Inception-ResNet-C", c, "Repeat_2/block8_1",
                     lambda x, s: blocks.block8(x, s.block_c, s.scales[2], "Repeat_2__block8_1"), "reduction_b"),
        BlockDrawing("aux_head", "Auxiliary classifier before Reduction-B", None, "AuxLogits", _aux_head,
                     "inception_resnet_b"),
    )


def _aux_head(x, spec):
    return blocks.aux_head(x, 1000, spec.aux_conv, spec.aux_logits, "softmax")


def _slim_final_block(x, spec):
    x = blocks.block8(x, spec.block_c, 1.0, "Block8", activation=False)
    return conv_bn(x, spec.final_conv, "Conv2d_7b_1x1")


BLOCKS: dict[str, tuple[BlockDrawing, ...]] = {
    "inception_v4": _v4_blocks(),
    "inception_resnet_v1": _resnet_blocks(("Fig. 10", "Fig. 11", "Fig. 13", "Fig. 12"), "Fig. 14"),
    "inception_resnet_v2": _resnet_blocks(("Fig. 16", "Fig. 17", "Fig. 19", "Fig. 18"), "Fig. 3"),
    "inception_resnet_v2_slim": _resnet_blocks(("TF-slim",) * 4, "TF-slim, not in the paper", "up to Mixed_5b")
    + (
        BlockDrawing("final_block", "Block8 (scale 1.0, no ReLU) and Conv2d_7b_1x1", "TF-slim", None,
                     _slim_final_block, "inception_resnet_c"),
    ),
}
"""For each model of :data:`inception_keras.models.specs.SPECS`, its block types in graph order."""

OVERVIEW_FIGURES = {"inception_v4": "Fig. 9", "inception_resnet_v1": "Fig. 15", "inception_resnet_v2": "Fig. 15",
                    "inception_resnet_v2_slim": "TF-slim"}
"""Where the paper draws each model's overview (the TF-slim graph has no figure)."""


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

    The block functions of :mod:`inception_keras.models.blocks` run on a ``keras.Input`` named
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
    return {b.name: b.heading for b in _blocks_of(model_name)}[block]


