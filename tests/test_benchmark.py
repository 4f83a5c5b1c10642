"""tools/benchmark.py and the multiply-add count behind it."""

import json

import keras
import pytest

from inception_keras.cli import benchmark as benchmark_cli
from inception_keras.profile import count_macs

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
    assert "images/s" in printed and "Conv2D and Dense" in printed


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
