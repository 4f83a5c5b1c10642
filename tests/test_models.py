"""Structure of the four graphs: weight counts, shapes, names, endpoints, arguments."""

import re

import keras
import numpy as np
import pytest

import inception_keras
from inception_keras import create_inception_resnet_v2, create_inception_v4, list_models

MODELS = list_models()
FEATURES = {  # channels of the last feature map
    "inception_v4": 1536,
    "inception_resnet_v1": 1792,
    "inception_resnet_v2": 2144,
    "inception_resnet_v2_slim": 1536,
}
# input side -> side of the last (stride-32) map; the same for all four stems
FINAL_SIDE = {299: 8, 139: 3, 75: 1, 107: 2}
SIZES = [(299, 299), (139, 139), (75, 75), (75, 107), (139, 75)]


# --------------------------------------------------------------------------- #
# Weight counts
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "name, total, trainable",
    [
        # From TF-slim's variable list and timm's parameter count (the figures).
        ("inception_v4", 42_711_400, 42_648_232),
        # keras.applications.InceptionResNetV2(weights=None).count_params()
        ("inception_resnet_v2_slim", 55_873_736, 55_813_192),
        # The paper graphs have no published count; these pin the graphs as built
        # from the figures (see test_paper_channel_counts for the widths themselves).
        ("inception_resnet_v1", 22_769_848, 22_742_808),
        ("inception_resnet_v2", 32_450_360, 32_417_496),
    ],
)
def test_weight_counts(zoo, name, total, trainable):
    model = zoo.get(name)
    n_trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert model.count_params() == total
    assert n_trainable == trainable
    if name == "inception_v4":
        assert total - n_trainable == 63_168


# --------------------------------------------------------------------------- #
# Output shapes: include_top True/False, pooling None/avg/max, several sizes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", MODELS)
def test_top_output_shape(zoo, name):
    model = zoo.get(name)
    assert model.input_shape == (None, 299, 299, 3)
    assert model.output_shape == (None, 1000)
    assert model.layers[-1].name == "Predictions"
    assert model.get_layer("Logits__Logits").input.shape[-1] == FEATURES[name]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("pooling", [None, "avg", pytest.param("max", marks=pytest.mark.slow)])
def test_notop_output_shapes_at_every_size(zoo, name, pooling):
    model = zoo.get(name, include_top=False, pooling=pooling, input_shape=(None, None, 3))
    for h, w in SIZES:
        shape = model.compute_output_shape((2, h, w, 3))
        if pooling is None:
            assert tuple(shape) == (2, FINAL_SIDE[h], FINAL_SIDE[w], FEATURES[name]), (h, w)
        else:
            assert tuple(shape) == (2, FEATURES[name]), (h, w)


@pytest.mark.parametrize("name", MODELS)
def test_top_with_open_input_size(zoo, name):
    model = zoo.get(name, input_shape=(None, None, 3), classes=7)
    for h, w in SIZES:
        assert tuple(model.compute_output_shape((1, h, w, 3))) == (1, 7)


@pytest.mark.parametrize("name", MODELS)
def test_forward_pass_at_minimum_non_square_size(zoo, name):
    """One eager forward pass per graph at 75x107, as a user would call it."""
    model = zoo.get(name, input_shape=(75, 107, 3), classes=10)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 75, 107, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (2, 10)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- #
