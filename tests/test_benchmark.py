"""tools/benchmark.py and the multiply-add count behind it."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from inception_keras.cli import benchmark as benchmark_cli
from inception_keras import profile
from inception_keras.profile import count_macs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED = {"model", "variant", "input_size", "params", "macs", "batch_size", "build_seconds",
            "latency_ms_median", "latency_ms_p90", "images_per_second"}


def test_macs_of_a_small_graph_by_hand():
    inputs = keras.Input((32, 32, 8))
    x = keras.layers.Conv2D(16, 3, strides=2, padding="valid", use_bias=False)(inputs)  # 15x15x16, 3*3*8 each
    x = keras.layers.Conv2D(16, (1, 7), padding="same", groups=4)(x)  # 15x15x16, 1*7*4 each
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 15x15x16, 9 each
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs, outputs)
    assert count_macs(model) == 15 * 15 * 16 * (72 + 28 + 9) + 16 * 10


@pytest.mark.slow
@pytest.mark.parametrize("name, published", [("inception_v4", 12.25e9), ("inception_resnet_v2_slim", 13.16e9)])
def test_macs_match_the_published_figures(zoo, name, published):
    macs = count_macs(zoo.get(name))
    assert abs(macs - published) / published < 0.01, macs


def test_dynamic_input_size_is_refused(zoo):
    model = zoo.get("inception_resnet_v1", input_shape=(None, None, 3), include_top=False)
    with pytest.raises(ValueError, match="fixed input_shape"):
        count_macs(model)


@pytest.mark.slow
def test_benchmark_tool_records(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = benchmark_cli.main(["--model", "inception_resnet_v1", "--input-size", "75", "--batch-sizes", "1,2",
                             "--runs", "3", "--warmup", "1", "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    records = json.loads(out.read_text())
    assert [r["batch_size"] for r in records] == [1, 2]
    for r in records:
        assert REQUIRED <= set(r)
        assert r["model"] == "inception_resnet_v1" and r["variant"] == "paper" and r["input_size"] == 75
        assert r["params"] == 22_769_848 and r["macs"] > 0 and r["build_seconds"] > 0
        assert 0 < r["latency_ms_median"] <= r["latency_ms_p90"]
        assert r["images_per_second"] == pytest.approx(1000 * r["batch_size"] / r["latency_ms_median"], rel=0.01)
        assert r["jit_compile"] is False  # the default, Keras' choice: no XLA on a TensorFlow CPU
    assert "images/s" in printed and "Conv2D and Dense" in printed


@pytest.mark.slow
def test_jax_is_timed_compiled_by_default(tmp_path):
    """Keras' choice on JAX is XLA: timed op by op instead, a JAX model was about 10x slower."""
    out = tmp_path / "bench.json"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), "--model",
                             "inception_resnet_v1", "--input-size", "75", "--batch-sizes", "1", "--runs", "1",
                             "--warmup", "1", "--mixed-precision", "auto", "--json", str(out)],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    [record] = json.loads(out.read_text())
    assert record["jit_compile"] is True and record["precision"] == "mixed_bfloat16"
    assert record["device"].endswith("Keras backend: jax)")


