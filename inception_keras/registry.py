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


def create_model(name, /, **kwargs):
    """Build a model of the zoo by name, or the model of a preset, with its weights.

    ``name``: a graph (``create_model("inception_resnet_v2_slim", classes=10)``), a named
    preset or alias (``create_model("inception_v4.tf_in1k")``, see ``list_pretrained()``), a
    preset folder (``create_model("runs/x/best")``), or a URI (``hf://owner/repo``,
    ``kaggle://owner/model/framework/variation``). With a preset, ``kwargs`` override its
    constructor arguments (``include_top=False``, ``input_shape=...``).
    """
    constructor = _REGISTRY.get(name) if isinstance(name, str) else None
    if constructor is not None:
        return constructor(**kwargs)
    from .loading import load_preset  # noqa: PLC0415 - presets and hubs load lazily

    try:
        return load_preset(name, **kwargs)
    except ValueError as e:
        if "is neither a graph" in str(e):
            raise ValueError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}, a named preset "
                             f"(list_pretrained()), a preset folder or a URI (hf://, kaggle://)") from None
        raise


def resolve_model_name(name: str, variant: str | None) -> str:
    """Registry name for ``--model``/``--variant`` (inception_resnet_v2 + slim = inception_resnet_v2_slim)."""
    if variant == "slim" and name == "inception_resnet_v2":
        name = "inception_resnet_v2_slim"
    elif variant == "paper" and name == "inception_resnet_v2_slim":
        raise ValueError("--model inception_resnet_v2_slim is the slim variant; drop --variant paper")
    if name not in list_models():
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    return name
