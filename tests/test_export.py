"""tools/export.py and inception_keras.export: SavedModel, TFLite and ONNX exports, each
checked by the tool and then run again here, independently, against model.predict.

Small exports use Inception-ResNet-v1 (the smallest graph of the zoo, with the residual
scaling ops) at 75x75 with random weights and a 10-way logits head, so that differences are
not hidden by a softmax; one full-size Inception-v4 goes to SavedModel.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

# ONNX Runtime makes a telemetry store in ~/.cache when first imported without this (the tests
# import it themselves too); the export sets it for its own imports.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from inception_keras import create_model
import inception_keras.export as inception_keras_export
from inception_keras.cli import export as export_cli
from inception_keras.data.datasets import DataError, list_image_files
from inception_keras.data.preprocessing import Preprocessing, preprocess_for_eval
from inception_keras.data.images import decode_image
from inception_keras.export import ExportCheckError, ExportError, compare, export_model, read_tflite_metadata
from inception_keras.data.labels import imagenet_classes

SIZE = 75
SMALL = dict(weights=None, input_shape=(SIZE, SIZE, 3), classes=10, classifier_activation=None)
CLI_SMALL = ["--model", "inception_resnet_v1", "--weights", "none", "--input-size", str(SIZE), "--classes", "10",
             "--classifier-activation", "none"]


# --------------------------------------------------------------------------- #
# Fixtures
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def small_model():
    return create_model("inception_resnet_v1", **SMALL)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Nine JPEGs and PNGs of assorted sizes (one in a sub-folder) and one unreadable file."""
    root = tmp_path_factory.mktemp("calibration")
    (root / "sub").mkdir()
    rng = np.random.default_rng(7)
    for i in range(9):
        h, w = int(rng.integers(60, 200)), int(rng.integers(60, 200))
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = np.stack([xx / w, yy / h, (xx * yy) / (h * w)], -1) * rng.uniform(60, 255, 3)
        pixels = np.clip(ramp + rng.normal(0, 30, (h, w, 3)), 0, 255).astype("uint8")
        folder = root / "sub" if i == 4 else root
        Image.fromarray(pixels).save(folder / f"img{i}.{'png' if i % 3 == 0 else 'jpg'}", quality=92)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def _preprocessed(files, size=SIZE):
    prep = Preprocessing("slim", size)
    return np.stack([preprocess_for_eval(decode_image(tf.io.read_file(str(f))), prep).numpy() for f in files])


def _readable(folder):
    return [f for f in list_image_files(folder) if not f.endswith("broken.jpg")]


