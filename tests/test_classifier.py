"""ImageClassifier: from_preset, predict on every kind of raw image (the evaluate pipeline's
numbers), labels, .keras and preset round trips, reset_classifier + fit, backends, bad inputs.

One small preset (Inception-v4 at 75x75, 3 named classes) is written per module; the reference
numbers are the evaluation pipeline's: ``load_for_eval`` of each file, then the network.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from safetensors.numpy import save_file

import inception_keras
from inception_keras import ImageClassifier, ImagePreprocessor, PresetError, UnknownModelError
from inception_keras.data.preprocessing import Preprocessing, load_for_eval
from inception_keras.data.labels import imagenet_classes
from inception_keras.tasks import ClassifierAPI, Prediction

from helpers.classifier import CLASSES, SIZE, outputs, png_bytes, small_network, smooth_image, write_photos
from helpers.timm_checkpoints import randomize, timm_state_dict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREP = Preprocessing("slim", SIZE, 0.875)


@pytest.fixture(scope="module")
def network():
    return small_network()


@pytest.fixture(scope="module")
def preset(network, tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "preset"
    inception_keras.save_preset(network, path, labels=list(CLASSES), preprocessing="slim")
    return path


@pytest.fixture(scope="module")
def clf(preset):
    return ImageClassifier.from_preset(preset)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def evaluated(network, photos):
    """What the evaluation pipeline gives: (inputs, probabilities) per photo."""
    x = np.stack([load_for_eval(p, PREP) for p in photos])
    return x, outputs(network, x)


def _close(actual, expected, atol=1e-6):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def test_inputs_and_probabilities_are_the_evaluate_pipelines(clf, photos, evaluated):
    x, probs = evaluated
    np.testing.assert_array_equal(clf.preprocessor.preprocess(photos), x)  # the same inputs, bit for bit
    out = clf.predict(photos)
    assert out.shape == (len(photos), len(CLASSES)) and out.dtype == np.float32
    _close(out, probs)
    assert np.abs(probs[:, None] - probs[None]).max() > 1e-2  # the photos really get different outputs
    timm_prep = Preprocessing("resize-crop", SIZE, 0.9)  # timm's presets: the same, resize-crop
    np.testing.assert_array_equal(ImagePreprocessor("resize-crop", SIZE, 0.9).preprocess(photos),
                                  np.stack([load_for_eval(p, timm_prep) for p in photos]))


def test_python_inputs_of_every_kind(clf, network, photos, evaluated):
    x, probs = evaluated

    def expected(rows, batch_size=32):  # the evaluate pipeline's inputs, in predict's batches
        return outputs(network, x[rows], batch_size)

    encoded = [Path(p).read_bytes() for p in photos]
    _close(clf.predict(encoded), probs)
    _close(clf.predict(encoded[1]), expected([1]))  # one image
    _close(clf.predict(photos[0]), expected([0]))
    pixels = [np.asarray(Image.open(p).convert("RGB")) for p in photos[1:]]  # lossless formats
    _close(clf.predict(pixels), expected([1, 2, 3, 4]))  # a list of arrays of odd sizes
    _close(clf.predict(pixels[2]), expected([3]))  # one HxWx3 array
    _close(clf.predict(np.stack([pixels[2]] * 2)), expected([3, 3]))  # an NxHxWx3 batch
    _close(clf.predict([Image.open(p) for p in photos[1:]]), expected([1, 2, 3, 4]))
    _close(clf.predict(photos, batch_size=2), expected(range(5), 2))
    # another batch size changes only the last bits
    _close(clf.predict(photos[4]), probs[4:], atol=1e-4)


def test_datasets_of_raw_images(clf, network, photos, evaluated):
    x, probs = evaluated
    encoded = [Path(p).read_bytes() for p in photos]  # TIFF included: Pillow, through tf.numpy_function
    pixels = np.asarray(Image.open(photos[3]).convert("RGB"))
    _close(clf.predict(tf.data.Dataset.from_tensor_slices(encoded)), probs)  # unbatched bytes
    labelled = tf.data.Dataset.from_tensor_slices((encoded, [0] * 5)).batch(2)  # batched, labelled
    _close(clf.predict(labelled), outputs(network, x, 2))
    batch = tf.data.Dataset.from_tensor_slices(np.stack([pixels] * 3)).batch(3)  # uint8 batches
    _close(clf.predict(batch), outputs(network, x[[3, 3, 3]]))


def test_grayscale_arrays_become_rgb(clf):
    gray = smooth_image(np.random.default_rng(3), 80, 95)[..., 0]
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    expected = clf.predict(png_bytes(rgb))
    _close(clf.predict(gray), expected)
    _close(clf.predict(gray[..., None]), expected)
    _close(clf.predict(Image.fromarray(gray)), expected)


def test_labels_are_the_presets_own(clf, photos, evaluated):
    _, probs = evaluated
    assert clf.class_names == list(CLASSES) and not clf.background
    assert clf.labels == [{"id": i, "name": n} for i, n in enumerate(CLASSES)]
    top = clf.predict_labels(photos, top=2)
    assert len(top) == len(photos) and all(len(row) == 2 for row in top)
    for row, p in zip(top, probs):
        best = int(np.argmax(p))
        assert isinstance(row[0], Prediction)
        assert row[0] == (best, CLASSES[best], pytest.approx(float(p[best]), abs=1e-6))
        assert row[0].score >= row[1].score
    assert clf.decode(probs, top=3)[0][0].name == CLASSES[int(np.argmax(probs[0]))]
    with pytest.raises(ValueError, match="top must be an integer from 1 to 3"):
        clf.decode(probs, top=4)


def test_imagenet_heads_name_imagenet_classes(clf, tmp_path):
    slim_head = clf.reset_classifier(1001, labels="imagenet")
    assert slim_head.background and slim_head.class_names[:2] == ["background", "tench, Tinca tinca"]
    scores = np.zeros((1, 1001), np.float32)
    scores[0, 0], scores[0, 2], scores[0, 1] = 0.9, 0.06, 0.04  # background first: never listed
    top = slim_head.decode(scores, top=2)[0]
    assert [tuple(p)[:2] for p in top] == [("n01443537", "goldfish, Carassius auratus"),
                                           ("n01440764", "tench, Tinca tinca")]
    cfg = slim_head.pretrained_cfg
    assert cfg["num_classes"] == 1001 and cfg["label_offset"] == 1 and len(cfg["label_names"]) == 1000
    plain = clf.reset_classifier(1000)  # no labels: a 1000-way head is named as ImageNet's
    assert plain.decode(np.eye(1000, dtype=np.float32)[[1]], top=1)[0][0][:2] == ("n01443537",
                                                                             "goldfish, Carassius auratus")


def test_backbone_and_pretrained_cfg(clf, network, preset):
    backbone = clf.backbone
    assert backbone.output_shape[-1] == 1536 and len(backbone.output_shape) == 4
    assert not any(layer.name.startswith("Logits") for layer in backbone.layers)
    # from_model: the backbone is the model's own layers (the same variables), the head a copy
    made = ImageClassifier.from_model(network, labels=list(CLASSES))
    assert made.backbone.get_layer("Conv2d_1a_3x3") is network.get_layer("Conv2d_1a_3x3")
    np.testing.assert_array_equal(made.get_layer("Logits__Logits").get_weights()[0],
                                  network.get_layer("Logits__Logits").get_weights()[0])
    cfg = clf.pretrained_cfg
    assert cfg["input_size"] == (3, SIZE, SIZE) and cfg["crop_pct"] == 0.875 and cfg["crop_mode"] == "center"
    assert cfg["interpolation"] == "bilinear" and cfg["mean"] == cfg["std"] == (0.5, 0.5, 0.5)
    assert cfg["num_classes"] == 3 and cfg["label_names"] == list(CLASSES) and cfg["label_offset"] == 0
    assert cfg["architecture"] == "inception_v4" and cfg["preprocessing"] == "slim"
    assert cfg["source"] == str(preset)
    assert cfg["sha256"] == json.loads((preset / "metadata.json").read_text())["weights"]["sha256"]


def test_save_to_preset_round_trip(clf, photos, evaluated, tmp_path):
    path = clf.save_to_preset(tmp_path / "run" / "best")  # where a training run keeps its model
    info = inception_keras.preset_info(path)
    assert info.class_names == list(CLASSES) and info.preprocessing["name"] == "slim" and info.input_size == SIZE
    again = ImageClassifier.from_preset(tmp_path / "run")  # the run's folder stands for its best/
    _close(again.predict(photos), evaluated[1])
    assert again.labels == clf.labels and again.pretrained_cfg["source"] == str(path)


def test_graph_name_with_weights_of_a_preset(preset, photos, evaluated):
    """A graph name with weights= a preset: the preset's weights, labels and preprocessing."""
    graph = ImageClassifier.from_preset("inception_v4", weights=preset, classes=3, input_shape=(SIZE, SIZE, 3))
    assert graph.class_names == list(CLASSES) and graph.preparation == PREP
    assert graph.pretrained_cfg["weights"] == str(preset) and graph.pretrained_cfg["sha256"]
    _close(graph.predict(photos), evaluated[1])


