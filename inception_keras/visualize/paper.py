"""Paper style: one box per conv unit, labelled and ordered as in the paper, and the per-model overview (Figs. 9, 15)."""

from __future__ import annotations

import dataclasses
import re

import keras

from ..models.layers import SEP
from .dot import RANKDIRS, block_scope, bold_label, dot_id, quote, shape_text
from .drawings import BLOCKS

# =========================================================================== #
# Paper style: one box per conv unit, labelled and ordered as in the paper
# =========================================================================== #
_BRANCH = re.compile(r"^Branch_(\d+)$")
_FILL = {"input": "white", "output": "white", "conv": "white", "pool": "gray88", "concat": "gray75",
         "add": "gray75", "activation": "gray92", "other": "gray92"}
_PAPER_FONT = "Helvetica"


@dataclasses.dataclass(frozen=True)
class Unit:
    """One box of a paper-style drawing, made of one or more layers of the Keras graph.

    A Conv2D with the BatchNormalization and ReLU that follow it is one unit (a conv
    without a ReLU is "Linear"), a Rescaling with the Add it feeds is one "+ (scale s)",
    and a Concatenate that only feeds another Concatenate is folded into it (Inception-C's
    1x3 and 3x1 pairs go straight into the block's filter concat, as in Fig. 6).

    Attributes:
        name: the node's name: the conv's name for a conv unit, else the last layer's.
        label: the paper's wording, e.g. ``"3x3 Conv (384 stride 2 V)"``.
        kind: "input", "conv", "pool", "concat", "add", "activation" or "other".
        layers: the names of its layers, in graph order.
        inputs: the units feeding it, in the order of the layer's inputs.
        shape: its output shape without the batch axis.
    """

    name: str
    label: str
    kind: str
    layers: tuple[str, ...]
    inputs: tuple[str, ...]
    shape: tuple


def branch_of(layer_name: str) -> tuple[str, int] | None:
    """The block and branch number of a layer, from its slim scope, or None outside a branch.

    ``Mixed_6a__Branch_1__Conv2d_0b_3x3`` -> ``("Mixed_6a", 1)``.
    """
    parts = layer_name.split(SEP)
    for i, part in enumerate(parts):
        match = _BRANCH.match(part)
        if match:
            return SEP.join(parts[:i]), int(match.group(1))
    return None


def _inbound(layer) -> list[str]:
    """The names of the layers feeding ``layer``, in input order (as keras.utils.model_to_dot reads them)."""
    if not layer._inbound_nodes:  # noqa: SLF001 - Keras exposes the graph's nodes only this way
        return []
    return [t._keras_history.operation.name for t in layer._inbound_nodes[0].input_tensors]  # noqa: SLF001


def _is_activation(layer, name: str) -> bool:
    return isinstance(layer, keras.layers.Activation) and layer.get_config()["activation"] == name


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _window_text(size, strides, padding, default_strides=(1, 1)) -> tuple[str, str]:
    """``("3x3", "stride 2 V")``: the paper writes strides other than 1, and 'valid' padding
    as "V" ('same' is unmarked; a 1x1 window is the same either way, so it is unmarked too)."""
    kh, kw = _pair(size)
    sh, sw = _pair(strides if strides is not None else size)
    notes = []
    if (sh, sw) != default_strides:
        notes.append(f"stride {sh}" if sh == sw else f"stride {sh}x{sw}")
    if padding == "valid" and (kh, kw) != (1, 1):  # a 1x1 window pads nothing either way
        notes.append("V")
    return f"{kh}x{kw}", " ".join(notes)


