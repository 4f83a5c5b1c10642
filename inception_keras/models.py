"""Assemble the graphs of :mod:`inception_keras.specs` into ``keras.Model`` objects.

The public constructors take the keyword arguments of ``keras.applications`` and
return plain functional models whose layers carry TF-slim's scope names (``/`` written
as ``__``). Stage outputs keep slim's endpoint names, so
``model.get_layer("Mixed_6h").output`` is the Inception-v4 17x17 feature map.
"""

from __future__ import annotations

import contextlib
import os
from numbers import Real

import keras
from keras import layers

from . import blocks
from .features import REDUCTIONS, FeatureInfo, FeatureLevel, resolve_out_indices
from .layers import batchnorm_scale as _batchnorm_scale
from .layers import channel_axis, conv_bn
from .specs import (
    AUX_MIN_INPUT_SIZE,
    DEFAULT_INPUT_SIZE,
    INCEPTION_RESNET_V1,
    INCEPTION_RESNET_V2,
    INCEPTION_RESNET_V2_SLIM,
    INCEPTION_V4,
    MIN_INPUT_SIZE,
    InceptionV4Spec,
    ResNetSpec,
)

_POOLINGS = (None, "avg", "max")
_WEIGHT_SUFFIXES = (".weights.h5", ".h5", ".keras")


# =========================================================================== #
# Argument checks
# =========================================================================== #
def _spatial_axes():
    return (1, 2) if keras.config.image_data_format() == "channels_first" else (0, 1)


def _resolve_input_shape(input_shape, input_tensor):
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


def _check_arguments(*, weights, input_shape, channels, include_top, pooling, classes, classifier_activation,
                     dropout_rate, aux_logits, features_only, out_indices):
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights must be None, 'imagenet', or the path to a Keras weights file, TF-slim checkpoint or PyTorch "
            f"(timm) weights file, got {weights!r}"
        )
    if weights is not None and channels != 3:
        raise ValueError(
            f"input with {channels} channels cannot load pretrained weights (they expect 3); pass weights=None, "
            f"or build it with create_model('<graph>', in_chans={channels}, weights=...), which adapts the first "
            f"convolution as timm does"
        )
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


def build(spec, *, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name=None, dropout_rate=0.2, aux_logits=False,
          features_only=False, out_indices=None, scale=True, batchnorm_scale=False):
    """Build the graph described by ``spec``; the public constructors call this.

    The returned model carries ``model.feature_info`` (:class:`~inception_keras.features.FeatureInfo`):
    the five feature levels, or with ``features_only=True`` those of ``out_indices``."""
    if not isinstance(batchnorm_scale, bool):
        raise ValueError(f"batchnorm_scale must be True or False, got {batchnorm_scale!r}")
    input_shape, channels = _resolve_input_shape(input_shape, input_tensor)
    _check_arguments(weights=weights, input_shape=input_shape, channels=channels, include_top=include_top,
                     pooling=pooling, classes=classes, classifier_activation=classifier_activation,
                     dropout_rate=dropout_rate, aux_logits=aux_logits, features_only=features_only,
                     out_indices=out_indices)
    if weights is not None and os.path.isdir(os.fspath(weights)):
        from .loading import check_folder_arch  # noqa: PLC0415 - a wrong preset fails before the build

        check_folder_arch(weights, spec.name)
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
    _load_weights(model, weights, spec)  # into the whole graph, whatever out_indices leaves out
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


# =========================================================================== #
# Weights
# =========================================================================== #
def _load_weights(model: keras.Model, weights, spec) -> None:
    """Load ``weights`` into ``model``: None, a published name ('imagenet', a named preset or
    alias), a preset folder or URI (hf://, kaggle://, https://, file://), a Keras weights
    file, PyTorch weights in timm's layout (.safetensors, .pth, ...), or a TF-slim
    checkpoint (prefix, directory or release .tar.gz)."""
    if weights is None:
        return
    from . import loading  # noqa: PLC0415 - presets, URIs and hubs stay out of the model code

    if loading.is_weights_reference(weights):
        loading.load_weights_into(model, weights, spec.name, lambda m, path: _load_weights_file(m, path, spec))
        return
    _load_weights_file(model, weights, spec)