# Endpoints: slim's shape tables and the paper's channel counts
# --------------------------------------------------------------------------- #
ENDPOINTS = {
    "inception_v4": {
        "Conv2d_1a_3x3__relu": (149, 149, 32),
        "Mixed_3a": (73, 73, 160),
        "Mixed_4a": (71, 71, 192),
        "Mixed_5a": (35, 35, 384),
        "Mixed_5e": (35, 35, 384),
        "Mixed_6a": (17, 17, 1024),
        "Mixed_6h": (17, 17, 1024),
        "Mixed_7a": (8, 8, 1536),
        "Mixed_7d": (8, 8, 1536),
    },
    "inception_resnet_v2_slim": {
        "MaxPool_3a_3x3": (73, 73, 64),
        "Conv2d_4a_3x3__relu": (71, 71, 192),
        "MaxPool_5a_3x3": (35, 35, 192),
        "Mixed_5b": (35, 35, 320),
        "Repeat__block35_10": (35, 35, 320),
        "Mixed_6a": (17, 17, 1088),
        "Repeat_1__block17_20": (17, 17, 1088),
        "Mixed_7a": (8, 8, 2080),
        "Repeat_2__block8_9": (8, 8, 2080),
        "Block8": (8, 8, 2080),
        "Conv2d_7b_1x1__relu": (8, 8, 1536),
    },
    "inception_resnet_v2": {
        "Mixed_5a": (35, 35, 384),
        "Repeat__block35_5": (35, 35, 384),
        "Mixed_6a": (17, 17, 1152),
        "Repeat_1__block17_10": (17, 17, 1152),
        "Mixed_7a": (8, 8, 2144),
        "Repeat_2__block8_5": (8, 8, 2144),
    },
    "inception_resnet_v1": {
        "Conv2d_4a_3x3__relu": (71, 71, 192),
        "Conv2d_4b_3x3__relu": (35, 35, 256),
        "Repeat__block35_5": (35, 35, 256),
        "Mixed_6a": (17, 17, 896),
        "Repeat_1__block17_10": (17, 17, 896),
        "Mixed_7a": (8, 8, 1792),
        "Repeat_2__block8_5": (8, 8, 1792),
    },
}


@pytest.mark.parametrize("name", MODELS)
def test_endpoint_shapes(zoo, name):
    model = zoo.get(name)
    for layer, shape in ENDPOINTS[name].items():
        assert tuple(model.get_layer(layer).output.shape[1:]) == shape, layer


@pytest.mark.parametrize(
    "name, a, b, c, repeats",
    [
        ("inception_resnet_v1", 256, 896, 1792, (5, 10, 5)),
        # the paper's 1154 and 2048 corrected to the inputs' 1152 and 2144
        ("inception_resnet_v2", 384, 1152, 2144, (5, 10, 5)),
        ("inception_resnet_v2_slim", 320, 1088, 2080, (10, 20, 9)),
    ],
)
def test_paper_channel_counts(zoo, name, a, b, c, repeats):
    model = zoo.get(name)
    for prefix, width, n in zip(("Repeat__block35_", "Repeat_1__block17_", "Repeat_2__block8_"), (a, b, c), repeats):
        for i in range(1, n + 1):
            up = model.get_layer(f"{prefix}{i}__Conv2d_1x1")
            assert up.filters == width and up.use_bias
        with pytest.raises(ValueError):
            model.get_layer(f"{prefix}{n + 1}__Conv2d_1x1")


def test_slim_final_block_is_linear_and_unscaled(zoo):
    model = zoo.get("inception_resnet_v2_slim")
    block8 = model.get_layer("Block8")
    assert isinstance(block8, keras.layers.Add)  # the sum is the output: no ReLU
    names = {layer.name for layer in model.layers}
    assert "Block8__scale" not in names and "Block8__add" not in names
    assert model.get_layer("Conv2d_7b_1x1").input is block8.output


def test_batchnorm_only_on_ordinary_convs(zoo):
    """No BatchNorm after a residual sum or an up-projection; every plain conv has one."""
    for name in MODELS:
        model = zoo.get(name)
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                assert layer.name.endswith("__BatchNorm")
                conv = model.get_layer(layer.name[: -len("__BatchNorm")])
                assert isinstance(conv, keras.layers.Conv2D) and not conv.use_bias
                assert not layer.scale and layer.epsilon == pytest.approx(1e-3)
            if isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
                assert layer.name.endswith("__Conv2d_1x1")  # residual up-projections only


# --------------------------------------------------------------------------- #
# Names
# --------------------------------------------------------------------------- #
AUTO_NAME = re.compile(
    r"^(conv2d|batch_normalization|activation|add|concatenate|dense|dropout|flatten|rescaling|"
    r"max_pooling2d|average_pooling2d|global_average_pooling2d|global_max_pooling2d|input_layer|"
    r"functional|lambda)(_\d+)?$"
)


