"""Evaluation protocols: crop geometry, multi-crop averaging against crops built by hand, the
devkit's ground-truth order, --exclude, and what multi-crop must keep working with."""

import io
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from inception_keras.data import crops
from inception_keras.cli import evaluate as evaluate_cli
from inception_keras.data.crops import CropBox, crop_boxes
from inception_keras.data.datasets import DataError, exclude_images, find_image_set, ilsvrc2012_ids, read_exclude_file
from inception_keras.data.preprocessing import Preprocessing
from inception_keras.evaluation import evaluate_model, outputs_probabilities, softmax
from inception_keras.data.labels import imagenet_classes
from inception_keras.data.preprocessing import resize_bilinear_tf1

from helpers.evalsets import encode, write_all_layouts, write_folders

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 75
SYNSETS = [s for s, _ in imagenet_classes()]


# --------------------------------------------------------------------------- #
# Geometry
# --------------------------------------------------------------------------- #
def test_googlenet_144_boxes_on_a_known_size():
    """A 500x375 (width x height) image at the paper's 224 input: at scale 256 it is 341x256,
    its squares start at x = 0, 42, 85; a 224 crop leaves 32 pixels of play in a square."""
    boxes = crop_boxes("144", 375, 500, Preprocessing("slim", 224))
    assert len(boxes) == 144 == crops.forward_passes("144")
    assert boxes[0::2] == [CropBox(**{**vars(b), "mirrored": False}) for b in boxes[1::2]]  # each then its mirror
    assert all(b.mirrored for b in boxes[1::2]) and not any(b.mirrored for b in boxes[0::2])
    assert [b.scale for b in boxes[::36]] == [256, 288, 320, 352]
    at_256 = [(b.top, b.left, b.height, b.width) for b in boxes[0:36:2]]
    assert at_256 == [
        (0, 0, 224, 224), (0, 32, 224, 224), (32, 0, 224, 224), (32, 32, 224, 224), (16, 16, 224, 224), (0, 0, 256, 256),
        (0, 42, 224, 224), (0, 74, 224, 224), (32, 42, 224, 224), (32, 74, 224, 224), (16, 58, 224, 224), (0, 42, 256, 256),
        (0, 85, 224, 224), (0, 117, 224, 224), (32, 85, 224, 224), (32, 117, 224, 224), (16, 101, 224, 224), (0, 85, 256, 256),
    ]
    # the last scale, 352: the image is 469x352, squares at x = 0, 58, 117, 128 pixels of play
    at_352 = [(b.top, b.left, b.height, b.width) for b in boxes[108:144:2]]
    assert at_352[6:12] == [(0, 58, 224, 224), (0, 186, 224, 224), (128, 58, 224, 224), (128, 186, 224, 224),
                            (64, 122, 224, 224), (0, 58, 352, 352)]
    # portrait: top, centre, bottom squares; and the sizes scale with the input (x 299/224)
    portrait = crop_boxes("144", 500, 375, Preprocessing("slim", 224))
    assert [(b.top, b.left) for b in portrait[10:36:12]] == [(0, 0), (42, 0), (85, 0)]
    assert crops.googlenet_scales(299) == (342, 384, 427, 470)
    big = crop_boxes("144", 375, 500, Preprocessing("slim", 299))
    assert {(b.height, b.width) for b in big} == {(299, 299)} | {(s, s) for s in (342, 384, 427, 470)}