def _tflite_run(path, x):
    """Run a .tflite file with the plain interpreter API (tensor indices, no signature runner)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    batch = int(inp["shape"][0])
    results = []
    for i in range(0, len(x), batch):
        part = x[i : i + batch]
        if inp["dtype"] == np.int8:
            scale, zero = inp["quantization"]
            part = np.clip(np.round(part / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], part)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        if out["dtype"] == np.int8:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        results.append(y.copy())
    return np.concatenate(results), interpreter


def _only_outputs(folder, *names):
    """The folder holds exactly ``names``: no temporary files were left behind."""
    assert sorted(os.listdir(folder)) == sorted(names)


def _lines(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert text.endswith("\n")
    return text[:-1].split("\n")


def _assert_saved_model_metadata(path, summary, names):
    """The ``metadata`` signature (no inputs) returns the class names and the preprocessing,
    and the class names are also an asset inside the SavedModel, one per line."""
    sig = summary["signatures"]["metadata"]
    assert sig["inputs"] == {} and sig["outputs"]["class_names"] == {"shape": [len(names)], "dtype": "string"}
    out = tf.saved_model.load(str(path)).signatures["metadata"]()
    assert [n.decode("utf-8") for n in out["class_names"].numpy()] == names
    assert json.loads(out["preprocessing"].numpy()) == summary["preprocessing"]
    assert json.loads(out["metadata"].numpy())["class_names"] == names
    asset = os.path.join(str(path), "assets", "class_names.txt")
    assert out["class_names_file"].numpy().decode() == asset and _lines(asset) == names
    with open(os.path.join(str(path), "assets", "metadata.json")) as f:
        assert json.load(f)["preprocessing"] == summary["preprocessing"]
    assert summary["class_names"]["count"] == len(names)


def _flatbuffer_metadata(path):
    """The .tflite's metadata list (name -> bytes), read with LiteRT's flatbuffer schema."""
    from ai_edge_litert import schema_py_generated as schema

    with open(path, "rb") as f:
        model = schema.Model.GetRootAs(f.read(), 0)
    entries = [model.Metadata(i) for i in range(model.MetadataLength())]
    return {e.Name().decode(): model.Buffers(e.Buffer()).DataAsNumpy().tobytes() for e in entries}


def _assert_tflite_metadata(summary, names):
    """Class names and preprocessing inside the flatbuffer, and the labels file beside it."""
    path = summary["output"]
    assert summary["labels_file"] == path + ".labels.txt" and _lines(summary["labels_file"]) == names
    assert summary["class_names"]["count"] == len(names) == summary["classes"]
    entries = _flatbuffer_metadata(path)
    assert "min_runtime_version" in entries  # the converter's own entries are kept
    assert json.loads(entries["class_names"]) == names
    assert json.loads(entries["preprocessing"]) == summary["preprocessing"]
    assert read_tflite_metadata(path)["class_names"] == names


def _assert_report(summary):
    with open(summary["report"]) as f:
        assert json.load(f) == json.loads(json.dumps(summary))
    path = summary["output"]
    size = os.path.getsize(path) if os.path.isfile(path) else sum(
        os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    assert summary["size_bytes"] == size
    assert summary["latency_ms_per_image"] > 0 and summary["export_seconds"] > 0


@pytest.fixture(scope="module")
def tflite_float(small_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("tflite")
    return export_model(small_model, out / "irv1", "tflite", latency_runs=2), out


# --------------------------------------------------------------------------- #
# SavedModel
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_saved_model_with_preprocessing_on_calibration_images(small_model, image_folder, tmp_path):
    labels = [f"kind {i}" for i in range(9)] + ["Ünïcode, with spaces"]
    summary = export_model(small_model, tmp_path / "sm", "saved_model", include_preprocessing=True,
                           calibration_data=image_folder, latency_runs=2, labels=labels)
    _only_outputs(tmp_path, "sm", "sm.json")
    _assert_report(summary)
    assert summary["class_names"]["source"] == "given"
    _assert_saved_model_metadata(tmp_path / "sm", summary, labels)
    readable = _readable(image_folder)
    check = summary["check"]
    assert check["inputs"] == "images" and check["count"] == len(readable) == 9
    assert [s.split(": ")[0] for s in check["skipped"]] == [str(image_folder / "broken.jpg")]  # "path: reason"
    assert "not a readable image" in check["skipped"][0]
    assert check["passed"] and check["relative_diff"] <= 1e-4 and check["top1_agreement"] == 1.0
    assert summary["preprocessing_check"]["relative_diff"] <= 1e-4
    assert summary["batch_size"] == "dynamic"
    sigs = summary["signatures"]
    assert sigs["serving_default"]["inputs"] == {"image_bytes": {"shape": [None], "dtype": "string"}}
    assert sigs["serving_images"]["inputs"] == {"images": {"shape": [None, SIZE, SIZE, 3], "dtype": "float32"}}
    assert sorted(sigs) == ["metadata", "serving_default", "serving_images"]

    # Independently: encoded bytes through serving_default == Keras on preprocess_for_eval of the same bytes.
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    encoded = [open(f, "rb").read() for f in readable[:5]]
    got = loaded.signatures["serving_default"](image_bytes=tf.constant(encoded))["predictions"].numpy()
    want = small_model.predict(_preprocessed(readable[:5]), verbose=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
    assert np.array_equal(got.argmax(1), want.argmax(1))
    # ... and the float signature on inputs the tool never saw, at another batch size.
    x = np.random.default_rng(99).uniform(-1, 1, (3, SIZE, SIZE, 3)).astype("float32")
    got = loaded.signatures["serving_images"](images=tf.constant(x))["predictions"].numpy()
    np.testing.assert_allclose(got, small_model.predict(x, verbose=0), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_saved_model_full_size_inception_v4_fixed_batch(zoo, tmp_path):
    model = zoo.get("inception_v4")  # 299x299, 1000-way softmax, random weights
    summary = export_model(model, tmp_path / "v4", "saved_model", batch_size=2, check_samples=3, latency_runs=1)
    _only_outputs(tmp_path, "v4", "v4.json")
    _assert_report(summary)
    assert summary["check"]["inputs"] == "random" and summary["check"]["count"] == 3  # padded to 2 + 2
    assert summary["check"]["relative_diff"] <= 1e-4
    assert summary["signatures"]["serving_default"]["inputs"]["images"]["shape"] == [2, 299, 299, 3]
    assert summary["signatures"]["serving_default"]["outputs"]["predictions"]["shape"] == [2, 1000]
    assert summary["class_names"]["source"] == "ImageNet"
    _assert_saved_model_metadata(tmp_path / "v4", summary, [name for _, name in imagenet_classes()])
    # The variables are saved once: the folder is about the size of the float32 weights.
    assert summary["size_bytes"] < 1.1 * 4 * model.count_params()

    loaded = tf.saved_model.load(str(tmp_path / "v4"))
    x = np.random.default_rng(5).uniform(-1, 1, (2, 299, 299, 3)).astype("float32")
    got = loaded.signatures["serving_default"](images=tf.constant(x))["predictions"].numpy()
    want = model.predict(x, verbose=0)
    assert np.max(np.abs(got - want)) <= 1e-4 * np.abs(want).max()
    assert loaded.signatures["serving_default"].structured_input_signature[1]["images"].shape == (2, 299, 299, 3)


def _tiny_model():
    """A few layers: file handling does not need a whole Inception graph."""
    import keras

    inputs = keras.Input((8, 8, 3), name="tiny_input")
    x = keras.layers.Conv2D(4, 3, name="tiny_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="tiny_pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="tiny_dense")(x), name="tiny")


def test_saved_model_replaces_an_older_export_but_not_other_folders(tmp_path):
    model = _tiny_model()
    target = tmp_path / "deep" / "er" / "sm"
    export_model(model, target, "saved_model", check_samples=2, latency_runs=1)
    (target / "stale.txt").write_text("left from an older export")
    export_model(model, target, "saved_model", check_samples=2, latency_runs=1)
    assert not (target / "stale.txt").exists() and (target / "saved_model.pb").is_file()
    _only_outputs(target.parent, "sm", "sm.json")

    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ExportError, match="does not hold a SavedModel"):
        export_model(model, other, "saved_model")
    assert os.listdir(other) == ["holiday.jpg"]
    with pytest.raises(ExportError, match="2 class names for a model with 3 outputs"):
        export_model(model, tmp_path / "new" / "sm", "saved_model", labels=["a", "b"])
    with pytest.raises(ExportError, match="not one string"):
        export_model(model, tmp_path / "new" / "m", "onnx", labels="abc")
    assert not (tmp_path / "new").exists()
    (tmp_path / "x.onnx").mkdir()
    with pytest.raises(ExportError, match="is a folder; give a file path for the onnx export"):
        export_model(model, tmp_path / "x.onnx", "onnx")


def test_an_export_replaces_only_an_earlier_export(tmp_path):
    """Issue 21: an earlier export, recognised by the metadata it embeds, is replaced with its
    report (and labels file); anything else at those paths is refused, and kept, unless overwrite."""
    import onnx
    from onnx import TensorProto, helper

    from inception_keras.export.metadata import is_our_export
    from inception_keras.utils.fileio import OverwriteError

    model = _tiny_model()
    quick = dict(check_samples=2, latency_runs=1)
    for fmt, stem in (("onnx", "m"), ("tflite", "t"), ("saved_model", "sm")):
        first = export_model(model, tmp_path / stem, fmt, **quick)
        assert is_our_export(first["output"], fmt)
        export_model(model, tmp_path / stem, fmt, **quick)  # an earlier export: replaced
    _only_outputs(tmp_path, "m.onnx", "m.onnx.json", "t.tflite", "t.tflite.json", "t.tflite.labels.txt",
                  "sm", "sm.json")

    # ONNX models of someone else's, a SavedModel of plain TensorFlow, files of anything
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "theirs",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    onnx.save(helper.make_model(graph), str(theirs / "a.onnx"))
    (theirs / "b.tflite").write_bytes(b"\0\0\0\0TFL3 and nothing else")
    tf.saved_model.save(tf.Module(), str(theirs / "c"))
    (theirs / "d.onnx.json").write_text('{"format": "onnx"}')
    (theirs / "e.tflite.labels.txt").write_text("my\nclasses\n")
    assert not is_our_export(str(theirs / "a.onnx"), "onnx") and not is_our_export(str(theirs / "c"), "saved_model")
    before = sorted(os.listdir(theirs))
    for stem, fmt, what in (("a", "onnx", "a.onnx"), ("b", "tflite", "b.tflite"), ("c", "saved_model", "c"),
                            ("d", "onnx", "d.onnx.json"), ("e", "tflite", "e.tflite.labels.txt")):
        with pytest.raises(OverwriteError, match=f"{what} already exists and was not written by inception-keras; "
                                                 f"give another path, or pass --overwrite"):
            export_model(model, theirs / stem, fmt, **quick)
    assert sorted(os.listdir(theirs)) == before
    assert (theirs / "e.tflite.labels.txt").read_text() == "my\nclasses\n"
    summary = export_model(model, theirs / "a", "onnx", overwrite=True, **quick)
    assert is_our_export(summary["output"], "onnx")
    summary = export_model(model, theirs / "c", "saved_model", overwrite=True, **quick)
    assert is_our_export(summary["output"], "saved_model")

    # an export of a version before the metadata: known by the report beside it that names it, with its size
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
    assert not is_our_export(str(tmp_path / "m.onnx"), "onnx")
    report = json.loads((tmp_path / "m.onnx.json").read_text())
    report["size_bytes"] = os.path.getsize(tmp_path / "m.onnx")
    (tmp_path / "m.onnx.json").write_text(json.dumps(report))
    assert is_our_export(str(tmp_path / "m.onnx"), "onnx")


def test_a_killed_exports_temporaries_go_with_the_next_export(tmp_path, monkeypatch):
    """Issue 21: a SavedModel export keeps its temporaries (assets included) next to the output,
    named with host and pid, never in $TMPDIR; what a killed export left there (a pid that is
    gone) goes with the next export into the folder, as do the $TMPDIR folders of earlier
    versions once a day old."""
    from inception_keras.export import writers
    from inception_keras.utils.fileio import STALE_SECONDS, temporary_prefix

    system_tmp = tmp_path / "system_tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    out = tmp_path / "out"
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    def killed(target):  # the start of a temporary name of target, written by the dead pid
        return os.path.basename(temporary_prefix(out / target, "export")).replace(f"-{os.getpid()}-", f"-{done.pid}-")

    (out / (killed("sm") + "k3j9x_2a") / "new" / "variables").mkdir(parents=True)
    (out / (killed("sm.json") + "k3j9x_2a.json")).write_text("{")
    old, recent = system_tmp / "inception-keras-export-k3j9x_2a", system_tmp / "inception-keras-export-zzzzzzzz"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "metadata.json").write_text("{}")
    day_ago = time.time() - STALE_SECONDS - 60
    os.utime(old, (day_ago, day_ago))

    seen = []
    archive = writers.build_archive

    def spy(model, batch, prep, metadata=None, asset_dir=None):
        seen.append((asset_dir, sorted(os.listdir(system_tmp))))
        return archive(model, batch, prep, metadata, asset_dir)

    monkeypatch.setattr(writers, "build_archive", spy)
    export_model(_tiny_model(), out / "sm", "saved_model", check_samples=2, latency_runs=1)
    [(asset_dir, in_tmp)] = seen

    def ours(names):  # not TensorFlow's autograph files, which it deletes at exit
        return [n for n in names if n.startswith("inception-keras")]

    assert os.path.dirname(asset_dir) == str(out)
    assert os.path.basename(asset_dir).startswith(".tmp-inception-keras-export-sm-")
    assert f"-{os.getpid()}-" in asset_dir
    assert ours(in_tmp) == [recent.name]  # the old one was gone before the export started
    _only_outputs(out, "sm", "sm.json")  # the killed export's temporaries too
    assert ours(os.listdir(system_tmp)) == [recent.name]  # and nothing of this export


def test_the_onnx_check_leaves_no_onnxruntime_telemetry_store(tmp_path):
    """Issue 21: importing ONNX Runtime makes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/
    (deviceid, onnxruntime.db) unless told not to: the export's ONNX check runs it without. A
    fresh process (onnxruntime reads the setting when first imported), with HOME in tmp_path."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["images"], ["predictions"])], "relu",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [None, 3])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    script = ("import numpy as np\n"
              "from inception_keras.runtimes import import_onnxruntime\n"
              f"session = import_onnxruntime().InferenceSession({str(path)!r})\n"
              "print(session.run(None, {'images': np.array([[-1.0, 0.0, 2.0]], 'float32')})[0].tolist())\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[[0.0, 0.0, 2.0]]"
    assert not (home / ".cache").exists(), [str(p) for p in home.rglob("*")]


