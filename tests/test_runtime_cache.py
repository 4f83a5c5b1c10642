"""--runtime: a Keras classifier exported once to ONNX / TFLite, checked, cached, reused
(inception_keras.runtimes.cache).

A tiny classifier with the zoo's head layer names stands for a preset: its exports take about
a second, where the smallest Inception graph takes half a minute; the cache is what is tested."""

import json
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import keras
import numpy as np
import pytest

import inception_keras.export
from inception_keras import ImageClassifier
from inception_keras.export import ExportCheckError
from inception_keras.runtimes import RuntimeOpenError
from inception_keras.runtimes import cache as runtime_cache
from inception_keras.runtimes.cache import (
    NotExportableError,
    UnknownRuntimeError,
    cached_classifier,
    entry_name,
    key_inputs,
)

SIZE = 75
LABELS = ["ant", "bee", "cat"]


def tiny_classifier(seed=0, size=SIZE, labels=tuple(LABELS), preprocessing="slim"):
    """conv, conv, then the zoo's head names (Logits__AvgPool_1a, ..., Predictions)."""
    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input((size, size, 3), name="images")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="Conv2d_1a_3x3")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="Conv2d_2a_3x3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="Logits__AvgPool_1a")(x)
    x = keras.layers.Dropout(0.2, name="Logits__Dropout_1b")(x)
    x = keras.layers.Dense(len(labels), name="Logits__Logits")(x)
    outputs = keras.layers.Activation("softmax", name="Predictions")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    return ImageClassifier.from_model(model, labels=list(labels), preprocessing=preprocessing,
                                      origin={"architecture": "tiny", "source": f"tiny-{seed}"})


@pytest.fixture(scope="module")
def classifier():
    return tiny_classifier()


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def images():
    """Raw uint8 images of several sizes, as a user passes them."""
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((80, 90), (120, 75), (75, 75), (200, 150))]


@pytest.fixture(scope="module")
def keras_probs(classifier, images):
    return classifier.predict(images, verbose=0)


def _lines():
    said = []
    return said, said.append


@pytest.mark.parametrize("runtime,fmt", [("onnxruntime", "onnx"), ("litert", "tflite")])
def test_first_call_exports_then_reuses(classifier, cache_root, images, keras_probs, monkeypatch, runtime, fmt):
    said, say = _lines()
    first = cached_classifier(classifier, runtime, threads=1, cache_root=cache_root, say=say)
    assert len(said) == 1 and said[0].startswith(f"exporting tiny to {runtime_cache.FORMAT_NAMES[fmt]} once; cached in")
    entry = first.export_path
    assert os.path.dirname(entry) == os.path.join(cache_root, "exports")
    with open(os.path.join(entry, runtime_cache.RECORD)) as f:
        record = json.load(f)
    assert record["file"] == f"model.{fmt}" and os.path.isfile(os.path.join(entry, record["file"]))
    assert record["key"]["format"] == fmt and record["check"]["passed"]
    assert record["check"]["max_abs_diff"] <= runtime_cache.CHECK_TOLERANCE
    assert first.runner.format == fmt and first.pretrained_cfg["format"] == fmt
    assert first.pretrained_cfg["source"] == "tiny-0"  # the Keras classifier's origin, kept

    def no_export(*args, **kwargs):
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(inception_keras.export, "export_model", no_export)
    said.clear()
    second = cached_classifier(classifier, runtime, threads=1, cache_root=cache_root, say=say)
    assert said == [] and second.export_path == entry
    probs = second.predict(images, verbose=0)
    np.testing.assert_allclose(probs, keras_probs, atol=runtime_cache.CHECK_TOLERANCE)
    assert second.class_names == classifier.class_names
    assert [[p.name for p in row] for row in second.decode(probs, top=2)] == \
        [[p.name for p in row] for row in classifier.decode(keras_probs, top=2)]


def test_keras_runtime_is_the_classifier_itself(classifier, cache_root):
    assert cached_classifier(classifier, "keras", cache_root=cache_root) is classifier


@pytest.mark.parametrize("runtime", ["onnx", "tflite", "tensorrt", "", None])
def test_unknown_runtime_is_refused(classifier, cache_root, runtime):
    with pytest.raises(UnknownRuntimeError, match="choose one of keras, onnxruntime, litert"):
        cached_classifier(classifier, runtime, cache_root=cache_root)
    assert not os.path.exists(os.path.join(cache_root, "exports", "never"))


def test_provider_with_litert_is_refused(classifier, cache_root):
    with pytest.raises(RuntimeOpenError, match="--provider cuda is for --runtime onnxruntime"):
        cached_classifier(classifier, "litert", provider="cuda", cache_root=cache_root)


def test_an_exported_classifier_is_refused(classifier, cache_root):
    exported = cached_classifier(classifier, "onnxruntime", cache_root=cache_root)
    with pytest.raises(NotExportableError, match="already exported"):
        cached_classifier(exported, "litert", cache_root=cache_root)