def test_ten_flip_and_single_boxes():
    prep = Preprocessing("slim", 224)  # 10 crops: shorter side 256 (224 / 0.875)
    ten = crop_boxes("10", 375, 500, prep)  # -> 256x341
    assert [(b.top, b.left, b.height, b.width, b.mirrored, b.scale) for b in ten[0::2]] == [
        (0, 0, 224, 224, False, 256), (0, 117, 224, 224, False, 256), (32, 0, 224, 224, False, 256),
        (32, 117, 224, 224, False, 256), (16, 58, 224, 224, False, 256)]
    assert len(ten) == 10 and all(b.mirrored for b in ten[1::2])
    # slim: tf.image.central_crop's box of the image as decoded; resize-crop: centre of the resized image
    assert crop_boxes("1", 375, 500, prep) == [CropBox(23, 31, 329, 438, False, 0)]
    assert crop_boxes("flip", 375, 500, prep) == [CropBox(23, 31, 329, 438, False, 0), CropBox(23, 31, 329, 438, True, 0)]
    assert crop_boxes("1", 375, 500, Preprocessing("resize-crop", 224)) == [CropBox(16, 58, 224, 224, False, 256)]
    with pytest.raises(ValueError, match="unknown crop protocol '12'"):
        crop_boxes("12", 10, 10, prep)


# --------------------------------------------------------------------------- #
# Multi-crop against crops built by hand
# --------------------------------------------------------------------------- #
def _smooth(rng, height, width):
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((width, height), Image.BILINEAR))


IMAGES = {"landscape": (90, 131), "portrait": (122, 84)}  # height, width


@pytest.fixture(scope="module")
def two_images(tmp_path_factory):
    """Two PNGs (lossless: the reference reads the same pixels) in synset folders, and their pixels."""
    rng = np.random.default_rng(5)
    pixels = {name: _smooth(rng, h, w) for name, (h, w) in IMAGES.items()}
    examples = [(SYNSETS[i], f"{name}.png", encode(p, "rgba_png")) for i, (name, p) in enumerate(pixels.items())]
    return write_folders(tmp_path_factory.mktemp("two"), examples), pixels


