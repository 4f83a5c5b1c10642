"""Quantized ONNX exports (int8 QDQ calibrated by ONNX Runtime, float16 weights, dynamic), the
calibration options (--calibration-method, --calibration-per-class) and what they record.

Inception-ResNet-v1 at 75x75 with random weights and a 10-way logits head, as in test_export.py;
the calibration images are generated into class folders.
"""

import json
import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np
import pytest
from PIL import Image

from inception_keras import create_model
from inception_keras.cli import export as export_cli
from inception_keras.export import ExportError, ExportWarning, export_model, fingerprint, select_per_class
from inception_keras.export import random_inputs
from inception_keras.export.quantize import PRECISION, _float16_weights, stride

SIZE = 75
SMALL = dict(weights=None, input_shape=(SIZE, SIZE, 3), classes=10, classifier_activation=None)
CLI_SMALL = ["--model", "inception_resnet_v1", "--weights", "none", "--input-size", str(SIZE), "--classes", "10",
             "--classifier-activation", "none"]
CLASSES = {"cat": 3, "dog": 3, "eel": 1}  # eel has fewer than 2


@pytest.fixture(scope="module")
def small_model():
    return create_model("inception_resnet_v1", **SMALL)


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory):
    """cat/ and dog/ with three images each (one of dog's in a sub-folder), eel/ with one, and a
    stray image at the top (in no class)."""
    root = tmp_path_factory.mktemp("calibration")
    rng = np.random.default_rng(3)

    def image(path):
        h, w = int(rng.integers(70, 160)), int(rng.integers(70, 160))
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = np.stack([xx / w, yy / h, (xx * yy) / (h * w)], -1) * rng.uniform(60, 255, 3)
        pixels = np.clip(ramp + rng.normal(0, 40, (h, w, 3)), 0, 255).astype("uint8")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=92)

    for name, count in CLASSES.items():
        for i in range(count):
            image(root / name / ("deep" if name == "dog" and i == 0 else "") / f"{name}{i}.jpg")
    image(root / "stray.jpg")
    return root


def _onnx_run(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0], session


def _calibration_inputs(folder, files):
    from inception_keras.data.preprocessing import Preprocessing, preprocess_for_eval
    from inception_keras.data.images import decode_image
    import tensorflow as tf

    prep = Preprocessing("slim", SIZE)
    return np.stack([preprocess_for_eval(decode_image(tf.io.read_file(str(folder / f))), prep).numpy()
                     for f in files])


# --------------------------------------------------------------------------- #
# Calibration sets
# --------------------------------------------------------------------------- #
def test_per_class_selection_is_deterministic_and_names_short_classes(class_folders, tmp_path):
    files, short = select_per_class(class_folders, 2)
    rel = [os.path.relpath(f, class_folders) for f in files]
    assert rel == ["cat/cat0.jpg", "cat/cat1.jpg", "dog/deep/dog0.jpg", "dog/dog1.jpg", "eel/eel0.jpg"]
    assert short == {"eel": 1}
    assert select_per_class(class_folders, 2) == (files, short)
    assert select_per_class(class_folders, 5)[1] == {"cat": 3, "dog": 3, "eel": 1}
    digest = fingerprint(class_folders, files)
    assert digest == fingerprint(class_folders, list(reversed(files)))  # order-free
    assert len(digest) == 64 and digest != fingerprint(class_folders, files[:-1])
    # no class folders: an error that says what layout is needed
    (tmp_path / "flat.jpg").write_bytes((class_folders / "stray.jpg").read_bytes())
    with pytest.raises(ValueError, match="needs class folders"):
        select_per_class(tmp_path, 2)


