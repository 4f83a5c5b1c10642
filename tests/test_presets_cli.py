"""The tools speak presets: a fine-tuned run's best/ is predicted, evaluated, benchmarked and
exported with no --classes / --labels / --input-size, and a flag that contradicts a preset is an error."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from inception_keras import preset_info
from inception_keras.cli import benchmark as benchmark_cli
from inception_keras.cli import evaluate as evaluate_cli
from inception_keras.cli import export as export_cli
from inception_keras.cli import models as models_cli
from inception_keras.cli import predict as predict_cli
from inception_keras.cli import train as train_cli

SIZE = 75
CLASSES = ("daisy", "tulip")  # not ImageNet synsets: the names must come from the run


def write_two_classes(root, per_class=6):
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        os.makedirs(root / name)
        for i in range(per_class):
            image = rng.integers(0, 60, (90, 90, 3), dtype=np.uint8)
            image[..., c] += 180  # red daisies, green tulips
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One epoch of fine-tuning on a generated 2-class folder at 75x75, through the CLI."""
    root = tmp_path_factory.mktemp("round_trip")
    data = write_two_classes(root / "data")
    out = root / "runs" / "x"
    argv = ["--model", "inception_resnet_v1", "--data", str(data), "--input-size", str(SIZE), "--batch-size", "4",
            "--epochs", "1", "--val-fraction", "0.34", "--run-eagerly", "--no-progress", "--no-final-eval",
            "--output", str(out)]
    assert train_cli.main(argv) == 0
    return {"data": data, "best": str(out / "best"), "root": root}


@pytest.mark.slow
def test_the_run_leaves_a_preset_with_its_classes_and_size(run):
    info = preset_info(run["best"])
    assert info.model == "inception_resnet_v1" and info.class_names == list(CLASSES)
    assert info.input_size == SIZE and info.preprocessing["name"] == "slim"


@pytest.mark.slow
def test_predict_from_the_run_prints_its_class_names(run, capsys):
    image = str(run["data"] / "tulip" / "0.png")
    assert predict_cli.main([image, "--model", run["best"], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    top = result["results"][0]["top"]
    assert {t["name"] for t in top} == set(CLASSES) and len(top) == 2  # --top follows the classes
    assert result["model"] == "inception_resnet_v1"
    assert predict_cli.main([image, "--model", run["best"]]) == 0
    printed = capsys.readouterr().out
    assert "daisy" in printed and "tulip" in printed


@pytest.mark.slow
def test_evaluate_from_the_run_matches_the_data_by_class_name(run, tmp_path, capsys):
    # The evaluation data holds the classes in another order of folders, and only some of them.
    data = tmp_path / "eval"
    os.makedirs(data / "tulip")
    for i in range(3):
        Image.open(run["data"] / "tulip" / f"{i}.png").save(data / "tulip" / f"{i}.png")
    out = tmp_path / "report"
    assert evaluate_cli.main(["--model", run["best"], "--data", str(data), "--output", str(out), "--no-progress",
                              "--pipeline-batches", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["top5"]["outputs"] == 2 and report["top1"]["total"] == 3
    assert [r["class"] for r in report["per_class"]] == ["tulip"] and report["per_class"][0]["index"] == 1
    assert "top-2" not in (out / "report.md").read_text()  # top-k only where k < classes


@pytest.mark.slow
def test_export_from_the_run_carries_its_class_names(run, tmp_path, capsys):
    import onnxruntime  # the test extra has it: a missing runtime must fail, not skip
    target = tmp_path / "flowers"
    assert export_cli.main(["--model", run["best"], "--format", "onnx", "--output", str(target),
                            "--check-samples", "2", "--latency-runs", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["input_shape"] == [SIZE, SIZE, 3] and summary["classes"] == 2
    meta = onnxruntime.InferenceSession(summary["output"]).get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == list(CLASSES)
    assert json.loads(meta["preprocessing"])["input_size"] == SIZE


@pytest.mark.slow
def test_benchmark_times_the_presets_graph(run, capsys):
    assert benchmark_cli.main(["--model", run["best"], "--macs-only", "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["model"] == run["best"] and record["input_size"] == SIZE


@pytest.mark.parametrize("flags, complaint", [
    (["--classes", "5"], "--classes 5 (the preset has 2)"),
    (["--input-size", "99"], "--input-size 99 (the preset was made for 75"),
    (["--weights", "imagenet"], "--weights imagenet (a preset brings its own weights"),
    (["--preprocessing", "resize-crop"], "--preprocessing resize-crop (the preset's is slim)"),
])
@pytest.mark.slow
def test_a_flag_that_contradicts_the_preset_is_an_error(run, flags, complaint, capsys):
    image = str(run["data"] / "daisy" / "0.png")
    assert predict_cli.main([image, "--model", run["best"], *flags]) == 2
    err = capsys.readouterr().err
    assert "is a preset, and these options contradict it" in err and complaint in err


@pytest.mark.slow
def test_agreeing_flags_are_fine_and_a_label_file_must_match(run, tmp_path, capsys):
    image = str(run["data"] / "daisy" / "0.png")
    assert predict_cli.main([image, "--model", run["best"], "--classes", "2", "--input-size", str(SIZE)]) == 0
    wrong = tmp_path / "labels.txt"
    wrong.write_text("rose\ntulip\n")
    assert predict_cli.main([image, "--model", run["best"], "--labels", str(wrong)]) == 2
    assert "--labels" in capsys.readouterr().err


def test_list_models_pretrained(capsys):
    assert models_cli.main(["--pretrained", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows][:2] == ["inception_v4.tf_in1k", "inception_resnet_v2_slim.tf_in1k"]
    assert rows[0]["top1"] == 80.2 and rows[0]["graph"] == "inception_v4"
    assert models_cli.main(["--pretrained"]) == 0
    text = capsys.readouterr().out
    assert "inception_resnet_v2.tf_in1k -> inception_resnet_v2_slim.tf_in1k" in text


@pytest.mark.slow
def test_a_training_runs_folder_points_to_its_best(run, capsys):
    image = str(run["data"] / "daisy" / "0.png")
    folder = os.path.dirname(run["best"])
    assert predict_cli.main([image, "--model", folder]) == 2
    assert f"it is a training run, whose model is the preset folder {run['best']}" in capsys.readouterr().err
    assert predict_cli.main([image, "--model", "inception_resnet_v1", "--weights", folder, "--classes", "2"]) == 2
    assert "whose model is the preset folder" in capsys.readouterr().err