# --------------------------------------------------------------------------- #
# TFLite
# --------------------------------------------------------------------------- #
def test_tflite_float32(small_model, tflite_float):
    summary, out = tflite_float
    _only_outputs(out, "irv1.tflite", "irv1.tflite.json", "irv1.tflite.labels.txt")
    _assert_report(summary)
    assert summary["class_names"]["source"].startswith("numbered")
    _assert_tflite_metadata(summary, [f"class {i}" for i in range(10)])
    assert summary["output"].endswith("irv1.tflite") and summary["batch_size"] == 1
    assert summary["check"]["tolerance"] == 1e-4 and summary["check"]["relative_diff"] <= 1e-4
    sig = summary["signatures"]["serving_default"]
    assert sig["inputs"]["images"] == {"shape": [1, SIZE, SIZE, 3], "dtype": "float32"}

    x = np.random.default_rng(3).uniform(-1, 1, (3, SIZE, SIZE, 3)).astype("float32")
    got, _ = _tflite_run(out / "irv1.tflite", x)
    want = small_model.predict(x, verbose=0)
    assert np.max(np.abs(got - want)) <= 1e-4 * np.abs(want).max()
    assert np.array_equal(got.argmax(1), want.argmax(1))


def test_compare_and_the_constant_output_warning(tflite_float):
    reference = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    exported = np.array([[0.1, 0.6, 0.3], [0.25, 0.25, 0.25]])  # row 2 collapsed to one level
    c = compare(reference, exported)
    assert c["max_abs_diff"] == pytest.approx(0.25) and c["relative_diff"] == pytest.approx(0.25 / 0.7)
    assert (c["top1_agree"], c["count"], c["constant_outputs"]) == (2, 2, 1)  # the tie "agrees" by argmax
    assert "warning" not in export_cli.format_summary(tflite_float[0])
    summary = {**tflite_float[0], "check": {**tflite_float[0]["check"], "constant_outputs": 1}}
    lines = export_cli.format_summary(summary).splitlines()
    assert any(line.startswith("warning ") and "1 of 8 exported outputs are constant" in line for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("quantize, weight_dtype, max_ratio",
                         [("float16", np.float16, 0.55), ("dynamic", np.int8, 0.3)])
def test_tflite_float16_and_dynamic_range(small_model, tflite_float, tmp_path, quantize, weight_dtype, max_ratio):
    summary = export_model(small_model, tmp_path / "q", "tflite", quantize=quantize, check_samples=6, latency_runs=2)
    _only_outputs(tmp_path, "q.tflite", "q.tflite.json", "q.tflite.labels.txt")
    _assert_report(summary)
    _assert_tflite_metadata(summary, [f"class {i}" for i in range(10)])
    check = summary["check"]
    assert check["tolerance"] is None and check["inputs"] == "random" and check["count"] == 6
    assert summary["size_bytes"] < max_ratio * tflite_float[0]["size_bytes"]

    x = np.random.default_rng(0).uniform(-1, 1, (6, SIZE, SIZE, 3)).astype("float32")  # the tool's inputs (seed 0)
    got, interpreter = _tflite_run(tmp_path / "q.tflite", x)
    want = small_model.predict(x, verbose=0)
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert any(d["dtype"] == weight_dtype for d in interpreter.get_tensor_details())
    diff = np.max(np.abs(got - want))
    assert diff == pytest.approx(check["max_abs_diff"], rel=1e-5, abs=1e-9)
    assert check["top1_agree"] == int(np.sum(got.argmax(1) == want.argmax(1)))
    assert 0 < diff < 0.2 * np.abs(want).max()  # quantized: close, not equal


@pytest.mark.slow
def test_tflite_int8_calibrated_on_an_image_folder(small_model, tflite_float, image_folder, tmp_path):
    summary = export_model(small_model, tmp_path / "int8.tflite", "tflite", quantize="int8",
                           calibration_data=image_folder, calibration_steps=8, latency_runs=2)
    _only_outputs(tmp_path, "int8.tflite", "int8.tflite.json", "int8.tflite.labels.txt")
    _assert_report(summary)
    _assert_tflite_metadata(summary, [f"class {i}" for i in range(10)])
    calibration = summary["calibration"]  # and the files, their sha256 (test_quantize.py)
    assert {k: calibration[k] for k in ("folder", "images", "steps", "batch", "method")} == {
        "folder": str(image_folder), "images": 8, "steps": 8, "batch": 1, "method": "minmax"}
    check = summary["check"]
    assert check["inputs"] == "images" and check["count"] == 8 and "8 images from" in check["source"]
    sig = summary["signatures"]["serving_default"]
    assert sig["inputs"]["images"]["dtype"] == "int8" and sig["outputs"]["predictions"]["dtype"] == "int8"
    assert summary["size_bytes"] < 0.3 * tflite_float[0]["size_bytes"]

    files = _readable(image_folder)[:8]
    x = _preprocessed(files)
    got, interpreter = _tflite_run(tmp_path / "int8.tflite", x)
    want = small_model.predict(x, verbose=0)
    assert all(d["dtype"] == np.int8 for d in interpreter.get_tensor_details() if len(d["shape"]) == 4)
    agree = int(np.sum(got.argmax(1) == want.argmax(1)))
    assert check["top1_agree"] == agree and check["top1_agreement"] == agree / 8
    assert np.max(np.abs(got - want)) == pytest.approx(check["max_abs_diff"], rel=1e-5)
    # Calibrated ranges: the int8 model follows the float one (a missing or random
    # calibration saturates or flattens the activations and this bound fails).
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.9


def test_tflite_labels_file_beside_the_export_and_after_a_failed_one(tmp_path, monkeypatch):
    """A few layers: the labels file is written only once the check passed. A failed re-export
    keeps the older export's labels with its .tflite; a failed new export leaves none."""
    from inception_keras.export.check import OutputChecker

    model = _tiny_model()
    summary = export_model(model, tmp_path / "t", "tflite", check_samples=2, latency_runs=1,
                           labels=["cat", "dog", "bird"])
    _assert_tflite_metadata(summary, ["cat", "dog", "bird"])
    before = (tmp_path / "t.tflite").read_bytes()
    check = OutputChecker.__call__

    def failing_check(self, written):  # the tiny model can match Keras exactly: fail after the real check
        check(self, written)
        raise ExportCheckError("the check failed (made to fail by the test)")

    monkeypatch.setattr(OutputChecker, "__call__", failing_check)
    for name in ("t", "u"):
        with pytest.raises(ExportCheckError, match="made to fail by the test"):
            export_model(model, tmp_path / name, "tflite", check_samples=2, latency_runs=1, labels=["x", "y", "z"])
    _only_outputs(tmp_path, "t.tflite", "t.tflite.json", "t.tflite.labels.txt")
    assert (tmp_path / "t.tflite").read_bytes() == before and _lines(tmp_path / "t.tflite.labels.txt")[0] == "cat"


# --------------------------------------------------------------------------- #
# ONNX
# --------------------------------------------------------------------------- #
def test_onnx_conversion_matches_tf2onnx(monkeypatch):
    """The export's conversion (tf2onnx's steps, collecting garbage between them) gives the graph of
    tf2onnx.convert.from_function: the same operators, initializers and outputs (node names and
    which of two identical nodes survives vary from run to run in tf2onnx itself); with a tf2onnx
    that lacks the internals it uses, it converts with from_function."""
    import collections
    import gc

    import onnx
    import onnxruntime as ort
    import tf2onnx

    from inception_keras.export import build

    from helpers.tiny_exports import tiny_classifier

    _, endpoint = build.build_archive(tiny_classifier(classes=5), None, None)
    spec = [tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name="images")]
    ours = build._convert_function(endpoint, spec, 18)
    assert gc.get_freeze_count() == 0  # the objects frozen out of the collections are back
    theirs = tf2onnx.convert.from_function(endpoint, input_signature=spec, opset=18)[0]

    def summary(proto):
        ops = collections.Counter(n.op_type for n in proto.graph.node)
        weights = sorted((tuple(t.dims), onnx.numpy_helper.to_array(t).tobytes()) for t in proto.graph.initializer)
        return ops, weights, [v.name for v in proto.graph.input], [v.name for v in proto.graph.output]

    assert summary(ours)[1:] == summary(theirs)[1:]
    ops, expected = summary(ours)[0], summary(theirs)[0]
    assert {k: v for k, v in ops.items() if k != "Reshape"} == {k: v for k, v in expected.items() if k != "Reshape"}
    x = np.random.default_rng(5).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")

    def run(proto):
        return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"images": x})[0]

    np.testing.assert_array_equal(run(ours), run(theirs))

    monkeypatch.setattr(build, "_has_tf2onnx_internals", lambda: False)
    np.testing.assert_array_equal(run(build._convert_function(endpoint, spec, 18)), run(theirs))