def test_fingerprint_follows_the_file_contents(class_folders, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(class_folders, copy)
    files = select_per_class(copy, 1)[0]
    before = fingerprint(copy, files)
    assert before == fingerprint(class_folders, select_per_class(class_folders, 1)[0])  # path-independent
    (copy / "cat" / "cat0.jpg").write_bytes((copy / "dog" / "dog1.jpg").read_bytes())
    assert fingerprint(copy, files) != before


def test_calibration_images_are_decoded_a_batch_at_a_time(tmp_path, monkeypatch):
    """Issue 23: calibrating on 1,000 images must not hold them all (1.1 GB at 299x299). The
    images are found first and decoded when calibration or the check asks for rows, never all at
    once; the rows are those a stacked array of the decoded images would give. By min/max, which
    failed with "No data is collected" while CalibMaxIntermediateOutputs was set."""
    from inception_keras.data.preprocessing import Preprocessing
    from inception_keras.export import inputs

    rng = np.random.default_rng(5)
    for i in range(12):
        path = tmp_path / "data" / f"c{i % 3}" / f"{i:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (60 + i, 90, 3), dtype=np.uint8)).save(path, quality=90)
    (tmp_path / "data" / "c0" / "broken.jpg").write_bytes(b"not an image")
    images, encoded, used, skipped = inputs.find_images(tmp_path / "data", Preprocessing("slim", SIZE), 100)
    assert encoded is None and len(used) == 12 and len(skipped) == 1 and "broken.jpg" in skipped[0]
    x = _calibration_inputs(tmp_path / "data", [os.path.relpath(f, tmp_path / "data") for f in used])
    assert images.shape == x.shape == (12, SIZE, SIZE, 3)
    np.testing.assert_array_equal(images[2:5], x[2:5])
    np.testing.assert_array_equal(images[[11, 0]], x[[11, 0]])
    np.testing.assert_array_equal(np.asarray(images), x)
    for rows in (images, x):  # a last short batch is topped up from the start, as np.resize would
        np.testing.assert_array_equal(inputs.batch_at(rows, 8, 6), np.concatenate([x[8:], x[:2]]))

    decoded = []
    getitem = inputs.FolderImages.__getitem__

    def counting(self, index):
        out = getitem(self, index)
        decoded.append(len(out) if out.ndim == 4 else 1)
        return out

    import keras

    image = keras.Input((SIZE, SIZE, 3), name="image")
    features = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Conv2D(4, 3, strides=4, name="conv")(image))
    tiny = keras.Model(image, keras.layers.Dense(5, name="logits")(features), name="tiny")  # the data flow, quickly
    monkeypatch.setattr(inputs.FolderImages, "__getitem__", counting)
    summary = export_model(tiny, tmp_path / "q", "onnx", quantize="int8", calibration_data=tmp_path / "data",
                           calibration_method="minmax", latency_runs=1)
    assert summary["calibration"]["images"] == 12 and summary["check"]["count"] == 12
    assert decoded and max(decoded) <= 8  # a batch of the check at most, never the 12 at once


def test_stride_divides_the_batches():
    assert [stride(n, 4) for n in (1, 2, 3, 4, 5, 6, 8, 60, 1000, 997)] == [1, 2, 3, 4, 1, 3, 4, 4, 4, 1]


# --------------------------------------------------------------------------- #
# Options
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("extra, message", [
    (["--format", "tflite", "--quantize", "int8", "--calibration-method", "percentile"],
     "the TFLite converter calibrates int8 by min/max only"),
    (["--format", "tflite", "--quantize", "int8", "--calibration-method", "entropy"], "use --format onnx"),
    (["--format", "onnx", "--quantize", "float16", "--calibration-method", "minmax"],
     "--calibration-method minmax applies to --quantize int8 only"),
    (["--format", "onnx", "--calibration-per-class", "2"], "--calibration-per-class needs --calibration-data"),
    (["--format", "onnx", "--quantize", "int8"], "--quantize int8 needs --calibration-data DIR"),
    (["--format", "onnx", "--quantize", "int8", "--calibration-data", "{data}", "--calibration-per-class", "0"],
     "argument --calibration-per-class: expected a positive integer"),
    (["--format", "saved_model", "--quantize", "int8", "--calibration-data", "{data}"],
     "applies to --format tflite or onnx"),
])
def test_cli_calibration_errors_exit_2(tmp_path, capsys, class_folders, extra, message):
    argv = [a.replace("{data}", str(class_folders)) for a in extra] + ["--output", str(tmp_path / "m")]
    try:
        code = export_cli.main([*CLI_SMALL, *argv])
    except SystemExit as e:  # argparse
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- #
# ONNX int8, float16, dynamic
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def zoo_layers_model():
    """The zoo's layer kinds (conv + BatchNorm, concatenation, scaled residual) in a model that
    converts in about a second, where an Inception graph takes fifteen."""
    from helpers.tiny_exports import tiny_classifier

    return tiny_classifier(classes=10)


@pytest.mark.parametrize("graph", ["zoo layers", pytest.param("inception", marks=pytest.mark.slow)])
def test_onnx_int8_qdq_per_channel_calibrated_per_class(request, class_folders, tmp_path, graph):
    import onnx

    small_model = request.getfixturevalue("small_model" if graph == "inception" else "zoo_layers_model")

    with pytest.warns(ExportWarning, match=r"1 class\(es\) .* fewer images: eel \(1\)"):
        summary = export_model(small_model, tmp_path / "q", "onnx", quantize="int8", calibration_data=class_folders,
                               calibration_per_class=2, latency_runs=1)
    path = tmp_path / "q.onnx"
    assert sorted(os.listdir(tmp_path)) == ["q.onnx", "q.onnx.json"]
    c = summary["calibration"]
    files = ["cat/cat0.jpg", "cat/cat1.jpg", "dog/deep/dog0.jpg", "dog/dog1.jpg", "eel/eel0.jpg"]
    assert c["method"] == "percentile" and c["percentile"] == 99.999 and c["images"] == 5
    assert c["files"] == files and c["short_classes"] == {"eel": 1} and c["selection"] == "2 per class"
    assert c["sha256"] == fingerprint(class_folders, [class_folders / f for f in files])
    assert summary["quantize"] == "int8" and "QDQ" in summary["precision"]
    assert json.loads((tmp_path / "q.onnx.json").read_text())["calibration"] == c

    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    inits = {t.name: t for t in proto.graph.initializer}
    # per-channel weights: an int8 initializer dequantized with one scale per output channel
    per_channel = [n for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
                   and inits[n.input[0]].data_type == onnx.TensorProto.INT8 and len(inits[n.input[1]].dims) == 1
                   and inits[n.input[1]].dims[0] > 1]
    assert len(per_channel) > (10 if graph == "inception" else 2)  # every conv (3 in the small one)
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert meta["calibration"]["files"] == files and meta["calibration"]["sha256"] == c["sha256"]
    assert meta["calibration"]["method"] == "percentile" and len(meta["class_names"]) == 10

    x = _calibration_inputs(class_folders, files)
    out, session = _onnx_run(path, x)
    assert session.get_inputs()[0].type == "tensor(float)" and out.shape == (5, 10)
    reference = np.asarray(small_model(x, training=False))
    agreement = np.mean(out.argmax(1) == reference.argmax(1))
    assert agreement >= 0.6, (out, reference)
    assert summary["check"]["top1_agreement"] == agreement and summary["check"]["tolerance"] is None


