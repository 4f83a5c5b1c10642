"""PyTorch weights in timm's module layout -> our Keras models.

timm's ``inception_v4`` and ``inception_resnet_v2`` (and Cadene's ``pretrainedmodels``,
which they come from) are TF-slim's graphs with other module names, so the mapping is
a table from our layer scopes to timm's modules plus a rule for the variables:

    Keras ``{conv}/kernel``                ->  timm ``{module}.conv.weight``  (OIHW -> HWIO)
    Keras ``{conv}__BatchNorm/{var}``      ->  timm ``{module}.bn.{BN_NAMES[var]}``
    Keras ``{block}__Conv2d_1x1/{var}``    ->  timm ``{block}.conv2d.{weight|bias}``  (residual up-projection)
    Keras ``Logits__Logits/{var}``         ->  timm ``last_linear`` / ``classif``  ([out, in] -> [in, out])

(``Mixed_6b__Branch_1__Conv2d_0b_1x7`` is ``features.11.branch1.1`` in Inception-v4 and
``Repeat_1__block17_3__Conv2d_1x1`` is ``repeat_1.2.conv2d`` in Inception-ResNet-v2).

PyTorch's BatchNorm has a gamma (``bn.weight``); ours has none by default. Where every
gamma is positive it is folded into the moving variance, which leaves the outputs
unchanged: ``gamma * (x - mean) / sqrt(var + eps) == (x - mean) / sqrt(var' + eps)``
with ``var' = (var + eps) / gamma**2 - eps``. Otherwise the model must be built with
``batchnorm_scale=True`` and gamma is copied. A source epsilon other than our 0.001
is absorbed into ``var'`` the same way (exact); state dicts do not store it, so timm's
0.001 is assumed unless a pickled module or ``batchnorm_eps=`` says otherwise.

Example:
    >>> from inception_keras import create_inception_v4
    >>> from inception_keras.convert.timm import load_timm_weights, open_timm_checkpoint
    >>> model = create_inception_v4()
    >>> with open_timm_checkpoint("inception_v4.tf_in1k.safetensors") as ckpt:   # doctest: +SKIP
    ...     report = load_timm_weights(model, ckpt, arch="inception_v4")
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import re
from collections.abc import Mapping

import keras
import numpy as np

from ..layers import BN_EPSILON, SEP
from ..specs import SPECS
from .core import HEAD_LAYERS, ConversionError, TensorSource, as_source, assign_strict

# Keras variable name -> PyTorch parameter/buffer name.
BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
DENSE_NAMES = {"kernel": "weight", "bias": "bias"}
TIMM_BN_EPSILON = 1e-3  # timm's (and Cadene's) BatchNorm2d(eps=0.001) in both models
# The relative error of a folded standard deviation sqrt(var' + eps) in float32 beyond
# which folding is refused (only when var + eps is tiny next to gamma**2 * eps).
FOLD_TOLERANCE = 1e-5
# Wrappers whose prefix is stripped when every key has it: DataParallel / DDP, torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Classifier module names: timm's first, then Cadene's pretrainedmodels (IR-v2: last_linear).
CLASSIFIERS = {"inception_v4": ("last_linear",), "inception_resnet_v2_slim": ("classif", "last_linear")}
TIMM_ARCHS = tuple(CLASSIFIERS)
PYTORCH_SUFFIXES = (".pth", ".pth.tar", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"


# =========================================================================== #
# The module table: our slim scopes ("/"-separated) -> timm's module paths
# =========================================================================== #
def _one(k, conv):
    """A branch that is a single conv: timm names it ``branch{k}``."""
    return {f"Branch_{k}/{conv}": f"branch{k}"}


def _seq(k, *convs, first=0):
    """Convs run one after another: timm's nn.Sequential ``branch{k}.{i}`` (a pool takes index 0)."""
    return {f"Branch_{k}/{conv}": f"branch{k}.{i}" for i, conv in enumerate(convs, start=first)}