def test_a_model_that_cannot_be_exported_is_refused(tmp_path):
    """A graph of any input size cannot be exported: a ValueError saying so, nothing cached."""
    x = inputs = keras.Input((None, None, 3), name="images")
    x = keras.layers.Conv2D(4, 3, name="Conv2d_1a_3x3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="Logits__AvgPool_1a")(x)
    x = keras.layers.Dropout(0.2, name="Logits__Dropout_1b")(x)
    x = keras.layers.Dense(3, name="Logits__Logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="Predictions")(x), name="anysize")
    clf = ImageClassifier.from_model(model, labels=LABELS, preprocessing="slim")
    with pytest.raises(NotExportableError, match="input size must be fixed.*--runtime keras"):
        cached_classifier(clf, "onnxruntime", cache_root=str(tmp_path), say=lambda line: None)
    assert [n for n in os.listdir(tmp_path / "exports") if not n.endswith(".lock")] == []


def test_the_key_follows_weights_preprocessing_and_format(classifier):
    model = classifier.to_model()
    same = tiny_classifier()  # rebuilt: the same weights, a new object
    other = tiny_classifier(seed=1)
    resized = tiny_classifier(preprocessing="resize-crop")
    name = entry_name(key_inputs(classifier, model, "onnx"))
    assert entry_name(key_inputs(same, same.to_model(), "onnx")) == name
    assert entry_name(key_inputs(other, other.to_model(), "onnx")) != name
    assert entry_name(key_inputs(resized, resized.to_model(), "onnx")) != name
    assert entry_name(key_inputs(classifier, model, "tflite")) != name
    assert name.startswith("tiny-onnx-")


def test_a_known_sha256_keys_the_weights_with_the_head(classifier):
    """A preset's sha256 names its weights; a new random head (num_classes=) still changes the key."""
    with_sha = tiny_classifier()
    with_sha._origin["sha256"] = "ab" * 32
    new_head = tiny_classifier()
    new_head._origin["sha256"] = "ab" * 32
    w = new_head.get_layer("Logits__Logits")
    w.set_weights([v + 1 for v in w.get_weights()])
    inputs = key_inputs(with_sha, with_sha.to_model(), "onnx")
    assert inputs["weights"]["sha256"] == "ab" * 32 and "digest" not in inputs["weights"]
    assert entry_name(inputs).split("-")[2] == "ab" * 8
    assert entry_name(key_inputs(new_head, new_head.to_model(), "onnx")) != entry_name(inputs)


def test_a_damaged_entry_is_exported_again(tmp_path, images):
    clf = tiny_classifier(seed=2)
    said, say = _lines()
    first = cached_classifier(clf, "onnxruntime", cache_root=str(tmp_path), say=say)
    first.close()
    path = os.path.join(first.export_path, "model.onnx")
    with open(path, "r+b") as f:  # flip bytes in the middle: still a file, no longer the export
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\x00garbage\x00")
    said.clear()
    again = cached_classifier(clf, "onnxruntime", cache_root=str(tmp_path), say=say)
    assert len(said) == 2 and "is damaged (model.onnx does not match the sha256" in said[0]
    assert said[1].startswith("exporting tiny to ONNX once")
    np.testing.assert_allclose(again.predict(images, verbose=0), clf.predict(images, verbose=0),
                               atol=runtime_cache.CHECK_TOLERANCE)
    os.remove(os.path.join(again.export_path, runtime_cache.RECORD))  # a missing record: damaged too
    said.clear()
    cached_classifier(clf, "onnxruntime", cache_root=str(tmp_path), say=say)
    assert len(said) == 2 and "cache.json is unreadable" in said[0]


def test_an_export_that_disagrees_is_refused_and_not_cached(tmp_path, monkeypatch):
    """The check compares with the Keras model; at a tolerance no float export meets, it fails loudly."""
    monkeypatch.setattr(runtime_cache, "CHECK_TOLERANCE", 1e-30)
    clf = tiny_classifier(seed=4)
    with pytest.raises(ExportCheckError, match="does not match the Keras model"):
        cached_classifier(clf, "onnxruntime", cache_root=str(tmp_path), say=lambda line: None)
    assert [n for n in os.listdir(tmp_path / "exports") if not n.endswith(".lock")] == []


@pytest.mark.slow
def test_two_processes_export_once(tmp_path):
    """Two processes asking for the same entry at once: one exports, the other waits and reuses it."""
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        from test_runtime_cache import tiny_classifier
        from inception_keras.runtimes.cache import cached_classifier
        clf = cached_classifier(tiny_classifier(seed=5), "onnxruntime", cache_root={str(tmp_path)!r},
                                say=lambda line: print("SAID", line, flush=True))
        print("PATH", clf.export_path, flush=True)
    ''')
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    said = [line for out, _ in outs for line in out.splitlines() if line.startswith("SAID")]
    paths = {line for out, _ in outs for line in out.splitlines() if line.startswith("PATH")}
    assert len(said) == 1 and "exporting tiny to ONNX once" in said[0]
    assert len(paths) == 1
    entries = [n for n in os.listdir(tmp_path / "exports") if not n.endswith(".lock")]
    assert len(entries) == 1


# --------------------------------------------------------------------------- #
# --runtime in predict and evaluate: the tools run the cached export
# --------------------------------------------------------------------------- #
@pytest.fixture
def tool_cache(tmp_path, monkeypatch, classifier):
    """The tools' --model loads the tiny classifier; KERAS_HOME (the cache's root) is a fresh folder."""
    from inception_keras.cli import options

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    loads = []

    def load_keras(args, classes_default, build):
        loads.append(args.model)
        return classifier

    monkeypatch.setattr(options, "_load_keras", load_keras)
    monkeypatch.setattr(options, "check_preset_options", lambda args: None)  # "tiny" is no preset of ours
    return tmp_path / "keras_home", loads


def _photo_folder(root, images):
    from PIL import Image

    for i, (label, image) in enumerate(zip(["ant", "bee", "cat", "ant"], images)):
        os.makedirs(root / label, exist_ok=True)
        Image.fromarray(image).save(root / label / f"{i}.png")
    return root


@pytest.mark.parametrize("runtime,fmt", [("onnxruntime", "onnx"), ("litert", "tflite")])
def test_predict_runtime_runs_the_cached_export(tool_cache, tmp_path, images, capsys, runtime, fmt):
    from inception_keras.cli import predict

    home, loads = tool_cache
    folder = _photo_folder(tmp_path / "photos", images)
    outputs = {}
    for rt in ("keras", runtime, runtime):
        out = tmp_path / f"{rt}-{len(outputs)}.csv"
        assert predict.main([str(folder), "--model", "tiny", "--runtime", rt, "--threads", "1",
                             "--output", str(out), "--no-progress"]) == 0
        outputs[len(outputs)] = open(out).read()
    err = capsys.readouterr().err
    assert err.count(f"exporting tiny to {runtime_cache.FORMAT_NAMES[fmt]} once") == 1  # the second run reuses it
    entries = [e for e in os.listdir(home / "models" / "inception_keras" / "exports") if not e.endswith(".lock")]
    assert len(entries) == 1 and fmt in entries[0]

    def rows(text):
        lines = text.strip().splitlines()
        head = lines[0].split(",")
        return [dict(zip(head, line.split(","))) for line in lines[1:]]

    keras_rows, onnx_rows = rows(outputs[0]), rows(outputs[1])
    assert [r["path"] for r in keras_rows] == [r["path"] for r in onnx_rows]
    assert [r["top1_name"] for r in keras_rows] == [r["top1_name"] for r in onnx_rows]
    np.testing.assert_allclose([float(r["top1_prob"]) for r in onnx_rows],
                               [float(r["top1_prob"]) for r in keras_rows], atol=1e-4)
    assert outputs[1] == outputs[2]


def test_evaluate_runtime_scores_the_cached_export(tool_cache, tmp_path, images, capsys):
    from inception_keras.cli import evaluate

    folder = _photo_folder(tmp_path / "photos", images)
    scores = {}
    for rt in ("keras", "litert"):
        report = tmp_path / f"{rt}.json"
        assert evaluate.main(["--data", str(folder), "--model", "tiny", "--runtime", rt, "--no-progress",
                              "--json", str(report)]) == 0
        scores[rt] = json.loads(report.read_text())
    assert scores["litert"]["top1"] == scores["keras"]["top1"] and scores["keras"]["top1"]["total"] == 4
    assert scores["litert"]["precision"] == "tflite fp32" and scores["keras"]["precision"] == "float32"
    assert scores["litert"]["model"] == "tiny (tflite)" and scores["keras"]["model"] == "tiny"


@pytest.mark.parametrize("argv,says", [
    (["--runtime", "onnxruntime", "--embeddings", "e.npy"], "--embeddings"),
    (["--runtime", "litert", "--mixed-precision", "bfloat16"], "--mixed-precision"),
])
def test_predict_runtime_refuses_options_of_the_keras_model(tool_cache, tmp_path, images, capsys, argv, says):
    from inception_keras.cli import predict

    folder = _photo_folder(tmp_path / "photos", images)
    assert predict.main([str(folder), "--model", "tiny", "--output", str(tmp_path / "p.csv"), *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and "--runtime keras" in err
    assert not os.path.exists(tmp_path / "p.csv") and not os.path.exists(tmp_path / "e.npy")
    assert not os.path.exists(tool_cache[0] / "models" / "inception_keras" / "exports")


def test_runtime_with_an_exported_model_is_refused(tmp_path, capsys):
    from inception_keras.cli import predict

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not read: refused before it is opened")
    _photo_folder(tmp_path / "photos", [np.zeros((75, 75, 3), np.uint8)])
    assert predict.main([str(tmp_path / "photos"), "--model", str(onnx), "--runtime", "litert"]) == 2
    assert "drop --runtime" in capsys.readouterr().err
