"""The zoo as a dict: tools and tests iterate over it instead of naming each model.

timm's habits work here: ``create_model(name, pretrained=True, num_classes=10, in_chans=1)``
and ``list_models("*resnet*", pretrained=True)`` mean what they mean in timm.
"""

from __future__ import annotations

import fnmatch
import functools
import logging

from .errors import NoPretrainedWeightsError, UnknownModelError
from .models import create_inception_resnet_v1, create_inception_resnet_v2, create_inception_v4
from .specs import DEFAULT_INPUT_SIZE

log = logging.getLogger("inception_keras")
_REGISTRY = {
    "inception_v4": create_inception_v4,
    "inception_resnet_v1": create_inception_resnet_v1,
    "inception_resnet_v2": functools.partial(create_inception_resnet_v2, variant="paper"),
    "inception_resnet_v2_slim": functools.partial(create_inception_resnet_v2, variant="slim"),
}


def list_models(filter="", pretrained: bool = False, exclude_filters="") -> list[str]:  # noqa: A002 - timm's name
    """Names accepted by :func:`create_model`, optionally filtered as timm's ``list_models`` does.

    With no argument: the graphs of the zoo, in registry order (``inception_v4``,
    ``inception_resnet_v1``, ``inception_resnet_v2``, ``inception_resnet_v2_slim``).

    Args:
        filter: an fnmatch pattern (``"*resnet*"``) or a list of them; a name is kept when it
            matches any. Empty: every name.
        pretrained: False lists the graphs. True lists the names of the published weights,
            ``graph.tag`` as in timm and ``list_pretrained()``
            (``inception_v4.tf_in1k``, ...); patterns are then also matched against timm's
            aliases (``inception_resnet_v2.tf_in1k``), and a pattern without a tag also
            matches the tagged names (``"inception_v4"`` matches ``inception_v4.tf_in1k``).
        exclude_filters: a pattern or a list of them; names that match any are left out.

    Returns:
        The matching names, in registry order (in the order of ``list_pretrained()``
            with ``pretrained=True``).

    Raises:
        ValueError: a filter that is neither a string nor a list of strings, or a
            ``pretrained`` that is not True or False.

    Example:
        >>> list_models("*resnet*")
        ['inception_resnet_v1', 'inception_resnet_v2', 'inception_resnet_v2_slim']
        >>> list_models(pretrained=True, exclude_filters="*ens_adv*")
        ['inception_v4.tf_in1k', 'inception_resnet_v2_slim.tf_in1k']
    """
    if not isinstance(pretrained, bool):
        raise ValueError(f"pretrained must be True or False, got {pretrained!r}")
    include = _patterns(filter, "filter")
    exclude = _patterns(exclude_filters, "exclude_filters")
    if pretrained:
        from .presets import list_pretrained  # noqa: PLC0415

        candidates = [(row.name, (row.name, *row.aliases)) for row in list_pretrained()]
        include = [p for pattern in include for p in _with_tags(pattern)]
        exclude = [p for pattern in exclude for p in _with_tags(pattern)]
    else:
        candidates = [(name, (name,)) for name in _REGISTRY]

    def matches(spellings, patterns):
        return any(fnmatch.fnmatchcase(s, p) for s in spellings for p in patterns)

    return [name for name, spellings in candidates
            if (not include or matches(spellings, include)) and not matches(spellings, exclude)]


def _patterns(value, argument: str) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        return [v for v in value if v]
    raise ValueError(f"{argument} must be an fnmatch pattern such as '*resnet*' or a list of them, got {value!r}")


def _with_tags(pattern: str) -> list[str]:
    """timm: a pattern without a tag also matches the tagged names (``graph.*``)."""
    return [pattern] if "." in pattern else [pattern, pattern + ".*"]


