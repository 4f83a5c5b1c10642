"""The public constructors, with the keyword arguments of ``keras.applications``: the graphs of
:mod:`inception_keras.models` with the weights that ``weights=`` names.

Example:
    >>> from inception_keras import create_inception_v4
    >>> create_inception_v4(include_top=False, pooling="avg", input_shape=(75, 75, 3)).output_shape
    (None, 1536)
"""

from __future__ import annotations

import os

from ..models.graphs import build, resolve_input_shape
from ..models.specs import INCEPTION_RESNET_V1, INCEPTION_RESNET_V2, INCEPTION_RESNET_V2_SLIM, INCEPTION_V4
from .loading import check_folder_arch, load_weights


def _create(spec, weights, **kwargs):
    """``build(spec, **kwargs)`` with ``weights`` loaded: checked first, so that a wrong preset or
    an impossible input fails before the (seconds-long) build."""
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights must be None, 'imagenet', or the path to a Keras weights file, TF-slim checkpoint or PyTorch "
            f"(timm) weights file, got {weights!r}"
        )
    _, channels = resolve_input_shape(kwargs.get("input_shape"), kwargs.get("input_tensor"))
    if weights is not None and channels != 3:
        raise ValueError(
            f"input with {channels} channels cannot load pretrained weights (they expect 3); pass weights=None, "
            f"or build it with create_model('<graph>', in_chans={channels}, weights=...), which adapts the first "
            f"convolution as timm does"
        )
    if weights is not None and os.path.isdir(os.fspath(weights)):
        check_folder_arch(weights, spec.name)
    load = None if weights is None else (lambda model: load_weights(model, weights, spec.name))
    return build(spec, load_weights=load, **kwargs)


_COMMON_ARGS = """
        include_top: whether to include the classifier (global average pool, dropout,
            dense). False returns the last feature map (8x8x1536 at 299x299).
        weights: None (random initialisation); "imagenet" (or "ens_adv_imagenet") or a
            named preset ("inception_v4.tf_in1k", see ``list_pretrained()``) where published
            weights exist; a preset folder or URI (``hf://owner/repo``, ``kaggle://...``,
            ``https://``/``file://`` URLs), whose weights are checked against this graph and
            head; or the path to a Keras weights file
            (``.weights.h5`` or a legacy ``.h5``), a TF-slim checkpoint, or PyTorch
            weights in timm's layout (``.safetensors``, ``.pth``, ``.bin``; converted on
            the fly: build with the file's classes, and with ``batchnorm_scale=True``
            where its BatchNorm gammas cannot be folded).
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: (height, width, channels); default (299, 299, 3). Height and width
            can be anything from 75 up, non-square included, or None for any size.
            Channels other than 3 are allowed with ``weights=None``.
        pooling: with ``include_top=False``: None (4D feature map), "avg" or "max".
        classes: number of classes of the classifier.
        classifier_activation: activation of the classifier output ("softmax", None
            for logits, or any Keras activation).
        name: the model's name (default: the registry name).
        dropout_rate: dropout before the classifier; 0.2 is the paper's keep
            probability 0.8.
        aux_logits: add the auxiliary classifier (needs ``include_top`` and an input of
            at least 299x299); the model then returns ``[predictions, aux_predictions]``.
        features_only: return a backbone: a model whose outputs are a list of feature maps
            in stride order, by default the five levels at strides 2, 4, 8, 16 and 32 (the
            last layer at each stride; ``model.feature_info`` names them, see
            :mod:`inception_keras.models.features`).
        out_indices: with ``features_only``: which levels to return, e.g. ``(2, 3, 4)``
            for strides 8, 16, 32 (negative indices count from the end; default all five).
        batchnorm_scale: give every BatchNorm a learned scale (gamma), as PyTorch's
            BatchNorm2d has. False (the default) is TF-slim's graph, BatchNorm(scale=False);
            the layer names are the same either way."""


def _doc(text):
    def deco(fn):
        fn.__doc__ = text.replace("{common}", _COMMON_ARGS)
        return fn

    return deco


@_doc("""Inception-v4 (Szegedy et al. 2016, Figures 3-9; TF-slim's ``inception_v4``).

    Stem (35x35x384), 4 x Inception-A, Reduction-A (k, l, m, n = 192, 224, 256, 384),
    7 x Inception-B (17x17x1024), Reduction-B, 3 x Inception-C (8x8x1536). With 1000
    classes it has 42,711,400 weights (42,648,232 trainable).

    Args:{common}

    Returns:
        A ``keras.Model``. Layer names are TF-slim's scopes with ``/`` written ``__``.

    Reference:
        Szegedy, Ioffe, Vanhoucke, Alemi, "Inception-v4, Inception-ResNet and the Impact
        of Residual Connections on Learning", arXiv:1602.07261.

    Example:
        >>> from inception_keras import create_inception_v4
        >>> model = create_inception_v4(include_top=False, pooling="avg", input_shape=(224, 224, 3))
        >>> model.output_shape
        (None, 1536)
    """)