def test_timm_keywords(preset):
    """timm's pretrained=False / num_classes: the preset's graph, random, with a new head."""
    fresh = ImageClassifier.from_preset(preset, pretrained=False, num_classes=2)
    assert fresh.num_classes == 2 and fresh.class_names == ["class 0", "class 1"]  # not the preset's 3 names
    assert fresh.preparation == PREP and fresh.pretrained_cfg["input_size"] == (3, SIZE, SIZE)


def test_preprocessor_is_a_serialisable_layer():
    pre = ImagePreprocessor("resize-crop", image_size=80, crop_fraction=0.9)
    config = pre.get_config()
    assert config["preprocessing"] == "resize-crop" and config["image_size"] == 80
    again = ImagePreprocessor.from_config(config)
    assert again.preparation == Preprocessing("resize-crop", 80, 0.9)
    image = smooth_image(np.random.default_rng(5), 90, 130)
    out = again(tf.constant(image))  # one uint8 image, as a layer call
    assert tuple(out.shape) == (80, 80, 3)
    batch = again(tf.constant([png_bytes(image)] * 2))  # a batch of encoded images
    np.testing.assert_allclose(batch.numpy()[1], out.numpy(), atol=1e-6)
    assert issubclass(ImageClassifier, ClassifierAPI)