def default_preset(name: str) -> str | None:
    """The published weights ``create_model(name, pretrained=True)`` loads, or None for a graph
    without any (``inception_resnet_v1``, the paper's ``inception_resnet_v2``).

    Example:
        >>> default_preset("inception_v4"), default_preset("inception_resnet_v1")
        ('inception_v4.tf_in1k', None)
    """
    model_variant(name)  # an unknown name is an UnknownModelError
    from .presets import list_pretrained  # noqa: PLC0415

    return next((row.name for row in list_pretrained() if row.graph == name), None)


def model_variant(name: str) -> str:
    """Which graph a registry name is: ``paper``, ``slim``, or ``paper = slim`` (Inception-v4 is one graph)."""
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}")
    return "slim" if name.endswith("_slim") else ("paper = slim" if name == "inception_v4" else "paper")


def create_model(name, /, *, pretrained: bool | None = None, num_classes: int | None = None,
                 in_chans: int | None = None, **kwargs):
    """Build a model of the zoo by name, or the model of a preset, with its weights.

    timm's keyword names are accepted where they mean the same thing:
    ``create_model("inception_v4", pretrained=True, num_classes=0, in_chans=1)``.

    Args:
        name: a graph (``create_model("inception_resnet_v2_slim", classes=10)``), a named
            preset or alias (``create_model("inception_v4.tf_in1k")``, see
            ``list_pretrained()``), a preset folder (``create_model("runs/x/best")``), or a URI
            (``hf://owner/repo``, ``kaggle://owner/model/framework/variation``).
        pretrained: timm's switch. True loads the graph's published ImageNet weights
            (``inception_v4`` -> ``inception_v4.tf_in1k``, ``inception_resnet_v2_slim`` ->
            ``inception_resnet_v2_slim.tf_in1k``; :func:`default_preset`); a graph without
            published weights is a ``NoPretrainedWeightsError``. False: random weights (as
            ``weights=None``; of a preset, its graph with random weights). None (default):
            ``weights`` decides, and a preset brings its own. Given with a ``weights=`` that
            names other weights, it is a ValueError. With True and other classes than the
            weights have (``num_classes=10``), the classifier is new (random) and the rest is
            loaded, as timm resets the classifier.
        num_classes: timm's name for ``classes`` (both with different values: ValueError);
            ``num_classes=0`` is timm's "no classifier": ``include_top=False`` with average
            pooling (unless ``pooling`` says otherwise).
        in_chans: input channels: ``input_shape=(size, size, in_chans)`` at the graph's (or
            the preset's) default size, 299. With weights and ``in_chans != 3`` the first
            convolution is adapted as timm does: for 1 channel its RGB kernels are summed,
            for N channels they are repeated and scaled by 3/N.
        **kwargs: the constructors' arguments (``classes``, ``weights``, ``include_top``,
            ``input_shape``, ``features_only``, ...); with a preset they override its
            constructor arguments (``include_top=False``, ``input_shape=...``).

    Returns:
        A ``keras.Model``.

    Raises:
        UnknownModelError: ``name`` is neither a graph, a named preset, a URI nor a path.
        NoPretrainedWeightsError: ``pretrained=True`` for a graph never published with weights.
        ValueError: contradicting arguments (``num_classes`` and ``classes``, ``pretrained``
            and ``weights``, ``in_chans`` and ``input_shape``), or a bad argument.

    Example:
        >>> model = create_model("inception_v4", num_classes=3, in_chans=1, input_shape=(75, 75, 1))
        >>> model.input_shape, model.output_shape
        ((None, 75, 75, 1), (None, 3))
    """
    _check_pretrained(pretrained, kwargs.get("weights"))
    kwargs = _num_classes(num_classes, kwargs)
    constructor = _REGISTRY.get(name) if isinstance(name, str) else None
    if constructor is not None:
        kwargs = _in_chans(in_chans, kwargs, DEFAULT_INPUT_SIZE)
        if pretrained:
            kwargs["weights"] = _pretrained_weights(name, kwargs.get("weights"))
        return _build(constructor, kwargs, new_head=bool(pretrained) and _other_head(kwargs, (1000, 1001)))
    if (pretrained is not None or in_chans is not None
            or _channels(kwargs.get("input_shape")) not in (None, 3)):
        return _from_preset_graph(name, pretrained, in_chans, kwargs)
    from .loading import load_preset  # noqa: PLC0415 - presets and hubs load lazily

    try:
        return load_preset(name, **kwargs)
    except UnknownModelError:
        raise UnknownModelError(_unknown(name)) from None