# Conv + BatchNorm units below a block's scope, per block type.
INCEPTION_A = {**_one(0, "Conv2d_0a_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_3x3"),
               **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3"), **_seq(3, "Conv2d_0b_1x1", first=1)}
INCEPTION_B = {**_one(0, "Conv2d_0a_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1"),
               **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_7x1", "Conv2d_0c_1x7", "Conv2d_0d_7x1", "Conv2d_0e_1x7"),
               **_seq(3, "Conv2d_0b_1x1", first=1)}
INCEPTION_C = {  # the split 1x3 / 3x1 convs are separate modules: branch1_1a, branch2_3b, ...
    **_one(0, "Conv2d_0a_1x1"),
    "Branch_1/Conv2d_0a_1x1": "branch1_0",
    "Branch_1/Conv2d_0b_1x3": "branch1_1a", "Branch_1/Conv2d_0c_3x1": "branch1_1b",
    "Branch_2/Conv2d_0a_1x1": "branch2_0", "Branch_2/Conv2d_0b_3x1": "branch2_1", "Branch_2/Conv2d_0c_1x3": "branch2_2",
    "Branch_2/Conv2d_0d_1x3": "branch2_3a", "Branch_2/Conv2d_0e_3x1": "branch2_3b",
    **_seq(3, "Conv2d_0b_1x1", first=1),
}
REDUCTION_A = {**_one(0, "Conv2d_1a_3x3"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3")}
REDUCTION_B_V4 = {**_seq(0, "Conv2d_0a_1x1", "Conv2d_1a_3x3"),
                  **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1", "Conv2d_1a_3x3")}
REDUCTION_B_RESNET = {**_seq(0, "Conv2d_0a_1x1", "Conv2d_1a_3x3"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_1a_3x3"),
                      **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3")}
MIXED_5B = {**_one(0, "Conv2d_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_5x5"),
            **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3"), **_seq(3, "Conv2d_0b_1x1", first=1)}
BLOCK35 = {**_one(0, "Conv2d_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_3x3"),
           **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3")}
BLOCK17 = {**_one(0, "Conv2d_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1")}
BLOCK8 = {**_one(0, "Conv2d_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x3", "Conv2d_0c_3x1")}
RESIDUAL_UP = {"Conv2d_1x1": "conv2d"}  # the residual blocks' linear 1x1 conv (bias, no BatchNorm)


def _v4_blocks():
    """(our block scope, timm module, units table): timm numbers v4's stages in ``features``."""
    spec = SPECS["inception_v4"]
    stem = [("", "features.0", {"Conv2d_1a_3x3": ""}), ("", "features.1", {"Conv2d_2a_3x3": ""}),
            ("", "features.2", {"Conv2d_2b_3x3": ""}),
            ("Mixed_3a", "features.3", {"Branch_1/Conv2d_0a_3x3": "conv"}),
            ("Mixed_4a", "features.4", {**_seq(0, "Conv2d_0a_1x1", "Conv2d_1a_3x3"),
                                        **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1", "Conv2d_1a_3x3")}),
            ("Mixed_5a", "features.5", {"Branch_0/Conv2d_1a_3x3": "conv"})]
    stages = [("Mixed_5", spec.repeats[0], INCEPTION_A), ("Mixed_6a", None, REDUCTION_A),
              ("Mixed_6", spec.repeats[1], INCEPTION_B), ("Mixed_7a", None, REDUCTION_B_V4),
              ("Mixed_7", spec.repeats[2], INCEPTION_C)]
    blocks = list(stem)
    for prefix, repeats, table in stages:
        for name in [prefix] if repeats is None else [f"{prefix}{chr(ord('b') + i)}" for i in range(repeats)]:
            blocks.append((name, f"features.{len(blocks)}", table))
    return blocks, []


def _irv2_blocks():
    """TF-slim's Inception-ResNet-v2 in timm: modules named after slim's scopes, lower case."""
    spec = SPECS["inception_resnet_v2_slim"]
    blocks = [("", name.lower().rsplit("_", 1)[0], {name: ""})
              for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")]
    blocks += [("Mixed_5b", "mixed_5b", MIXED_5B)]
    residual = []
    for repeat, block, table, count in [("Repeat", "block35", BLOCK35, spec.repeats[0]),
                                        ("Repeat_1", "block17", BLOCK17, spec.repeats[1]),
                                        ("Repeat_2", "block8", BLOCK8, spec.repeats[2] - 1)]:
        for i in range(count):
            residual.append((f"{repeat}/{block}_{i + 1}", f"{repeat.lower()}.{i}", table))
        if block == "block35":
            residual.append(("Mixed_6a", "mixed_6a", REDUCTION_A))
        elif block == "block17":
            residual.append(("Mixed_7a", "mixed_7a", REDUCTION_B_RESNET))
    residual.append(("Block8", "block8", BLOCK8))  # the last, unscaled block without ReLU
    blocks += residual
    blocks.append(("", "conv2d_7b", {"Conv2d_7b_1x1": ""}))
    ups = [(scope, module) for scope, module, table in residual if table in (BLOCK35, BLOCK17, BLOCK8)]
    return blocks, ups


@functools.cache
def timm_modules(arch: str) -> dict[str, str]:
    """Our Keras layer name -> timm module path, for every layer with weights except the classifier."""
    blocks, ups = {"inception_v4": _v4_blocks, "inception_resnet_v2_slim": _irv2_blocks}[_check_arch(arch)]()
    out = {}
    for scope, module, table in blocks:
        for sub, timm_sub in table.items():
            layer = "/".join(p for p in (scope, sub) if p).replace("/", SEP)
            unit = ".".join(p for p in (module, timm_sub) if p)
            out[layer] = f"{unit}.conv"
            out[layer + SEP + "BatchNorm"] = f"{unit}.bn"
    for scope, module in ups:
        for sub, timm_sub in RESIDUAL_UP.items():
            out[f"{scope}/{sub}".replace("/", SEP)] = f"{module}.{timm_sub}"
    return out


def _check_arch(arch: str) -> str:
    if arch not in CLASSIFIERS:
        raise ConversionError(
            f"no timm layout for {arch!r}; timm has {', '.join(TIMM_ARCHS)} "
            f"(Inception-ResNet-v2 is TF-slim's graph: create_inception_resnet_v2(variant='slim'))"
        )
    return arch


def classifier_name(arch: str, shapes: Mapping[str, tuple]) -> str:
    """The classifier module of a state dict: ``last_linear`` (timm v4, Cadene) or ``classif`` (timm IR-v2)."""
    candidates = CLASSIFIERS[_check_arch(arch)]
    return next((c for c in candidates if f"{c}.weight" in shapes), candidates[0])


def timm_variable_names(model, arch: str, classifier: str | None = None) -> dict[str, str]:
    """Keras variable path -> timm state-dict key, for every variable of ``model``."""
    modules = timm_modules(arch)
    classifier = classifier or CLASSIFIERS[_check_arch(arch)][0]
    names = {}
    for v in model.weights:
        layer, var = v.path.split("/")
        if layer == "Logits__Logits":
            module, rename = classifier, DENSE_NAMES
        elif layer in modules:
            module, rename = modules[layer], (BN_NAMES if layer.endswith(SEP + "BatchNorm") else DENSE_NAMES)
        elif layer in HEAD_LAYERS or layer.startswith("AuxLogits" + SEP):
            raise ConversionError(
                f"{layer}: timm's {arch} has no auxiliary head; build the model with aux_logits=False"
            )
        else:
            raise ConversionError(f"Keras layer {layer!r} has no timm counterpart in {arch}")
        if var not in rename:
            raise ConversionError(f"Keras variable {v.path!r} has no timm counterpart")
        names[v.path] = f"{module}.{rename[var]}"
    return names


# =========================================================================== #
# What a checkpoint needs: classes, BatchNorm folding
# =========================================================================== #
@dataclasses.dataclass
class BatchNormPlan:
    """How the BatchNorm layers of a checkpoint go into a model (see :func:`plan_batchnorm`)."""

    layers: int  # BatchNorm modules with a gamma in the checkpoint
    foldable: bool  # every gamma folds into the moving variance within FOLD_TOLERANCE
    nonpositive: list[str]  # gamma tensors with an entry <= 0
    max_fold_error: float  # the largest relative error of a folded sqrt(var + eps)
    inexact: list[str]  # running_var tensors whose fold exceeds FOLD_TOLERANCE
    eps: dict[str, float]  # module -> source epsilon (read or given; the rest is TIMM_BN_EPSILON)
    eps_source: str  # "assumed", "given" or "read from the pickled module"

    def why_not(self) -> str:
        if self.nonpositive:
            return (f"{len(self.nonpositive)} BatchNorm layers have a gamma <= 0 (e.g. {self.nonpositive[0]}), "
                    f"which cannot be folded into the moving variance")
        if self.inexact:
            return (f"folding gamma into the moving variance of {len(self.inexact)} BatchNorm layers (e.g. "
                    f"{self.inexact[0]}) would lose precision in float32 (relative error {self.max_fold_error:.1e})")
        return ""


def _fold(var, gamma, eps_source, eps_keras):
    """``(var + eps) / gamma**2 - eps_keras`` in float32, and the relative error of its standard deviation."""
    std2 = (var.astype(np.float64) + eps_source) / np.square(gamma.astype(np.float64))
    folded = (std2 - eps_keras).astype(np.float32)
    achieved = (folded + np.float32(eps_keras)).astype(np.float64)  # what Keras adds before rsqrt, in float32
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.abs(np.sqrt(np.maximum(achieved, 0.0)) - np.sqrt(std2)) / np.sqrt(std2)
    return folded, float(np.max(error, initial=0.0)) if np.all(np.isfinite(error)) else float("inf")


def plan_batchnorm(source, arch: str, batchnorm_eps: float | None = None) -> BatchNormPlan:
    """Whether the checkpoint's gammas can be folded into a model without BatchNorm scale.

    Reads every ``*.bn.weight`` and ``*.bn.running_var`` (a few tens of thousands of values).
    """
    source = as_source(source)
    shapes = source.shapes
    eps, eps_source = _source_eps(source, arch, batchnorm_eps)
    nonpositive, inexact, worst, layers = [], [], 0.0, 0
    for module in _bn_modules(arch):
        gamma_name, var_name = f"{module}.weight", f"{module}.running_var"
        if gamma_name not in shapes or var_name not in shapes or shapes[gamma_name] != shapes[var_name]:
            continue  # the conversion names what is missing or misshapen
        layers += 1
        gamma = source.get(gamma_name)
        if np.any(gamma <= 0):
            nonpositive.append(gamma_name)
            continue
        _, error = _fold(source.get(var_name), gamma, eps.get(module, TIMM_BN_EPSILON), BN_EPSILON)
        worst = max(worst, error)
        if error > FOLD_TOLERANCE:
            inexact.append(var_name)
    return BatchNormPlan(layers=layers, foldable=not nonpositive and not inexact, nonpositive=nonpositive,
                         max_fold_error=worst, inexact=inexact, eps=eps, eps_source=eps_source)


def _bn_modules(arch: str) -> list[str]:
    """timm's BatchNorm modules (``features.0.bn``, ...)."""
    return sorted(m for layer, m in timm_modules(arch).items() if layer.endswith(SEP + "BatchNorm"))


def _source_eps(source, arch, batchnorm_eps):
    """Per-module BatchNorm epsilon of the source: given, read from a pickled module, or timm's."""
    bn_modules = _bn_modules(arch)
    if batchnorm_eps is not None:
        return {m: float(batchnorm_eps) for m in bn_modules}, "given"
    read = getattr(source, "batchnorm_eps", None) or {}
    if read:
        return {m: e for m, e in read.items() if m in bn_modules}, "read from the pickled module"
    return {}, "assumed"


def checkpoint_classes(source, arch: str) -> int | None:
    """The number of classes of the checkpoint's classifier (None if it has none)."""
    shapes = as_source(source).shapes
    shape = shapes.get(f"{classifier_name(arch, shapes)}.weight")
    return int(shape[0]) if shape is not None and len(shape) == 2 else None


# =========================================================================== #
# The conversion
# =========================================================================== #
def _keras_shape(name: str, shape: tuple) -> tuple:
    if name.endswith(".weight") and len(shape) == 4:  # OIHW -> HWIO
        return (shape[2], shape[3], shape[1], shape[0])
    if name.endswith(".weight") and len(shape) == 2:  # [out, in] -> [in, out]
        return (shape[1], shape[0])
    return tuple(shape)


def _guesser(shapes, arch, classifier):
    def guess(missing: list[str]) -> str | None:
        tops = {n.split(".")[0] for n in shapes}
        other = "inception_resnet_v2_slim" if arch == "inception_v4" else "inception_v4"
        marker = {"inception_v4": "features", "inception_resnet_v2_slim": "conv2d_1a"}
        if marker[other] in tops and marker[arch] not in tops:
            return f"this file looks like timm's {other} (it has {marker[other]}.*), not {arch}"
        if marker[arch] not in tops:
            first = ", ".join(sorted(shapes)[:5]) or "none"
            return (f"no key of this file is in timm's {arch} layout (first keys: {first}); "
                    f"it is not a timm / pretrainedmodels state dict of this model")
        if all(n.startswith(classifier + ".") for n in missing):
            return f"the file has no classifier ({classifier}.weight): build the model with include_top=False"
        return None

    return guess


def load_timm_weights(model, source, *, arch: str, batchnorm_eps: float | None = None):
    """Assign a timm (or pretrainedmodels) state dict to ``model``; strict both ways.

    Args:
        model: a model of the zoo built for ``arch`` (any input size; with or without the
            top; no auxiliary head), with ``batchnorm_scale=True`` or without it.
        source: ``open_timm_checkpoint(...)``'s result, or any ``{key: array}`` dict in
            PyTorch layouts.
        arch: ``"inception_v4"`` or ``"inception_resnet_v2_slim"``.
        batchnorm_eps: the BatchNorm epsilon the weights were trained with, where the
            source does not say (default: timm's 0.001).

    Returns:
        A :class:`ConversionReport` whose notes say how BatchNorm was handled. Raises
        :class:`ConversionError` when a variable has no tensor, a shape differs, a tensor
        is left over, the classes differ, or gamma cannot be folded into a model without
        BatchNorm scale.
    """
    source = as_source(source)
    shapes = source.shapes
    classifier = classifier_name(arch, shapes)
    names = timm_variable_names(model, arch, classifier)
    _check_classes(model, shapes, classifier)
    bn_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    fold = bool(bn_layers) and not bn_layers[0].scale
    plan = plan_batchnorm(source, arch, batchnorm_eps)
    if fold and not plan.foldable:
        raise ConversionError(f"{plan.why_not()}: build the model with batchnorm_scale=True")
    eps_keras = BN_EPSILON
    bn_var_paths = {f"{layer.name}/moving_variance": names[f"{layer.name}/moving_variance"] for layer in bn_layers}
    reads = {path: (name[: -len("running_var")] + "weight",) for path, name in bn_var_paths.items()} if fold else {}

    def transform(name, value, *extra):
        if name.endswith(".running_var"):
            eps_source = plan.eps.get(name[: -len(".running_var")], TIMM_BN_EPSILON)
            if extra:
                return _fold(value, extra[0], eps_source, eps_keras)[0]
            if eps_source != eps_keras:  # var + eps_source == var' + eps_keras
                return (value.astype(np.float64) + eps_source - eps_keras).astype(np.float32)
            return value
        if name.endswith(".weight") and value.ndim == 4:
            return np.transpose(value, (2, 3, 1, 0))
        if name.endswith(".weight") and value.ndim == 2:
            return value.T
        return value

    has_top = "Logits__Logits" in {layer.name for layer in model.layers}

    def classify_leftover(name: str) -> str | None:
        if name.endswith(".num_batches_tracked"):
            return "BatchNorm num_batches_tracked (training step counter)"
        if name.startswith(classifier + ".") and not has_top:
            return "classifier (the model was built with include_top=False)"
        return None

    report = assign_strict(
        model, source, names, classify_leftover=classify_leftover, drop_background=False, transform=transform,
        source_shape=_keras_shape, guess=_guesser(shapes, arch, classifier), reads=reads,
    )
    report.ignored.update(getattr(source, "ignored", {}))
    _describe(report, plan, fold, len(bn_layers), classifier, source)
    return report


def _check_classes(model, shapes, classifier):
    names = {layer.name for layer in model.layers}
    shape = shapes.get(f"{classifier}.weight")
    if "Logits__Logits" not in names or shape is None or len(shape) != 2:
        return
    classes = model.get_layer("Logits__Logits").units
    if shape[0] != classes:
        hint = " (1001: TF-slim's background class is output 0)" if shape[0] == 1001 else ""
        raise ConversionError(
            f"the checkpoint's classifier {classifier}.weight {tuple(shape)} has {shape[0]} classes{hint} but the "
            f"model was built with classes={classes}: build it with classes={shape[0]} (--classes {shape[0]}), "
            f"or with include_top=False to leave the classifier out"
        )


def _describe(report, plan: BatchNormPlan, fold: bool, bn_count: int, classifier: str, source) -> None:
    eps_keras = BN_EPSILON
    if fold:
        mode = "folded"
        report.notes.append(f"BatchNorm: gamma folded into moving_variance in {bn_count} layers (all gammas > 0; "
                            f"max relative error of the folded std {plan.max_fold_error:.1e})")
    else:
        mode = "scale"
        why = plan.why_not() or "batchnorm_scale=True was asked for"
        report.notes.append(f"BatchNorm: gamma kept in {bn_count} layers (model built with batchnorm_scale=True: "
                            f"{why})")
    others = sorted({e for e in plan.eps.values() if e != eps_keras})
    if plan.eps_source == "assumed":
        report.notes.append(f"BatchNorm eps: {TIMM_BN_EPSILON} assumed (a state dict does not store it; "
                            f"timm's Inception models use 0.001)")
    elif others:
        report.notes.append(f"BatchNorm eps: {', '.join(map(str, others))} ({plan.eps_source}) instead of our "
                            f"{eps_keras} in {sum(e != eps_keras for e in plan.eps.values())} layers: "
                            f"absorbed into moving_variance (exact)")
    else:
        report.notes.append(f"BatchNorm eps: {eps_keras} ({plan.eps_source})")
    prefix = getattr(source, "prefix_stripped", "")
    if prefix:
        report.notes.append(f"key prefix {prefix!r} stripped")
    report.details.update({
        "batchnorm": mode,
        "batchnorm_max_fold_error": plan.max_fold_error if fold else None,
        "batchnorm_nonpositive_gamma": plan.nonpositive,
        "batchnorm_eps_source": plan.eps_source,
        "batchnorm_eps_other": {m: e for m, e in sorted(plan.eps.items()) if e != eps_keras},
        "classifier": classifier,
        "key_prefix_stripped": prefix,
    })


# =========================================================================== #
# Reading files: safetensors (numpy only) and PyTorch pickles (torch, lazily)
# =========================================================================== #
class StateDictSource(TensorSource):
    """A state dict read from a file: keys with a wrapper prefix stripped, tensors as numpy.

    Attributes:
        ignored: entries of the file outside the state dict (optimizer, epoch, ...) -> why.
        batchnorm_eps: BatchNorm module -> epsilon, where a pickled module says.
        prefix_stripped: the wrapper prefix removed from every key ("" if none).
    """

    def __init__(self, description: str, shapes: Mapping[str, tuple], read, *, ignored=None, batchnorm_eps=None):
        self.description = description
        keys = {k: k for k in shapes}
        eps = dict(batchnorm_eps or {})
        self.prefix_stripped = ""
        for prefix in WRAPPER_PREFIXES:
            if keys and all(k.startswith(prefix) for k in keys):
                keys = {k[len(prefix):]: orig for k, orig in keys.items()}
                eps = {m[len(prefix):] if m.startswith(prefix) else m: e for m, e in eps.items()}
                self.prefix_stripped += prefix
        self._keys = keys
        self._shapes = {k: tuple(int(d) for d in shapes[orig]) for k, orig in keys.items()}
        self._read = read
        self.ignored = dict(ignored or {})
        self.batchnorm_eps = eps

    @property
    def shapes(self):
        return self._shapes

    def get(self, name):
        return self._read(self._keys[name])


def _safetensors_source(path: str) -> StateDictSource:
    from safetensors import SafetensorError, safe_open  # noqa: PLC0415

    try:
        handle = safe_open(path, framework="numpy")
        slices = {k: handle.get_slice(k) for k in handle.keys()}  # noqa: SIM118 - not a dict
        shapes = {k: tuple(s.get_shape()) for k, s in slices.items()}
    except (SafetensorError, OSError) as e:
        raise ConversionError(
            f"{path} is not a readable safetensors file (truncated, or another format): {e}"
        ) from None
    bfloat16 = {k for k, s in slices.items() if s.get_dtype() == "BF16"}

    def read(key):
        if key in bfloat16:  # numpy has no bfloat16: widen through torch
            try:
                with safe_open(path, framework="pt") as f:
                    return f.get_tensor(key).float().numpy()
            except ImportError:
                raise ConversionError(
                    f"{path} holds bfloat16 tensors ({key}, ...), which numpy cannot represent: install PyTorch "
                    f"to read them (pip install torch), or save the file in float32"
                ) from None
        try:
            return handle.get_tensor(key)
        except SafetensorError as e:
            raise ConversionError(f"cannot read {key!r} from {path}: {e} (is the file complete?)") from None

    return StateDictSource(f"safetensors file {path}", shapes, read)


def _import_torch(path):
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        raise ConversionError(
            f"reading {path} needs PyTorch (.pth/.bin files are Python pickles of torch tensors): "
            f"pip install torch (the CPU build is enough), or save the weights as .safetensors, which need only numpy"
        ) from None
    return torch


def _torch_load(path: str, allow_pickle: bool):
    import pickle  # noqa: PLC0415

    torch = _import_torch(path)
    try:
        if allow_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        # timm's training checkpoints keep their argparse.Namespace of arguments: plain data.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if allow_pickle or not found:
            raise ConversionError(f"{path} is not a readable PyTorch file (truncated, or another format): "
                                  f"{str(e).splitlines()[0]}") from None
        raise ConversionError(
            f"{path} holds pickled Python objects besides tensors ({found.group(1)}: a whole model saved with "
            f"torch.save(model)?), which are loaded only with allow_pickle=True (--allow-pickle): do that only "
            f"for a file you trust, unpickling runs code from it. Or save model.state_dict() instead."
        ) from None
    except (ModuleNotFoundError, AttributeError) as e:
        raise ConversionError(
            f"{path} pickles objects of a Python package that is not importable here ({e}): install it "
            f"(e.g. pip install timm), or save model.state_dict() instead"
        ) from None
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, KeyError, EOFError... for damaged files
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ConversionError(
            f"{path} is not a readable PyTorch file (truncated, or another format): {first}"
        ) from None


def _unwrap(obj, path: str, ema: bool, torch):
    """The state dict in a loaded object: a state dict, a training checkpoint, or a module."""
    ignored, eps = {}, {}
    if isinstance(obj, Mapping):
        keys = ("state_dict_ema", "model_ema") if ema else ("state_dict", "model")
        found = next((k for k in keys if isinstance(obj.get(k), (Mapping, torch.nn.Module))), None)
        if found is None and ema:
            raise ConversionError(f"ema=True (--ema) but {path} has no state_dict_ema or model_ema "
                                  f"(its entries: {', '.join(map(str, list(obj)[:10]))})")
        if found is not None:
            ignored = {str(k): f"checkpoint entry outside {found!r} ({type(v).__name__})"
                       for k, v in obj.items() if k != found}
            obj = obj[found]
    elif ema:
        raise ConversionError(f"ema=True (--ema) needs a training checkpoint with state_dict_ema; {path} is not one")
    if isinstance(obj, torch.nn.Module):
        eps = {name: float(m.eps) for name, m in obj.named_modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{path} holds a {type(obj).__name__}, not a state dict, training checkpoint or module")
    tensors = {}
    for k, v in obj.items():
        if torch.is_tensor(v):
            tensors[str(k)] = v
        else:
            ignored[str(k)] = f"not a tensor ({type(v).__name__})"
    return tensors, ignored, eps


def _pytorch_source(path: str, *, ema: bool, allow_pickle: bool) -> StateDictSource:
    torch = _import_torch(path)
    tensors, ignored, eps = _unwrap(_torch_load(path, allow_pickle), path, ema, torch)

    def read(key):
        t = tensors[key].detach().cpu()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16
            t = t.float()
        return t.numpy()

    return StateDictSource(f"PyTorch file {path}", {k: tuple(t.shape) for k, t in tensors.items()}, read,
                           ignored=ignored, batchnorm_eps=eps)


def is_pytorch_weights(path) -> bool:
    """Whether ``path`` names a file this module reads (by its extension)."""
    return os.fspath(path).endswith((SAFETENSORS_SUFFIX, *PYTORCH_SUFFIXES))


@contextlib.contextmanager
def open_timm_checkpoint(path, *, ema: bool = False, allow_pickle: bool = False):
    """Open ``.safetensors`` (numpy only) or ``.pth`` / ``.pth.tar`` / ``.pt`` / ``.bin`` (needs torch).

    A state dict nested under ``state_dict`` or ``model`` (timm's training checkpoints),
    or ``state_dict_ema`` / ``model_ema`` with ``ema=True``, and a ``module.`` prefix
    (DataParallel) are handled. A whole pickled ``nn.Module`` loads only with
    ``allow_pickle=True``; its BatchNorm epsilons are then read from it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConversionError(f"no file at {path}")
    if path.endswith(SAFETENSORS_SUFFIX):
        if ema:
            raise ConversionError(f"ema=True (--ema) needs a training checkpoint with state_dict_ema; {path} is a "
                                  f"flat safetensors file")
        yield _safetensors_source(path)
    elif path.endswith(PYTORCH_SUFFIXES):
        yield _pytorch_source(path, ema=ema, allow_pickle=allow_pickle)
    else:
        raise ConversionError(
            f"{path}: unknown PyTorch weights format; expected {SAFETENSORS_SUFFIX} or {', '.join(PYTORCH_SUFFIXES)}"
        )
