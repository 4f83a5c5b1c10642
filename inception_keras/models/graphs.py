"""Assemble the graphs of :mod:`inception_keras.models.specs` into ``keras.Model`` objects.

:func:`build` returns plain functional models whose layers carry TF-slim's scope names (``/``
written as ``__``). Stage outputs keep slim's endpoint names, so
``model.get_layer("Mixed_6h").output`` is the Inception-v4 17x17 feature map. This module
imports Keras only: weights are loaded by the caller's ``load_weights`` callback (the public
constructors of :mod:`inception_keras.weights.applications` pass one).
"""

from __future__ import annotations

from numbers import Real

import keras
from keras import layers

from . import blocks
from .features import REDUCTIONS, FeatureInfo, FeatureLevel, resolve_out_indices
from .layers import batchnorm_scale as _batchnorm_scale
from .layers import channel_axis, conv_bn
from .specs import AUX_MIN_INPUT_SIZE, DEFAULT_INPUT_SIZE, MIN_INPUT_SIZE, InceptionV4Spec, ResNetSpec

_POOLINGS = (None, "avg", "max")


# =========================================================================== #
# Argument checks
# =========================================================================== #
def _spatial_axes():
    return (1, 2) if keras.config.image_data_format() == "channels_first" else (0, 1)


def resolve_input_shape(input_shape, input_tensor):
    """The (H, W, C) (or (C, H, W)) shape to build for, from the arguments or the tensor."""
    channels_first = keras.config.image_data_format() == "channels_first"
    tensor_shape = None
    if input_tensor is not None:
        try:
            tensor_shape = tuple(input_tensor.shape)[1:]
        except AttributeError as e:
            raise ValueError(f"input_tensor must be a tensor with a shape, got {type(input_tensor).__name__}") from e
    if input_shape is None:
        if tensor_shape is not None:
            input_shape = tensor_shape
        else:
            input_shape = (3, DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE) if channels_first else (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE, 3)
    input_shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must have 3 dimensions (height, width, channels), got {input_shape}")
    if tensor_shape is not None and len(tensor_shape) == 3:
        if any(a is not None and b is not None and a != b for a, b in zip(input_shape, tensor_shape)):
            raise ValueError(f"input_shape {input_shape} does not match the shape of input_tensor {tensor_shape}")
    channels = input_shape[0] if channels_first else input_shape[2]
    if channels is None or channels < 1:
        raise ValueError(f"the number of input channels must be known and positive, got input_shape={input_shape}")
    for axis in _spatial_axes():
        size = input_shape[axis]
        if size is not None and size < MIN_INPUT_SIZE:
            raise ValueError(
                f"input size {input_shape} is too small: height and width must be at least "
                f"{MIN_INPUT_SIZE} (got {size}); the last stride-2 stage needs a {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} input"
            )
    return input_shape, channels


def _resolve_scales(scale, spec: ResNetSpec):
    if scale is True:
        return spec.scales
    if scale is False or scale is None:
        return (1.0, 1.0, 1.0)
    if isinstance(scale, Real):
        return (float(scale),) * 3
    raise ValueError(f"scale must be True (0.17/0.10/0.20), False (no scaling) or a number, got {scale!r}")


def _check_arguments(*, input_shape, include_top, pooling, classes, classifier_activation,
                     dropout_rate, aux_logits, features_only, out_indices):
    if pooling not in _POOLINGS:
        raise ValueError(f"pooling must be one of None, 'avg' or 'max', got {pooling!r}")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    if classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except ValueError as e:
            raise ValueError(f"unknown classifier_activation {classifier_activation!r}") from e
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}")
    if out_indices is not None and not features_only:
        raise ValueError("out_indices selects feature levels: pass it with features_only=True")
    resolve_out_indices(out_indices)
    if aux_logits:
        if features_only:
            raise ValueError("aux_logits=True cannot be combined with features_only=True")
        if not include_top:
            raise ValueError("aux_logits=True needs include_top=True: the auxiliary head is a classifier")
        sizes = [input_shape[a] for a in _spatial_axes()]
        if any(s is None or s < AUX_MIN_INPUT_SIZE for s in sizes):
            raise ValueError(
                f"aux_logits=True needs a fixed input of at least {AUX_MIN_INPUT_SIZE}x{AUX_MIN_INPUT_SIZE} "
                f"(its 5x5 'valid' conv needs a 5x5 map), got input_shape={input_shape}; "
                f"use a larger input or aux_logits=False"
            )