@pytest.mark.parametrize("quantize,graph", [
    ("float16", "zoo layers"), ("dynamic", "zoo layers"),
    pytest.param("float16", "inception", marks=pytest.mark.slow),
    pytest.param("dynamic", "inception", marks=pytest.mark.slow),
])
def test_onnx_float16_and_dynamic(request, tmp_path, quantize, graph):
    import onnx

    small_model = request.getfixturevalue("small_model" if graph == "inception" else "zoo_layers_model")
    summary = export_model(small_model, tmp_path / "m", "onnx", quantize=quantize, latency_runs=1, check_samples=4)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    types = {t.data_type for t in proto.graph.initializer if len(t.dims) == 4}  # the conv kernels
    ops = {n.op_type for n in proto.graph.node}
    if quantize == "float16":
        assert types == {onnx.TensorProto.FLOAT16} and "Cast" in ops
    else:
        assert types == {onnx.TensorProto.UINT8} and "ConvInteger" in ops
    assert "calibration" not in summary and summary["precision"] == PRECISION[quantize]
    x = random_inputs(4, (SIZE, SIZE, 3), 0)  # the check inputs of the export
    out, _ = _onnx_run(tmp_path / "m.onnx", x)
    reference = np.asarray(small_model(x, training=False))
    relative = np.max(np.abs(out - reference)) / np.max(np.abs(reference))
    assert relative < (1e-2 if quantize == "float16" else 0.5)
    # float16 weights with float32 compute: checked at a float16 tolerance; dynamic: top-1 reported
    assert summary["check"]["tolerance"] == (1e-2 if quantize == "float16" else None)
    assert summary["check"]["max_abs_diff"] == pytest.approx(np.max(np.abs(out - reference)), rel=1e-3, abs=1e-5)


def test_a_failing_quantization_is_an_export_check_error(tmp_path):
    from onnx import TensorProto, helper

    from inception_keras.export import ExportCheckError
    from inception_keras.export.quantize import quantize_onnx

    graph = helper.make_graph([helper.make_node("Relu", ["images"], ["y"])], "g",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(ExportCheckError, match="int8 quantization failed .*--calibration-method"):
        quantize_onnx(proto, "int8", str(tmp_path), x=np.zeros((2, 3, 3), "float32"), method="minmax")


def test_float16_weights_halves_the_initializers():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(6, dtype="float32").reshape(2, 3), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
    proto = _float16_weights(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    assert [t.data_type for t in proto.graph.initializer] == [TensorProto.FLOAT16]
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"x": np.ones((1, 2), "float32")})[0], [[3, 5, 7]])
    onnx.checker.check_model(proto)


@pytest.mark.slow
def test_cli_onnx_int8_entropy_table(class_folders, tmp_path, capsys):
    code = export_cli.main([*CLI_SMALL, "--format", "onnx", "--output", str(tmp_path / "e"), "--quantize", "int8",
                            "--calibration-data", str(class_folders), "--calibration-per-class", "2",
                            "--calibration-method", "entropy", "--latency-runs", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "warning: --calibration-per-class 2: 1 class(es)" in err and "eel (1)" in err
    assert "entropy, 5 images from" in out and "2 per class" in out and "precision" in out
    report = json.loads((tmp_path / "e.onnx.json").read_text())
    assert report["calibration"]["method"] == "entropy"


@pytest.mark.slow
def test_tflite_int8_records_its_calibration(small_model, class_folders, tmp_path):
    from inception_keras.export import read_tflite_metadata

    summary = export_model(small_model, tmp_path / "t", "tflite", quantize="int8", calibration_data=class_folders,
                           calibration_steps=4, latency_runs=1)
    c = summary["calibration"]
    assert c["method"] == "minmax" and c["images"] == 4 and c["selection"] == "first 4 by path"
    assert read_tflite_metadata(str(tmp_path / "t.tflite"))["calibration"]["sha256"] == c["sha256"]
    with pytest.raises(ExportError, match="min/max only"):
        export_model(small_model, tmp_path / "t2", "tflite", quantize="int8", calibration_data=class_folders,
                     calibration_method="percentile")
