"""tools/deploy_report.py: models against a reference on a labelled image set (accuracy,
agreement, speed, size), written as Markdown, JSON and an SVG plot; and its refusals.

The models are a tiny classifier of the zoo's layer kinds at 75x75 (seconds to export), its
fp32 and int8 ONNX exports, and class folders of generated JPEGs; the full Keras graph only
where the point is a preset (slow).
"""

import json
import os
import xml.etree.ElementTree as ET

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np
import pytest
from helpers.tiny_exports import SIZE, class_folders, export_onnx, tiny_classifier

from inception_keras.benchmark import Artifact, keras_runner
from inception_keras.benchmark.report import ReportError, accuracy, agreement, build_report, labels_for
from inception_keras.benchmark.svg import nice_ticks, scatter_svg
from inception_keras.cli import deploy_report as report_cli
from inception_keras.data.datasets import find_image_set

NAMES = ["cat", "dog", "eel"]
FILES = {"deploy_report.md", "deploy_report.json", "deploy_report.svg"}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return class_folders(tmp_path_factory.mktemp("deploy_data"), per_class=3, names=NAMES)


def _keras(name, seed, classes=3):
    model = tiny_classifier(classes, seed=seed)
    return Artifact(name, keras_runner(model, class_names=NAMES[:classes] + [f"c{i}" for i in range(3, classes)]),
                    "random", 0.0), model


# --------------------------------------------------------------------------- #
# The measures
# --------------------------------------------------------------------------- #
def test_accuracy_and_agreement_by_hand():
    ref = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]], np.float32)
    other = np.array([[0.6, 0.3, 0.1], [0.5, 0.2, 0.3], [0.3, 0.3, 0.4]], np.float32)
    labels = np.array([0, 2, 2])
    assert accuracy(other, labels) == {"top1": pytest.approx(2 / 3), "top5": 1.0}  # 3 classes: top 5 is all
    got = agreement(other, ref)
    assert got["top1_agreement"] == pytest.approx(2 / 3) and got["top5_overlap"] == 1.0
    assert got["max_prob_diff"] == pytest.approx(0.4)
    assert got["mean_max_prob_diff"] == pytest.approx((0.1 + 0.4 + 0.0) / 3)
    same = agreement(ref, ref)
    assert same == {"top1_agreement": 1.0, "top5_overlap": 1.0, "max_prob_diff": 0.0, "mean_max_prob_diff": 0.0}
    # more classes than 5: the overlap counts shared classes of the two top 5s
    wide = np.arange(8, dtype=np.float32)[None] / 28
    swapped = wide.copy()
    swapped[0, [2, 7]] = swapped[0, [7, 2]]  # class 2 goes first, class 7 leaves the top 5
    assert agreement(swapped, wide)["top5_overlap"] == pytest.approx(4 / 5)
    assert agreement(swapped, wide)["top1_agreement"] == 0.0


def test_labels_follow_the_models_classes(data, tmp_path):
    image_set = find_image_set(data)
    assert labels_for(image_set, 3, ["x", "y", "z"])[1:] == (0, "")  # same count: in order
    assert labels_for(image_set, 4, None)[1] == 1  # one more: TF-slim's background class
    aligned, shift, _ = labels_for(image_set, 4, ["ant", "eel", "dog", "cat"])  # by name
    assert shift == 0 and list(aligned.labels) == [3] * 3 + [2] * 3 + [1] * 3
    _, shift, reason = labels_for(image_set, 7, None)
    assert shift is None and "no accuracy" in reason


