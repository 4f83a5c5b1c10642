"""tools/evaluate.py and the library behind it: data layouts, preprocessing, report."""

import csv
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from inception_keras.cli import evaluate as evaluate_cli
from inception_keras.data.datasets import DataError, find_image_set
from inception_keras.data.preprocessing import Preprocessing, load_for_eval, preprocess_for_eval
from inception_keras.evaluation import (
    evaluate_model,
    format_markdown,
    format_text,
    softmax,
    write_predictions,
    write_report,
)
from inception_keras.data.labels import imagenet_classes

from helpers.evalsets import KINDS, broken_files, encode, write_all_layouts, write_folders
from helpers.slim_reference import slim_preprocess_for_eval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 75
N_CLASSES = 12
SYNSETS = [s for s, _ in imagenet_classes()[:N_CLASSES]]
CENTERS = -0.9 + 0.15 * np.arange(N_CLASSES)  # mean pixel value of each class, in [-1, 1]
# Images of class c drawn with the brightness of another class: far ones (6 classes away)
# miss top-1 and top-5, near ones (1 away) miss top-1 only.
FAR = {c: c % 4 for c in range(N_CLASSES)}
NEAR = {1: 1, 5: 1, 9: 1}


def _gray(center):
    return int(round((center / 2 + 0.5) * 255))


