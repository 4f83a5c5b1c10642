"""timm's habits work (issue 22): ``pretrained``, ``num_classes``, ``in_chans``, ``list_models``
with patterns, ``preset_info`` of a graph name, and errors caught by type, never by text.

Graphs are built at 75x75 (the smallest input) so that each builds in about a second;
nothing is downloaded: ``pretrained=True`` is checked by what it asks the loader for."""

import keras
import numpy as np
import pytest

import inception_keras
from inception_keras import NoPretrainedWeightsError, UnknownModelError, create_model, list_models
from inception_keras.weights import presets
from inception_keras.errors import UnknownModelError as UnknownModelErrorFromModule
from inception_keras.errors import PresetError

SMALL = (75, 75, 3)


@pytest.fixture
def loaded(monkeypatch):
    """Records the published weights asked for instead of loading them (nothing to download)."""
    calls = []
    monkeypatch.setattr(presets, "load_pretrained", lambda model, arch, weights: calls.append((arch, weights)))
    return calls


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty Keras cache, no local weights folder, no TF-slim mirror (HF_HUB_OFFLINE=1: conftest)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("INCEPTION_KERAS_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("INCEPTION_KERAS_BASE_URL", (tmp_path / "no_mirror").as_uri())


# --------------------------------------------------------------------------- #
# list_models
# --------------------------------------------------------------------------- #
def test_list_models_without_arguments_is_unchanged():
    assert list_models() == ["inception_v4", "inception_resnet_v1", "inception_resnet_v2", "inception_resnet_v2_slim"]


def test_list_models_filters_like_timm():
    assert list_models("*resnet*") == ["inception_resnet_v1", "inception_resnet_v2", "inception_resnet_v2_slim"]
    assert list_models(filter=["inception_v4", "*_slim"]) == ["inception_v4", "inception_resnet_v2_slim"]
    assert list_models("*resnet*", exclude_filters=["*_v1"]) == ["inception_resnet_v2", "inception_resnet_v2_slim"]
    assert list_models("resnet50") == []
    assert list_models("INCEPTION_V4") == []  # case-sensitive, as names are


def test_list_models_pretrained_lists_the_published_weights():
    names = [row.name for row in inception_keras.list_pretrained()]
    assert list_models(pretrained=True) == names
    assert list_models("inception_v4", pretrained=True) == ["inception_v4.tf_in1k"]  # a tagless pattern: graph.*
    # timm's names match too (aliases), the canonical names come back
    assert list_models("inception_resnet_v2", pretrained=True) == ["inception_resnet_v2_slim.tf_in1k",
                                                                   "inception_resnet_v2_slim.tf_ens_adv_in1k"]
    assert list_models("inception_resnet_v2.tf_in1k", pretrained=True) == ["inception_resnet_v2_slim.tf_in1k"]
    assert list_models(pretrained=True, exclude_filters="*ens_adv*") == names[:2]
    assert list_models("inception_resnet_v1", pretrained=True) == []


@pytest.mark.parametrize("kwargs", [dict(filter=3), dict(exclude_filters=[None]), dict(pretrained="yes")])
def test_list_models_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="filter|pretrained must be True or False"):
        list_models(**kwargs)


# --------------------------------------------------------------------------- #
# create_model: num_classes, in_chans, pretrained
# --------------------------------------------------------------------------- #
def test_num_classes_is_classes():
    model = create_model("inception_resnet_v1", num_classes=3, input_shape=SMALL)
    assert model.output_shape == (None, 3)
    assert create_model("inception_resnet_v1", num_classes=3, classes=3, input_shape=SMALL).output_shape == (None, 3)
    with pytest.raises(ValueError, match="num_classes=3 and classes=4 disagree"):
        create_model("inception_resnet_v1", num_classes=3, classes=4)
    with pytest.raises(ValueError, match="num_classes must be a non-negative integer"):
        create_model("inception_resnet_v1", num_classes=-1)


def test_num_classes_zero_is_pooled_features():
    model = create_model("inception_resnet_v1", num_classes=0, input_shape=SMALL)
    assert model.output_shape == (None, 1792)
    assert "Logits__Logits" not in {layer.name for layer in model.layers}
    with pytest.raises(ValueError, match="num_classes=0 means no classifier"):
        create_model("inception_resnet_v1", num_classes=0, include_top=True)