@pytest.mark.slow
def test_onnx(small_model, tmp_path):
    import onnx
    import onnxruntime as ort

    summary = export_model(small_model, tmp_path / "m", "onnx", latency_runs=2)
    _only_outputs(tmp_path, "m.onnx", "m.onnx.json")
    _assert_report(summary)
    assert summary["opset"] == 18 and summary["check"]["relative_diff"] <= 1e-4
    assert summary["signatures"]["graph"]["inputs"] == {"images": {"shape": [None, SIZE, SIZE, 3], "dtype": "float32"}}
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert {i.domain: i.version for i in proto.opset_import}[""] == 18
    onnx.checker.check_model(proto)

    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == [f"class {i}" for i in range(10)]
    assert json.loads(meta["preprocessing"]) == summary["preprocessing"]
    assert json.loads(meta["input_shape"]) == [SIZE, SIZE, 3] and summary["class_names"]["count"] == 10
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape) == ("images", ["batch", SIZE, SIZE, 3])
    assert (out.name, out.shape) == ("predictions", ["batch", 10])
    x = np.random.default_rng(4).uniform(-1, 1, (3, SIZE, SIZE, 3)).astype("float32")
    got = session.run(None, {"images": x})[0]
    want = small_model.predict(x, verbose=0)
    assert np.max(np.abs(got - want)) <= 1e-4 * np.abs(want).max()