def _load_weights_file(model: keras.Model, weights, spec) -> None:
    """A local weights file: Keras, PyTorch (timm) or a TF-slim checkpoint."""
    from .convert.timm import is_pytorch_weights  # noqa: PLC0415

    path = os.fspath(weights)
    if is_pytorch_weights(path):
        _load_pytorch_weights(model, path, spec)
        return
    if not path.endswith(_WEIGHT_SUFFIXES):
        _load_slim_checkpoint(model, path, spec)
        return
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path!r}")
    with _weights_h5(path) as h5:
        _check_classifier_shape(model, h5, shown=path)
        advice = ("The file must be saved from the same architecture built with the same include_top, "
                  "classes, aux_logits, features_only and batchnorm_scale arguments.")
        differences = _layer_differences(model, h5)
        if differences:
            raise ValueError(f"could not load weights from {path!r} into {model.name!r}: the layers differ:\n  "
                             + "\n  ".join(differences) + f"\n{advice}")
        _keras_load_weights(model, h5, path, advice)


def _keras_load_weights(model, h5: str, path: str, advice: str) -> None:
    try:
        model.load_weights(h5)
    except Exception as e:  # Keras raises ValueError/KeyError/... with little context, or a whole layer list
        said = str(e) if len(str(e)) <= _KERAS_MESSAGE else str(e)[:_KERAS_MESSAGE] + " [...]"
        raise ValueError(f"could not load weights from {path!r} into {model.name!r}: {said}\n{advice}") from None


_KERAS_MESSAGE = 1000  # characters of a Keras loading error kept (it can list every layer: 100 KB)


def _layer_differences(model, path: str) -> list[str]:
    """The differences between the model's layers and a file saved from a model of this zoo
    (by layer name; see :func:`~inception_keras.convert.transfer.layer_differences`). Empty
    for a file without this zoo's layer names (Keras then loads it by position)."""
    from .convert.transfer import h5_layer_shapes, layer_differences  # noqa: PLC0415

    try:
        in_file = h5_layer_shapes(path)
    except (OSError, ValueError, KeyError):
        return []  # Keras says what is wrong with the file
    if not any("__" in name for name in in_file):  # not our slim-scope names (layers.SEP)
        return []
    return layer_differences(model, in_file)


def _load_slim_checkpoint(model, path: str, spec) -> None:
    from .convert.slim import SLIM_ARCHS, load_slim_weights, open_slim_checkpoint  # noqa: PLC0415

    if spec.name not in SLIM_ARCHS:
        from .loading import training_run_hint  # noqa: PLC0415

        raise ValueError(
            f"{path!r} is not a Keras weights file ({', '.join(_WEIGHT_SUFFIXES)}), and TF-slim checkpoints "
            f"exist only for {', '.join(SLIM_ARCHS)}, not {spec.name}{training_run_hint(path)}"
        )
    with open_slim_checkpoint(path) as ckpt:
        load_slim_weights(model, ckpt, arch=spec.name)


def _load_pytorch_weights(model, path: str, spec) -> None:
    from .convert.timm import TIMM_ARCHS, load_timm_weights, open_timm_checkpoint  # noqa: PLC0415

    if spec.name not in TIMM_ARCHS:
        hint = " (use create_inception_resnet_v2(variant='slim'))" if spec.name == "inception_resnet_v2" else ""
        raise ValueError(
            f"{path!r} is a PyTorch weights file; timm's layouts exist for inception_v4 and "
            f"inception_resnet_v2_slim, not {spec.name}{hint}"
        )
    with open_timm_checkpoint(path) as ckpt:
        load_timm_weights(model, ckpt, arch=spec.name)