def test_in_chans_sets_the_input_channels():
    model = create_model("inception_v4", in_chans=1)  # the graph's default size
    assert model.input_shape == (None, 299, 299, 1)
    assert create_model("inception_resnet_v1", in_chans=4, input_shape=(75, 75, 4)).input_shape == (None, 75, 75, 4)
    with pytest.raises(ValueError, match=r"in_chans=1 and the input shape \(75, 75, 3\) disagree"):
        create_model("inception_resnet_v1", in_chans=1, input_shape=SMALL)
    with pytest.raises(ValueError, match="in_chans must be a positive integer"):
        create_model("inception_resnet_v1", in_chans=0)


def test_pretrained_false_is_random_weights(loaded):
    model = create_model("inception_v4", pretrained=False, input_shape=SMALL)
    assert model.output_shape == (None, 1000) and loaded == []
    with pytest.raises(ValueError, match="pretrained=False asks for random weights but weights='imagenet'"):
        create_model("inception_v4", pretrained=False, weights="imagenet")


def test_pretrained_false_of_a_preset_is_its_graph_with_random_weights(loaded):
    model = create_model("inception_resnet_v2.tf_in1k", pretrained=False, input_shape=SMALL)  # timm's name
    assert model.name == "inception_resnet_v2_slim" and model.output_shape == (None, 1000) and loaded == []


@pytest.mark.parametrize("name, preset", [("inception_v4", "inception_v4.tf_in1k"),
                                          ("inception_resnet_v2_slim", "inception_resnet_v2_slim.tf_in1k")])
def test_pretrained_true_loads_the_default_preset(loaded, name, preset):
    assert inception_keras.weights.presets.default_preset(name) == preset
    create_model(name, pretrained=True, input_shape=SMALL)
    assert loaded == [(name, preset)]


def test_pretrained_true_with_weights(loaded):
    create_model("inception_v4", pretrained=True, weights="imagenet", input_shape=SMALL)  # the same weights
    assert loaded == [("inception_v4", "imagenet")]
    with pytest.raises(ValueError, match="pretrained=True loads inception_resnet_v2_slim.tf_in1k, but "
                                         "weights='ens_adv_imagenet' asks for other weights"):
        create_model("inception_resnet_v2_slim", pretrained=True, weights="ens_adv_imagenet")
    with pytest.raises(ValueError, match="pretrained must be True or False, got 'imagenet'; to name the weights"):
        create_model("inception_v4", pretrained="imagenet")


@pytest.mark.parametrize("name", ["inception_resnet_v1", "inception_resnet_v2"])
def test_pretrained_true_without_published_weights(name):
    with pytest.raises(NoPretrainedWeightsError,
                       match=f"{name} was never published with weights.*inception_v4, inception_resnet_v2_slim"):
        create_model(name, pretrained=True)
    assert issubclass(NoPretrainedWeightsError, ValueError)


def test_pretrained_true_offline_is_the_weights_error(offline):
    with pytest.raises(RuntimeError, match="could not get the inception_v4.tf_in1k weights; sources tried"):
        create_model("inception_v4", pretrained=True, input_shape=SMALL)


def _first_kernel(model):
    return model.get_layer("Conv2d_1a_3x3").get_weights()[0]


@pytest.fixture(scope="module")
def rgb_weights(tmp_path_factory):
    """A 3-channel model with random (non-trivial) weights, saved as a Keras weights file."""
    model = create_model("inception_resnet_v1", input_shape=SMALL, classes=5)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if "BatchNorm" in layer.name:
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])
    path = str(tmp_path_factory.mktemp("rgb") / "rgb.weights.h5")
    model.save_weights(path)
    return model, path


