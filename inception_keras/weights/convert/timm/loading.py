"""The conversion: a timm state dict assigned to a model of the zoo, strict both ways."""

from __future__ import annotations

import keras
import numpy as np

from ....models.layers import BN_EPSILON
from ..core import ConversionError, as_source, assign_strict
from .batchnorm import TIMM_BN_EPSILON, BatchNormPlan, fold_gamma, plan_batchnorm
from .keys import classifier_name, timm_variable_names


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
        The :class:`ConversionReport`; its notes say how BatchNorm was handled.

    Raises:
        ConversionError: a variable has no tensor, a shape differs, a tensor is left over,
            the classes differ, or gamma cannot be folded into a model without BatchNorm scale.
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
                return fold_gamma(value, extra[0], eps_source, eps_keras)[0]
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
