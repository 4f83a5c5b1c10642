"""Grad-CAM where the answer is known (a bright square in a corner), on TensorFlow, JAX and
PyTorch; class names; clear errors; the explain tool's PNGs and JSON."""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from inception_keras import explain
from inception_keras.cli import explain as explain_cli
from inception_keras.explain import bright_square as bs
from inception_keras.explain.classes import imagenet_synsets
from inception_keras.data.labels import default_class_names

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ["gradcam", "gradcam++"]


BACKEND_SCRIPT = r"""
import json, sys
import numpy as np
import keras
from inception_keras import explain
from inception_keras.explain import bright_square as bs
model = bs.build_model()
model.load_weights(sys.argv[1])
x, labels, boxes = bs.make_images(14, seed=11, labels=[1] * 12 + [0] * 2)
out = {"backend": keras.backend.backend()}
for method in ("gradcam", "gradcam++"):
    found = explain.gradcam(model, x, method=method)
    out[method] = {"classes": [e.class_index for e in found], "peaks": [e.peak for e in found],
                   "cams": [e.cam.tolist() for e in found]}
print(json.dumps(out))
"""



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The bright-square model, trained once, its weights on disk, and the JAX and PyTorch
    runs on them, started now so that they work while the TensorFlow tests run."""
    model = bs.train(seed=0)
    path = tmp_path_factory.mktemp("bright_square") / "w.weights.h5"
    model.save_weights(path)
    procs = {}
    for backend in ("jax", "torch"):
        env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
        procs[backend] = subprocess.Popen([sys.executable, "-c", BACKEND_SCRIPT, str(path)], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, env=env)
    yield model, procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def squares():
    """Twelve images with the square at different places in the corner, and two without."""
    return bs.make_images(14, seed=11, labels=[1] * 12 + [0] * 2)


def _peak_on_square(peak, box, slack=2):
    x, y = peak
    top, left, bottom, right = box
    return left - slack <= x < right + slack and top - slack <= y < bottom + slack


@pytest.mark.parametrize("method", METHODS)
def test_the_heat_map_peaks_on_the_square(trained, squares, method):
    model, _ = trained
    x, labels, boxes = squares
    found = explain.gradcam(model, x, method=method)  # each image's top class
    assert [e.class_index for e in found] == list(labels)  # the model has learnt the task
    for e, box in zip(found[:12], boxes):
        assert e.heatmap.shape == (bs.SIZE, bs.SIZE) and e.cam.shape == (8, 8)
        assert e.peak[0] < bs.CORNER and e.peak[1] < bs.CORNER, (e.peak, box)  # in the corner ...
        assert _peak_on_square(e.peak, box), (e.peak, box)  # ... on the square itself
        assert e.heatmap.max() == pytest.approx(1.0) and e.heatmap.min() >= 0.0
        assert e.score == pytest.approx(float(e.outputs[1])) and e.score > 0.9
        assert e.layer == bs.LAYER and e.method == method  # the default: the last 4D layer


@pytest.mark.slow
def test_gradcam_matches_a_plain_gradient_tape_on_a_zoo_model(zoo, rng):
    """The delta-injection gradient equals tf.GradientTape on the intermediate map, in a
    residual graph and at a layer inside a residual branch."""
    import tensorflow as tf

    model = zoo.get("inception_resnet_v1", input_shape=(75, 75, 3))
    assert explain.default_layer(model) == "Repeat_2__block8_5" == model.feature_info[-1].layer
    x = rng.uniform(-1, 1, (2, 75, 75, 3)).astype("float32")
    layers = ("Repeat_1__block17_10", "Repeat_1__block17_4__Branch_1__Conv2d_0b_1x7__relu")  # 3x3 maps
    grad_model = keras.Model(model.input, [*(model.get_layer(n).output for n in layers),
                                           model.get_layer("Logits__Logits").output])
    with tf.GradientTape(persistent=True) as tape:
        *maps, logits = grad_model(x, training=False)
    references = {}  # (layer, image) -> (class, normalised CAM) for a class the map has positive evidence for
    for c in range(10):  # random weights: look for classes whose CAM is not all zero
        with tape:
            score = tf.reduce_sum(logits[:, c])
        for layer, m, g in zip(layers, maps, tape.gradient(score, maps)):
            cams = np.maximum(np.einsum("nhwc,nc->nhw", m.numpy(), g.numpy().mean(axis=(1, 2))), 0)
            for i, cam in enumerate(cams):
                if (layer, i) not in references and cam.max() > 0:
                    references[layer, i] = c, cam / cam.max()
    del tape
    for layer in layers:
        classes = [references[layer, i][0] for i in range(2)]
        for i, e in enumerate(explain.gradcam(model, x, class_index=classes, layer=layer)):
            assert e.class_index == classes[i] and e.layer == layer and e.cam.shape == (3, 3)
            np.testing.assert_allclose(e.cam, references[layer, i][1], atol=2e-4)


# --------------------------------------------------------------------------- #
# Which class, which layer: answers and errors
# --------------------------------------------------------------------------- #
def test_class_by_index_synset_or_name():
    names = default_class_names(1000)
    synsets = imagenet_synsets(1000)
    assert explain.resolve_class(281, names, synsets) == 281
    assert explain.resolve_class("281", names, synsets) == 281
    assert explain.resolve_class("n02123045", names, synsets) == 281  # tabby, tabby cat
    assert explain.resolve_class("tabby", names, synsets) == 281  # one part of the name
    assert explain.resolve_class("Tabby, Tabby Cat", names, synsets) == 281  # the whole name
    assert explain.resolve_class("tench", names, synsets) == 0
    # a 1001-way head: the background class first shifts every synset by one
    assert explain.resolve_class("n02123045", default_class_names(1001), imagenet_synsets(1001)) == 282
    assert explain.resolve_class("bright square", list(bs.CLASS_NAMES)) == 1


@pytest.mark.parametrize(
    "value, message",
    [("crane", "matches 2 classes (134 n02012849 'crane'; 517 n03126707 'crane')"),
     ("tabbby", "did you mean"), (1000, "out of range"), ("-1", "out of range"), ("n99999999", "not one of"),
     (True, "an index, a synset or a name")],
)
def test_class_errors(value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        explain.resolve_class(value, default_class_names(1000), imagenet_synsets(1000))


def test_a_synset_for_a_head_without_synsets():
    with pytest.raises(ValueError, match="no synsets"):
        explain.resolve_class("n02123045", list(bs.CLASS_NAMES))


def test_the_class_given_is_the_class_explained(trained, squares):
    model, _ = trained
    x = squares[0][:2]
    for e in explain.gradcam(model, x, class_index=0):
        assert e.class_index == 0 and e.score == pytest.approx(float(e.outputs[0]))
    assert [e.class_index for e in explain.gradcam(model, x, class_index=[0, 1])] == [0, 1]


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(layer="featurs"), "no layer named 'featurs'; did you mean features"),
     (dict(layer="pool"), r"output shape \(None, 32\): Grad-CAM needs a spatial feature map"),
     (dict(layer="logits"), "choose a convolution or block before the pooling, such as 'features'"),
     (dict(class_index=2), "class index 2 is out of range: the model has 2 outputs"),
     (dict(class_index=[0, 1, 1]), "one int per image"),
     (dict(method="cam"), "method must be one of gradcam, gradcam\\+\\+")],
)
def test_clear_errors(trained, squares, kwargs, message):
    with pytest.raises(ValueError, match=message):
        explain.gradcam(trained[0], squares[0][:2], **kwargs)


def test_a_backend_without_gradients_is_named(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "openvino")
    with pytest.raises(ValueError, match="Keras runs on 'openvino': set KERAS_BACKEND=tensorflow"):
        explain.check_backend()


def test_drawing_aligns_the_heat_map_with_the_crop(trained, squares):
    model, _ = trained
    x, _, boxes = squares
    [e] = explain.gradcam(model, x[:1])
    picture = explain.render(x[0], e, "bright square 99.9%", "note", min_side=160)
    scale = 160 // bs.SIZE  # 32 -> 160: 5x, kept sharp
    left = np.asarray(picture)[8:8 + 160, 8:8 + 160]
    np.testing.assert_array_equal(left[::scale, ::scale], explain.to_uint8(x[0]))  # the crop, unmoved
    right = np.asarray(picture)[8:8 + 160, 8 + 160 + 6:8 + 160 + 6 + 160].astype(int)
    redness = right[..., 0] - right[..., 2]
    row, col = np.unravel_index(np.argmax(redness), redness.shape)
    assert _peak_on_square((col // scale, row // scale), boxes[0])  # the hottest colour sits on the square
    sheet = explain.contact_sheet([picture] * 3, title="t")
    assert sheet.width == 2 * picture.width + 3 * 6  # near-square: 2 columns for 3 pictures


def test_an_empty_heat_map_has_no_peak(trained, squares):
    [e] = explain.gradcam(trained[0], squares[0][:1], class_index=1)
    empty = dataclasses.replace(e, heatmap=np.zeros_like(e.heatmap), cam=np.zeros_like(e.cam))
    assert e.peak is not None and empty.peak is None
    assert np.asarray(explain.render(squares[0][0], empty, "t")).shape == np.asarray(explain.render(squares[0][0], e, "t")).shape


# --------------------------------------------------------------------------- #
# The tool
# --------------------------------------------------------------------------- #
TOOL = ["--model", "inception_resnet_v1", "--weights", "none", "--input-size", "75", "--classes", "3"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain_images")
    rng = np.random.default_rng(2)
    paths = []
    for name, size in (("wide.png", (120, 90)), ("tall.jpg", (80, 140))):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / name)
        paths.append(str(folder / name))
    (folder / "labels.txt").write_text("ant\nbee\ncat\n")
    return folder, paths


def test_the_tool_writes_a_png_per_image_a_contact_sheet_and_json(images, tmp_path, capsys):
    folder, paths = images
    out = tmp_path / "out"
    code = explain_cli.main([*paths, *TOOL, "--labels", str(folder / "labels.txt"), "--class", "bee",
                             "--method", "gradcam++", "--output", str(out), "--json", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["layer"] == "Repeat_2__block8_5" and report["method"] == "gradcam++"
    # the header (on stderr beside --json) says that the weights are random, as predict's names them
    assert "inception_resnet_v1 (weights none: random, untrained): 2 images, gradcam++ at Repeat_2__block8_5" \
        in captured.err
    assert sorted(os.listdir(out)) == ["contact_sheet.png", "tall.gradcam++.png", "wide.gradcam++.png"]
    for r, path in zip(report["results"], paths):
        assert r["image"] == path and r["class"]["index"] == 1 and r["class"]["name"] == "bee"
        assert [t["name"] for t in r["top"]] and sorted(t["name"] for t in r["top"]) == ["ant", "bee", "cat"]
        scores = [t["score"] for t in r["top"]]
        assert scores == sorted(scores, reverse=True) and r["class"]["score"] in scores
        peak = r["peak"]  # random weights: the map may hold no evidence for 'bee' (then None)
        assert peak is None or (0 <= peak["x"] < 75 and 0 <= peak["y"] < 75 and 0 < peak["x_fraction"] < 1)
        with Image.open(r["png"]) as png:  # the 75x75 crop shown at 224x224, twice, with a caption
            assert png.size[0] == 2 * 224 + 6 + 16 and png.size[1] > 224 + 30
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size[0] > 2 * (2 * 224)


def test_the_header_names_the_weights_and_says_when_they_are_random():
    assert explain_cli.weights_words("random") == "weights none: random, untrained"
    assert explain_cli.weights_words("imagenet") == "weights imagenet"
    assert explain_cli.weights_words("inception_v4.tf_in1k") == "weights inception_v4.tf_in1k"


@pytest.mark.parametrize(
    "extra, message",
    [(["--layer", "Logits__Logits"], "Grad-CAM needs a spatial feature map"),
     (["--class", "wasp"], "no class is named 'wasp'")],
)
def test_the_tool_refuses_before_writing(images, tmp_path, capsys, extra, message):
    folder, paths = images
    out = tmp_path / "out"
    code = explain_cli.main([paths[0], *TOOL, "--labels", str(folder / "labels.txt"), "--output", str(out), *extra])
    assert code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("note: ")]
    assert errors[0].startswith("error: ") and message in err and "Traceback" not in err
    assert not out.exists()


def test_folders_globs_and_list_files_expand_in_order_each_file_once(tmp_path):
    for sub, names in (("a", ("2.png", "1.png")), ("b", ("3.jpg",))):
        (tmp_path / sub).mkdir()
        for name in names:
            Image.new("RGB", (80, 80)).save(tmp_path / sub / name)
    (tmp_path / "list.txt").write_text("b/3.jpg\na/1.png\n")
    single = str(tmp_path / "b" / "3.jpg")
    got = explain_cli.expand_inputs([single, str(tmp_path / "a"), str(tmp_path / "list.txt"),
                                     str(tmp_path / "*" / "*.png")])
    # the file given first, then the folder sorted; the list and the glob add nothing new
    assert got == [single, str(tmp_path / "a" / "1.png"), str(tmp_path / "a" / "2.png")]


@pytest.mark.parametrize("spec, message", [
    ("missing.jpg", "input not found: 'missing.jpg'"),
    ("none/*.jpg", "the glob 'none/*.jpg' matches nothing"),
    ("train-00000-of-00001", "TFRecord shards (train-00000-of-00001) hold no image files"),
])
def test_inputs_that_name_nothing_stop_before_any_work(tmp_path, monkeypatch, capsys, spec, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train-00000-of-00001").write_bytes(b"")
    code = explain_cli.main([spec, *TOOL, "--output", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("note: ")]
    assert errors[0].startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# Last: the JAX and PyTorch runs started by the fixture have had the other tests' time.
def test_jax_and_torch_find_the_same_square(trained, squares):
    model, procs = trained
    x, _, boxes = squares
    for backend, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert result["backend"] == backend
        for method in METHODS:
            expected = explain.gradcam(model, x, method=method)
            got = result[method]
            assert got["classes"] == [e.class_index for e in expected]
            for peak, box in zip(got["peaks"][:12], boxes):
                assert _peak_on_square(peak, box), (backend, method, peak, box)
            np.testing.assert_allclose(np.array(got["cams"]), np.stack([e.cam for e in expected]), atol=1e-4)

