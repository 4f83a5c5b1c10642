"""The five feature levels of every graph: which layer, how many channels, which stride.

Every model of the zoo has one feature map per stride 2, 4, 8, 16 and 32; the level is
the *last* layer at that stride (timm's choice for ``features_only``):

::

    stride  inception_v4   inception_resnet_v1   inception_resnet_v2   inception_resnet_v2_slim   at 299x299
    2       Conv2d_2b_3x3  Conv2d_2b_3x3         Conv2d_2b_3x3         Conv2d_2b_3x3              147x147x64
    4       Mixed_4a       Conv2d_4a_3x3         Mixed_4a              Conv2d_4a_3x3              71x71x192
    8       Mixed_5e       Repeat__block35_5     Repeat__block35_5     Repeat__block35_10         35x35
    16      Mixed_6h       Repeat_1__block17_10  Repeat_1__block17_10  Repeat_1__block17_20       17x17
    32      Mixed_7d       Repeat_2__block8_5    Repeat_2__block8_5    Conv2d_7b_1x1              8x8

Channels at strides 8, 16, 32: 384/1024/1536 (v4), 256/896/1792 (IR-v1), 384/1152/2144
(IR-v2), 320/1088/1536 (IR-v2 slim). A conv level's layer is its ReLU
(``Conv2d_2b_3x3__relu``); a block's is the block itself.

A model built by this package carries ``model.feature_info`` (a :class:`FeatureInfo`): all
five levels, or with ``features_only=True`` the levels of ``out_indices`` in output order.
"""

from __future__ import annotations

import dataclasses

REDUCTIONS = (2, 4, 8, 16, 32)  # the nominal stride of each level ('valid' convs make 299 -> 147, 71, 35, 17, 8)
ALL_LEVELS = tuple(range(len(REDUCTIONS)))


@dataclasses.dataclass(frozen=True)
class FeatureLevel:
    """One feature level.

    Attributes:
        index: the level, 0..4 (what ``out_indices`` counts).
        name: TF-slim's endpoint name (``Mixed_6h``, ``Conv2d_4a_3x3``).
        layer: the Keras layer whose output the level is (``Mixed_6h``,
            ``Conv2d_4a_3x3__relu``): ``model.get_layer(level.layer).output``.
        channels: channels of the feature map.
        reduction: the input's stride at this level (2, 4, 8, 16 or 32).
    """

    index: int
    name: str
    layer: str
    channels: int
    reduction: int


class FeatureInfo(tuple):
    """The feature levels of a model, in output (stride) order: a tuple of
    :class:`FeatureLevel` with timm-style helpers.

    >>> info = model.feature_info
    >>> info.channels(), info.reduction()   # e.g. [64, 192, 384, 1024, 1536], [2, 4, 8, 16, 32]
    >>> info[-1].layer                      # the last feature map's layer, e.g. 'Mixed_7d'
    """

    __slots__ = ()

    def channels(self) -> list[int]:
        """Channels per level."""
        return [level.channels for level in self]

    def reduction(self) -> list[int]:
        """Stride per level."""
        return [level.reduction for level in self]

    def layers(self) -> list[str]:
        """Keras layer name per level (for ``model.get_layer``)."""
        return [level.layer for level in self]

    def names(self) -> list[str]:
        """TF-slim endpoint name per level."""
        return [level.name for level in self]

    def to_json(self) -> list[dict]:
        """The levels as plain dicts."""
        return [dataclasses.asdict(level) for level in self]

    def __repr__(self) -> str:
        return "FeatureInfo(" + ", ".join(f"{x.index}:{x.name}/{x.reduction}x{x.channels}" for x in self) + ")"


def resolve_out_indices(out_indices) -> tuple[int, ...]:
    """``out_indices`` (None: all five; negative counts from the end) -> sorted level indices.

    Raises ValueError for anything but distinct integers in -5..4."""
    if out_indices is None:
        return ALL_LEVELS
    n = len(REDUCTIONS)
    if isinstance(out_indices, int) and not isinstance(out_indices, bool):
        out_indices = (out_indices,)
    try:
        values = list(out_indices)
    except TypeError:
        values = None
    if not values or any(isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n for i in values):
        raise ValueError(f"out_indices must be a non-empty sequence of level indices in 0..{n - 1} (strides "
                         f"{', '.join(map(str, REDUCTIONS))}; negative counts from the end), got {out_indices!r}")
    resolved = [i % n for i in values]
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"out_indices names a level twice: {out_indices!r}")
    return tuple(sorted(resolved))