# --------------------------------------------------------------------------- #
# The command line, and failures that must leave nothing behind
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_cli_fails_an_export_that_differs_and_writes_nothing(tmp_path, capsys):
    """TFLite float32 differs from Keras by about 1e-7 relative (other kernels): a tolerance below that fails."""
    out = tmp_path / "out"
    code = export_cli.main([*CLI_SMALL, "--format", "tflite", "--output", str(out / "m"), "--tolerance", "1e-12",
                            "--check-samples", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert "does not match the Keras model" in err and "above the tolerance 1e-12" in err
    assert "Nothing was written" in err
    assert not out.exists()  # not even the folder the export would have gone into, nor the labels file


def test_cli_table_and_json(tmp_path, capsys):
    out = tmp_path / "exported"
    assert export_cli.main([*CLI_SMALL, "--format", "saved_model", "--output", str(out / "v1"),
                            "--check-samples", "2", "--latency-runs", "1"]) == 0
    table = capsys.readouterr().out
    for key in ("model", "format", "output", "signature", "export time", "check inputs", "max |diff|",
                "top-1 agree", "check", "latency", "report"):
        assert any(line.startswith(key + " ") for line in table.splitlines()), key
    assert "2 deterministic random inputs" in table and "passed" in table and "MB on disk" in table
    with open(out / "v1.json") as f:
        report = json.load(f)
    assert report["registry_name"] == "inception_resnet_v1" and report["weights"] == "none"
    assert report["classifier_activation"] is None and "10 classes, logits" in table
    assert report["check"]["passed"] and report["classes"] == 10


def test_cli_wrong_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        export_cli.main([*CLI_SMALL, "--format", "pb", "--output", str(tmp_path / "m")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--format: invalid choice: 'pb'" in err and "saved_model" in err and "onnx" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("extra, message", [
    (["--format", "tflite", "--quantize", "int8", "--calibration-data", "{tmp}/nowhere"],
     "image folder not found: '{tmp}/nowhere'"),
    (["--format", "tflite", "--quantize", "int8", "--calibration-data", "{tmp}/empty"], "no images in '{tmp}/empty'"),
    (["--format", "tflite", "--quantize", "int8"], "--quantize int8 needs --calibration-data DIR"),
    (["--format", "saved_model", "--quantize", "dynamic"], "applies to --format tflite or onnx"),
    (["--format", "tflite", "--include-preprocessing"], "--include-preprocessing needs --format saved_model"),
    (["--format", "onnx", "--output", "{tmp}/out/m.tflite"], "has the extension of tflite but the format is onnx"),
    (["--format", "tflite", "--output", "{tmp}/a_file/m"],
     "cannot write to the output folder '{tmp}/a_file': '{tmp}/a_file' is a file, not a folder"),
    (["--format", "saved_model", "--output", "{tmp}/a_file"], "is a file; a SavedModel is a folder"),
    (["--format", "tflite", "--batch-size", "0"], "argument --batch-size: expected a positive integer or 'dynamic'"),
])
def test_cli_errors_name_the_problem_and_write_nothing(tmp_path, capsys, extra, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("I am a file")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "out" / "m")]
    try:
        code = export_cli.main([*CLI_SMALL, *argv])
    except SystemExit as e:  # argparse
        code = e.code
    assert code == 2
    assert message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["a_file", "empty"]
    assert (tmp_path / "a_file").read_text() == "I am a file"


def test_list_image_files(image_folder, tmp_path):
    files = list_image_files(image_folder)
    assert len(files) == 10 and files == sorted(files)  # nine images and broken.jpg; notes.txt left out
    assert str(image_folder / "sub" / "img4.jpg") in files
    assert list_image_files(image_folder, limit=3) == files[:3]
    with pytest.raises(DataError, match="is not a folder"):
        list_image_files(image_folder / "img1.jpg")


@pytest.mark.parametrize("outcome", ["passes", "fails its check"])
def test_cli_shows_each_warning_of_the_export_once(tmp_path, capsys, monkeypatch, recwarn, outcome):
    """Warnings recorded during the export are shown after it, once each: showing one inside the
    recording appended it to the list being shown, a loop that grew without end (18.8 GB in CI)."""
    import warnings

    from inception_keras.export import ExportWarning

    def fake_export(*args, **kwargs):
        warnings.warn("the structure of inputs does not match", UserWarning)
        warnings.warn("3 calibration images were unreadable", ExportWarning)
        if outcome == "fails its check":
            raise ExportCheckError("the tflite export does not match the Keras model")
        return {"format": "tflite"}

    monkeypatch.setattr(export_cli, "export_model", fake_export, raising=False)
    monkeypatch.setattr(inception_keras_export, "export_model", fake_export)
    monkeypatch.setattr(export_cli.options, "emit", lambda args, summary, table: None)
    monkeypatch.setattr(export_cli, "format_summary", lambda summary: "")
    code = export_cli.main([*CLI_SMALL, "--input-size", "75", "--format", "tflite", "--output", str(tmp_path / "m")])
    assert code == (0 if outcome == "passes" else 1)
    err = capsys.readouterr().err
    assert err.count("warning: 3 calibration images were unreadable") == 1  # ours: one line on stderr
    shown = [w for w in recwarn if "the structure of inputs" in str(w.message)]  # others: as Python shows them
    assert len(shown) == 1 and shown[0].category is UserWarning