def _unknown(name) -> str:
    return (f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}, a named preset "
            f"(list_pretrained()), a preset folder or a URI (hf://, kaggle://)")


def _check_pretrained(pretrained, weights) -> None:
    if pretrained is not None and not isinstance(pretrained, bool):
        raise ValueError(f"pretrained must be True or False, got {pretrained!r}; to name the weights, pass "
                         f"weights=... (a preset name such as 'inception_v4.tf_in1k', 'imagenet', a file or a URI)")
    if pretrained is False and weights is not None:
        raise ValueError(f"pretrained=False asks for random weights but weights={weights!r} asks for these weights; "
                         f"pass only one of them")


def _num_classes(num_classes, kwargs: dict) -> dict:
    """timm's ``num_classes`` as ``classes`` (0: no classifier, pooled features)."""
    if num_classes is None:
        return kwargs
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be a non-negative integer (0: no classifier), got {num_classes!r}")
    if "classes" in kwargs and kwargs["classes"] != num_classes:
        raise ValueError(f"num_classes={num_classes} and classes={kwargs['classes']!r} disagree: num_classes is "
                         f"timm's name for classes; pass only one of them")
    kwargs = dict(kwargs)
    kwargs.pop("classes", None)
    if num_classes:
        kwargs["classes"] = num_classes
        return kwargs
    if kwargs.get("include_top"):
        raise ValueError("num_classes=0 means no classifier (timm), but include_top=True asks for one; pass "
                         "include_top=False (or drop it), or num_classes > 0")
    kwargs["include_top"] = False
    kwargs.setdefault("pooling", "avg")  # timm's num_classes=0 returns the pooled features
    return kwargs


def _channels(shape):
    if shape is None or len(shape) != 3:
        return None
    import keras  # noqa: PLC0415

    return shape[0] if keras.config.image_data_format() == "channels_first" else shape[-1]


def _shape_with(channels: int, size, like=None) -> tuple:
    import keras  # noqa: PLC0415

    channels_first = keras.config.image_data_format() == "channels_first"
    if like is not None:
        return (channels, *tuple(like)[1:]) if channels_first else (*tuple(like)[:-1], channels)
    return (channels, size, size) if channels_first else (size, size, channels)


def _in_chans(in_chans, kwargs: dict, size) -> dict:
    """timm's ``in_chans`` as an ``input_shape`` at the default size."""
    if in_chans is None:
        return kwargs
    if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive integer, got {in_chans!r}")
    shape = kwargs.get("input_shape")
    if shape is None and kwargs.get("input_tensor") is not None:
        shape = tuple(kwargs["input_tensor"].shape)[1:]
    if shape is not None:
        if _channels(shape) != in_chans:
            raise ValueError(f"in_chans={in_chans} and the input shape {tuple(shape)} disagree on the number of "
                             f"channels; pass only one of them")
        return kwargs
    return {**kwargs, "input_shape": _shape_with(in_chans, size)}


def _pretrained_weights(name: str, weights):
    """The ``weights=`` of ``pretrained=True`` for graph ``name``."""
    from . import presets  # noqa: PLC0415

    preset = default_preset(name)
    if preset is None:
        have = ", ".join(sorted({row.graph for row in presets.list_pretrained()}, key=list(_REGISTRY).index))
        raise NoPretrainedWeightsError(
            f"{name} was never published with weights, so pretrained=True has none to load; the graphs with "
            f"published weights are {have} (list_models(pretrained=True) names them; timm's inception_resnet_v2 "
            f"weights are TF-slim's graph: create_model('inception_resnet_v2_slim', pretrained=True)). Build {name} "
            f"with pretrained=False, or load your own weights with weights=...")
    if weights is None:
        return preset
    if presets.is_pretrained_name(weights):
        try:
            if presets.get_preset(name, weights).name == preset:
                return weights
        except ValueError:
            pass
    raise ValueError(f"pretrained=True loads {preset}, but weights={weights!r} asks for other weights; pass only "
                     f"weights={weights!r}, or only pretrained=True")


