"""One function per block type of the paper, parameterised by the records of
:mod:`inception_keras.models.specs`. Each maps a tensor to a tensor and names its layers
after TF-slim's scopes below ``name`` (joined with ``__``).

Shapes in the docstrings are for a 299x299 input.
"""

from __future__ import annotations

from keras import layers

from .layers import avg_pool, channel_axis, concat, conv_bn, join, max_pool, scaled_residual
from .specs import (
    Block35Widths,
    FactorizedBlockWidths,
    InceptionAWidths,
    InceptionBWidths,
    InceptionCWidths,
    ReductionA,
    ReductionBResNetWidths,
    ReductionBV4Widths,
)


def _chain(x, scope: str, convs):
    """Run ``(filters, name[, strides, padding])`` convs one after another under ``scope``."""
    for filters, name, *rest in convs:
        strides, padding = rest if rest else (1, "same")
        x = conv_bn(x, filters, join(scope, name), strides=strides, padding=padding)
    return x


def _record(endpoints, name, x):
    if endpoints is not None:
        endpoints[name] = x


# =========================================================================== #
# Stems
# =========================================================================== #
def _stem_base(x, endpoints=None):
    """Shared start of every stem: 299x299x3 -> 147x147x64. Records the stride-2 map
    Conv2d_2b_3x3 (147x147x64) in ``endpoints``."""
    x = conv_bn(x, 32, "Conv2d_1a_3x3", strides=2, padding="valid")  # 149x149x32
    x = conv_bn(x, 32, "Conv2d_2a_3x3", padding="valid")  # 147x147x32
    x = conv_bn(x, 64, "Conv2d_2b_3x3")  # 147x147x64
    _record(endpoints, "Conv2d_2b_3x3", x)
    return x


def stem_v4(x, endpoints=None):
    """Inception-v4 / Inception-ResNet-v2 stem (Fig. 3), slim scopes Conv2d_1a..Mixed_5a.

    299x299x3 -> 35x35x384. Records the stride-2 map Conv2d_2b_3x3 (147x147x64) and the
    stride-4 map Mixed_4a (71x71x192) in ``endpoints``.
    """
    x = _stem_base(x, endpoints)
    x = concat(  # Mixed_3a: 73x73x160
        [
            max_pool(x, "Mixed_3a__Branch_0__MaxPool_0a_3x3"),
            conv_bn(x, 96, "Mixed_3a__Branch_1__Conv2d_0a_3x3", strides=2, padding="valid"),
        ],
        "Mixed_3a",
    )
    x = concat(  # Mixed_4a: 71x71x192
        [
            _chain(x, "Mixed_4a__Branch_0", [(64, "Conv2d_0a_1x1"), (96, "Conv2d_1a_3x3", 1, "valid")]),
            _chain(
                x,
                "Mixed_4a__Branch_1",
                [(64, "Conv2d_0a_1x1"), (64, "Conv2d_0b_1x7"), (64, "Conv2d_0c_7x1"), (96, "Conv2d_1a_3x3", 1, "valid")],
            ),
        ],
        "Mixed_4a",
    )
    _record(endpoints, "Mixed_4a", x)
    return concat(  # Mixed_5a: 35x35x384
        [
            conv_bn(x, 192, "Mixed_5a__Branch_0__Conv2d_1a_3x3", strides=2, padding="valid"),
            max_pool(x, "Mixed_5a__Branch_1__MaxPool_1a_3x3"),
        ],
        "Mixed_5a",
    )


def _stem_resnet_base(x, endpoints):
    """Conv2d_1a..Conv2d_4a of TF-slim's IR-v2 and the paper's IR-v1: -> 71x71x192."""
    x = _stem_base(x, endpoints)
    x = max_pool(x, "MaxPool_3a_3x3")  # 73x73x64
    x = conv_bn(x, 80, "Conv2d_3b_1x1", padding="valid")  # 73x73x80
    x = conv_bn(x, 192, "Conv2d_4a_3x3", padding="valid")  # 71x71x192
    _record(endpoints, "Conv2d_4a_3x3", x)
    return x


def stem_resnet_v1(x, endpoints=None):
    """Inception-ResNet-v1 stem (Fig. 14), facenet's scopes: 299x299x3 -> 35x35x256.

    Records the stride-2 map Conv2d_2b_3x3 (147x147x64) and the stride-4 map Conv2d_4a_3x3
    (71x71x192) in ``endpoints``.
    """
    x = _stem_resnet_base(x, endpoints)
    return conv_bn(x, 256, "Conv2d_4b_3x3", strides=2, padding="valid")