def test_from_preset_opens_a_saved_classifier(photos, tmp_path):
    """classifier.save("x.keras") then from_preset("x.keras"): the classifier as saved, not a weights-file error."""
    inp = keras.Input((SIZE, SIZE, 3))
    backbone = keras.Model(inp, keras.layers.Conv2D(4, 3, strides=4, name="conv")(inp), name="tiny_backbone")
    clf = ImageClassifier(backbone, 3, labels=["cat", "dog", "fox"])  # (small: the point is the file, not the net)
    path = tmp_path / "clf.keras"
    clf.save(path)
    again = ImageClassifier.from_preset(path)
    assert type(again) is ImageClassifier and again.labels == clf.labels
    np.testing.assert_array_equal(again.predict(photos[:2]), clf.predict(photos[:2]))
    with pytest.raises(ValueError, match=r"saved ImageClassifier, loaded as saved: num_classes cannot change it"):
        ImageClassifier.from_preset(str(path), num_classes=3)
    plain = tmp_path / "plain.keras"
    clf.backbone.save(plain)  # a Keras model that is no classifier: still the weights-file advice
    with pytest.raises(PresetError, match="is a weights file, not a preset"):
        ImageClassifier.from_preset(plain)


@pytest.mark.slow
def test_keras_file_round_trip_in_a_fresh_process(clf, photos, evaluated, tmp_path):
    path = tmp_path / "clf.keras"
    clf.save(path)
    code = f"""
import json, sys
import keras, numpy as np
assert "inception_keras" not in sys.modules
try:
    keras.models.load_model({str(path)!r})
    raise SystemExit("loaded without the class registered")
except TypeError as e:
    assert "Could not locate class 'ImageClassifier'" in str(e), e
from inception_keras import ImageClassifier  # registers the classes: no custom_objects below
clf = keras.models.load_model({str(path)!r})
assert type(clf) is ImageClassifier, type(clf)
np.save({str(tmp_path / "out.npy")!r}, clf.predict({photos!r}))
print(json.dumps({{"labels": clf.labels, "cfg": clf.pretrained_cfg, "pre": clf.preprocessor.get_config()}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "PYTHONPATH": REPO})
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), clf.predict(photos))  # identical outputs
    assert loaded["labels"] == clf.labels
    assert loaded["cfg"] == json.loads(json.dumps(clf.pretrained_cfg))
    assert loaded["pre"]["preprocessing"] == "slim" and loaded["pre"]["image_size"] == SIZE


@pytest.mark.slow
def test_reset_classifier_then_fit_and_evaluate_on_raw_images(clf, photos):
    new = clf.reset_classifier(2, labels=["day", "night"])
    assert new.backbone is clf.backbone and new.class_names == ["day", "night"]
    assert tuple(new.get_layer("Logits__Logits").kernel.shape) == (1536, 2)
    stem = clf.backbone.get_layer("Conv2d_1a_3x3").kernel
    before = np.array(stem)
    new.compile()
    encoded = [Path(p).read_bytes() for p in photos[:4]]
    data = tf.data.Dataset.from_tensor_slices((encoded, [0, 1, 0, 1]))
    history = new.fit(data, batch_size=2, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(np.array(stem), before)  # the shared backbone was trained
    metrics = new.evaluate(data, batch_size=4, return_dict=True, verbose=0)
    assert set(metrics) == {"loss", "accuracy"} and np.isfinite(metrics["loss"])
    pixels = np.stack([smooth_image(np.random.default_rng(i), 80, 80) for i in range(2)])  # arrays, labels
    metrics = new.evaluate(pixels, np.array([0, 1]), return_dict=True, verbose=0)  # arrays with labels
    assert np.isfinite(metrics["loss"])


@pytest.mark.slow
def test_named_preset_has_imagenet_labels_and_its_origin(photos, tmp_path, monkeypatch):
    """inception_v4.tf_in1k from a local timm file (converted into the cache on first use)."""
    timm_model = inception_keras.create_inception_v4(input_shape=(SIZE, SIZE, 3), batchnorm_scale=True)
    randomize(timm_model, np.random.default_rng(7))
    local = tmp_path / "local"
    local.mkdir()
    save_file(timm_state_dict(timm_model, "inception_v4"), str(local / "inception_v4.tf_in1k.safetensors"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("INCEPTION_KERAS_WEIGHTS_DIR", str(local))
    monkeypatch.setenv("INCEPTION_KERAS_BASE_URL", (tmp_path / "no_mirror").as_uri())
    clf = ImageClassifier.from_preset("inception_v4.tf_in1k", input_shape=(SIZE, SIZE, 3))
    assert clf.num_classes == 1000 and clf.class_names[0] == "tench, Tinca tinca" and clf.preparation == PREP
    cfg = clf.pretrained_cfg
    assert (cfg["architecture"], cfg["tag"]) == ("inception_v4", "tf_in1k")
    assert cfg["hf_hub_id"] == "timm/inception_v4.tf_in1k" and cfg["source"] == "inception_v4.tf_in1k"
    x = np.stack([load_for_eval(p, PREP) for p in photos])
    _close(clf.predict(photos), outputs(timm_model, x), atol=1e-4)  # converted, BatchNorm folded: last bits
    top = clf.predict_labels(photos, top=1)
    assert [row[0].id for row in top] == [imagenet_classes()[i][0] for i in np.argmax(outputs(timm_model, x), 1)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_give_the_same_probabilities(backend, preset, photos, evaluated, tmp_path):
    code = f"""