def _other_head(kwargs: dict, weights_classes) -> bool:
    """Whether the model asks for a classifier the weights do not have (other classes)."""
    if not kwargs.get("include_top", True) or kwargs.get("features_only"):
        return False
    return kwargs.get("classes", 1000) not in weights_classes


def _build(constructor, kwargs: dict, *, new_head: bool = False):
    """The constructor's model, with two of timm's adaptations of pretrained weights.

    * an input of other than 3 channels: the first convolution is adapted
      (:func:`~inception_keras.loading.adapt_input_channels`);
    * ``new_head`` (``pretrained=True`` with other classes than the weights'): the weights
      are loaded without the classifier, which stays random, as timm resets it.
    """
    channels = _channels(kwargs.get("input_shape"))
    adapt = kwargs.get("weights") is not None and channels not in (None, 3) and kwargs.get("input_tensor") is None
    if not adapt and not new_head:
        return constructor(**kwargs)
    from .loading import adapt_input_channels  # noqa: PLC0415

    source_kwargs = dict(kwargs)
    if adapt:
        source_kwargs["input_shape"] = _shape_with(3, None, like=kwargs["input_shape"])
    if new_head:
        for head in ("classes", "classifier_activation", "dropout_rate"):
            source_kwargs.pop(head, None)
        source_kwargs.update(include_top=False, aux_logits=False, pooling=None)
        log.info("pretrained=True with classes=%s: the classifier is new (random), as timm's; the rest is loaded",
                 kwargs["classes"])
    source = constructor(**source_kwargs)
    model = constructor(**(kwargs | {"weights": None}))
    adapt_input_channels(source, model, new=("Logits__", "AuxLogits__") if new_head else ())
    return model


def _from_preset_graph(name, pretrained, in_chans, kwargs: dict):
    """A preset's graph: random (``pretrained=False``) or with the preset's weights adapted to ``in_chans``."""
    from .loading import preset_info  # noqa: PLC0415

    try:
        info = preset_info(name)
    except UnknownModelError:
        raise UnknownModelError(_unknown(name)) from None
    if kwargs.get("weights") is not None:
        raise ValueError(f"{name!r} is a preset and brings its own weights; weights={kwargs['weights']!r} applies "
                         f"only to a graph name (create_model({info.model!r}, weights=...))")
    kwargs = _in_chans(in_chans, kwargs, info.input_size or DEFAULT_INPUT_SIZE)
    arguments = {**info.arguments, **kwargs}
    if pretrained is False:
        return create_model(info.model, **arguments)
    arguments["weights"] = info.metadata.get("preset") or name
    classes = info.arguments.get("classes", 1000)
    if info.metadata.get("preset"):  # published weights serve 1000 and 1001 (background) classes
        served = (1000, 1001)
    else:
        served = (classes, classes - 1) if info.background else (classes,)
    new_head = bool(pretrained) and _other_head(arguments, served)
    return _build(_REGISTRY[info.model], arguments, new_head=new_head)


def resolve_model_name(name: str, variant: str | None) -> str:
    """Registry name for ``--model``/``--variant`` (inception_resnet_v2 + slim = inception_resnet_v2_slim)."""
    if variant == "slim" and name == "inception_resnet_v2":
        name = "inception_resnet_v2_slim"
    elif variant == "paper" and name == "inception_resnet_v2_slim":
        raise ValueError("--model inception_resnet_v2_slim is the slim variant; drop --variant paper")
    if name not in list_models():
        raise UnknownModelError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    return name