# =========================================================================== #
# Bodies: each returns the final feature map and records the stride-2/4/8/16/32 endpoints
# =========================================================================== #
def _body_v4(x, spec: InceptionV4Spec, scales, endpoints):
    del scales  # no residuals in Inception-v4
    # === Stem === 299x299x3 -> 35x35x384 (records Mixed_4a, stride 4)
    x = blocks.stem_v4(x, endpoints)
    # === 4 x Inception-A (Mixed_5b..5e) === 35x35x384
    for name in _letters("Mixed_5", spec.repeats[0]):
        x = blocks.inception_a(x, spec.inception_a, name)
    endpoints[name] = x
    # === Reduction-A (Mixed_6a) === -> 17x17x1024
    x = blocks.reduction_a(x, spec.reduction_a)
    # === 7 x Inception-B (Mixed_6b..6h) === 17x17x1024
    for name in _letters("Mixed_6", spec.repeats[1]):
        x = blocks.inception_b(x, spec.inception_b, name)
    endpoints[name] = x
    # === Reduction-B (Mixed_7a) === -> 8x8x1536
    x = blocks.reduction_b_v4(x, spec.reduction_b)
    # === 3 x Inception-C (Mixed_7b..7d) === 8x8x1536
    for name in _letters("Mixed_7", spec.repeats[2]):
        x = blocks.inception_c(x, spec.inception_c, name)
    endpoints[name] = x
    return x


def _letters(prefix, n):
    """slim's block names after a reduction: Mixed_5b, Mixed_5c, ..."""
    return [f"{prefix}{chr(ord('b') + i)}" for i in range(n)]


def _body_resnet(x, spec: ResNetSpec, scales, endpoints):
    # === Stem === 299x299x3 -> 35x35x(384 paper IR-v2 | 320 slim | 256 IR-v1), records stride 4
    x = blocks.STEMS[spec.stem](x, endpoints)
    # === Inception-ResNet-A x N (Repeat/block35_i) === 35x35
    for i in range(spec.repeats[0]):
        name = f"Repeat__block35_{i + 1}"
        x = blocks.block35(x, spec.block_a, scales[0], name)
    endpoints[name] = x
    # === Reduction-A (Mixed_6a) === -> 17x17x(1152 | 1088 | 896)
    x = blocks.reduction_a(x, spec.reduction_a)
    # === Inception-ResNet-B x N (Repeat_1/block17_i) === 17x17
    for i in range(spec.repeats[1]):
        name = f"Repeat_1__block17_{i + 1}"
        x = blocks.block17(x, spec.block_b, scales[1], name)
    endpoints[name] = x
    # === Reduction-B (Mixed_7a) === -> 8x8x(2144 | 2080 | 1792)
    x = blocks.reduction_b_resnet(x, spec.reduction_b)
    # === Inception-ResNet-C x N (Repeat_2/block8_i) === 8x8
    n_c = spec.repeats[2] - (1 if spec.final_block_linear else 0)
    for i in range(n_c):
        name = f"Repeat_2__block8_{i + 1}"
        x = blocks.block8(x, spec.block_c, scales[2], name)
    if spec.final_block_linear:
        # TF-slim: one more C block, unscaled and without ReLU ...
        name = "Block8"
        x = blocks.block8(x, spec.block_c, 1.0, name, activation=False)
    if spec.final_conv:
        # ... then a 1x1 conv to 1536 channels: 8x8x1536
        name = "Conv2d_7b_1x1"
        x = conv_bn(x, spec.final_conv, name)
    endpoints[name] = x
    return x