def _head(activation):
    """A 1000-way classifier that sees where things are (mirroring changes its output)."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.AveragePooling2D(15, name="pool")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(1000, name="logits", kernel_initializer=keras.initializers.RandomNormal(stddev=0.5))(x)
    if activation == "softmax":
        x = keras.layers.Activation("softmax", name="Predictions")(x)
    return keras.Model(inputs, x, name=f"head_{activation}")


def _reference_crops(pixels: np.ndarray, protocol: str, size: int = SIZE) -> np.ndarray:
    """The protocol's model inputs, cut by hand in numpy (TF1 bilinear grid: slim's resize)."""
    image = pixels.astype(np.float32) / 255.0
    h, w = image.shape[:2]

    def resized(shorter):
        if h <= w:
            return resize_bilinear_tf1(image, shorter, int(round(w * shorter / h)))
        return resize_bilinear_tf1(image, int(round(h * shorter / w)), shorter)

    def cut(img, top, left, side):
        crop = img[top : top + side, left : left + side]
        return crop if side == size else resize_bilinear_tf1(crop, size, size)

    views = []
    if protocol in ("1", "flip"):
        top, left = int((h - h * 0.875) / 2), int((w - w * 0.875) / 2)
        views.append(resize_bilinear_tf1(image[top : h - top, left : w - left], size, size))
    elif protocol == "10":
        img = resized(round(size / 0.875))
        H, W = img.shape[:2]
        for top, left in [(0, 0), (0, W - size), (H - size, 0), (H - size, W - size),
                          ((H - size) // 2, (W - size) // 2)]:
            views.append(cut(img, top, left, size))
    else:
        for s in (256, 288, 320, 352):
            side = round(s * size / 224)
            img = resized(side)
            H, W = img.shape[:2]
            along = [(0, x) for x in (0, (W - side) // 2, W - side)] if W >= H else \
                [(y, 0) for y in (0, (H - side) // 2, H - side)]
            for y, x in along:
                play = side - size
                for dy, dx in [(0, 0), (0, play), (play, 0), (play, play), (play // 2, play // 2)]:
                    views.append(cut(img, y + dy, x + dx, size))
                views.append(cut(img, y, x, side))
    if protocol != "1":
        views = [v for view in views for v in (view, view[:, ::-1])]
    return (np.clip(np.stack(views), 0.0, 1.0) - 0.5) * 2.0


@pytest.mark.parametrize("protocol", ["1", "flip", "10", "144"])
def test_protocol_averages_the_softmax_of_hand_made_crops(two_images, protocol):
    folder, pixels = two_images
    logits_model, softmax_model = _head("logits"), _head("softmax")
    image_set = find_image_set(folder)
    for model in (logits_model, softmax_model):  # the same probabilities, whichever the model returns
        report, preds = evaluate_model(model, image_set, Preprocessing("slim", SIZE), batch_size=7, crops=protocol,
                                       progress=False, pipeline_batches=0, return_predictions=True)
        assert report["crops"]["protocol"] == protocol
        assert report["crops"]["forward_passes"] == {"1": 1, "flip": 2, "10": 10, "144": 144}[protocol]
        assert report["speed"]["batches"] == -(-2 * report["crops"]["forward_passes"] // 7)  # 7 crops a pass
        for i, name in enumerate(IMAGES):
            x = _reference_crops(pixels[name], protocol)
            assert len(x) == report["crops"]["forward_passes"]
            expected = softmax(np.asarray(logits_model(x))).mean(axis=0)
            top = np.argsort(-expected, kind="stable")[:5]
            assert os.path.basename(preds.paths[i]) == f"{name}.png"
            assert preds.top_classes[i] == [SYNSETS[c] for c in top], (model.name, name)
            np.testing.assert_allclose(preds.top_probabilities[i], expected[top], rtol=2e-4)
    assert outputs_probabilities(softmax_model) and not outputs_probabilities(logits_model)


def test_softmax_outputs_are_detected(zoo):
    inputs = keras.Input((4,))
    dense_softmax = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    softmax_layer = keras.Model(inputs, keras.layers.Dropout(0.1)(keras.layers.Softmax()(keras.layers.Dense(3)(inputs))))
    log_softmax = keras.Model(inputs, keras.layers.Dense(3, activation="log_softmax")(inputs))
    relu = keras.Model(inputs, keras.layers.Dense(3, activation="relu")(inputs))
    nested = keras.Model(inputs, dense_softmax(inputs))
    assert outputs_probabilities(dense_softmax) and outputs_probabilities(softmax_layer)
    assert outputs_probabilities(nested)
    assert not outputs_probabilities(log_softmax) and not outputs_probabilities(relu)
    # the zoo's models: an Activation("softmax") named Predictions, or logits
    assert outputs_probabilities(zoo.get("inception_resnet_v1", input_shape=(SIZE, SIZE, 3), classes=7))


@pytest.fixture(scope="module")
def jpeg_and_tiff(tmp_path_factory):
    """Three images of two classes; the TIFF only Pillow reads (the tool's fallback path)."""
    rng = np.random.default_rng(9)
    a, b, c = (_smooth(rng, 80 + 9 * i, 100 - 7 * i) for i in range(3))
    tiff = io.BytesIO()
    Image.fromarray(c).save(tiff, "TIFF")
    examples = [(SYNSETS[3], "a.png", encode(a, "rgba_png")), (SYNSETS[3], "b.JPEG", encode(b, "rgb_jpeg")),
                (SYNSETS[8], "c.tiff", tiff.getvalue()), (SYNSETS[8], "c_as.png", encode(c, "rgba_png"))]
    return write_folders(tmp_path_factory.mktemp("mixed"), examples)


def test_multi_crop_with_the_pillow_fallback_xla_and_mixed_precision(jpeg_and_tiff):
    image_set = find_image_set(jpeg_and_tiff)
    prep = Preprocessing("slim", SIZE)
    model = _head("logits")
    base, preds = evaluate_model(model, image_set, prep, batch_size=6, crops="10", progress=False,
                                 pipeline_batches=1, return_predictions=True)
    assert base["data"]["evaluated"] == 4 and not base["data"]["unreadable"]
    assert base["speed"]["pipeline_images_per_second"] > 0
    paths = [os.path.basename(p) for p in preds.paths]
    tiff, png = paths.index("c.tiff"), paths.index("c_as.png")  # Pillow's turn gives what the pipeline gives
    assert preds.top_classes[tiff] == preds.top_classes[png]
    np.testing.assert_allclose(preds.top_probabilities[tiff], preds.top_probabilities[png], rtol=1e-5)
    for policy, jit in (("float32", True), ("mixed_bfloat16", False)):
        keras.mixed_precision.set_dtype_policy(policy)
        try:
            other, other_preds = evaluate_model(_head("softmax"), image_set, prep, batch_size=6, crops="10",
                                                progress=False, pipeline_batches=0, jit_compile=jit,
                                                return_predictions=True)
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        assert other["precision"] == policy and other["data"]["evaluated"] == 4
        # bfloat16: the top-1 class may swap with a near-tie, its probability stays close
        tolerance = {"rtol": 1e-5} if policy == "float32" else {"atol": 0.02}
        np.testing.assert_allclose(other_preds.top_probabilities[:, 0], preds.top_probabilities[:, 0], **tolerance)


@pytest.mark.slow
def test_multi_crop_under_mirrored_strategy_on_two_logical_cpus(jpeg_and_tiff, tmp_path):
    """--strategy mirrored with flip crops: 5 images x 2 crops in batches of 4 leave a partial
    last batch, whose images are evaluated again whole; same predictions as one device."""
    script = f"""
import contextlib, sys, json
sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from test_eval_protocols import _head
from inception_keras.data.datasets import Preprocessing, find_image_set
from inception_keras.evaluation import evaluate_model
image_set = find_image_set({jpeg_and_tiff!r})
image_set.files.append(image_set.files[0]); image_set.labels = np.append(image_set.labels, image_set.labels[0])
out = {{}}
for name, strategy in (("one", None), ("mirrored", tf.distribute.MirroredStrategy())):
    with (strategy.scope() if strategy else contextlib.nullcontext()):
        model = _head("logits")
    report, preds = evaluate_model(model, image_set, Preprocessing("slim", 75), batch_size=4, crops="flip",
                                   progress=False, pipeline_batches=0, strategy=strategy, return_predictions=True)
    out[name] = [report["top1"], preds.top_classes, preds.top_probabilities.tolist()]
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["mirrored"][0] == out["one"][0] and out["mirrored"][1] == out["one"][1]
    np.testing.assert_allclose(out["mirrored"][2], out["one"][2], rtol=1e-5)


# --------------------------------------------------------------------------- #
# ImageNet's label files and --exclude
# --------------------------------------------------------------------------- #
def test_ilsvrc2012_id_table():
    table = ilsvrc2012_ids()
    assert sorted(table) == list(range(1, 1001))
    assert sorted(table.values()) == sorted(SYNSETS)  # exactly the 1000 classes, each once
    assert [table[i] for i in (1, 2, 3)] == ["n02119789", "n02100735", "n02110185"]


def _val_images(root, count, rng):
    os.makedirs(root, exist_ok=True)
    for n in range(1, count + 1):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
            os.path.join(root, f"ILSVRC2012_val_{n:08d}.JPEG"), "JPEG")
    return str(root)


def test_devkit_ground_truth_order(tmp_path):
    """The real file's first lines are 490, 361, 171: a sea snake, an alp, a Shetland sheepdog."""
    rng = np.random.default_rng(0)
    folder = _val_images(tmp_path / "val", 3, rng)
    expected = ["n01751748", "n09193705", "n02105855"]
    names = {s: n for s, n in imagenet_classes()}
    (tmp_path / "gt.txt").write_text("490\n361\n171\n")
    by_content = find_image_set(folder, str(tmp_path / "gt.txt"))  # any name: one integer per line
    (tmp_path / "val" / "ILSVRC2012_validation_ground_truth.txt").write_text("490\n361\n171\n")
    in_folder = find_image_set(folder)  # found in the data folder by its name
    for image_set in (by_content, in_folder):
        assert image_set.is_imagenet and "devkit" in image_set.label_source
        assert [os.path.basename(f) for f in image_set.files] == [f"ILSVRC2012_val_0000000{n}.JPEG" for n in (1, 2, 3)]
        assert [image_set.class_names[c] for c in image_set.labels] == expected
        assert [image_set.display_names[c] for c in image_set.labels] == [names[s] for s in expected]
    (tmp_path / "val" / "ILSVRC2012_validation_ground_truth.txt").write_text("490\n1001\n171\n")
    with pytest.raises(DataError, match=r"ground_truth.txt:2: expected an ILSVRC2012_ID \(1..1000\)"):
        find_image_set(folder)


def test_exclude_by_number_and_name_in_every_layout(tmp_path):
    rng = np.random.default_rng(1)
    pixels = [rng.integers(0, 256, (30 + i, 40, 3), dtype=np.uint8) for i in range(6)]
    examples = [(SYNSETS[i % 2], f"ILSVRC2012_val_{i + 1:08d}.JPEG", encode(p, "rgb_jpeg")) for i, p in enumerate(pixels)]
    examples[5] = (SYNSETS[1], examples[5][1], b"not an image")  # image 6: unreadable, after excluded ones
    layouts = write_all_layouts(tmp_path, examples, {SYNSETS[0]: 0, SYNSETS[1]: 1})
    exclude = tmp_path / "blacklist.txt"
    exclude.write_text("2\n# a comment\nval/ILSVRC2012_val_00000004.JPEG\n\nILSVRC2012_val_00000005\n")
    assert read_exclude_file(exclude) == ["ILSVRC2012_val_00000002", "ILSVRC2012_val_00000004",
                                          "ILSVRC2012_val_00000005"]
    model = _head("logits")
    for layout, path in layouts.items():
        image_set = exclude_images(find_image_set(path), exclude)
        report, preds = evaluate_model(model, image_set, Preprocessing("slim", SIZE), batch_size=2, progress=False,
                                       pipeline_batches=0, return_predictions=True)
        assert report["data"]["excluded"]["excluded"] == 3, layout
        assert report["data"]["evaluated"] == 2 and len(report["data"]["unreadable"]) == 1
        assert "ILSVRC2012_val_00000006" in report["data"]["unreadable"][0]["path"], layout
        assert sorted(os.path.basename(p) for p in preds.paths) == ["ILSVRC2012_val_00000001.JPEG",
                                                                    "ILSVRC2012_val_00000003.JPEG"], layout
    unrelated = tmp_path / "other.txt"
    unrelated.write_text("7\nsomething_else.jpg\n")
    with pytest.raises(DataError, match="names none of the 6 images"):
        exclude_images(find_image_set(layouts["flat"]), unrelated)
    with pytest.raises(DataError, match="names none of the 6 images"):  # TFRecords: known once they are read
        evaluate_model(model, exclude_images(find_image_set(layouts["tfrecord"]), unrelated),
                       Preprocessing("slim", SIZE), progress=False, pipeline_batches=0)


def test_tool_crops_exclude_and_devkit_labels(tmp_path, capsys):
    rng = np.random.default_rng(2)
    folder = _val_images(tmp_path / "val", 4, rng)
    (tmp_path / "gt.txt").write_text("490\n361\n171\n490\n")
    (tmp_path / "blacklist.txt").write_text("3\n")
    out = tmp_path / "report"
    rc = evaluate_cli.main(["--model", "inception_resnet_v1", "--weights", "none", "--input-size", str(SIZE),
                            "--data", folder, "--labels", str(tmp_path / "gt.txt"), "--exclude",
                            str(tmp_path / "blacklist.txt"), "--crops", "flip", "--no-progress",
                            "--pipeline-batches", "0", "--output", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "flip: 2 forward passes per image" in printed and "1 excluded by" in printed
    assert "most confused pairs" in printed
    md = (out / "report.md").read_text()
    assert "flip: 2 forward passes per image" in md and "## Most confused pairs" in md
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0] == "path,label,top1,prob1,top2,prob2,top3,prob3,top4,prob4,top5,prob5"
    assert [r.split(",")[1] for r in rows[1:]] == ["n01751748", "n09193705", "n01751748"]  # image 3 excluded
    assert sorted(os.listdir(out)) == ["predictions.csv", "report.json", "report.md"]