def test_nice_ticks_and_the_svg_plot():
    assert nice_ticks(0.0, 10.0) == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert nice_ticks(12.0, 97.0) == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert nice_ticks(0.0012, 0.0071) == [0.0, 0.002, 0.004, 0.006, 0.008]
    ticks = nice_ticks(50.0, 50.0)  # one value: an interval around it
    assert ticks[0] < 50 < ticks[-1]
    svg = scatter_svg([("v4 <keras>", 140.0, 80.5), ("v4.onnx", 95.0, 80.5), ("v4_int8.onnx", 60.0, 79.0)],
                      x_label="latency (ms)", y_label="top-1 (%)", title="top-1 against latency")
    root = ET.fromstring(svg)  # well-formed XML, names escaped
    points = root.findall(f".//{SVG}circle")
    labels = [t.text for t in root.findall(f".//{SVG}text[@class='label']")]
    assert len(points) == 3 and labels == ["v4 <keras>", "v4.onnx", "v4_int8.onnx"]
    xs = [float(p.get("cx")) for p in points]
    ys = [float(p.get("cy")) for p in points]
    assert xs[0] > xs[1] > xs[2] and ys[0] == ys[1] < ys[2]  # slower to the right, higher accuracy up
    with pytest.raises(ValueError, match="not a finite number"):
        scatter_svg([("a", float("nan"), 1.0)], x_label="x", y_label="y")


# --------------------------------------------------------------------------- #
# The report, from Python
# --------------------------------------------------------------------------- #
def test_a_model_agrees_with_itself_and_the_accuracy_is_the_datas(data):
    (ref, model), (other, _) = _keras("ref", 0), _keras("other", 1)
    twin = Artifact("twin", keras_runner(model, class_names=NAMES), "random", 0.0)  # the same model again
    seen = []
    report = build_report([other, ref, twin], 1, find_image_set(data), batch_size=4, runs=1, warmup=0,
                          progress=seen.append)
    rows = {r["name"]: r for r in report["artifacts"]}
    assert [r["reference"] for r in report["artifacts"]] == [False, True, False]
    for name in ("ref", "twin"):
        assert rows[name]["top1_agreement"] == 1.0 and rows[name]["top5_overlap"] == 1.0
        assert rows[name]["max_prob_diff"] == 0.0 and rows[name]["mean_max_prob_diff"] == 0.0
    assert 0.0 <= rows["other"]["top1_agreement"] <= 1.0 and rows["other"]["max_prob_diff"] > 0
    assert [r["constant_outputs"] for r in report["artifacts"]] == [0, 0, 0]
    # top-1 as computed here from the model's own outputs on the evaluation pipeline's images
    image_set = find_image_set(data)
    from inception_keras.data.preprocessing import Preprocessing

    images, labels, _ = next(image_set.dataset(Preprocessing("slim", SIZE), 9).as_numpy_iterator())
    assert rows["ref"]["top1"] == pytest.approx(np.mean(model.predict(images, verbose=0).argmax(1) == labels))
    assert rows["ref"]["top5"] == 1.0  # three classes
    assert report["data"]["images"] == 9 and report["data"]["labelled"] and report["data"]["unreadable"] == 0
    assert "predicting: 9/9 images, 3 models" in seen and "timed round 1/1: 3 models, batch 1 and 4" in seen
    for r in report["artifacts"]:
        assert r["latency_ms_median"] > 0 and r["images_per_second"] > 0 and r["batch_size"] == 4


def test_another_number_of_classes_is_refused_before_any_image_is_read(data):
    (ref, _), (wide, _) = _keras("ref", 0), _keras("wide", 0, classes=4)
    with pytest.raises(ReportError, match="--reference ref has 3 classes but wide \\(4\\)"):
        build_report([ref, wide], 0, find_image_set(data), runs=1, warmup=0,
                     progress=lambda m: pytest.fail(f"work started: {m}"))


