"""The zoo as a dict: tools and tests iterate over it instead of naming each model.

timm's habits work here: ``create_model(name, pretrained=True, num_classes=10, in_chans=1)``
and ``list_models("*resnet*", pretrained=True)`` mean what they mean in timm.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import os

import keras

from ..errors import NoPretrainedWeightsError, PresetError, UnknownModelError
from ..models.features import FeatureInfo, resolve_out_indices
from ..models.registry import GRAPHS
from ..models.specs import DEFAULT_INPUT_SIZE
from . import presets
from .applications import create_inception_resnet_v1, create_inception_resnet_v2, create_inception_v4
from .files import load_folder_weights, load_timm_folder
from .format import PresetInfo, describe_model, is_preset_dir, make_labels, make_preprocessing, verify_weights
from .loading import adapt_input_channels, preset_info
from .presets import default_preset, list_pretrained

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
    return shape[0] if keras.config.image_data_format() == "channels_first" else shape[-1]


def _shape_with(channels: int, size, like=None) -> tuple:
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
      (:func:`~inception_keras.weights.loading.adapt_input_channels`);
    * ``new_head`` (``pretrained=True`` with other classes than the weights'): the weights
      are loaded without the classifier, which stays random, as timm resets it.
    """
    channels = _channels(kwargs.get("input_shape"))
    adapt = kwargs.get("weights") is not None and channels not in (None, 3) and kwargs.get("input_tensor") is None
    if not adapt and not new_head:
        return constructor(**kwargs)
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


# =========================================================================== #
# Presets: the model and its description
# =========================================================================== #
def load_preset(uri, **overrides):
    """Build the model a preset describes and load its weights (checked against their sha256).

    ``overrides`` replace constructor arguments: ``include_top=False, pooling="avg"``, an
    ``input_shape``, ``classifier_activation=None``; a head with the preset's classes
    minus its background class drops that class.

    Example:
        >>> model = load_preset("inception_v4.tf_in1k", include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return load_model(uri, **overrides)[0]


def load_model(value, *, weights=None, **overrides):
    """``(model, PresetInfo)`` for any reference: what a tool does with its ``--model`` value.

    A registry name builds that graph with ``weights`` (None: random); anything else is a
    preset (``weights`` must then be None). The info's labels and preprocessing describe the
    returned model (ImageNet's for the published weights).
    """
    value = os.fspath(value)
    if value in GRAPHS:
        model = create_model(value, weights=weights, **overrides)
        return model, _info_for_built(model, value, weights)
    if weights is not None:
        raise PresetError(f"{value!r} is a preset and brings its own weights; weights={weights!r} applies only "
                          f"to a graph name (create_model('<graph>', weights={value!r}) loads these weights into "
                          f"another head)")
    info = preset_info(value)
    if info.metadata.get("preset"):
        kwargs = {k: v for k, v in info.arguments.items() if k != "input_shape"} | overrides
        model = create_model(info.model, weights=info.metadata["preset"], **kwargs)
    elif info.path and is_preset_dir(info.path):
        verify_weights(info)  # before the (seconds-long) build
        model = create_model(info.model, **(info.arguments | overrides))
        load_folder_weights(model, info.path, info, verified=True)
    else:  # timm's layout
        model = create_model(info.model, **(info.arguments | overrides))
        load_timm_folder(model, info.path, info.model)
    return model, _describe_result(model, info)


def _info_for_built(model, name: str, weights) -> PresetInfo:
    _, args = describe_model(model)
    pretrained = presets.is_pretrained_name(weights) if isinstance(weights, str) else False
    classes = args["classes"] if args["include_top"] else None
    labels, background = make_labels("imagenet", classes) if pretrained and classes in (1000, 1001) else (None, False)
    size = args["input_shape"][0]
    return PresetInfo(model=name, arguments=args, labels=labels, background=background,
                      preprocessing=make_preprocessing("slim", size if isinstance(size, int) else 299),
                      metadata={"weights": None if weights is None else str(weights)}, uri=name)


def _describe_result(model, info: PresetInfo) -> PresetInfo:
    """The info of the model actually built (overrides applied: input size, head, background)."""
    _, args = describe_model(model)
    labels, background = info.labels, info.background
    if not args["include_top"]:
        labels, background = None, False
    elif info.background and args["classes"] == len(info.labels or []):
        background = False
    prep = dict(info.preprocessing)
    size = args["input_shape"][0]
    if isinstance(size, int) and size != prep.get("input_size"):
        prep["input_size"] = size
    return PresetInfo(model=info.model, arguments=args, labels=labels, background=background, preprocessing=prep,
                      metadata=info.metadata, path=info.path, uri=info.uri)


# =========================================================================== #
# Feature levels of a graph or preset
# =========================================================================== #
def feature_info(name: str, **kwargs) -> FeatureInfo:
    """The feature levels of a graph or preset, without weights: ``feature_info("inception_v4")``.

    ``name`` is a registry name (``list_models()``) or a named preset / preset folder (its
    graph is used); ``kwargs`` go to the constructor (``out_indices=(2, 3, 4)``,
    ``variant=...``). The graph is built once (a few seconds) and the answer cached.

    Returns:
        A :class:`~inception_keras.models.features.FeatureInfo`: per level its layer name,
            channels and reduction.
    """
    if name not in GRAPHS:
        name = preset_info(name).model  # a preset names its graph
    levels = resolve_out_indices(kwargs.pop("out_indices", None))
    for ignored in ("weights", "features_only", "include_top", "pooling"):  # they do not change the levels
        kwargs.pop(ignored, None)
    info = _feature_info(name, tuple(sorted((k, _hashable(v)) for k, v in kwargs.items())))
    return FeatureInfo(info[i] for i in levels)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=16)
def _feature_info(name: str, kwargs: tuple) -> FeatureInfo:
    kw = dict(kwargs)
    kw.setdefault("input_shape", (None, None, 3))
    return create_model(name, features_only=True, weights=None, **kw).feature_info