@pytest.mark.parametrize("name", MODELS)
def test_layer_names_are_slim_scopes(zoo, name):
    for model in (zoo.get(name), zoo.get(name, include_top=False, pooling="avg", input_shape=(None, None, 3))):
        names = [layer.name for layer in model.layers]
        assert len(names) == len(set(names))
        for n in names:
            assert not AUTO_NAME.match(n), n
            assert "/" not in n and "___" not in n and not n.startswith("_") and not n.endswith("_")
            assert n[0].isupper() or n in {"input", "global_avg_pool", "global_max_pool"}, n


# --------------------------------------------------------------------------- #
# The auxiliary head and feature extraction
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", MODELS)
def test_aux_logits(zoo, name):
    model = zoo.get(name, aux_logits=True, classes=1001)
    assert [tuple(s) for s in model.output_shape] == [(None, 1001), (None, 1001)]
    assert model.layers[-1].name in {"Predictions", "AuxPredictions"}
    pool = model.get_layer("AuxLogits__AvgPool_1a_5x5")
    stride16 = "Mixed_6h" if name == "inception_v4" else ("Repeat_1__block17_20" if name.endswith("slim") else "Repeat_1__block17_10")
    assert pool.input is model.get_layer(stride16).output
    assert tuple(pool.output.shape[1:3]) == (5, 5)
    assert tuple(model.get_layer("AuxLogits__Conv2d_1b_1x1").output.shape[1:]) == (5, 5, 128)
    conv_name = "AuxLogits__Conv2d_2a" if name == "inception_v4" else "AuxLogits__Conv2d_2a_5x5"
    assert tuple(model.get_layer(conv_name).output.shape[1:]) == (1, 1, 768)


FEATURE_MAPS = {  # the last layer at strides 2, 4, 8, 16, 32 (timm's choice), and its channels
    "inception_v4": {"Conv2d_2b_3x3": 64, "Mixed_4a": 192, "Mixed_5e": 384, "Mixed_6h": 1024, "Mixed_7d": 1536},
    "inception_resnet_v1": {"Conv2d_2b_3x3": 64, "Conv2d_4a_3x3": 192, "Repeat__block35_5": 256,
                            "Repeat_1__block17_10": 896, "Repeat_2__block8_5": 1792},
    "inception_resnet_v2": {"Conv2d_2b_3x3": 64, "Mixed_4a": 192, "Repeat__block35_5": 384,
                            "Repeat_1__block17_10": 1152, "Repeat_2__block8_5": 2144},
    "inception_resnet_v2_slim": {"Conv2d_2b_3x3": 64, "Conv2d_4a_3x3": 192, "Repeat__block35_10": 320,
                                 "Repeat_1__block17_20": 1088, "Conv2d_7b_1x1": 1536},
}


@pytest.mark.parametrize("name", MODELS)
def test_features_only(zoo, name):
    model = zoo.get(name, features_only=True, input_shape=(None, None, 3))
    assert isinstance(model.output, list) and len(model.output) == 5
    assert model.feature_info.names() == list(FEATURE_MAPS[name])  # stride order
    assert model.feature_info.reduction() == [2, 4, 8, 16, 32]
    shapes = model.compute_output_shape((1, 299, 299, 3))
    sides = [147, 71, 35, 17, 8]  # strides 2, 4, 8, 16, 32 (as 'valid' convs count them)
    for shape, (key, channels), side in zip(shapes, FEATURE_MAPS[name].items(), sides):
        assert tuple(shape) == (1, side, side, channels), key


def test_features_only_forward(zoo):
    model = zoo.get("inception_resnet_v1", features_only=True, input_shape=(75, 75, 3))
    out = model(np.zeros((1, 75, 75, 3), "float32"), training=False)
    assert [tuple(v.shape) for v in out] == [(1, 35, 35, 64), (1, 15, 15, 192), (1, 7, 7, 256), (1, 3, 3, 896),
                                             (1, 1, 1, 1792)]


# --------------------------------------------------------------------------- #
# Residual scaling
# --------------------------------------------------------------------------- #
def _scales(model):
    return {layer.name: layer.scale for layer in model.layers if isinstance(layer, keras.layers.Rescaling)}