def stem_slim(x, endpoints=None):
    """TF-slim Inception-ResNet-v2 stem (not in the paper): 299x299x3 -> 35x35x320.

    Conv2d_1a..Conv2d_4a, MaxPool_5a_3x3 (35x35x192), then the Inception-A-like Mixed_5b.
    Records the stride-2 map Conv2d_2b_3x3 (147x147x64) and the stride-4 map Conv2d_4a_3x3
    (71x71x192) in ``endpoints``.
    """
    x = _stem_resnet_base(x, endpoints)
    x = max_pool(x, "MaxPool_5a_3x3")  # 35x35x192
    return concat(  # Mixed_5b: 35x35x320
        [
            conv_bn(x, 96, "Mixed_5b__Branch_0__Conv2d_1x1"),
            _chain(x, "Mixed_5b__Branch_1", [(48, "Conv2d_0a_1x1"), (64, "Conv2d_0b_5x5")]),
            _chain(x, "Mixed_5b__Branch_2", [(64, "Conv2d_0a_1x1"), (96, "Conv2d_0b_3x3"), (96, "Conv2d_0c_3x3")]),
            conv_bn(avg_pool(x, "Mixed_5b__Branch_3__AvgPool_0a_3x3"), 64, "Mixed_5b__Branch_3__Conv2d_0b_1x1"),
        ],
        "Mixed_5b",
    )


STEMS = {"v4": stem_v4, "slim": stem_slim, "resnet_v1": stem_resnet_v1}


# =========================================================================== #
# Inception-v4 blocks
# =========================================================================== #
def inception_a(x, w: InceptionAWidths, name: str):
    """Inception-A (Fig. 4), slim Mixed_5b..5e: 35x35x384 -> same."""
    return concat(
        [
            conv_bn(x, w.branch_0, join(name, "Branch_0__Conv2d_0a_1x1")),
            _chain(x, join(name, "Branch_1"), zip(w.branch_1, ["Conv2d_0a_1x1", "Conv2d_0b_3x3"])),
            _chain(x, join(name, "Branch_2"), zip(w.branch_2, ["Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3"])),
            _pool_branch(x, w.branch_3, join(name, "Branch_3")),
        ],
        name,
    )


def inception_b(x, w: InceptionBWidths, name: str):
    """Inception-B (Fig. 5), slim Mixed_6b..6h: 17x17x1024 -> same."""
    b2_names = ["Conv2d_0a_1x1", "Conv2d_0b_7x1", "Conv2d_0c_1x7", "Conv2d_0d_7x1", "Conv2d_0e_1x7"]
    return concat(
        [
            conv_bn(x, w.branch_0, join(name, "Branch_0__Conv2d_0a_1x1")),
            _chain(x, join(name, "Branch_1"), zip(w.branch_1, ["Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1"])),
            _chain(x, join(name, "Branch_2"), zip(w.branch_2, b2_names)),
            _pool_branch(x, w.branch_3, join(name, "Branch_3")),
        ],
        name,
    )


def inception_c(x, w: InceptionCWidths, name: str):
    """Inception-C (Fig. 6), slim Mixed_7b..7d: 8x8x1536 -> same.

    Branches 1 and 2 end in a 1x3 and a 3x1 conv side by side, concatenated.
    """

    def split(t, scope, first, second, filters):
        return concat(
            [conv_bn(t, filters, join(scope, first)), conv_bn(t, filters, join(scope, second))], join(scope, "concat")
        )

    b1_scope, b2_scope = join(name, "Branch_1"), join(name, "Branch_2")
    b1 = conv_bn(x, w.branch_1[0], join(b1_scope, "Conv2d_0a_1x1"))
    b2 = _chain(x, b2_scope, zip(w.branch_2[:3], ["Conv2d_0a_1x1", "Conv2d_0b_3x1", "Conv2d_0c_1x3"]))
    return concat(
        [
            conv_bn(x, w.branch_0, join(name, "Branch_0__Conv2d_0a_1x1")),
            split(b1, b1_scope, "Conv2d_0b_1x3", "Conv2d_0c_3x1", w.branch_1[1]),
            split(b2, b2_scope, "Conv2d_0d_1x3", "Conv2d_0e_3x1", w.branch_2[3]),
            _pool_branch(x, w.branch_3, join(name, "Branch_3")),
        ],
        name,
    )


def _pool_branch(x, filters, scope):
    return conv_bn(avg_pool(x, join(scope, "AvgPool_0a_3x3")), filters, join(scope, "Conv2d_0b_1x1"))


# =========================================================================== #
# Reductions (shared by all three networks where the paper shares them)
# =========================================================================== #
def reduction_a(x, r: ReductionA, name: str = "Mixed_6a"):
    """Reduction-A (Fig. 7) with the paper's k, l, m, n: 35x35xC -> 17x17x(C + n + m).

    Inception-v4 (192, 224, 256, 384): 1024; IR-v1 (192, 192, 256, 384): 896;
    IR-v2 (256, 256, 384, 384): 1152 from the paper's 384, 1088 from slim's 320.
    """
    return concat(
        [
            conv_bn(x, r.n, join(name, "Branch_0__Conv2d_1a_3x3"), strides=2, padding="valid"),
            _chain(
                x,
                join(name, "Branch_1"),
                [(r.k, "Conv2d_0a_1x1"), (r.l, "Conv2d_0b_3x3"), (r.m, "Conv2d_1a_3x3", 2, "valid")],
            ),
            max_pool(x, join(name, "Branch_2__MaxPool_1a_3x3")),
        ],
        name,
    )