def create_inception_v4(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                        classes=1000, classifier_activation="softmax", name=None, dropout_rate=0.2,
                        aux_logits=False, features_only=False, out_indices=None, batchnorm_scale=False):
    return _create(INCEPTION_V4, weights, include_top=include_top, input_tensor=input_tensor,
                 input_shape=input_shape, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate,
                 aux_logits=aux_logits, features_only=features_only, out_indices=out_indices,
                 batchnorm_scale=batchnorm_scale)


@_doc("""Inception-ResNet-v1 (Szegedy et al. 2016, Figures 14, 10, 7, 11, 12, 13, 15).

    Stem (35x35x256), 5 x Inception-ResNet-A, Reduction-A (192, 192, 256, 384),
    10 x Inception-ResNet-B (17x17x896), Reduction-B, 5 x Inception-ResNet-C (8x8x1792).
    Branch 0 of the C block has 192 filters, as the paper draws it.

    Args:{common}
        scale: True scales the residual branches by 0.17 / 0.10 / 0.20 in the A / B / C
            blocks (as TF-slim); a number uses that factor everywhere; False: no scaling.

    Returns:
        A ``keras.Model``.

    Reference:
        arXiv:1602.07261.

    Example:
        >>> from inception_keras import create_inception_resnet_v1
        >>> model = create_inception_resnet_v1(include_top=False, input_shape=(299, 299, 3))
        >>> model.output_shape
        (None, 8, 8, 1792)
    """)
def create_inception_resnet_v1(include_top=True, weights=None, input_tensor=None, input_shape=None,
                               pooling=None, classes=1000, classifier_activation="softmax", name=None,
                               dropout_rate=0.2, aux_logits=False, features_only=False, out_indices=None,
                               scale=True, batchnorm_scale=False):
    return _create(INCEPTION_RESNET_V1, weights, include_top=include_top, input_tensor=input_tensor,
                 input_shape=input_shape, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate,
                 aux_logits=aux_logits, features_only=features_only, out_indices=out_indices,
                 scale=scale, batchnorm_scale=batchnorm_scale)


@_doc("""Inception-ResNet-v2: the paper's graph (``variant="paper"``) or TF-slim's (``"slim"``).

    ``variant="paper"`` (Figures 3, 16, 7, 17, 18, 19, 15): the Inception-v4 stem
    (35x35x384), 5 x Inception-ResNet-A, Reduction-A (256, 256, 384, 384) to 1152
    channels, 10 x Inception-ResNet-B, Reduction-B to 2144, 5 x Inception-ResNet-C. The
    paper gives 1154 (B) and 2048 (C) filters for the linear 1x1 convs, which cannot be
    added to inputs of 1152 and 2144 channels; here every up-projection has as many
    filters as its input, i.e. 1152 and 2144.

    ``variant="slim"``: TF-slim's ``inception_resnet_v2``, the graph with published
    ImageNet weights and the same graph as ``keras.applications.InceptionResNetV2``:
    Mixed_5b (320), 10 x block35, Mixed_6a (1088), 20 x block17, Mixed_7a (2080),
    9 x block8 and a final block8 with scale 1.0 and no ReLU, Conv2d_7b_1x1 (1536).
    55,873,736 weights with 1000 classes.

    Args:{common}
        scale: True scales the residual branches by 0.17 / 0.10 / 0.20 in the A / B / C
            blocks (as TF-slim); a number uses that factor everywhere; False: no scaling.
            The final unscaled Block8 of the slim graph is part of that graph and keeps 1.0.
        variant: "paper" (default) or "slim".

    Returns:
        A ``keras.Model``.

    Reference:
        arXiv:1602.07261.

    Example:
        >>> from inception_keras import create_inception_resnet_v2
        >>> model = create_inception_resnet_v2(variant="slim", include_top=False, input_shape=(299, 299, 3))
        >>> model.output_shape
        (None, 8, 8, 1536)
    """)
def create_inception_resnet_v2(include_top=True, weights=None, input_tensor=None, input_shape=None,
                               pooling=None, classes=1000, classifier_activation="softmax", name=None,
                               dropout_rate=0.2, aux_logits=False, features_only=False, out_indices=None,
                               scale=True, variant="paper", batchnorm_scale=False):
    variants = {"paper": INCEPTION_RESNET_V2, "slim": INCEPTION_RESNET_V2_SLIM}
    if variant not in variants:
        raise ValueError(f"variant must be 'paper' or 'slim', got {variant!r}")
    return _create(variants[variant], weights, include_top=include_top, input_tensor=input_tensor,
                 input_shape=input_shape, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate,
                 aux_logits=aux_logits, features_only=features_only, out_indices=out_indices,
                 scale=scale, batchnorm_scale=batchnorm_scale)