def test_mixed_precision_is_what_the_timed_model_computes_in(monkeypatch):
    """clear_session resets Keras' dtype policy: set before it, --mixed-precision timed float32 under a bf16 label."""
    seen = []

    def fake_time(model, batch_size, input_size, **kwargs):
        seen.append(model.dtype_policy.name)
        return [0.01]

    monkeypatch.setattr(profile, "time_batches", fake_time)
    records = profile.benchmark_model("inception_resnet_v1", input_size=75, batch_sizes=(1,), runs=1, warmup=0,
                                      mixed_precision="bfloat16")
    assert seen == ["mixed_bfloat16"] and records[0]["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the caller's policy is back


def test_device_and_auto_precision_follow_the_keras_backend():
    assert profile.device_description().endswith(f"Keras backend: {keras.backend.backend()})")
    assert profile.mixed_precision_policy("auto") == "mixed_bfloat16"  # CPU: bfloat16
    assert profile.mixed_precision_policy(None) == "float32"


def test_macs_only(tmp_path, capsys):
    out = tmp_path / "macs.json"
    assert benchmark_cli.main(["--model", "inception_resnet_v1", "--macs-only", "--json", str(out)]) == 0
    [record] = json.loads(out.read_text())
    assert record["macs"] == pytest.approx(6.206e9, rel=1e-3) and "latency_ms_median" not in record
    assert "GMACs" in capsys.readouterr().out


def test_bad_arguments(capsys):
    assert benchmark_cli.main(["--model", "inception_v5"]) == 2
    assert "unknown model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        benchmark_cli.main(["--batch-sizes", "1,x"])
    assert "batch sizes must be integers" in capsys.readouterr().err


# --------------------------------------------------------------------------- #
# Side by side: any mix of Keras models and exported files, timed in turn
# --------------------------------------------------------------------------- #
SIDE_BY_SIDE = {"name", "format", "precision", "runtime", "weights", "file_size", "load_seconds", "load_rss_mb",
                "num_classes", "input_size", "latency_ms_median", "latency_ms_p90", "batch_size", "images_per_second",
                "peak_rss_mb", "run_rss_mb", "rss_mb", "memory_method", "runs", "warmup", "schedule", "device"}
NAMES = ["cat", "dog", "eel"]


class _Recording:
    """A runner that notes each call (model, batch size) in ``calls``, then runs the real one."""

    def __init__(self, name, runner, calls):
        self.name, self.runner, self.calls = name, runner, calls
        self.input_size = runner.input_size

    def __call__(self, x):
        self.calls.append((self.name, len(x)))
        return self.runner(x)


def test_models_are_timed_in_turn_round_after_round():
    from helpers.tiny_exports import tiny_classifier

    from inception_keras.benchmark import Artifact, keras_runner, measure_alternately

    calls, artifacts = [], []
    for name, seed in (("a", 0), ("b", 1)):
        runner = _Recording(name, keras_runner(tiny_classifier(seed=seed), class_names=NAMES), calls)
        artifacts.append(Artifact(name, runner, "random", 0.0))
    rounds = []
    results = measure_alternately(artifacts, batch_size=3, runs=2, warmup=1, progress=rounds.append)
    assert calls == [("a", 1), ("a", 3), ("b", 1), ("b", 3)] * 3  # 1 warm-up + 2 timed rounds
    assert rounds == ["warm-up round 1/1: 2 models, batch 1 and 3", "timed round 1/2: 2 models, batch 1 and 3",
                      "timed round 2/2: 2 models, batch 1 and 3"]
    for result in results:
        summary = result.summary()
        assert len(result.latency) == len(result.batch) == 2 and summary["runs"] == 2
        assert 0 < summary["latency_ms_median"] <= summary["latency_ms_p90"]
        assert summary["images_per_second"] == pytest.approx(3000 / summary["batch_ms_median"], rel=0.01)
        assert result.peak_rss_mb > 0 and result.run_rss_mb >= 0
    calls.clear()
    measure_alternately(artifacts[:1], batch_size=1, runs=1, warmup=0)
    assert calls == [("a", 1)]  # batch 1 is both the latency and the throughput batch


def test_a_memory_peak_is_the_models_own():
    """The high-water mark is reset before each call, so a call that allocates 200 MB shows it
    and the next, small one does not."""
    from inception_keras.benchmark.timing import Measurement, timed_call, peak_rss_mb, reset_peak, rss_mb

    if not reset_peak():
        pytest.skip("no /proc/self/clear_refs here: peaks are the process' since start")

    class Allocating:
        def __init__(self, megabytes):
            self.bytes = megabytes << 20

        def __call__(self, x):
            block = np.ones(self.bytes, np.uint8)  # touched: resident
            return block[:1]

    big, small = Measurement("big", 1), Measurement("small", 1)
    timed_call(Allocating(200), None, big)
    timed_call(Allocating(1), None, small)
    assert big.run_rss_mb > 150 and small.run_rss_mb < 50
    assert peak_rss_mb() >= rss_mb() - 1


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The tiny classifier as fp32 and int8 ONNX files (int8 calibrated on generated images)."""
    from helpers.tiny_exports import class_folders, export_onnx, tiny_classifier

    root = tmp_path_factory.mktemp("side_by_side")
    model = tiny_classifier()
    data = class_folders(root / "data", per_class=2, names=NAMES)
    return {"fp32": export_onnx(model, root / "tiny.onnx", NAMES),
            "int8": export_onnx(model, root / "tiny_int8.onnx", NAMES, quantize="int8", calibration_data=data,
                                calibration_steps=6)}


@pytest.mark.slow
def test_side_by_side_table_and_json(exports, tmp_path, capsys):
    out = tmp_path / "side.json"
    argv = ["--model", "inception_resnet_v1", exports["fp32"], exports["int8"], "--input-size", "75",
            "--batch-size", "2", "--runs", "2", "--warmup", "1", "--threads", "1", "--json", str(out)]
    assert benchmark_cli.main(argv) == 0
    captured = capsys.readouterr()
    records = json.loads(out.read_text())
    assert [r["name"] for r in records] == ["inception_resnet_v1", exports["fp32"], exports["int8"]]
    assert [(r["format"], r["precision"], r["weights"]) for r in records] == [
        ("keras", "fp32", "random"), ("onnx", "fp32", "embedded"), ("onnx", "int8", "embedded")]
    for r in records:
        assert SIDE_BY_SIDE <= set(r), SIDE_BY_SIDE - set(r)
        assert r["batch_size"] == 2 and r["runs"] == 2 and r["warmup"] == 1 and r["schedule"] == "round-robin"
        assert 0 < r["latency_ms_median"] <= r["latency_ms_p90"] and r["images_per_second"] > 0
        assert r["load_seconds"] > 0 and r["input_size"] == 75
        assert r["rss_mb"] == pytest.approx(r["load_rss_mb"] + r["run_rss_mb"], abs=0.11)
    assert records[0]["file_size"] is None and records[0]["num_classes"] == 1000
    assert [r["file_size"] for r in records[1:]] == [os.path.getsize(exports[k]) for k in ("fp32", "int8")]
    assert "1 threads" in records[1]["runtime"] or "1 thread" in records[1]["runtime"]
    lines = captured.out.splitlines()
    header = lines[0].split()
    assert header[:3] == ["model", "format", "precision"] and "images/s" in lines[0] and "(batch 2)" in lines[0]
    for row, r in zip(lines[2:5], records, strict=True):  # one row per model, every column filled
        cells = row.split()
        assert cells[0] == r["name"] and cells[1:3] == [r["format"], r["precision"]] and len(cells) == 9
    assert lines[5] == "" and "round-robin" in captured.out and "timed round 2/2" in captured.err


def test_side_by_side_refuses_what_is_not_a_model_and_writes_nothing(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 truncated")
    out = tmp_path / "side.json"
    for model, message in ((str(notes), "is not a model"), (str(broken), "not a readable ONNX model"),
                           (str(tmp_path / "missing.onnx"), "no such onnx file"),
                           ("inception_v5", "unknown model")):
        code = benchmark_cli.main(["--model", model, "--compare", "--runs", "1", "--json", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (model, err)
    assert benchmark_cli.main(["--model", str(broken), "--macs-only"]) == 2
    assert "--macs-only" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["broken.onnx", "notes.txt"]