def reduction_b_v4(x, w: ReductionBV4Widths, name: str = "Mixed_7a"):
    """Inception-v4 Reduction-B (Fig. 8): 17x17x1024 -> 8x8x1536."""
    b1_names = ["Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1", "Conv2d_1a_3x3"]
    return concat(
        [
            _chain(x, join(name, "Branch_0"), [(w.branch_0[0], "Conv2d_0a_1x1"), (w.branch_0[1], "Conv2d_1a_3x3", 2, "valid")]),
            _chain(x, join(name, "Branch_1"), [(f, n) for f, n in zip(w.branch_1[:3], b1_names)]
                   + [(w.branch_1[3], b1_names[3], 2, "valid")]),
            max_pool(x, join(name, "Branch_2__MaxPool_1a_3x3")),
        ],
        name,
    )


def reduction_b_resnet(x, w: ReductionBResNetWidths, name: str = "Mixed_7a"):
    """Inception-ResNet Reduction-B (Figs. 12, 18): 17x17xC -> 8x8x(C + the three conv branches).

    IR-v1: 896 -> 1792; IR-v2 paper: 1152 -> 2144; TF-slim IR-v2: 1088 -> 2080.
    """

    def branch(scope, widths):
        names = ["Conv2d_0a_1x1", "Conv2d_0b_3x3"][: len(widths) - 1] + ["Conv2d_1a_3x3"]
        convs = [(f, n) for f, n in zip(widths[:-1], names)] + [(widths[-1], names[-1], 2, "valid")]
        return _chain(x, join(name, scope), convs)

    return concat(
        [
            branch("Branch_0", w.branch_0),
            branch("Branch_1", w.branch_1),
            branch("Branch_2", w.branch_2),
            max_pool(x, join(name, "Branch_3__MaxPool_1a_3x3")),
        ],
        name,
    )


# =========================================================================== #
# Inception-ResNet blocks. The linear 1x1 up-projection has a bias and no
# BatchNorm, and its width is the input's channel count (never hard-coded).
# =========================================================================== #
def _residual(x, branches, scale, name, activation):
    mixed = concat(branches, join(name, "concat"))
    up = layers.Conv2D(x.shape[channel_axis()], 1, use_bias=True, name=join(name, "Conv2d_1x1"))(mixed)
    return scaled_residual(x, up, scale, name, activation=activation)


def block35(x, w: Block35Widths, scale: float, name: str, activation: bool = True):
    """Inception-ResNet-A (Figs. 10, 16), slim Repeat/block35_N: 35x35xC -> same (C = 256/384/320)."""
    return _residual(
        x,
        [
            conv_bn(x, w.branch_0, join(name, "Branch_0__Conv2d_1x1")),
            _chain(x, join(name, "Branch_1"), zip(w.branch_1, ["Conv2d_0a_1x1", "Conv2d_0b_3x3"])),
            _chain(x, join(name, "Branch_2"), zip(w.branch_2, ["Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3"])),
        ],
        scale,
        name,
        activation,
    )


def _factorized(x, w: FactorizedBlockWidths, n: int, scale, name, activation):
    names = ["Conv2d_0a_1x1", f"Conv2d_0b_1x{n}", f"Conv2d_0c_{n}x1"]
    branches = [
        conv_bn(x, w.branch_0, join(name, "Branch_0__Conv2d_1x1")),
        _chain(x, join(name, "Branch_1"), zip(w.branch_1, names)),
    ]
    return _residual(x, branches, scale, name, activation)


def block17(x, w: FactorizedBlockWidths, scale: float, name: str, activation: bool = True):
    """Inception-ResNet-B (Figs. 11, 17), slim Repeat_1/block17_N: 17x17xC -> same (C = 896/1152/1088)."""
    return _factorized(x, w, 7, scale, name, activation)


def block8(x, w: FactorizedBlockWidths, scale: float, name: str, activation: bool = True):
    """Inception-ResNet-C (Figs. 13, 19), slim Repeat_2/block8_N: 8x8xC -> same (C = 1792/2144/2080)."""
    return _factorized(x, w, 3, scale, name, activation)


# =========================================================================== #
# Auxiliary classifier
# =========================================================================== #
def aux_head(x, classes: int, conv_name: str, logits_name: str, activation, name: str = "AuxLogits"):
    """Auxiliary classifier: avgpool 5x5/3 'valid' -> 1x1 conv 128 -> 5x5 conv 768 'valid' -> dense.

    On 17x17 maps (a 299x299 input): 17x17xC -> 5x5xC -> 5x5x128 -> 1x1x768 -> classes.
    """
    x = layers.AveragePooling2D(5, strides=3, padding="valid", name=join(name, "AvgPool_1a_5x5"))(x)
    x = conv_bn(x, 128, join(name, "Conv2d_1b_1x1"))
    x = conv_bn(x, 768, join(name, conv_name), kernel_size=5, padding="valid")
    x = layers.Flatten(name=join(name, "Flatten"))(x)
    x = layers.Dense(classes, name=join(name, logits_name))(x)
    if activation is not None:
        x = layers.Activation(activation, name="AuxPredictions")(x)
    return x
