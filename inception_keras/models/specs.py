"""Every width, repeat count and scale of the zoo, as frozen dataclasses.

This is the one place numbers live. Block functions in :mod:`inception_keras.models.blocks`
take these records; :mod:`inception_keras.models.graphs` assembles them. The paper variant of
Inception-ResNet-v2 is written as a ``dataclasses.replace`` of the TF-slim one, so the
difference between the two graphs is on screen in a few lines.

Figures refer to Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of
Residual Connections on Learning", arXiv 1602.07261.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# The smallest input side every graph accepts: at 75x75 the last stride-2 stage
# still has a 1x1 map.
MIN_INPUT_SIZE = 75
# The auxiliary head pools 5x5/3 and then runs a 5x5 'valid' conv, so it needs a
# 17x17 map before the last reduction: a 299x299 input for every graph here.
AUX_MIN_INPUT_SIZE = 299
DEFAULT_INPUT_SIZE = 299


# --------------------------------------------------------------------------- #
# Inception-v4 (Figures 3-9).
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class InceptionAWidths:
    """Inception-A (Fig. 4): 1x1 | 1x1-3x3 | 1x1-3x3-3x3 | avgpool-1x1."""

    branch_0: int = 96
    branch_1: tuple[int, int] = (64, 96)
    branch_2: tuple[int, int, int] = (64, 96, 96)
    branch_3: int = 96


@dataclass(frozen=True)
class InceptionBWidths:
    """Inception-B (Fig. 5): 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool-1x1."""

    branch_0: int = 384
    branch_1: tuple[int, int, int] = (192, 224, 256)
    branch_2: tuple[int, int, int, int, int] = (192, 192, 224, 224, 256)
    branch_3: int = 128


@dataclass(frozen=True)
class InceptionCWidths:
    """Inception-C (Fig. 6): 1x1 | 1x1-(1x3,3x1) | 1x1-3x1-1x3-(1x3,3x1) | avgpool-1x1."""

    branch_0: int = 256
    branch_1: tuple[int, int] = (384, 256)  # 1x1, then each of the split 1x3 / 3x1
    branch_2: tuple[int, int, int, int] = (384, 448, 512, 256)
    branch_3: int = 256


@dataclass(frozen=True)
class ReductionA:
    """Reduction-A (Fig. 7): 3x3/2 (n) | 1x1 (k) - 3x3 (l) - 3x3/2 (m) | maxpool/2."""

    k: int
    l: int  # noqa: E741 - the paper's name
    m: int
    n: int


@dataclass(frozen=True)
class ReductionBV4Widths:
    """Inception-v4 Reduction-B (Fig. 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    branch_0: tuple[int, int] = (192, 192)
    branch_1: tuple[int, int, int, int] = (256, 256, 320, 320)


@dataclass(frozen=True)
class InceptionV4Spec:
    name: str
    scope: str
    repeats: tuple[int, int, int]  # Inception-A, -B, -C blocks
    inception_a: InceptionAWidths
    inception_b: InceptionBWidths
    inception_c: InceptionCWidths
    reduction_a: ReductionA
    reduction_b: ReductionBV4Widths
    stem: str = "v4"
    aux_conv: str = "Conv2d_2a"  # slim: kernel = the map's spatial shape (5x5 at 299)
    aux_logits: str = "Aux_logits"


# --------------------------------------------------------------------------- #
# Inception-ResNet (Figures 10-19).
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Block35Widths:
    """Inception-ResNet-A: 1x1 | 1x1-3x3 | 1x1-3x3-3x3, then a linear 1x1 up-projection."""

    branch_0: int
    branch_1: tuple[int, int]
    branch_2: tuple[int, int, int]


@dataclass(frozen=True)
class FactorizedBlockWidths:
    """Inception-ResNet-B (1x7, 7x1) and -C (1x3, 3x1): 1x1 | 1x1-1xn-nx1, then linear 1x1."""

    branch_0: int
    branch_1: tuple[int, int, int]


@dataclass(frozen=True)
class ReductionBResNetWidths:
    """Inception-ResNet Reduction-B (Figs. 12, 18): maxpool | 1x1-3x3/2 | 1x1-3x3/2 | 1x1-3x3-3x3/2."""

    branch_0: tuple[int, int]
    branch_1: tuple[int, int]
    branch_2: tuple[int, int, int]


@dataclass(frozen=True)
class ResNetSpec:
    name: str
    scope: str
    stem: str  # "v4" | "slim" | "resnet_v1"
    block_a: Block35Widths
    block_b: FactorizedBlockWidths
    block_c: FactorizedBlockWidths
    repeats: tuple[int, int, int]  # A, B, C blocks (the slim final Block8 included)
    scales: tuple[float, float, float]  # residual scale of A, B, C with scale=True
    reduction_a: ReductionA
    reduction_b: ReductionBResNetWidths
    # TF-slim ends with one more C block ("Block8") that has scale 1.0 and no ReLU,
    # then a 1x1 conv to 1536 channels ("Conv2d_7b_1x1"). The paper has neither.
    final_block_linear: bool
    final_conv: int | None
    aux_conv: str = "Conv2d_2a_5x5"
    aux_logits: str = "Logits"


INCEPTION_V4 = InceptionV4Spec(
    name="inception_v4",
    scope="InceptionV4",
    repeats=(4, 7, 3),
    inception_a=InceptionAWidths(),
    inception_b=InceptionBWidths(),
    inception_c=InceptionCWidths(),
    reduction_a=ReductionA(k=192, l=224, m=256, n=384),
    reduction_b=ReductionBV4Widths(),
)

# TF-slim's inception_resnet_v2 (the graph with published weights; also
# keras.applications.InceptionResNetV2).
INCEPTION_RESNET_V2_SLIM = ResNetSpec(
    name="inception_resnet_v2_slim",
    scope="InceptionResnetV2",
    stem="slim",  # ends with Mixed_5b: 35x35x320
    block_a=Block35Widths(branch_0=32, branch_1=(32, 32), branch_2=(32, 48, 64)),
    block_b=FactorizedBlockWidths(branch_0=192, branch_1=(128, 160, 192)),
    block_c=FactorizedBlockWidths(branch_0=192, branch_1=(192, 224, 256)),
    repeats=(10, 20, 10),
    scales=(0.17, 0.10, 0.20),
    reduction_a=ReductionA(k=256, l=256, m=384, n=384),
    reduction_b=ReductionBResNetWidths(branch_0=(256, 384), branch_1=(256, 288), branch_2=(256, 288, 320)),
    final_block_linear=True,
    final_conv=1536,
)

# The paper's Inception-ResNet-v2 (Figs. 3, 16, 7, 17, 18, 19, 15). The residual
# up-projections are sized from their input (derived in blocks.py), which turns the
# paper's 1154 (B) and 2048 (C) into the 1152 and 2144 that can actually be added.
INCEPTION_RESNET_V2 = dataclasses.replace(
    INCEPTION_RESNET_V2_SLIM,
    name="inception_resnet_v2",
    stem="v4",  # 35x35x384
    repeats=(5, 10, 5),
    final_block_linear=False,
    final_conv=None,
)

# The paper's Inception-ResNet-v1 (Figs. 14, 10, 7, 11, 12, 13, 15).
INCEPTION_RESNET_V1 = ResNetSpec(
    name="inception_resnet_v1",
    scope="InceptionResnetV1",
    stem="resnet_v1",  # 35x35x256
    block_a=Block35Widths(branch_0=32, branch_1=(32, 32), branch_2=(32, 32, 32)),
    block_b=FactorizedBlockWidths(branch_0=128, branch_1=(128, 128, 128)),
    block_c=FactorizedBlockWidths(branch_0=192, branch_1=(192, 192, 192)),
    repeats=(5, 10, 5),
    scales=(0.17, 0.10, 0.20),
    reduction_a=ReductionA(k=192, l=192, m=256, n=384),
    reduction_b=ReductionBResNetWidths(branch_0=(256, 384), branch_1=(256, 256), branch_2=(256, 256, 256)),
    final_block_linear=False,
    final_conv=None,
)

SPECS = {
    spec.name: spec
    for spec in (INCEPTION_V4, INCEPTION_RESNET_V1, INCEPTION_RESNET_V2, INCEPTION_RESNET_V2_SLIM)
}