def center_model(classes=1000):
    """Scores -(mean - center_j)^2 + mean^2 per class: argmax is the nearest centre, so
    every image's top-1 and top-5 follow from its brightness alone."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(classes)
    outputs = dense(x)
    model = keras.Model(inputs, outputs, name="nearest_centre")
    kernel = np.zeros((3, classes), "float32")
    bias = np.full(classes, -10.0, "float32")
    kernel[:, :N_CLASSES] = 2 * CENTERS / 3
    bias[:N_CLASSES] = -(CENTERS**2)
    dense.set_weights([kernel, bias])
    return model


def known_examples(rng):
    """4 images per class (one of each kind), brightness per the FAR/NEAR plan, + 2 broken."""
    examples = []
    for c, synset in enumerate(SYNSETS):
        for i, kind in enumerate(KINDS):
            if i < FAR[c]:
                shown = (c + 6) % N_CLASSES
            elif i == 3 and NEAR.get(c):
                shown = c + 1
            else:
                shown = c
            pixels = np.full((50 + 7 * i, 64, 3), _gray(CENTERS[shown]), np.uint8)
            examples.append((synset, f"{synset}_{i}{os.path.splitext('x' + EXT_OF[kind])[1]}", encode(pixels, kind)))
    for name, data in broken_files(rng).items():
        examples.append((SYNSETS[2], name, data))
    return examples


EXT_OF = {"rgb_jpeg": ".JPEG", "rgba_png": ".png", "gray_jpeg": ".JPEG", "cmyk_jpeg": ".JPEG"}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("layouts")
    return write_all_layouts(root, known_examples(rng), {s: i for i, s in enumerate(SYNSETS)})


@pytest.fixture(scope="module")
def reports(layouts):
    model = center_model()
    prep = Preprocessing("slim", SIZE)
    return {name: evaluate_model(model, find_image_set(path), prep, batch_size=5, progress=False, pipeline_batches=2)
            for name, path in layouts.items()}


def test_layouts_are_detected(layouts):
    assert find_image_set(layouts["folders"]).layout == "folders"
    flat = find_image_set(layouts["flat"])
    assert flat.layout == "flat" and "LOC_val_solution.csv" in flat.label_source
    tfr = find_image_set(layouts["tfrecord"])
    assert tfr.layout == "tfrecord" and len(tfr.shards) == 2 and len(tfr) == 4 * N_CLASSES + 2
    for s in (find_image_set(p) for p in layouts.values()):
        assert s.is_imagenet  # synset labels map to ImageNet indices, not folder ranks


def test_known_accuracies_per_class_and_bottom_ten(reports):
    report = reports["folders"]
    top1 = {c: 4 - FAR[c] - NEAR.get(c, 0) for c in range(N_CLASSES)}
    top5 = {c: 4 - FAR[c] for c in range(N_CLASSES)}
    assert report["top1"] == {"correct": sum(top1.values()), "total": 48, "accuracy": sum(top1.values()) / 48}
    assert report["top5"]["correct"] == sum(top5.values()) and report["top5"]["total"] == 48
    assert [(r["class"], r["images"], r["top1_correct"], r["top5_correct"]) for r in report["per_class"]] == [
        (SYNSETS[c], 4, top1[c], top5[c]) for c in range(N_CLASSES)]
    # bottom 10 by accuracy, ties in class order; two classes (the best) are left out
    expected = sorted(range(N_CLASSES), key=lambda c: (top1[c], c))[:10]
    assert [r["class"] for r in report["bottom_top1"]] == [SYNSETS[c] for c in expected]
    assert report["bottom_top1"][0] == {"class": SYNSETS[3], "name": imagenet_classes()[3][1], "images": 4,
                                        "accuracy": 0.25}
    expected5 = sorted(range(N_CLASSES), key=lambda c: (top5[c], c))[:10]
    assert [r["class"] for r in report["bottom_top5"]] == [SYNSETS[c] for c in expected5]


def test_three_layouts_give_the_same_report(reports):
    keys = ("top1", "top5", "per_class", "bottom_top1", "bottom_top5")
    for name in ("flat", "tfrecord"):
        for key in keys:
            assert reports[name][key] == reports["folders"][key], (name, key)
        assert reports[name]["data"]["evaluated"] == 48


def test_broken_files_are_listed_and_skipped(reports):
    for name, report in reports.items():
        bad = report["data"]["unreadable"]
        assert len(bad) == 2, name
        paths = sorted(b["path"] for b in bad)
        if name == "tfrecord":  # shard#record (file name from image/filename)
            assert re.fullmatch(r".*validation-00001-of-00002#23 \(truncated\.JPEG\)", paths[0]), paths
            assert re.fullmatch(r".*validation-00001-of-00002#24 \(notes\.JPEG\)", paths[1]), paths
        else:
            assert [os.path.basename(p) for p in paths] == ["notes.JPEG", "truncated.JPEG"]
        assert all("not a readable image" in b["error"] for b in bad)
        assert report["data"]["images_requested"] == 50 and report["data"]["evaluated"] == 48
    text = format_text(reports["folders"])
    assert "unreadable files (2, not counted)" in text and "truncated.JPEG" in text


def test_report_text_markdown_and_files(reports, tmp_path):
    report = reports["folders"]
    fraction = f"{report['top1']['correct']} / 48 = {report['top1']['accuracy']:.4f}"
    text = format_text(report)
    assert fraction in text and "bottom 10 classes by top-1 accuracy" in text
    md = format_markdown(report)
    assert fraction in md and "## Per-class accuracy" in md and md.count(f"| {SYNSETS[4]} |") == 1  # per-class only: class 4 is among the two best
    json_path, md_path = write_report(report, tmp_path / "out")
    with open(json_path) as f:
        data = json.load(f)
    assert data["top1"] == report["top1"] and len(data["per_class"]) == N_CLASSES
    assert open(md_path).read() == md
    assert sorted(os.listdir(tmp_path / "out")) == ["report.json", "report.md"]  # no temporary files left
    for key in ("params", "macs", "device", "precision", "preprocessing"):
        assert report[key] is not None
    speed = report["speed"]
    assert speed["images_per_second"] > 0 and speed["pipeline_images_per_second"] > 0
    assert speed["batch_latency_ms_p90"] >= 0 and speed["batches"] == 10


def test_predictions_csv_and_most_confused_pairs(layouts, tmp_path):
    """Far images are taken for the class 6 away, near ones for the next class: the confused
    pairs and each image's top-1 follow from the plan; probabilities are the softmax of the logits."""
    image_set = find_image_set(layouts["folders"])
    model = center_model()
    report, preds = evaluate_model(model, image_set, Preprocessing("slim", SIZE), batch_size=16, progress=False,
                                   pipeline_batches=0, return_predictions=True)
    pairs = {(c, (c + 6) % N_CLASSES): FAR[c] for c in range(N_CLASSES) if FAR[c]}
    for c in NEAR:
        pairs[(c, c + 1)] = pairs.get((c, c + 1), 0) + 1
    expected = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(r["true"], r["predicted"], r["count"]) for r in report["confused_pairs"]] == [
        (SYNSETS[t], SYNSETS[p], n) for (t, p), n in expected]
    assert report["confused_pairs"][0]["true_name"] == imagenet_classes()[3][1]
    assert "most confused pairs (10, true -> predicted top-1)" in format_text(report)
    assert "## Most confused pairs" in format_markdown(report)

    path = write_predictions(preds, tmp_path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "label"] + [c for j in range(1, 6) for c in (f"top{j}", f"prob{j}")]
    broken = {"truncated.JPEG", "notes.JPEG"}
    assert [r[0] for r in rows[1:]] == [f for f in image_set.files if os.path.basename(f) not in broken]  # in order
    assert len(rows) == 1 + 48
    shown = {}
    for c, synset in enumerate(SYNSETS):
        for i in range(4):
            shown[f"{synset}_{i}"] = (c + 6) % N_CLASSES if i < FAR[c] else c + 1 if i == 3 and NEAR.get(c) else c
    for row in rows[1:]:
        stem = os.path.splitext(os.path.basename(row[0]))[0]
        assert row[1] == stem.split("_")[0]  # the label: the image's synset
        assert row[2] == SYNSETS[shown[stem]], stem
        probs = [float(v) for v in row[3::2]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-5
    first = rows[1]
    x = load_for_eval(first[0], Preprocessing("slim", SIZE))
    expected_probs = softmax(np.asarray(model(x[None]))[0])
    assert [float(v) for v in first[3::2]] == pytest.approx(np.sort(expected_probs)[::-1][:5], abs=2e-6)


def test_limit_takes_the_first_images(layouts):
    report = evaluate_model(center_model(), find_image_set(layouts["folders"]), Preprocessing("slim", SIZE),
                            batch_size=4, limit=6, progress=False, pipeline_batches=0)
    assert report["data"]["images_requested"] == 6 and report["top1"]["total"] == 6
    assert [r["class"] for r in report["per_class"]] == SYNSETS[:2]
    assert report["speed"]["pipeline_images_per_second"] is None
    tfr = evaluate_model(center_model(), find_image_set(layouts["tfrecord"]), Preprocessing("slim", SIZE),
                         batch_size=4, limit=6, progress=False, pipeline_batches=0)
    assert tfr["data"]["images_requested"] == 6 and tfr["data"]["images_found"] is None  # shards not read past 6
    assert tfr["top1"]["total"] == 6


def test_label_files_with_synsets_and_indices(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        (tmp_path / f"img{i}.png").write_bytes(encode(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), "rgba_png"))
    (tmp_path / "syn.txt").write_text(f"img0.png {SYNSETS[5]}\nimg1.png {SYNSETS[0]}\nimg2.png {SYNSETS[5]}\n")
    (tmp_path / "idx.txt").write_text("img0.png 5\nimg1.png 0\nimg2.png 5\n")
    a = find_image_set(tmp_path, tmp_path / "syn.txt")
    b = find_image_set(tmp_path, tmp_path / "idx.txt")
    assert a.layout == b.layout == "flat" and a.is_imagenet and b.is_imagenet
    assert a.labels.tolist() == b.labels.tolist() == [5, 0, 5]
    (tmp_path / "bad.txt").write_text("img0.png\n")
    with pytest.raises(DataError, match="expected 'filename label'"):
        find_image_set(tmp_path, tmp_path / "bad.txt")
    (tmp_path / "gone.txt").write_text("img9.png 3\n")
    with pytest.raises(DataError, match="not in"):
        find_image_set(tmp_path, tmp_path / "gone.txt")


def test_unusable_data_paths_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="not found"):
        find_image_set(tmp_path / "missing")
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="pass --labels"):
        find_image_set(tmp_path)
    folders = write_folders(tmp_path / "f", [("cat", "1.png", encode(np.zeros((9, 9, 3), np.uint8), "rgba_png"))])
    with pytest.raises(DataError, match="build the model with classes=1"):
        evaluate_model(center_model(), find_image_set(folders), Preprocessing("slim", SIZE), progress=False)


