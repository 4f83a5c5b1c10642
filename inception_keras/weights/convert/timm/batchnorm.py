"""What a checkpoint's BatchNorm layers need: folding gamma (and a source epsilon) into the moving variance."""

from __future__ import annotations

import dataclasses

import numpy as np

from ....models.layers import BN_EPSILON, SEP
from ..core import as_source
from .keys import timm_modules

TIMM_BN_EPSILON = 1e-3  # timm's (and Cadene's) BatchNorm2d(eps=0.001) in both models
# The relative error of a folded standard deviation sqrt(var' + eps) in float32 beyond
# which folding is refused (only when var + eps is tiny next to gamma**2 * eps).
FOLD_TOLERANCE = 1e-5


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


def fold_gamma(var, gamma, eps_source, eps_keras):
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
        _, error = fold_gamma(source.get(var_name), gamma, eps.get(module, TIMM_BN_EPSILON), BN_EPSILON)
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