# --------------------------------------------------------------------------- #
# The tool
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def exports(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("deploy_exports")
    model = tiny_classifier()
    return {"fp32": export_onnx(model, root / "tiny.onnx", NAMES),
            "int8": export_onnx(model, root / "tiny_int8.onnx", NAMES, quantize="int8", calibration_data=data,
                                calibration_steps=6),
            "four": export_onnx(tiny_classifier(4), root / "four.onnx", [*NAMES, "fox"])}


@pytest.mark.slow
def test_report_files_of_an_onnx_model_and_its_int8_export(exports, data, tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["--model", exports["fp32"], exports["int8"], "--data", data, "--out", str(out), "--batch-size", "4",
            "--runs", "2", "--warmup", "1"]
    assert report_cli.main(argv) == 0
    assert set(os.listdir(out)) == FILES  # nothing else: no temporaries left
    report = json.loads((out / "deploy_report.json").read_text())
    fp32, int8 = report["artifacts"]
    assert report["reference"] == exports["fp32"] and fp32["reference"] and not int8["reference"]
    assert (fp32["format"], fp32["precision"], int8["precision"]) == ("onnx", "fp32", "int8")
    assert fp32["top1_agreement"] == 1.0 and fp32["max_prob_diff"] == 0.0
    assert 0.0 <= int8["top1_agreement"] <= 1.0 and 0.0 <= int8["top5_overlap"] <= 1.0
    assert int8["max_prob_diff"] >= int8["mean_max_prob_diff"] >= 0.0
    for r in (fp32, int8):
        assert r["top1"] is not None and r["top5"] == 1.0 and r["file_size"] == os.path.getsize(r["name"])
        assert r["latency_ms_median"] > 0 and r["images_per_second"] > 0 and r["runs"] == 2
    assert report["data"]["images"] == 9 and report["plot"]["file"] == "deploy_report.svg"
    assert report["command"].endswith(" ".join(argv[-4:]))
    md = (out / "deploy_report.md").read_text()
    assert md.startswith("# Deploy report") and "](deploy_report.svg)" in md
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 4 and exports["fp32"] + " (reference)" in table[2] and exports["int8"] in table[3]
    svg = ET.fromstring((out / "deploy_report.svg").read_text())
    assert [t.text for t in svg.findall(f".//{SVG}text[@class='label']")] == ["tiny.onnx (ref)", "tiny_int8.onnx"]
    printed = capsys.readouterr()
    assert "top-1 agree" in printed.out and "wrote " in printed.out and "predicting: 9/9 images" in printed.err


@pytest.mark.slow
def test_reference_with_another_number_of_classes_exits_2(exports, data, tmp_path, capsys):
    out = tmp_path / "report"
    code = report_cli.main(["--model", exports["fp32"], "--reference", exports["four"], "--data", data,
                            "--out", str(out), "--runs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "has 4 classes but" in err and "(3)" in err and "Traceback" not in err
    assert not out.exists()


def test_what_is_not_a_model_exits_2_and_writes_nothing(data, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 truncated")
    out = tmp_path / "report"
    cases = [([str(notes)], "is not a model"), ([str(broken)], "not a readable ONNX model"),
             (["inception_v5"], "unknown model"), ([str(broken), "--data", str(tmp_path / "nowhere")],
                                                   "data path not found")]
    for models, message in cases:
        code = report_cli.main(["--model", *models, "--data", data, "--out", str(out), "--runs", "1"]
                               if "--data" not in models else ["--model", *models, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (models, err)
    assert sorted(os.listdir(tmp_path)) == ["broken.onnx", "notes.txt"]
    (tmp_path / "file").write_text("")
    assert report_cli.main(["--model", str(broken), "--data", data, "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.mark.slow
def test_a_preset_against_its_onnx_export(tmp_path, data, capsys):
    """The deploy engineer's case: the Keras model (a preset folder) and its ONNX export agree."""
    from inception_keras import create_model
    from inception_keras.weights.format import save_preset

    model = create_model("inception_resnet_v1", weights=None, input_shape=(SIZE, SIZE, 3), classes=3)
    preset = save_preset(model, tmp_path / "preset", labels=NAMES)
    onnx = export_onnx(model, tmp_path / "v1.onnx", NAMES)
    out = tmp_path / "report"
    assert report_cli.main(["--model", preset, onnx, "--data", data, "--out", str(out), "--batch-size", "3",
                            "--runs", "1", "--warmup", "0", "--no-progress"]) == 0
    keras_row, onnx_row = json.loads((out / "deploy_report.json").read_text())["artifacts"]
    assert (keras_row["format"], keras_row["weights"], onnx_row["format"]) == ("keras", "preset", "onnx")
    assert onnx_row["top1_agreement"] == 1.0 and onnx_row["top5_overlap"] == 1.0
    assert onnx_row["max_prob_diff"] < 1e-4 and onnx_row["top1"] == keras_row["top1"]
    assert capsys.readouterr().err == ""  # --no-progress