def test_slim_preset_matches_tf_slim_preprocess_for_eval(tmp_path):
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (123, 97, 3), dtype=np.uint8)
    for kind in ("rgba_png", "rgb_jpeg"):
        data = encode(pixels, kind)
        for size, fraction in ((299, 0.875), (SIZE, 0.875), (128, 1.0)):
            import tensorflow as tf

            from inception_keras.data.images import decode_image

            got = np.asarray(preprocess_for_eval(decode_image(tf.constant(data)), Preprocessing("slim", size, fraction)))
            expected = slim_preprocess_for_eval(data, size, size, fraction)
            assert got.shape == (size, size, 3)
            assert np.max(np.abs(got - expected)) <= 2 / 255  # 1/255 per pixel in [0, 1] units


def test_resize_crop_preset_keeps_the_aspect_ratio():
    # a 100x200 image: left half black, right half white; the shorter side goes to 86
    # (75 / 0.875) and the centre 75x75 crop holds both halves in equal parts
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 100:] = 255
    prep = Preprocessing("resize-crop", SIZE)
    out = np.asarray(preprocess_for_eval(img, prep))
    assert prep.resize_to == 86 and out.shape == (SIZE, SIZE, 3)
    assert out[:, :30].max() < -0.99 and out[:, -30:].min() > 0.99
    with pytest.raises(ValueError, match="crop fraction"):
        Preprocessing("slim", 75, 1.5)
    with pytest.raises(ValueError, match="unknown preprocessing"):
        Preprocessing("bicubic")