import numpy as np
from inception_keras import ImageClassifier
clf = ImageClassifier.from_preset({str(preset)!r})
np.save({str(tmp_path / "out.npy")!r}, clf.predict({photos!r}))
"""
    env = {**os.environ, "PYTHONPATH": REPO, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    _close(np.load(tmp_path / "out.npy"), evaluated[1], atol=1e-4)


def test_bad_inputs_are_named(clf, photos, tmp_path):
    with pytest.raises(ValueError, match=r"images\[1\] \(bytes\): not a readable image"):
        clf.predict([Path(photos[0]).read_bytes(), b"not an image at all"])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(Path(photos[0]).read_bytes()[:200])
    with pytest.raises(ValueError, match="broken.jpg: not a readable image"):
        clf.predict([photos[1], str(broken)])
    with pytest.raises(ValueError, match="missing.png: cannot be read"):
        clf.predict(str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4, 5, 3\)"):
        clf.predict(np.zeros((2, 3, 4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match=r"images\[0\]: an array of shape \(80, 80, 2\)"):
        clf.predict([np.zeros((80, 80, 2), np.uint8)])
    with pytest.raises(ValueError, match="float32; expected uint8"):
        clf.predict(np.zeros((80, 80, 3), np.float32))
    with pytest.raises(ValueError, match="cannot read images from a dict"):
        clf.predict({"a": 1})
    with pytest.raises(ValueError, match="tf.cast"):
        clf.predict(tf.data.Dataset.from_tensor_slices(np.zeros((2, 80, 80, 3), np.float32)))


def test_bad_references_and_overrides(preset):
    with pytest.raises(UnknownModelError, match="unknown model 'inception_v3'"):
        ImageClassifier.from_preset("inception_v3")
    with pytest.raises(ValueError, match="needs a classifier"):
        ImageClassifier.from_preset(preset, include_top=False)
    with pytest.raises(ValueError, match="RGB images"):
        ImageClassifier.from_preset("inception_v4", in_chans=1)


def test_reset_classifier_needs_classes(clf):
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        clf.reset_classifier(0)


def test_embeddings_of_the_tools_network_are_its_own_graphs(photos):
    """The tools' network shares its head layers with the classifier (a second call of each):
    the features are taken from the network's own graph, not from the layer's first call."""
    from inception_keras.inference import Predictor

    inp = keras.Input((SIZE, SIZE, 3))
    backbone = keras.Model(inp, keras.layers.Conv2D(6, 3, strides=4, name="conv")(inp), name="tiny_backbone")
    clf = ImageClassifier(backbone, 3, labels=["cat", "dog", "fox"])  # (the head is the zoo's, the rest small)
    x = clf.preprocessor.preprocess(photos)
    expected = np.asarray(clf.predict_preprocessed(x))
    pooled = keras.ops.convert_to_numpy(keras.ops.mean(backbone(x), axis=(1, 2)))
    for layer in (None, "Logits__AvgPool_1a", "Logits__Logits"):
        predictor = Predictor(clf.network, clf.class_names, clf.preparation, embeddings=True, layer=layer, top=2)
        probs, feats = predictor.net.predict(x, verbose=0)
        if predictor.softmax:
            probs = keras.ops.convert_to_numpy(keras.ops.softmax(probs))
        _close(probs, expected, 1e-5)
        if layer == "Logits__Logits":  # the logits themselves
            _close(keras.ops.convert_to_numpy(keras.ops.softmax(feats)), expected, 1e-5)
        else:
            np.testing.assert_allclose(feats, pooled.reshape(len(pooled), -1), atol=1e-5)
