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
    >>> from inception_keras.weights.convert.timm import load_timm_weights, open_timm_checkpoint
    >>> model = create_inception_v4()
    >>> with open_timm_checkpoint("inception_v4.tf_in1k.safetensors") as ckpt:   # doctest: +SKIP
    ...     report = load_timm_weights(model, ckpt, arch="inception_v4")
"""

from __future__ import annotations

from .batchnorm import FOLD_TOLERANCE, TIMM_BN_EPSILON, BatchNormPlan, plan_batchnorm
from .files import (
    PYTORCH_SUFFIXES,
    SAFETENSORS_SUFFIX,
    WRAPPER_PREFIXES,
    StateDictSource,
    is_pytorch_weights,
    open_timm_checkpoint,
)
from .keys import (
    BLOCK8,
    BLOCK17,
    BLOCK35,
    BN_NAMES,
    CLASSIFIERS,
    DENSE_NAMES,
    INCEPTION_A,
    INCEPTION_B,
    INCEPTION_C,
    MIXED_5B,
    REDUCTION_A,
    REDUCTION_B_RESNET,
    REDUCTION_B_V4,
    RESIDUAL_UP,
    TIMM_ARCHS,
    checkpoint_classes,
    classifier_name,
    timm_modules,
    timm_variable_names,
)
from .loading import load_timm_weights

__all__ = [
    "BN_NAMES",
    "DENSE_NAMES",
    "TIMM_BN_EPSILON",
    "FOLD_TOLERANCE",
    "WRAPPER_PREFIXES",
    "CLASSIFIERS",
    "TIMM_ARCHS",
    "PYTORCH_SUFFIXES",
    "SAFETENSORS_SUFFIX",
    "INCEPTION_A",
    "INCEPTION_B",
    "INCEPTION_C",
    "REDUCTION_A",
    "REDUCTION_B_V4",
    "REDUCTION_B_RESNET",
    "MIXED_5B",
    "BLOCK35",
    "BLOCK17",
    "BLOCK8",
    "RESIDUAL_UP",
    "timm_modules",
    "classifier_name",
    "timm_variable_names",
    "BatchNormPlan",
    "plan_batchnorm",
    "checkpoint_classes",
    "load_timm_weights",
    "StateDictSource",
    "is_pytorch_weights",
    "open_timm_checkpoint",
]