@contextlib.contextmanager
def _weights_h5(path: str):
    """The HDF5 weights of ``path``: the file itself, or for a ``.keras`` archive its
    ``model.weights.h5`` extracted to a temporary folder (Keras' load_weights reads it inside
    the zip, seeking back and forth: minutes for a full-size model)."""
    if not path.endswith(".keras"):
        yield path
        return
    import zipfile  # noqa: PLC0415

    from inception_keras import fileio  # noqa: PLC0415

    member = "model.weights.h5"
    try:
        with zipfile.ZipFile(path) as archive:
            if member not in archive.namelist():
                raise ValueError(f"{path!r} is not a Keras model archive: it has no {member}")
            with fileio.scratch_dir("keras") as folder:
                archive.extract(member, folder)
                yield os.path.join(folder, member)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path!r} is not a readable .keras archive ({e}); save it with model.save()") from None


def _check_classifier_shape(model: keras.Model, path: str, shown: str | None = None) -> None:
    """Name the usual mismatch (classes, include_top) before Keras fails on it.

    The dense kernels are the only 2D weights of these models, in every Keras weights
    format, so comparing the 2D shapes of the file with the model's is enough. ``shown`` is
    the name given in messages (default ``path``).
    """
    import h5py  # noqa: PLC0415 - only needed for weight files

    real, path = path, shown or path
    try:
        with h5py.File(real, "r") as f:
            in_file = []
            f.visititems(lambda _, obj: in_file.append(tuple(obj.shape))
                         if isinstance(obj, h5py.Dataset) and obj.ndim == 2 else None)
    except OSError as e:
        raise ValueError(f"weights file {path!r} is not a readable HDF5 file: {e}") from e
    in_model = [tuple(w.shape) for w in model.weights if len(w.shape) == 2]
    if sorted(in_file) == sorted(in_model):
        return
    file_classes = sorted({s[1] for s in in_file})
    if not in_model:
        raise ValueError(
            f"weights file {path!r} has a classifier ({', '.join(map(str, file_classes))} outputs) but the model "
            f"was built without one; build it with include_top=True and classes={file_classes[0]}"
        )
    if not in_file:
        raise ValueError(
            f"weights file {path!r} has no classifier but the model has one; "
            f"build it with include_top=False, or use a file saved from a model with include_top=True"
        )
    model_classes = sorted({s[1] for s in in_model})
    if file_classes != model_classes:
        raise ValueError(
            f"weights file {path!r} has a classifier with {file_classes[0]} classes but the model was built "
            f"with classes={model_classes[0]}; pass classes={file_classes[0]} or use a file saved with "
            f"{model_classes[0]} classes"
        )
    if sorted({s[0] for s in in_file}) != sorted({s[0] for s in in_model}):
        raise ValueError(
            f"weights file {path!r} has a classifier on {in_file[0][0]} features but {model.name!r} has "
            f"{in_model[0][0]}: the file was saved from a different architecture"
        )
    raise ValueError(
        f"weights file {path!r} has classifier kernels of shapes {sorted(in_file)} but the model has "
        f"{sorted(in_model)}; build the model with the same aux_logits as the saved one"
    )


# =========================================================================== #
# Public constructors
# =========================================================================== #
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
            :mod:`inception_keras.features`).
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
    return build(INCEPTION_V4, include_top=include_top, weights=weights, input_tensor=input_tensor,
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
    return build(INCEPTION_RESNET_V1, include_top=include_top, weights=weights, input_tensor=input_tensor,
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
    return build(variants[variant], include_top=include_top, weights=weights, input_tensor=input_tensor,
                 input_shape=input_shape, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate,
                 aux_logits=aux_logits, features_only=features_only, out_indices=out_indices,
                 scale=scale, batchnorm_scale=batchnorm_scale)
