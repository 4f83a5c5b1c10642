"""Each block function on a tiny spatial input with its real channel widths."""

import keras
import pytest

from inception_keras.models import blocks, specs


def _run(fn, shape):
    inp = keras.Input(shape)
    model = keras.Model(inp, fn(inp))
    return model, model.output_shape


def _names(model):
    return [layer.name for layer in model.layers if layer.name != model.layers[0].name]


@pytest.mark.parametrize(
    "fn, shape, out, prefix",
    [
        (lambda x: blocks.inception_a(x, specs.InceptionAWidths(), "Mixed_5b"), (9, 9, 384), (9, 9, 384), "Mixed_5b"),
        (lambda x: blocks.inception_b(x, specs.InceptionBWidths(), "Mixed_6c"), (9, 9, 1024), (9, 9, 1024), "Mixed_6c"),
        (lambda x: blocks.inception_c(x, specs.InceptionCWidths(), "Mixed_7d"), (5, 5, 1536), (5, 5, 1536), "Mixed_7d"),
        (lambda x: blocks.reduction_a(x, specs.INCEPTION_V4.reduction_a), (9, 9, 384), (4, 4, 1024), "Mixed_6a"),
        (lambda x: blocks.reduction_a(x, specs.INCEPTION_RESNET_V1.reduction_a), (9, 9, 256), (4, 4, 896), "Mixed_6a"),
        (lambda x: blocks.reduction_a(x, specs.INCEPTION_RESNET_V2.reduction_a), (9, 9, 384), (4, 4, 1152), "Mixed_6a"),
        (lambda x: blocks.reduction_b_v4(x, specs.INCEPTION_V4.reduction_b), (9, 9, 1024), (4, 4, 1536), "Mixed_7a"),
        (lambda x: blocks.reduction_b_resnet(x, specs.INCEPTION_RESNET_V2.reduction_b), (9, 9, 1152), (4, 4, 2144), "Mixed_7a"),
        (lambda x: blocks.reduction_b_resnet(x, specs.INCEPTION_RESNET_V1.reduction_b), (9, 9, 896), (4, 4, 1792), "Mixed_7a"),
        (lambda x: blocks.block35(x, specs.INCEPTION_RESNET_V2.block_a, 0.17, "Repeat__block35_3"), (9, 9, 384), (9, 9, 384), "Repeat__block35_3"),
        (lambda x: blocks.block17(x, specs.INCEPTION_RESNET_V2.block_b, 0.1, "Repeat_1__block17_2"), (9, 9, 1152), (9, 9, 1152), "Repeat_1__block17_2"),
        (lambda x: blocks.block8(x, specs.INCEPTION_RESNET_V2.block_c, 0.2, "Repeat_2__block8_1"), (5, 5, 2144), (5, 5, 2144), "Repeat_2__block8_1"),
        (lambda x: blocks.aux_head(x, 1001, "Conv2d_2a", "Aux_logits", None), (17, 17, 1024), (1001,), "AuxLogits"),
    ],
)
def test_block_shapes_and_names(fn, shape, out, prefix):
    model, output_shape = _run(fn, shape)
    assert tuple(output_shape[1:]) == out
    for name in _names(model):
        assert name.startswith(prefix), name


@pytest.mark.parametrize("stem, channels", [("v4", 384), ("slim", 320), ("resnet_v1", 256)])
def test_stems(stem, channels):
    model, output_shape = _run(lambda x: blocks.STEMS[stem](x), (299, 299, 3))
    assert tuple(output_shape[1:]) == (35, 35, channels)


def test_residual_width_follows_the_input():
    """The up-projection is as wide as the block's input, whatever that is (no magic 1154)."""
    model, output_shape = _run(lambda x: blocks.block17(x, specs.INCEPTION_RESNET_V1.block_b, 0.1, "B"), (9, 9, 1000))
    assert model.get_layer("B__Conv2d_1x1").filters == 1000 and output_shape[-1] == 1000