def build(spec, *, include_top=True, input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name=None, dropout_rate=0.2, aux_logits=False,
          features_only=False, out_indices=None, scale=True, batchnorm_scale=False, load_weights=None):
    """Build the graph described by ``spec`` with random weights, then call ``load_weights(model)``
    (when given) on the whole graph, before ``out_indices`` selects the returned levels.

    The returned model carries ``model.feature_info`` (:class:`~inception_keras.models.features.FeatureInfo`):
    the five feature levels, or with ``features_only=True`` those of ``out_indices``."""
    if not isinstance(batchnorm_scale, bool):
        raise ValueError(f"batchnorm_scale must be True or False, got {batchnorm_scale!r}")
    input_shape, _ = resolve_input_shape(input_shape, input_tensor)
    _check_arguments(input_shape=input_shape, include_top=include_top, pooling=pooling, classes=classes,
                     classifier_activation=classifier_activation, dropout_rate=dropout_rate, aux_logits=aux_logits,
                     features_only=features_only, out_indices=out_indices)
    is_resnet = isinstance(spec, ResNetSpec)
    scales = _resolve_scales(scale, spec) if is_resnet else None

    if input_tensor is None:
        inputs = img_input = layers.Input(shape=input_shape, name="input")
    elif isinstance(input_tensor, keras.KerasTensor):
        img_input = input_tensor
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        inputs = img_input = layers.Input(tensor=input_tensor, shape=input_shape, name="input")

    levels = resolve_out_indices(out_indices)
    with _batchnorm_scale(batchnorm_scale):
        outputs, endpoints = _graph(img_input, spec, scales, include_top=include_top, pooling=pooling,
                                    classes=classes, classifier_activation=classifier_activation,
                                    dropout_rate=dropout_rate, aux_logits=aux_logits, features_only=features_only)
    model = keras.Model(inputs, outputs, name=name or spec.name)
    if load_weights is not None:
        load_weights(model)  # into the whole graph, whatever out_indices leaves out
    if features_only and levels != tuple(range(len(outputs))):
        model = keras.Model(inputs, [outputs[i] for i in levels], name=model.name)  # the same layers and weights
    model.feature_info = _feature_info(model, endpoints, levels if features_only else range(len(endpoints)))
    return model


def _feature_info(model, endpoints, levels) -> FeatureInfo:
    """The levels ``levels`` of ``endpoints`` (name -> tensor, in stride order) with the layers
    that make them."""
    layer_of = {id(layer.output): layer.name for layer in model.layers}
    named = list(endpoints.items())
    return FeatureInfo(
        FeatureLevel(index=i, name=named[i][0], layer=layer_of[id(named[i][1])],
                     channels=int(named[i][1].shape[channel_axis()]), reduction=REDUCTIONS[i])
        for i in levels
    )


def _graph(img_input, spec, scales, *, include_top, pooling, classes, classifier_activation, dropout_rate,
           aux_logits, features_only):
    """The body and the head; returns the model's outputs and the endpoints."""
    body = _body_resnet if isinstance(spec, ResNetSpec) else _body_v4
    endpoints = {}  # block name -> feature map at strides 2, 4, 8, 16, 32, in that order
    x = body(img_input, spec, scales, endpoints)
    assert len(endpoints) == len(REDUCTIONS), list(endpoints)
    if features_only:
        # A list, not a dict: Keras flattens dicts in key order on JAX and PyTorch.
        return list(endpoints.values()), endpoints
    if include_top:
        # === Logits === 8x8xC -> C -> classes
        x = layers.GlobalAveragePooling2D(name="Logits__AvgPool_1a")(x)
        x = layers.Dropout(dropout_rate, name="Logits__Dropout_1b")(x)
        x = layers.Dense(classes, name="Logits__Logits")(x)
        if classifier_activation is not None:
            x = layers.Activation(classifier_activation, name="Predictions")(x)
        outputs = x
        if aux_logits:
            aux_input = list(endpoints.values())[3]  # the stride-16 map: Mixed_6h / last B block
            aux = blocks.aux_head(aux_input, classes, spec.aux_conv, spec.aux_logits, classifier_activation)
            outputs = [x, aux]
    elif pooling == "avg":
        outputs = layers.GlobalAveragePooling2D(name="global_avg_pool")(x)
    elif pooling == "max":
        outputs = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    else:
        outputs = x
    return outputs, endpoints


