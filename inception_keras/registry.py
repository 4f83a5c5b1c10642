"""The zoo as a dict: tools and tests iterate over it instead of naming each model."""

from __future__ import annotations

import functools

from .models import create_inception_resnet_v1, create_inception_resnet_v2, create_inception_v4

_REGISTRY = {
    "inception_v4": create_inception_v4,
    "inception_resnet_v1": create_inception_resnet_v1,
    "inception_resnet_v2": functools.partial(create_inception_resnet_v2, variant="paper"),
    "inception_resnet_v2_slim": functools.partial(create_inception_resnet_v2, variant="slim"),
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return list(_REGISTRY)


def model_variant(name: str) -> str:
    """Which graph a registry name is: ``paper``, ``slim``, or ``paper = slim`` (Inception-v4 is one graph)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}")
    return "slim" if name.endswith("_slim") else ("paper = slim" if name == "inception_v4" else "paper")


def create_model(name: str, /, **kwargs):
    """Build a model of the zoo by name, e.g. ``create_model("inception_resnet_v2_slim", classes=10)``."""
    try:
        constructor = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}") from None
    return constructor(**kwargs)


def resolve_model_name(name: str, variant: str | None) -> str:
    """Registry name for ``--model``/``--variant`` (inception_resnet_v2 + slim = inception_resnet_v2_slim)."""
    if variant == "slim" and name == "inception_resnet_v2":
        name = "inception_resnet_v2_slim"
    elif variant == "paper" and name == "inception_resnet_v2_slim":
        raise ValueError("--model inception_resnet_v2_slim is the slim variant; drop --variant paper")
    if name not in list_models():
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    return name