# --------------------------------------------------------------------------- #
# The command-line tool against model.predict
# --------------------------------------------------------------------------- #
CLI_CLASSES = ("anemone", "bluebell", "crocus", "daisy", "iris", "lily", "tulip")


@pytest.fixture(scope="module")
def noise_set(tmp_path_factory):
    rng = np.random.default_rng(3)
    examples = []
    for cls in CLI_CLASSES:
        for i, kind in enumerate(KINDS[:3]):
            pixels = rng.integers(0, 256, (70 + 11 * i, 90, 3), dtype=np.uint8)
            examples.append((cls, f"{i}{EXT_OF[kind]}", encode(pixels, kind)))
    for name, data in broken_files(rng).items():
        examples.append(("daisy", name, data))
    return write_folders(tmp_path_factory.mktemp("flowers"), examples)


@pytest.fixture(scope="module")
def flowers_weights(zoo, tmp_path_factory):
    model = zoo.get("inception_resnet_v1", input_shape=(SIZE, SIZE, 3), classes=len(CLI_CLASSES))
    path = str(tmp_path_factory.mktemp("w") / "flowers.weights.h5")
    model.save_weights(path)
    return model, path


@pytest.mark.slow
def test_tool_agrees_with_model_predict(noise_set, flowers_weights, tmp_path, capsys):
    model, weights = flowers_weights
    out = tmp_path / "report"
    rc = evaluate_cli.main(["--model", "inception_resnet_v1", "--weights", weights, "--data", noise_set,
                            "--input-size", str(SIZE), "--batch-size", "4", "--output", str(out),
                            "--pipeline-batches", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    with open(out / "report.json") as f:
        report = json.load(f)

    image_set = find_image_set(noise_set)
    x, labels = [], []
    for path, label in zip(image_set.files, image_set.labels):
        data = open(path, "rb").read()
        try:
            x.append(slim_preprocess_for_eval(data, SIZE, SIZE, 0.875))
        except Exception:  # the two broken files
            continue
        labels.append(label)
    labels = np.asarray(labels)
    scores = model.predict(np.stack(x), verbose=0)
    top5 = np.argsort(-scores, axis=1)[:, :5]
    top1_correct = int((top5[:, 0] == labels).sum())
    top5_correct = int((top5 == labels[:, None]).any(1).sum())
    assert len(labels) == 21 and report["top1"]["total"] == 21
    assert report["top1"]["correct"] == top1_correct and report["top5"]["correct"] == top5_correct
    assert [r["name"] for r in report["per_class"]] == list(CLI_CLASSES)
    per_class = [int((top5[labels == c, 0] == c).sum()) for c in range(len(CLI_CLASSES))]
    assert [r["top1_correct"] for r in report["per_class"]] == per_class
    assert f"{top1_correct} / 21 = {top1_correct / 21:.4f}" in printed
    assert len(report["data"]["unreadable"]) == 2
    assert report["command"].startswith("inception-keras-evaluate --model inception_resnet_v1")  # main() called from Python
    assert report["params"] == model.count_params() and report["strategy"] == "none"


def test_tool_errors(noise_set, tmp_path, capsys):
    assert evaluate_cli.main(["--model", "inception_resnet_v1", "--weights", "none", "--data",
                              str(tmp_path / "nowhere"), "--input-size", str(SIZE)]) == 2
    assert "data path not found" in capsys.readouterr().err
    assert evaluate_cli.main(["--model", "inception_v5", "--weights", "none", "--data", noise_set]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(noise_set, flowers_weights, tmp_path):
    """--strategy mirrored splits each batch over two (logical) devices; same counts as one."""
    _, weights = flowers_weights
    script = (
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from inception_keras.cli.evaluate import main\n"
        "import sys\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    common = ["--model", "inception_resnet_v1", "--weights", weights, "--data", noise_set, "--input-size", str(SIZE),
              "--batch-size", "4", "--no-progress", "--pipeline-batches", "0"]  # 21 images: a last batch of 1
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    results = {}
    for strategy in ("none", "mirrored"):
        out = tmp_path / strategy
        proc = subprocess.run([sys.executable, "-c", script, *common, "--strategy", strategy, "--output", str(out)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(out / "report.json") as f:
            results[strategy] = json.load(f)
    assert results["mirrored"]["replicas"] == 2 and results["none"]["replicas"] == 1
    for key in ("top1", "top5", "per_class"):
        assert results["mirrored"][key] == results["none"][key]


@pytest.mark.parametrize("policy, jit", [("float32", True), ("mixed_bfloat16", False), ("mixed_bfloat16", True)])
def test_xla_and_mixed_precision_give_the_same_counts(layouts, reports, policy, jit):
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = center_model()
        report = evaluate_model(model, find_image_set(layouts["folders"]), Preprocessing("slim", SIZE), batch_size=8,
                                progress=False, pipeline_batches=0, jit_compile=jit)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert report["precision"] == policy
    for key in ("top1", "top5", "per_class"):
        assert report[key] == reports["folders"][key]


def test_background_class_shifts_the_labels(layouts):
    """A 1001-way TF-slim head (background first) is scored with labels + 1."""
    model = center_model(1001)
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    dense.set_weights([np.roll(kernel, 1, axis=1), np.roll(bias, 1)])  # class c now at output c + 1
    report = evaluate_model(model, find_image_set(layouts["folders"]), Preprocessing("slim", SIZE), batch_size=16,
                            progress=False, pipeline_batches=0)
    assert report["label_shift"] == 1
    assert report["top1"]["correct"] == sum(4 - FAR[c] - NEAR.get(c, 0) for c in range(N_CLASSES))
    assert report["per_class"][0]["class"] == SYNSETS[0]


@pytest.mark.slow
def test_metrics_are_printed_even_when_the_report_cannot_be_written(tmp_path, monkeypatch, capsys):
    """The report files are written after the metrics are printed: a failing write loses nothing shown."""
    folders = write_folders(tmp_path / "f", [("cat", "1.png", encode(np.zeros((9, 9, 3), np.uint8), "rgba_png")),
                                             ("dog", "2.png", encode(np.ones((9, 9, 3), np.uint8), "rgba_png"))])

    def fail(report, folder):
        raise OSError(f"[Errno 30] Read-only file system: '{folder}'")

    monkeypatch.setattr("inception_keras.evaluation.write_report", fail)
    code = evaluate_cli.main(["--model", "inception_resnet_v1", "--weights", "none", "--input-size", "75",
                              "--data", str(folders), "--no-progress", "--pipeline-batches", "0",
                              "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2 and "Read-only file system" in err
    assert "top-1" in out and "2 evaluated of 2" in out


def test_progress_bar_reads_as_people_read_it(capsys):
    """top-1 as a percentage, images/s with one decimal, counts as integers (Keras' own bar prints
    top1: 0.0000e+00, iterations: 3.0000); the values given stay numbers."""
    from inception_keras.evaluation import metric_text, readable_progbar

    assert metric_text("top1", 0.0) == "top-1 0.0%"
    assert metric_text("val_top5", 0.8125) == "val top-5 81.2%"
    assert metric_text("Predictions_top1", 0.5) == "top-1 50.0%"
    assert metric_text("images_per_second", 7.1447) == "7.1 images/s"
    assert metric_text("iterations", 3.0) == "iterations 3"
    assert metric_text("loss", 1.23456) == "loss 1.235" and metric_text("lr", 0.00045) == "lr 0.00045"
    for verbose in (1, 2):
        bar = readable_progbar(4, verbose=verbose, stateful_metrics=["top1", "top5"], unit_name="image")
        bar.update(2, values=[("top1", 0.0), ("top5", 0.5)])
        bar.update(4, values=[("top1", 0.25), ("top5", 0.75)])
        line = capsys.readouterr().out.splitlines()[-1]
        assert "4/4" in line and line.endswith(" - top-1 25.0% - top-5 75.0%"), line
        assert "e+00" not in line and "top1:" not in line


def test_a_file_name_that_is_not_utf8_is_read_and_shown_printable(tmp_path):
    """tf.data takes UTF-8 strings only: the file is read by its bytes, and named with \\xe9."""
    root = write_folders(tmp_path / "f", [("cat", "ok.png", encode(np.zeros((9, 9, 3), np.uint8), "rgba_png")),
                                          ("dog", "ok.png", encode(np.ones((9, 9, 3), np.uint8), "rgba_png"))])
    with open(os.fsencode(os.path.join(root, "cat")) + b"/caf\xe9.png", "wb") as f:
        f.write(encode(np.zeros((9, 9, 3), np.uint8), "rgba_png"))
    image_set = find_image_set(root)
    assert len(image_set) == 3 and os.path.join(root, "cat", "caf\\xe9.png") in image_set.names()
    sizes = [len(x[0]) for x in image_set.encoded().as_numpy_iterator()]
    assert len(sizes) == 3 and min(sizes) > 0
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)])
    report, predictions = evaluate_model(model, image_set, Preprocessing("slim", SIZE), batch_size=2,
                                         progress=False, pipeline_batches=0, return_predictions=True)
    assert report["data"]["evaluated"] == 3 and not report["data"]["unreadable"]
    write_predictions(predictions, tmp_path / "out")
    assert "caf\\xe9.png" in (tmp_path / "out" / "predictions.csv").read_text(encoding="utf-8")


def test_a_write_error_names_the_file(tmp_path, monkeypatch):
    """ENOSPC from a report write names the report, in one line, and leaves no report behind."""
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("json.dump", full)
    with pytest.raises(OSError, match=r"^cannot write .*report\.json: No space left on device; free space") as info:
        write_report({"model": "m"}, tmp_path / "out")
    assert info.value.errno == errno.ENOSPC and "\n" not in str(info.value)
    assert os.listdir(tmp_path / "out") == []  # no report, no temporary
