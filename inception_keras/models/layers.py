"""The two layer patterns every graph is made of: conv + BatchNorm + ReLU, and the
scaled residual sum.

Layer names follow TF-slim's variable scopes with ``__`` in place of ``/`` (Keras 3
forbids ``/`` in names; slim scopes never contain ``__``), so
``keras_name.replace("__", "/")`` is the slim scope and converting a checkpoint is a
rule, not a table.

BatchNorm has no learned scale (gamma) by default, as in the TF-slim graphs. Builds that
need one (weights trained with it, such as PyTorch files whose gammas cannot be folded
into the moving variance) run inside ``with batchnorm_scale(True):``; the constructors'
``batchnorm_scale=True`` does exactly that.
"""

from __future__ import annotations

import contextlib
import contextvars
import re

import keras
from keras import layers

SEP = "__"
BN_EPSILON = 1e-3
_KERNEL_IN_NAME = re.compile(r"_(\d+)x(\d+)$")
# Whether conv_bn's BatchNorm learns a scale (gamma); set for one build by batchnorm_scale().
_BATCHNORM_SCALE = contextvars.ContextVar("inception_keras_batchnorm_scale", default=False)


@contextlib.contextmanager
def batchnorm_scale(enabled: bool = True):
    """Inside this block, :func:`conv_bn` builds BatchNorm with a gamma (``scale=True``).

    The layer names do not change; the extra variable is ``{name}__BatchNorm/gamma``.
    """
    token = _BATCHNORM_SCALE.set(bool(enabled))
    try:
        yield
    finally:
        _BATCHNORM_SCALE.reset(token)


def join(*parts: str) -> str:
    """Join scope parts with the Keras-safe separator: ``join("Mixed_5b", "Branch_0")``."""
    return SEP.join(p for p in parts if p)


def kernel_from_name(name: str) -> tuple[int, int]:
    """The kernel size slim writes at the end of a scope: ``Conv2d_0b_1x7`` -> (1, 7)."""
    match = _KERNEL_IN_NAME.search(name)
    if match is None:
        raise ValueError(f"layer name {name!r} does not end with a kernel size such as '_3x3'")
    return int(match.group(1)), int(match.group(2))


def channel_axis() -> int:
    return 1 if keras.config.image_data_format() == "channels_first" else -1


def conv_bn(x, filters: int, name: str, kernel_size=None, strides=1, padding="same", activation=True):
    """Conv2D (no bias) -> BatchNormalization(scale=False, epsilon=0.001) -> ReLU.

    The layers are named ``name``, ``name__BatchNorm`` and ``name__relu``; the kernel
    size defaults to the one in the name (``Conv2d_0b_1x7`` -> 1x7). The default
    padding is 'same', as in slim's arg_scope; stride-2 convs pass 'valid'. Inside
    ``with batchnorm_scale(True):`` the BatchNorm also has a gamma (``scale=True``).
    """
    if kernel_size is None:
        kernel_size = kernel_from_name(name.rsplit(SEP, 1)[-1])
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(axis=channel_axis(), scale=_BATCHNORM_SCALE.get(), epsilon=BN_EPSILON,
                                  name=join(name, "BatchNorm"))(x)
    if activation:
        x = layers.Activation("relu", name=join(name, "relu"))(x)
    return x


def max_pool(x, name: str, strides=2, padding="valid"):
    """3x3 max pool; stride 2 'valid' unless told otherwise."""
    return layers.MaxPooling2D(kernel_from_name(name), strides=strides, padding=padding, name=name)(x)


def avg_pool(x, name: str, strides=1, padding="same"):
    """3x3 average pool, stride 1 'same' (padded zeros are not counted, as TF-slim)."""
    return layers.AveragePooling2D(kernel_from_name(name), strides=strides, padding=padding, name=name)(x)


def concat(tensors, name: str):
    return layers.Concatenate(axis=channel_axis(), name=name)(tensors)


def scaled_residual(x, branch, scale: float, name: str, activation: bool = True):
    """``x + scale * branch``, then ReLU unless ``activation`` is False.

    Built from standard layers (Rescaling, Add, Activation) so that saved ``.keras``
    files load without ``custom_objects``. The sum is named ``name`` when it is the
    block's output (no ReLU), otherwise the ReLU is.
    """
    if scale != 1.0:
        branch = layers.Rescaling(scale, name=join(name, "scale"))(branch)
    x = layers.Add(name=name if not activation else join(name, "add"))([x, branch])
    if activation:
        x = layers.Activation("relu", name=name)(x)
    return x
