"""evaluate --reference: the evaluated model against its source (or any model with the same
classes) on the same images: top-1 agreement, top-5 overlap, probability differences, and
each class's top-1 accuracy change, checked against the same numbers computed here."""

import json
import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np
import pytest

from helpers.tiny_exports import CLASSES, class_folders, export_path, tiny_model
from inception_keras.cli import evaluate as evaluate_cli
from inception_keras.data.preprocessing import Preprocessing
from inception_keras.data.datasets import find_image_set
from inception_keras.evaluation import evaluate_model, format_markdown, format_text

EIGHT = [f"c{i}" for i in range(8)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return class_folders(tmp_path_factory.mktemp("data"), per_class=2)


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    """Eight classes (top-5 overlap can miss), four images each, and two different models."""
    folder = class_folders(tmp_path_factory.mktemp("eight"), per_class=4, seed=3, names=EIGHT)
    return find_image_set(folder), tiny_model(classes=8, seed=11), tiny_model(classes=8, seed=12, activation=None)


def _inputs(image_set):
    import tensorflow as tf

    from inception_keras.data.images import decode_image
    from inception_keras.data.preprocessing import preprocess_for_eval

    prep = Preprocessing("slim", 75)
    names = image_set.names()
    x = np.stack([preprocess_for_eval(decode_image(tf.io.read_file(os.path.join(image_set.root, n))), prep).numpy()
                  for n in names])
    return x, np.asarray(image_set.labels)


def test_reference_metrics_equal_a_direct_computation(eight):
    image_set, model, other = eight
    report = evaluate_model(model, image_set, Preprocessing("slim", 75), batch_size=5, progress=False,
                            pipeline_batches=0, reference=other)
    ref = report["reference"]
    x, labels = _inputs(image_set)
    a = np.asarray(model(x, training=False), np.float64)
    logits = np.asarray(other(x, training=False), np.float64)
    b = np.exp(logits - logits.max(1, keepdims=True))
    b /= b.sum(1, keepdims=True)
    top_a, top_b = np.argsort(-a, 1, kind="stable")[:, :5], np.argsort(-b, 1, kind="stable")[:, :5]
    assert ref["images"] == len(x) == 32
    assert ref["top1_agree"] == int(np.sum(top_a[:, 0] == top_b[:, 0])) < 32
    overlap = np.mean([len(set(p) & set(q)) for p, q in zip(top_a, top_b)]) / 5
    assert ref["top5_overlap"] == pytest.approx(overlap) and ref["top5_overlap"] < 1
    assert ref["max_abs_prob_diff"] == pytest.approx(np.abs(a - b).max(), abs=1e-5)
    assert ref["mean_abs_prob_diff"] == pytest.approx(np.abs(a - b).mean(), abs=1e-5)
    assert ref["top1"]["correct"] == int(np.sum(top_b[:, 0] == labels))
    for row in ref["per_class"]:
        c = EIGHT.index(row["class"])
        mask = labels == c
        assert row["top1"] == pytest.approx(np.mean(top_a[mask, 0] == c))
        assert row["change"] == pytest.approx(np.mean(top_a[mask, 0] == c) - np.mean(top_b[mask, 0] == c))
    changes = [abs(r["change"]) for r in ref["most_changed_classes"]]
    assert changes == sorted(changes, reverse=True) and all(changes)
    assert ref["classes_changed"] == sum(1 for r in ref["per_class"] if r["change"] != 0)
    text, md = format_text(report), format_markdown(report)
    assert "top-1 agreement" in text and "top-5 overlap" in text and "most-changed classes" in text
    assert "## Against the reference" in md


def test_reference_against_itself_with_crops_agrees_fully(eight):
    image_set, model, _ = eight
    report = evaluate_model(model, image_set, Preprocessing("slim", 75), batch_size=3, progress=False,
                            pipeline_batches=0, crops="flip", reference=model)
    ref = report["reference"]
    assert ref["top1_agreement"] == 1.0 and ref["top5_overlap"] == 1.0 and ref["max_abs_prob_diff"] == 0.0
    assert ref["classes_changed"] == 0 and ref["top1"] == report["top1"]


def _evaluate(tmp_path, capsys, model, reference, *extra):
    out = tmp_path / "out"
    code = evaluate_cli.main(["--model", model, "--reference", reference, "--data", extra[0], "--output", str(out),
                              "--no-progress", "--pipeline-batches", "0", *extra[1:]])
    captured = capsys.readouterr()
    return code, captured, out


def test_cli_onnx_against_its_source_agrees(data, tmp_path, capsys):
    code, captured, out = _evaluate(tmp_path, capsys, export_path("onnx"), export_path("keras"), data)
    assert code == 0, captured.err
    ref = json.loads((out / "report.json").read_text())["reference"]
    assert ref["top1_agreement"] == 1.0 and ref["top5_overlap"] == 1.0
    assert ref["max_abs_prob_diff"] < 1e-4 and ref["classes_changed"] == 0
    assert ref["model"] == "tiny.keras"
    assert "top-1 agreement         10 / 10 = 1.0000" in captured.out
    assert "Against the reference" in (out / "report.md").read_text()


def test_cli_a_different_model_disagrees(data, tmp_path, capsys):
    code, captured, out = _evaluate(tmp_path, capsys, export_path("saved_model"), export_path("other_onnx"), data)
    assert code == 0, captured.err
    ref = json.loads((out / "report.json").read_text())["reference"]
    assert ref["max_abs_prob_diff"] > 1e-3 and ref["top1_agreement"] < 1.0


def test_cli_reference_with_other_classes_exits_2(data, tmp_path, capsys):
    code, captured, out = _evaluate(tmp_path, capsys, export_path("onnx"), export_path("three_onnx"), data)
    assert code == 2 and "has 3 classes but --model" in captured.err
    assert not out.exists()


def test_cli_reference_weights_only_for_a_graph(data, tmp_path, capsys):
    code, captured, out = _evaluate(tmp_path, capsys, export_path("onnx"), export_path("other_onnx"), data,
                                    "--reference-weights", "none")
    assert code == 2 and "--reference-weights is for a graph-name --reference" in captured.err
    assert CLASSES == 5 and not out.exists()