def _unit_label(layers: list) -> tuple[str, str]:
    """(label, kind) of a unit from its layers' configs."""
    head = layers[0]
    config = head.get_config()
    if isinstance(head, keras.layers.InputLayer):
        return "Input", "input"
    if isinstance(head, keras.layers.Conv2D):
        kernel, notes = _window_text(config["kernel_size"], config["strides"], config["padding"])
        linear = not any(_is_activation(layer, "relu") for layer in layers) and config["activation"] != "relu"
        details = " ".join(str(v) for v in (config["filters"], notes) if v)
        return f"{'Linear ' if linear else ''}{kernel} Conv ({details})", "conv"
    if isinstance(head, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        size, notes = _window_text(config["pool_size"], config["strides"], config["padding"])
        name = "MaxPool" if isinstance(head, keras.layers.MaxPooling2D) else "Avg Pooling"
        return f"{size} {name}" + (f" ({notes})" if notes else ""), "pool"
    if isinstance(head, keras.layers.Concatenate):
        return "Filter concat", "concat"
    if isinstance(head, (keras.layers.Add, keras.layers.Rescaling)):
        scales = [layer.get_config()["scale"] for layer in layers if isinstance(layer, keras.layers.Rescaling)]
        return "+" + "".join(f" (scale {s:g})" for s in scales), "add"
    if isinstance(head, keras.layers.Activation):
        name = config["activation"]
        return {"relu": "ReLU", "softmax": "Softmax"}.get(name, name), "activation"
    if isinstance(head, keras.layers.GlobalAveragePooling2D):
        return "Average Pooling", "pool"
    if isinstance(head, keras.layers.GlobalMaxPooling2D):
        return "Max Pooling", "pool"
    if isinstance(head, keras.layers.Dropout):
        return f"Dropout (keep {1 - config['rate']:g})", "other"
    if isinstance(head, keras.layers.Dense):
        return f"Fully connected ({config['units']})", "other"
    return type(head).__name__, "other"


def paper_units(model: keras.Model) -> list[Unit]:
    """The boxes of the paper-style drawing of ``model``, in a topological order.

    Derived from the built graph only: which layers feed which, and each layer's
    class and config (kernel, strides, padding, filters, scale), never from tables.
    """
    layers = {layer.name: layer for layer in model.layers}
    inbound = {name: _inbound(layer) for name, layer in layers.items()}
    consumers = {name: [] for name in layers}
    for name, sources in inbound.items():
        for source in sources:
            consumers[source].append(name)

    outputs = {t._keras_history.operation.name for t in model.outputs}  # noqa: SLF001

    def only_consumer(name, kind):
        """The one layer ``name`` feeds, if it is a ``kind`` and ``name`` is not a model output."""
        users = consumers[name]
        if len(users) == 1 and isinstance(layers[users[0]], kind) and name not in outputs:
            return users[0]
        return None
    owner = {}  # layer name -> the name of its unit
    for name, layer in layers.items():
        if isinstance(layer, keras.layers.Conv2D):
            owner[name] = name
            nxt = only_consumer(name, keras.layers.BatchNormalization)
            last = name
            if nxt:
                owner[nxt] = name
                last = nxt
            nxt = only_consumer(last, keras.layers.Activation)
            if nxt and _is_activation(layers[nxt], "relu"):
                owner[nxt] = name
    for name, layer in layers.items():
        if name in owner:
            continue
        target = name
        while True:  # a Rescaling feeding only an Add, a concat feeding only a concat: one box
            if isinstance(layers[target], keras.layers.Rescaling):
                nxt = only_consumer(target, keras.layers.Add)
            elif isinstance(layers[target], keras.layers.Concatenate):
                nxt = only_consumer(target, keras.layers.Concatenate)
            else:
                nxt = None
            if nxt is None:
                break
            target = nxt
        owner[name] = target

    members = {}
    for name in layers:
        members.setdefault(owner[name], []).append(name)

    def sources_of(name, unit):
        found = []
        for source in inbound[name]:
            if owner[source] == unit:
                found += sources_of(source, unit)
            elif owner[source] not in found:
                found.append(owner[source])
        return found

    units = {}
    for unit, names in members.items():
        exits = [n for n in names if n in outputs or any(owner[c] != unit for c in consumers[n])] or names[-1:]
        label, kind = _unit_label([layers[n] for n in names])
        units[unit] = Unit(unit, label, kind, tuple(names), tuple(sources_of(exits[-1], unit)),
                           tuple(layers[exits[-1]].output.shape[1:]))
    return [units[name] for name in _topological(units)]


def _consumer_order(unit_name: str, consumer: str) -> tuple:
    """Sort key of ``consumer`` among the units fed by ``unit_name``: branches left to right
    (Branch_0 first), anything outside a branch (a shortcut, the next block) to their left."""
    branch, own = branch_of(consumer), branch_of(unit_name)
    return (branch[1] if branch and branch != own else -1, consumer)


def _fed_by(units) -> dict[str, list[str]]:
    fed = {u.name: [] for u in units}
    for unit in units:
        for source in unit.inputs:
            fed[source].append(unit.name)
    return {name: sorted(users, key=lambda c, n=name: _consumer_order(n, c)) for name, users in fed.items()}


def _topological(units: dict[str, Unit]) -> list[str]:
    """Depth-first from the inputs, branches in the paper's order: stable, readable .dot files."""
    fed = _fed_by(units.values())
    waiting = {name: len(unit.inputs) for name, unit in units.items()}
    stack = [name for name in reversed(list(units)) if not units[name].inputs]
    order = []
    while stack:
        name = stack.pop()
        order.append(name)
        ready = []
        for user in fed[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
        stack += reversed(ready)
    return order


def paper_dot(model: keras.Model, *, rankdir: str = "TB", dpi: int = 96, title: str | None = None,
              show_shapes: bool = True):
    """A compact drawing of ``model`` in the style of the paper's Figures 3-8 and 10-19.

    One box per unit (:func:`paper_units`): ``1x1 Conv (96)``, ``3x3 Conv (384 stride 2 V)``,
    ``3x3 MaxPool (stride 2 V)``, ``3x3 Avg Pooling``, ``Filter concat``, ``+ (scale 0.17)``,
    ``ReLU``. "V" marks 'valid' padding; 'same' padding is not marked. The branches of a
    block run left to right from Branch_0, as in the paper: the edges leaving a unit are
    written in that order under ``ordering=out``, and the first units of the branches are
    tied left to right on one rank by invisible edges.

    Args:
        model: a functional ``keras.Model`` (a block of :func:`block_models`, or a whole network).
        rankdir: "TB" (top to bottom) or "LR" (left to right).
        dpi: resolution of PNG output.
        title: drawn above the graph, one line per ``"\\n"`` (default: the model's name).
        show_shapes: write the input and output shapes in the Input and Output boxes.

    Returns:
        A ``pydot.Dot`` whose nodes are named after the units (their conv's slim-scope name).
    """
    import pydot  # noqa: PLC0415

    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    units = paper_units(model)
    graph = _paper_graph(pydot, model.name, title, rankdir, dpi)
    graph.set("ordering", "out")
    for unit in units:
        label = unit.label
        if unit.kind == "input" and show_shapes:
            label = f"Input ({shape_text((None, *unit.shape))})"
        graph.add_node(pydot.Node(unit.name, label=quote(label), fillcolor=_FILL[unit.kind],
                                  **({"shape": "plaintext", "style": "solid"} if unit.kind == "input" else {})))
    fed = _fed_by(units)
    for unit in units:
        for user in fed[unit.name]:
            graph.add_edge(pydot.Edge(unit.name, user))
    outputs = [t._keras_history.operation.name for t in model.outputs]  # noqa: SLF001
    owner = {layer: unit for unit in units for layer in unit.layers}
    for i, output in enumerate(outputs):
        unit = owner[output]
        node = f"Output_{i}" if len(outputs) > 1 else "Output"
        text = f"Output ({shape_text((None, *unit.shape))})" if show_shapes else "Output"
        graph.add_node(pydot.Node(node, label=quote(text), shape="plaintext", style="solid"))
        graph.add_edge(pydot.Edge(unit.name, node))
    _tie_branches(pydot, graph, units)
    return graph


def _paper_graph(pydot, name, title, rankdir, dpi):
    graph = pydot.Dot(graph_name=dot_id(name), graph_type="digraph")
    graph.set("rankdir", rankdir)
    graph.set("dpi", str(dpi))
    graph.set("ranksep", "0.3")
    graph.set("nodesep", "0.25")
    graph.set("label", bold_label(title if title is not None else name))  # a line of the title a line drawn
    graph.set("labelloc", "t")
    graph.set("fontname", _PAPER_FONT)
    graph.set("fontsize", "16")
    graph.set_node_defaults(shape="box", style="filled", fontname=_PAPER_FONT, fontsize="14", height="0.4",
                            margin="0.15,0.05")
    graph.set_edge_defaults(arrowsize="0.7")
    return graph


def _tie_branches(pydot, graph, units):
    """Keep each block's branches left to right: the first unit of each branch on one rank,
    linked Branch_0 -> Branch_1 -> ... by invisible edges (a flat edge runs left to right)."""
    by_name = {u.name: u for u in units}
    firsts = {}  # block -> {branch: first unit}
    for unit in units:
        branch = branch_of(unit.name)
        if branch is None or any(branch_of(s) == branch for s in unit.inputs):
            continue
        firsts.setdefault(branch[0], {}).setdefault(branch[1], unit.name)
    for block, heads in firsts.items():
        if len(heads) < 2 or len({by_name[h].inputs for h in heads.values()}) != 1:
            continue  # tie only branches that start from the same tensor: they share a rank
        ordered = [heads[b] for b in sorted(heads)]
        tie = pydot.Subgraph(graph_name=dot_id(f"order{SEP}{block}"), rank="same")
        for a, b in zip(ordered, ordered[1:]):
            tie.add_edge(pydot.Edge(a, b, style="invis"))
        graph.add_subgraph(tie)


# =========================================================================== #
# Overview: the paper's Figures 9 and 15, one box per stage
# =========================================================================== #
@dataclasses.dataclass(frozen=True)
class Stage:
    """One box of an overview: ``count`` blocks of one type (or one unit) and its output shape.

    Attributes:
        key: "input", the block type ("stem", "inception_a", ... as in :data:`BLOCKS`),
            "classifier" (dense + softmax), or the unit's name for a layer after the body.
        title: "Inception-A", "Stem", "Softmax", ...
        count: how many blocks of the type follow each other, or None for a single stage.
        shape: the output shape of the stage, without the batch axis.
        first, last: the slim scopes of its first and last block ("Mixed_5b", "Mixed_5e").
        figure: where the paper draws the block ("Fig. 4"), if anywhere.
    """

    key: str
    title: str
    count: int | None
    shape: tuple
    first: str
    last: str
    figure: str | None = None

    @property
    def label(self) -> str:
        """``"4 x Inception-A"``, ``"Reduction-A"``."""
        return f"{self.count} x {self.title}" if self.count is not None else self.title


# Which stage a layer is in, from its slim scope: (pattern, block type); first match wins.
# The repeated Inception(-ResNet) blocks are counted; everything before the first of
# these is the stem, and each layer after the body is a stage of its own.
_STAGE_RULES = (
    (r"^(AuxLogits|AuxPredictions)($|__)", None),  # the auxiliary head is not in the overview
    (r"^Repeat__block35_\d+($|__)", "inception_resnet_a"),
    (r"^Repeat_1__block17_\d+($|__)", "inception_resnet_b"),
    (r"^Repeat_2__block8_\d+($|__)", "inception_resnet_c"),
    (r"^Block8($|__)", "final_block"),  # TF-slim's last C block: scale 1.0, no ReLU
    (r"^Mixed_6a($|__)", "reduction_a"),
    (r"^Mixed_7a($|__)", "reduction_b"),
    (r"^Mixed_5[b-z]($|__)", "inception_a"),
    (r"^Mixed_6[b-z]($|__)", "inception_b"),
    (r"^Mixed_7[b-z]($|__)", "inception_c"),
    (r"^(Logits__Logits|Predictions)$", "classifier"),  # the paper's "Softmax" box: dense + softmax
)
_REPEATED = ("inception_a", "inception_b", "inception_c", "inception_resnet_a", "inception_resnet_b",
             "inception_resnet_c")
_STAGE_WIDTH, _SHAPE_WIDTH = 320, 100  # points: every box as wide, so that they line up
_GENERIC_TITLES = {"stem": "Stem", "inception_a": "Inception-A", "inception_b": "Inception-B",
                   "inception_c": "Inception-C", "inception_resnet_a": "Inception-ResNet-A",
                   "inception_resnet_b": "Inception-ResNet-B", "inception_resnet_c": "Inception-ResNet-C",
                   "reduction_a": "Reduction-A", "reduction_b": "Reduction-B",
                   "final_block": "Inception-ResNet-C (scale 1, no ReLU)"}


def _stage_key(layer_name: str, names) -> str | None:
    for pattern, key in _STAGE_RULES:
        if re.match(pattern, layer_name):
            # Inception-v4's Inception-A blocks follow the stem's Mixed_5a; TF-slim's IR-v2 has
            # no Mixed_5a, and its Mixed_5b (an Inception-A-like block) ends its stem.
            if key == "inception_a" and "Mixed_5a" not in names:
                return "stem"
            return key
    return ""  # not a block: the stem before the body, a stage of its own after it


def model_stages(model: keras.Model, model_name: str | None = None) -> list[Stage]:
    """The stages of a whole network in order, with their repeats and output shapes.

    Everything is read from ``model``: which blocks its layer names put in each stage,
    how many blocks there are, and each stage's output shape. ``model_name`` (default:
    ``model.name``) picks the titles and figure numbers of :data:`BLOCKS`. The first stage
    is the input ("Input", its shape).
    """
    drawings = {b.name: b for b in BLOCKS.get(model_name or model.name, ())}
    names = {layer.name for layer in model.layers}
    stages: list[dict] = []
    body_started = False
    for unit in paper_units(model):
        if unit.kind == "input":
            stages.append({"key": "input", "title": "Input", "units": [unit], "scopes": []})
            continue
        key = _stage_key(unit.layers[0], names)
        if key is None:
            continue
        if key == "":
            key = "stem" if not body_started else unit.name
        body_started = body_started or key != "stem"
        scope = block_scope(unit.layers[0])
        if not stages or stages[-1]["key"] != key:
            stages.append({"key": key, "title": None, "units": [], "scopes": []})
        stage = stages[-1]
        stage["units"].append(unit)
        if scope not in stage["scopes"]:
            stage["scopes"].append(scope)
    out = []
    for stage in stages:
        key, last = stage["key"], stage["units"][-1]
        drawing = drawings.get(key)
        title = (drawing.title if drawing and key != "final_block" else _GENERIC_TITLES.get(key)) or last.label
        count = len(stage["scopes"]) if key in _REPEATED else None
        scopes = stage["scopes"] or [last.name]
        out.append(Stage(key, title, count, last.shape, scopes[0].replace(SEP, "/"), scopes[-1].replace(SEP, "/"),
                         drawing.figure if drawing else None))
    return out


def overview_dot(model: keras.Model, model_name: str | None = None, *, rankdir: str = "TB", dpi: int = 96,
                 title: str | None = None, show_shapes: bool = True):
    """The overview of a whole network, like the paper's Figures 9 and 15.

    One box per stage of :func:`model_stages` (``Stem``, ``4 x Inception-A``, ...,
    ``Softmax``), each with its output shape beside it and, in small print, the
    figure that draws the block and the slim scopes it spans.
    """
    import pydot  # noqa: PLC0415

    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    stages = model_stages(model, model_name)
    graph = _paper_graph(pydot, model_name or model.name, title, rankdir, dpi)
    graph.set("ranksep", "0.22")
    previous = None
    for i, stage in enumerate(stages):
        notes = [stage.figure] if stage.figure else []
        if stage.key in _GENERIC_TITLES:  # a block type: the slim scopes it spans
            notes.append(_span(stage.first, stage.last))
        text = _html(stage.label)
        if notes:
            text += f'<BR/><FONT POINT-SIZE="10" COLOR="gray30">{_html(", ".join(notes))}</FONT>'
        shape = shape_text((None, *stage.shape)) if show_shapes else ""
        fill = {"input": "white", "classifier": "gray92"}.get(stage.key, "gray92" if stage.count is None else "white")
        label = (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
                 f'<TD WIDTH="{_SHAPE_WIDTH}"></TD>'
                 f'<TD PORT="box" BORDER="1" WIDTH="{_STAGE_WIDTH}" CELLPADDING="5" BGCOLOR="{fill}">{text}</TD>'
                 f'<TD WIDTH="{_SHAPE_WIDTH}" ALIGN="LEFT" CELLPADDING="6">{_html(shape)}</TD></TR></TABLE>>')
        node = stage.key if [s.key for s in stages].count(stage.key) == 1 else f"{stage.key}_{i}"
        node = dot_id(node)
        graph.add_node(pydot.Node(node, label=label, shape="plain", style="solid"))
        if previous is not None:
            side = ("s", "n") if rankdir == "TB" else ("e", "w")
            graph.add_edge(pydot.Edge(previous, node, tailport=f"box:{side[0]}", headport=f"box:{side[1]}"))
        previous = node
    return graph


def _span(first: str, last: str) -> str:
    """``Mixed_5b``, ``Mixed_5b..e``, ``Repeat/block35_1..10``, ``Conv2d_1a_3x3 .. Mixed_5a``."""
    if first == last:
        return first
    a, b = (re.match(r"(.*?)(\d+|[a-z])$", s) for s in (first, last))
    if a and b and a.group(1) == b.group(1):
        return f"{first}..{b.group(2)}"
    return f"{first} .. {last}"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


