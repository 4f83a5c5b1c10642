"""inception_keras.runtimes: exported models (ONNX, TFLite, SavedModel, .keras) behind one
runner interface, checked against the Keras model they were exported from, and the tools
(predict, evaluate, explain) running them.

The exports are of a tiny random-weight convnet (tests/helpers/tiny_exports.py), made once per
test process: the runtimes are what is tested, not the Inception graphs (test_export.py)."""

import json
import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np
import pytest

from helpers.tiny_exports import (CLASSES, LABELS, SIZE, class_folders, copy_export, export_path, foreign_onnx,
                                  source_model)
from inception_keras.cli import evaluate as evaluate_cli
from inception_keras.cli import explain as explain_cli
from inception_keras.cli import predict as predict_cli
from inception_keras.runtimes import Runner, RuntimeOpenError, is_exported, open_runner
from inception_keras.runtimes.litert import dequantize, quantize


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(0).uniform(-1, 1, (5, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def keras_probs(inputs):
    return np.asarray(source_model()(inputs, training=False))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return class_folders(tmp_path_factory.mktemp("data"), per_class=2)


def test_is_exported_by_extension_and_saved_model_pb(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "plain").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    assert is_exported("m.onnx") and is_exported("m.TFLITE") and is_exported("m.keras")
    assert is_exported(tmp_path / "sm") and not is_exported(tmp_path / "plain")
    assert not is_exported("inception_v4") and not is_exported("inception_v4.tf_in1k")
    assert not is_exported("hf://org/model.onnx")


@pytest.mark.parametrize("kind, fmt", [("onnx", "onnx"), ("tflite", "tflite"), ("saved_model", "savedmodel")])
def test_runner_matches_keras_and_reads_the_metadata(kind, fmt, inputs, keras_probs):
    with open_runner(export_path(kind), threads=1) as runner:
        assert isinstance(runner, Runner)
        assert (runner.format, runner.precision, runner.num_classes, runner.input_size) == (fmt, "fp32", CLASSES, SIZE)
        assert runner.class_names == LABELS
        assert runner.preprocessing["name"] == "slim" and runner.preprocessing["input_size"] == SIZE
        assert runner.preprocessing["crop_fraction"] == pytest.approx(0.875)
        assert runner.file_size > 1000 and runner.load_seconds > 0
        probs = runner(inputs)
        # any batch size, also above a fixed one (tflite: batch 1) and empty
        assert runner(inputs[:3]).shape == (3, CLASSES) and runner(inputs[:0]).shape == (0, CLASSES)
    assert probs.dtype == np.float32 and probs.shape == (5, CLASSES)
    np.testing.assert_array_equal(probs.argmax(1), keras_probs.argmax(1))
    np.testing.assert_allclose(probs, keras_probs, atol=1e-4)


def test_runtime_description_names_provider_and_threads():
    runner = open_runner(export_path("onnx"), provider="cpu", threads=2)
    assert runner.runtime.startswith("ONNX Runtime ") and "CPUExecutionProvider, 2 threads" in runner.runtime
    assert runner.describe()["format"] == "onnx"
    assert "LiteRT" in open_runner(export_path("tflite"), threads=1).runtime


def test_keras_file_needs_classes_without_metadata_and_then_matches(inputs, keras_probs):
    with pytest.raises(RuntimeOpenError, match="no metadata from inception-keras export"):
        open_runner(export_path("keras"))
    runner = open_runner(export_path("keras"), labels=LABELS)
    assert runner.format == "keras" and runner.class_names == LABELS
    np.testing.assert_allclose(runner(inputs), keras_probs, atol=1e-6)


def test_tflite_with_a_dynamic_batch_is_resized_to_each_batch(tmp_path, inputs):
    from helpers.tiny_exports import tiny_model
    from inception_keras.export import export_model

    model = tiny_model(seed=2)
    export_model(model, tmp_path / "dyn", "tflite", batch_size=None, check_samples=2, latency_runs=1)
    runner = open_runner(tmp_path / "dyn.tflite")
    assert runner.fixed_batch is None
    for n in (5, 2, 5):
        np.testing.assert_allclose(runner(inputs[:n]), np.asarray(model(inputs[:n], training=False)), atol=1e-5)


@pytest.mark.parametrize("quantize, precision, atol", [("float16", "fp16", 1e-3), ("dynamic", "dynamic", 0.05),
                                                      ("int8", "int8", 0.05)])
def test_onnx_precision_is_read_from_the_graph(tmp_path, data, inputs, keras_probs, quantize, precision, atol):
    from inception_keras.export import export_model

    calibration = dict(calibration_data=data, calibration_steps=10) if quantize == "int8" else {}
    export_model(source_model(), tmp_path / "q", "onnx", quantize=quantize, check_samples=2, latency_runs=1,
                 labels=LABELS, **calibration)
    runner = open_runner(tmp_path / "q.onnx")
    assert runner.precision == precision and runner.class_names == LABELS
    np.testing.assert_allclose(runner(inputs), keras_probs, atol=atol)


def test_logits_models_get_a_softmax(tmp_path, inputs):
    from helpers.tiny_exports import tiny_model
    from inception_keras.export import export_model

    model = tiny_model(seed=4, activation=None)
    export_model(model, tmp_path / "logits", "onnx", check_samples=2, latency_runs=1)
    logits = np.asarray(model(inputs, training=False))
    probs = open_runner(tmp_path / "logits.onnx")(inputs)
    e = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(open_runner(tmp_path / "logits.onnx").raw(inputs), logits, atol=1e-4)


def test_tflite_int8_quantizes_inputs_and_dequantizes_outputs(inputs, keras_probs):
    runner = open_runner(export_path("int8_tflite"))
    assert runner.precision == "int8" and runner.input["dtype"] == np.int8 and runner.output["dtype"] == np.int8
    scale, zero = runner.input["quantization"]
    q = quantize(inputs, runner.input)
    assert q.dtype == np.int8
    # the round trip loses at most half a step, inside the calibrated range
    np.testing.assert_allclose(dequantize(q, runner.input), np.clip(inputs, (-128 - zero) * scale,
                                                                    (127 - zero) * scale), atol=scale / 2 + 1e-6)
    probs = runner(inputs)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=0.05)
    assert np.abs(probs - keras_probs).max() < 0.05  # a few output steps (1/256 each) off the float model
    sig = runner.signatures()["serving_default"]
    assert sig["inputs"]["images"]["quantization"]["scale"] == pytest.approx(scale)


@pytest.mark.parametrize("make, phrase", [
    (lambda p: foreign_onnx(str(p / "nchw.onnx")), "another network's input shape"),
    (lambda p: foreign_onnx(str(p / "plain.onnx"), (None, SIZE, SIZE, 3)), "--classes N or --labels FILE"),
])
def test_foreign_onnx_is_refused_with_what_to_give(tmp_path, make, phrase):
    with pytest.raises(RuntimeOpenError, match=phrase):
        open_runner(make(tmp_path))


def test_foreign_onnx_runs_with_classes_given(tmp_path, inputs):
    runner = open_runner(foreign_onnx(str(tmp_path / "plain.onnx"), (None, SIZE, SIZE, 3)), classes=3)
    assert runner.class_names == ["class 0", "class 1", "class 2"] and runner.input_size == SIZE
    np.testing.assert_allclose(runner.raw(inputs), inputs.mean(axis=(1, 2)), atol=1e-6)
    with pytest.raises(RuntimeOpenError, match="takes 75x75 images, but 99 is given"):
        open_runner(tmp_path / "plain.onnx", classes=3, input_size=99)


@pytest.mark.parametrize("kind", ["onnx", "tflite", "keras"])
def test_truncated_files_are_refused(tmp_path, kind):
    path = copy_export(kind, tmp_path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 3)
    with pytest.raises(RuntimeOpenError, match="corrupt or truncated"):
        open_runner(path, classes=CLASSES)


def test_unknown_provider_and_bad_threads():
    with pytest.raises(RuntimeOpenError, match="unknown provider 'gpu'"):
        open_runner(export_path("onnx"), provider="gpu")
    with pytest.raises(RuntimeOpenError, match="threads must be a positive integer"):
        open_runner(export_path("onnx"), threads=0)
    with pytest.raises(RuntimeOpenError, match="is not an exported model"):
        open_runner("inception_v4")


# --------------------------------------------------------------------------- #
# The tools
# --------------------------------------------------------------------------- #
def _csv_rows(path):
    import csv

    with open(path, newline="") as f:
        return {r["path"]: r for r in csv.DictReader(f)}


def test_evaluate_exported_models_score_as_the_keras_model(data, tmp_path, capsys):
    runs = {}
    for kind, extra in (("keras", ["--classes", str(CLASSES)]), ("onnx", ["--threads", "1"]), ("saved_model", [])):
        out = tmp_path / kind
        argv = ["--model", export_path(kind), "--data", data, "--output", str(out), "--no-progress",
                "--pipeline-batches", "0", "--batch-size", "4", *extra]
        assert evaluate_cli.main(argv) == 0, capsys.readouterr().err
        runs[kind] = (json.loads((out / "report.json").read_text()), _csv_rows(out / "predictions.csv"))
    keras_report, keras_rows = runs["keras"]
    for kind in ("onnx", "saved_model"):
        report, rows = runs[kind]
        assert report["top1"] == keras_report["top1"] and report["params"] is None
        assert report["precision"].endswith("fp32") and report["runtime"]["format"] in ("onnx", "savedmodel")
        for path, row in rows.items():
            assert row["top1"] == keras_rows[path]["top1"]
            assert abs(float(row["prob1"]) - float(keras_rows[path]["prob1"])) <= 1e-4
    assert "n/a (an exported model)" in capsys.readouterr().out


def test_predict_exported_tflite_prints_its_class_names(data, capsys):
    image = os.path.join(data, "cat", "0.jpg")
    assert predict_cli.main([image, "--model", export_path("tflite"), "--json", "--top", "2"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert [t["name"] for t in result["top"]][0] in LABELS and len(result["top"]) == 2
    x = np.asarray(_preprocessed(image))
    expected = np.asarray(source_model()(x[None], training=False))[0]
    assert result["top"][0]["name"] == LABELS[int(expected.argmax())]
    assert result["top"][0]["probability"] == pytest.approx(float(expected.max()), abs=1e-4)


def test_predict_exported_onnx_to_a_csv_in_chunks_matches_keras(data, tmp_path, capsys):
    import csv

    out = tmp_path / "preds.csv"
    argv = [data, "--model", export_path("onnx"), "--output", str(out), "--chunk-size", "4", "--batch-size", "3",
            "--no-progress", "--top", "1"]
    assert predict_cli.main(argv) == 0, capsys.readouterr().err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and not any(r["error"] for r in rows)
    x = np.stack([_preprocessed(r["path"]) for r in rows])
    expected = np.asarray(source_model()(x, training=False))
    assert [r["top1_name"] for r in rows] == [LABELS[i] for i in expected.argmax(1)]
    np.testing.assert_allclose([float(r["top1_prob"]) for r in rows], expected.max(1), atol=1e-4)


def _preprocessed(path):
    import tensorflow as tf

    from inception_keras.data.preprocessing import Preprocessing, preprocess_for_eval
    from inception_keras.data.images import decode_image

    return preprocess_for_eval(decode_image(tf.io.read_file(path)), Preprocessing("slim", SIZE)).numpy()


@pytest.mark.parametrize("argv, phrase", [
    (["--embeddings", "{tmp}/e.npy", "--output", "{tmp}/p.csv"], "--embeddings and --layer need a Keras model"),
    (["--strategy", "mirrored"], "--strategy mirrored (a tf.distribute strategy runs Keras models)"),
    (["--weights", "imagenet"], "these options do not apply to it: --weights"),
])
def test_predict_refuses_keras_only_options_for_exported_models(data, tmp_path, capsys, argv, phrase):
    image = os.path.join(data, "cat", "0.jpg")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert predict_cli.main([image, "--model", export_path("onnx"), *argv]) == 2
    assert phrase in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_explain_refuses_an_exported_model(data, tmp_path, capsys):
    image = os.path.join(data, "cat", "0.jpg")
    assert explain_cli.main([image, "--model", export_path("onnx"), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "explain needs the gradients" in err and "inception_v4.tf_in1k" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["onnx", "tflite", "saved_model"])
def test_image_classifier_from_preset_of_an_export_predicts_raw_images(kind, data):
    """The deploy loop in Python: ImageClassifier.from_preset opens the export in its runtime and
    applies the embedded preprocessing to raw image files, as the Keras model with evaluate's
    preprocessing would."""
    from inception_keras import ImageClassifier
    from inception_keras.data.preprocessing import Preprocessing, load_for_eval
    from inception_keras.tasks import ExportedClassifier

    files = sorted(os.path.join(root, f) for root, _, names in os.walk(data) for f in names)[:4]
    clf = ImageClassifier.from_preset(export_path(kind), threads=1)
    assert isinstance(clf, ExportedClassifier) and clf.class_names == LABELS
    probs = clf.predict(files, batch_size=3, verbose=0)
    expected = np.asarray(source_model()(np.stack([load_for_eval(f, Preprocessing("slim", SIZE)) for f in files])))
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    top = clf.predict_labels(files, top=2, verbose=0)
    assert [p[0].name for p in top] == [LABELS[i] for i in expected.argmax(1)]
    cfg = clf.pretrained_cfg
    assert cfg["input_size"] == (3, SIZE, SIZE) and cfg["precision"] == "fp32" and cfg["label_names"] == LABELS
    with pytest.raises(TypeError, match="export the model again"):
        ImageClassifier.from_preset(export_path(kind), num_classes=3)
    clf.close()