@pytest.mark.parametrize("scale, expected", [(True, (0.17, 0.10, 0.20)),
                                             pytest.param(0.3, (0.3, 0.3, 0.3), marks=pytest.mark.slow),
                                             pytest.param(False, None, marks=pytest.mark.slow)])
def test_scale_argument(scale, expected):
    model = inception_keras.create_inception_resnet_v1(include_top=False, input_shape=(75, 75, 3), scale=scale)
    scales = _scales(model)
    if expected is None:
        assert scales == {}
        return
    assert len(scales) == 5 + 10 + 5
    for name, value in scales.items():
        kind = 0 if "block35" in name else (1 if "block17" in name else 2)
        assert value == pytest.approx(expected[kind]), name


def test_scale_true_in_slim_graph(zoo):
    scales = _scales(zoo.get("inception_resnet_v2_slim"))
    assert len(scales) == 10 + 20 + 9  # Block8 is unscaled
    assert scales["Repeat__block35_1__scale"] == pytest.approx(0.17)
    assert scales["Repeat_1__block17_20__scale"] == pytest.approx(0.10)
    assert scales["Repeat_2__block8_9__scale"] == pytest.approx(0.20)


# --------------------------------------------------------------------------- #
# keras.applications arguments
# --------------------------------------------------------------------------- #
def test_input_tensor_is_used():
    inp = keras.Input(shape=(75, 75, 3), name="my_images")
    model = create_inception_v4(input_tensor=inp, include_top=False, pooling="max")
    assert model.inputs[0] is inp
    assert model.output_shape == (None, 1536)


@pytest.mark.parametrize("channels", [1, 4])
def test_other_channel_counts(channels):
    model = inception_keras.create_inception_resnet_v1(include_top=False, input_shape=(75, 75, channels))
    assert model.get_layer("Conv2d_1a_3x3").kernel.shape == (3, 3, channels, 32)
    with pytest.raises(ValueError, match="channels"):
        inception_keras.create_inception_resnet_v1(input_shape=(75, 75, channels), weights="imagenet")


def test_logits_without_activation_and_no_dropout():
    model = inception_keras.create_inception_resnet_v1(
        input_shape=(75, 75, 3), classes=3, classifier_activation=None, dropout_rate=0.0
    )
    assert model.layers[-1].name == "Logits__Logits"
    assert model.get_layer("Logits__Dropout_1b").rate == 0.0


def test_channels_first_builds():
    keras.config.set_image_data_format("channels_first")
    try:
        model = inception_keras.create_inception_resnet_v1(include_top=False, input_shape=(3, None, None))
        assert tuple(model.compute_output_shape((1, 3, 299, 299))) == (1, 1792, 8, 8)
    finally:
        keras.config.set_image_data_format("channels_last")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_shape=(74, 299, 3)), "at least 75"),
        (dict(input_shape=(299, 60, 3)), "at least 75"),
        (dict(input_shape=(299, 299)), "3 dimensions"),
        (dict(include_top=False, pooling="mean"), "pooling"),
        (dict(classes=0), "classes"),
        (dict(classifier_activation="no_such_activation"), "classifier_activation"),
        (dict(dropout_rate=1.0), "dropout_rate"),
        (dict(aux_logits=True, input_shape=(298, 299, 3)), "at least 299x299"),
        (dict(aux_logits=True, input_shape=(None, None, 3)), "at least 299x299"),
        (dict(aux_logits=True, include_top=False), "include_top"),
        (dict(aux_logits=True, features_only=True), "features_only"),
        (dict(weights="imagenet"), "no published weights .*variant='slim'"),
        (dict(weights=3), "weights"),
        (dict(scale="yes"), "scale"),
        (dict(variant="tf"), "variant"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_inception_resnet_v2(**kwargs)


def test_input_tensor_and_input_shape_disagree():
    with pytest.raises(ValueError, match="does not match"):
        create_inception_v4(input_tensor=keras.Input((80, 80, 3)), input_shape=(90, 90, 3))


def test_registry():
    assert list_models() == ["inception_v4", "inception_resnet_v1", "inception_resnet_v2", "inception_resnet_v2_slim"]
    with pytest.raises(ValueError, match="unknown model 'inception_v3'"):
        inception_keras.create_model("inception_v3")