@pytest.mark.slow
def test_in_chans_with_weights_adapts_the_first_conv_like_timm(rgb_weights):
    rgb, path = rgb_weights
    gray = create_model("inception_resnet_v1", in_chans=1, input_shape=(75, 75, 1), classes=5, weights=path)
    assert gray.input_shape == (None, 75, 75, 1)
    np.testing.assert_allclose(_first_kernel(gray), _first_kernel(rgb).sum(axis=2, keepdims=True), rtol=1e-6)
    for name in ("Conv2d_2a_3x3", "Logits__Logits"):  # every other layer as it was
        for a, b in zip(gray.get_layer(name).get_weights(), rgb.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    # a gray image gives what the RGB model gives for the same image in three equal channels
    x = np.random.default_rng(1).uniform(-1, 1, (2, 75, 75, 1)).astype("float32")
    got = keras.ops.convert_to_numpy(gray(x, training=False))
    expected = keras.ops.convert_to_numpy(rgb(np.repeat(x, 3, axis=-1), training=False))
    np.testing.assert_allclose(got, expected, atol=1e-4)

    five = create_model("inception_resnet_v1", in_chans=5, input_shape=(75, 75, 5), classes=5, weights=path)
    kernel = _first_kernel(rgb)
    np.testing.assert_allclose(_first_kernel(five), np.concatenate([kernel, kernel[:, :, :2]], axis=2) * 3 / 5,
                               rtol=1e-6)


@pytest.mark.slow
def test_in_chans_with_pretrained_resolves_the_preset(loaded):
    model = create_model("inception_v4", pretrained=True, in_chans=1, input_shape=(75, 75, 1))
    assert model.input_shape == (None, 75, 75, 1) and loaded == [("inception_v4", "inception_v4.tf_in1k")]
    model = create_model("inception_v4.tf_in1k", in_chans=2, input_shape=(75, 75, 2))  # a preset, adapted
    assert model.input_shape == (None, 75, 75, 2) and loaded[1] == ("inception_v4", "inception_v4.tf_in1k")


def test_pretrained_with_other_classes_gets_a_new_classifier(loaded):
    model = create_model("inception_v4", pretrained=True, num_classes=7, input_shape=SMALL)
    assert model.output_shape == (None, 7) and loaded == [("inception_v4", "inception_v4.tf_in1k")]
    create_model("inception_v4", pretrained=True, classes=1001, input_shape=SMALL)  # the weights' own head
    assert len(loaded) == 2


def test_preset_folder_pretrained_new_classifier_and_in_chans(rgb_weights, tmp_path):
    rgb, _ = rgb_weights
    folder = inception_keras.save_preset(rgb, str(tmp_path / "rgb"), labels=[f"c{i}" for i in range(5)])
    gray = create_model(folder, pretrained=True, num_classes=7, in_chans=1, input_shape=(75, 75, 1))
    assert (gray.input_shape, gray.output_shape) == ((None, 75, 75, 1), (None, 7))
    np.testing.assert_allclose(_first_kernel(gray), _first_kernel(rgb).sum(axis=2, keepdims=True), rtol=1e-6)
    for a, b in zip(gray.get_layer("Conv2d_2a_3x3").get_weights(), rgb.get_layer("Conv2d_2a_3x3").get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    random = create_model(folder, pretrained=False)  # the preset's graph and head, random weights
    assert random.output_shape == (None, 5) and random.input_shape == (None, 75, 75, 3)
    assert not np.array_equal(_first_kernel(random), _first_kernel(rgb))


def test_the_constructors_still_refuse_weights_into_other_channels(rgb_weights):
    with pytest.raises(ValueError, match="cannot load pretrained weights .*in_chans=1"):
        inception_keras.create_inception_resnet_v1(input_shape=(75, 75, 1), classes=5, weights=rgb_weights[1])


# --------------------------------------------------------------------------- #
# preset_info of a graph; typed errors
# --------------------------------------------------------------------------- #
def test_preset_info_of_a_graph_describes_it():
    info = inception_keras.preset_info("inception_v4")
    assert (info.model, info.classes, info.input_size, info.labels) == ("inception_v4", 1000, 299, None)
    assert info.metadata["default_preset"] == "inception_v4.tf_in1k"
    assert info.preprocessing == inception_keras.preset_info("inception_v4.tf_in1k").preprocessing
    info = inception_keras.preset_info("inception_resnet_v1")
    assert info.metadata["default_preset"] is None and info.preprocessing["name"] == "slim"
    assert inception_keras.preset_info("inception_resnet_v2_slim").metadata["default_preset"] == \
        "inception_resnet_v2_slim.tf_in1k"


def test_unknown_model_is_a_typed_error(tmp_path):
    assert UnknownModelError is UnknownModelErrorFromModule and issubclass(UnknownModelError, ValueError)
    with pytest.raises(UnknownModelError, match="unknown model 'inception_v3'; choose one of inception_v4"):
        create_model("inception_v3")
    with pytest.raises(UnknownModelError, match="unknown model 'inception_v3'"):
        create_model("inception_v3", pretrained=False)
    with pytest.raises(UnknownModelError) as info:
        inception_keras.preset_info("inception_v3")
    assert isinstance(info.value, PresetError)  # what it was before
    with pytest.raises(UnknownModelError):
        inception_keras.models.registry.model_variant("inception_v3")
    with pytest.raises(UnknownModelError):
        inception_keras.models.registry.resolve_model_name("inception_v3", None)
    # a folder that is not a preset is a preset error, not an unknown name
    with pytest.raises(PresetError) as info:
        create_model(str(tmp_path))
    assert not isinstance(info.value, UnknownModelError)
