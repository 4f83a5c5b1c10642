"""The graphs of the zoo by name, built without weights.

This is the model layer's registry: names, variants and constructors of the four graphs. It
knows nothing of weights; :func:`inception_keras.create_model` (in
:mod:`inception_keras.weights.factory`) adds presets, published weights and timm's keyword
names on top of it.

Example:
    >>> from inception_keras.models.registry import GRAPHS, build_graph
    >>> list(GRAPHS)
    ['inception_v4', 'inception_resnet_v1', 'inception_resnet_v2', 'inception_resnet_v2_slim']
    >>> build_graph("inception_v4", include_top=False, input_shape=(75, 75, 3)).output_shape
    (None, 1, 1, 1536)
"""

from __future__ import annotations

from .specs import INCEPTION_RESNET_V1, INCEPTION_RESNET_V2, INCEPTION_RESNET_V2_SLIM, INCEPTION_V4

GRAPHS = {
    "inception_v4": INCEPTION_V4,
    "inception_resnet_v1": INCEPTION_RESNET_V1,
    "inception_resnet_v2": INCEPTION_RESNET_V2,
    "inception_resnet_v2_slim": INCEPTION_RESNET_V2_SLIM,
}
"""Registry name -> the spec that :func:`inception_keras.models.graphs.build` assembles."""


class UnknownModelError(ValueError):
    """A model reference that is none of: a graph of the zoo (``list_models()``), a named
    preset or alias (``list_pretrained()``), a URI (``hf://``, ``kaggle://``, ``https://``,
    ``file://``) or an existing path. The message lists what is accepted."""


def check_graph(name: str) -> str:
    """``name`` when it is a graph of the zoo; an :class:`UnknownModelError` listing them otherwise."""
    if not isinstance(name, str) or name not in GRAPHS:
        raise UnknownModelError(f"unknown model {name!r}; choose one of {', '.join(GRAPHS)}")
    return name


def build_graph(graph: str, /, **kwargs):
    """The graph ``graph`` with random weights; ``kwargs`` are :func:`~inception_keras.models.graphs.build`'s
    (``include_top``, ``classes``, ``input_shape``, ``name`` ..., and ``load_weights``)."""
    from .graphs import build  # noqa: PLC0415 - the registry is read by tools that never build a graph

    return build(GRAPHS[check_graph(graph)], **kwargs)


def model_variant(name: str) -> str:
    """Which graph a registry name is: ``paper``, ``slim``, or ``paper = slim`` (Inception-v4 is one graph)."""
    check_graph(name)
    return "slim" if name.endswith("_slim") else ("paper = slim" if name == "inception_v4" else "paper")


def resolve_model_name(name: str, variant: str | None) -> str:
    """Registry name for ``--model``/``--variant`` (inception_resnet_v2 + slim = inception_resnet_v2_slim)."""
    if variant == "slim" and name == "inception_resnet_v2":
        name = "inception_resnet_v2_slim"
    elif variant == "paper" and name == "inception_resnet_v2_slim":
        raise ValueError("--model inception_resnet_v2_slim is the slim variant; drop --variant paper")
    return check_graph(name)
