"""Full-style layer graphs as Graphviz dot (pydot), with one labelled box per slim block; the dot helpers."""

from __future__ import annotations

import html

import keras

from ..models.layers import SEP

FORMATS = ("png", "svg", "dot")
RANKDIRS = ("TB", "LR")
_MIN_CLUSTER_LAYERS = 4  # a lone conv + BatchNorm + ReLU gets no box of its own
TITLE_FONT = "Helvetica"
"""The titles' font, made bold by :func:`bold_label`. Not "Helvetica-Bold": Graphviz without
Cairo (graphviz-pure) has text widths for Helvetica, bold or not, but none for that name, and
would lay bold titles out with narrower Times widths, clipping them."""


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

    graph = pydot.Dot(graph_name=dot_id(model.name), graph_type="digraph")
    for key, value in source.get_attributes().items():
        graph.set(key, value)
    graph.set("ranksep", "0.2")
    graph.set("nodesep", "0.15")
    graph.set("label", bold_label(title if title is not None else model.name))
    graph.set("labelloc", "t")
    graph.set("fontname", TITLE_FONT)
    graph.set("fontsize", "24")
    graph.set_node_defaults(shape="plaintext")

    boxes = {}
    if clusters:
        counts = {}
        for layer in model.layers:
            counts[block_scope(layer.name)] = counts.get(block_scope(layer.name), 0) + 1
        for scope, count in counts.items():
            if count >= _MIN_CLUSTER_LAYERS:
                box = pydot.Cluster(graph_name=dot_id(scope), label=bold_label(scope.replace(SEP, "/")),
                                    style="rounded,dashed", color="gray40", fontname=TITLE_FONT,
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


def bold_label(text: str) -> str:
    """An HTML-like label drawing ``text`` in bold, one line per line of ``text``.

    ``bold_label("a -> b\\nc")`` -> ``<<B>a -&gt; b<BR/>c</B>>``.
    """
    lines = [html.escape(line, quote=False) for line in text.split("\n")]
    return "<<B>" + "<BR/>".join(lines) + "</B>>"


def dot_id(name: str) -> str:
    return name if name.isidentifier() else quote(name)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


