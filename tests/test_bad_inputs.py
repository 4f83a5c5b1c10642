"""The reliability suite: bad inputs as a table (tests/helpers/bad_inputs.py has the row type and runner).

Each row gives the tool and its arguments, what it makes, the exit code, a phrase the message
must contain, and the files that must or must not exist afterwards; a new bad input costs one
row in one of the tables: ``bad_inputs_data.py`` (images and label files: predict, evaluate),
``bad_inputs_files.py`` (checkpoints, weights, outputs: converters, export, train)."""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from inception_keras.weights.convert.transfer import h5_layers

from helpers import (  # noqa: F401 - their rows
    bad_inputs_data,
    bad_inputs_files,
    bad_inputs_predict,
    bad_inputs_presets,
    bad_inputs_tools,
    bad_inputs_train,
)
from helpers.bad_inputs import CASES, run_case


@pytest.mark.parametrize("row", [c.param for c in CASES])
def test_bad_input(row, tmp_path, capsys):
    run_case(row, tmp_path, capsys)


# --------------------------------------------------------------------------- #
# Concurrency and kills: subprocesses (slow, still run in CI)
# --------------------------------------------------------------------------- #
def _tool_env():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else ""),
            "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def _printed_sha256(stdout: str) -> str | None:
    found = re.search(r"^sha256\s+([0-9a-f]{64})$", stdout, re.M)
    return found.group(1) if found else None


@pytest.mark.slow
def test_concurrent_conversions_to_one_path_leave_one_consistent_result(tmp_path):
    """Three converters of different checkpoints write one output at once; one is killed once its
    temporary weights exist. The last rename wins, so what holds is: the weights, the JSON report
    and the .keras file in place belong to one conversion (the JSON's sha256s are the files');
    that conversion printed that sha256 and its checkpoint's values are in the weights; every
    process that exits 0 printed the sha256 of a file it verified (distinct per checkpoint); the
    killed one's temporaries are stale and the next run into the folder deletes them."""
    from safetensors.numpy import load_file

    from inception_keras.cli.conversion import check_output, sha256
    from helpers.timm_checkpoints import random_safetensors

    out = tmp_path / "out" / "v4.weights.h5"
    out.parent.mkdir()
    checkpoints = [random_safetensors(tmp_path / f"seed{i}.safetensors", seed=i) for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "inception_keras.cli.convert_timm", "--checkpoint", str(ckpt),
                               "--model", "inception_v4", "--output", str(out), "--save-model"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_tool_env())
             for ckpt in checkpoints]
    victim = procs[-1]
    deadline = time.monotonic() + 300
    while not glob.glob(str(out.parent / f".tmp-inception-keras-convert-*-{victim.pid}-*.weights.h5")):
        assert victim.poll() is None and time.monotonic() < deadline, "the victim ended before writing"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    results = [(p.wait(timeout=600), p.stdout.read()) for p in procs]
    for proc in procs:
        proc.stdout.close()
    assert results[-1][0] == -signal.SIGKILL
    printed = {}
    for ckpt, (code, stdout) in zip(checkpoints, results[:-1]):
        assert code == 0, stdout[-3000:]
        assert "Traceback" not in stdout and "verified" in stdout
        printed[str(ckpt)] = _printed_sha256(stdout)
    assert len(set(printed.values())) == 2  # different checkpoints, different files
    report = json.loads((out.parent / "v4.weights.h5.json").read_text())
    assert report["sha256"] == sha256(str(out)) == printed[report["checkpoint"]]
    assert report["saved_model_sha256"] == sha256(str(out.parent / "v4.keras"))
    beta = load_file(report["checkpoint"])["features.0.bn.bias"]
    np.testing.assert_array_equal(h5_layers(str(out))["Conv2d_1a_3x3__BatchNorm"]["beta"], beta)
    left = glob.glob(str(out.parent / ".tmp-*"))
    assert left and all(f"-{victim.pid}-" in p for p in left), left  # the killed one's
    check_output(str(out), "")  # what the next conversion into the folder does first
    assert not glob.glob(str(out.parent / ".tmp-*"))
    assert sorted(os.listdir(out.parent)) == ["v4.keras", "v4.weights.h5", "v4.weights.h5.json"]


@pytest.mark.slow
def test_a_failed_verification_keeps_the_file_in_place(tmp_path, monkeypatch):
    """The check runs on the temporary file: when it fails, the previous output, its report
    and the folder are as before (only the temporaries go)."""
    import inception_keras
    from inception_keras.cli import conversion

    out = tmp_path / "m.weights.h5"
    out.write_bytes(b"the good file")
    (tmp_path / "m.weights.h5.json").write_text("{}")
    kwargs = dict(include_top=False, input_shape=(75, 75, 3))
    model = inception_keras.create_model("inception_resnet_v1", **kwargs)
    monkeypatch.setattr(conversion, "max_abs_diff", lambda a, b: 0.5)
    with pytest.raises(RuntimeError, match="different outputs .* nothing was written to"):
        conversion.save_converted(model, str(out), {}, None, 0.0, arch="inception_resnet_v1", build_kwargs=kwargs,
                                  save_model="")
    assert out.read_bytes() == b"the good file"
    assert sorted(os.listdir(tmp_path)) == ["m.weights.h5", "m.weights.h5.json"]


def test_only_stale_temporaries_are_removed(tmp_path):
    """A temporary of a process that is gone (this host, dead pid) goes; one of a running process,
    another host's recent one and files that are not ours stay; old unnamed ones (earlier versions) go."""
    from inception_keras.utils.fileio import STALE_SECONDS, remove_stale_temporaries, temporary_prefix

    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        base = os.path.basename(temporary_prefix(tmp_path / "v4.weights.h5", "convert"))
        mine = f"-{os.getpid()}-"
        dead = tmp_path / (base.replace(mine, f"-{done.pid}-") + "abcd1234.weights.h5")
        running = tmp_path / (base.replace(mine, f"-{live.pid}-") + "abcd1234.weights.h5")
        other_host = tmp_path / ".tmp-inception-keras-export-v4.onnx-otherhost-1-abcd1234.onnx"
        legacy, recent_legacy = tmp_path / ".tmp-k3j9x_2a.weights.h5", tmp_path / ".tmp-zzzzzzzz.keras"
        dead_dir = tmp_path / (base.replace(mine, f"-{done.pid}-").replace("convert", "export") + "abcd1234")
        for path in (dead, running, other_host, legacy, recent_legacy, tmp_path / ".tmp-not-ours", tmp_path / "x"):
            path.write_text("")
        (dead_dir / "new").mkdir(parents=True)
        old = time.time() - STALE_SECONDS - 60
        os.utime(legacy, (old, old))
        assert sorted(remove_stale_temporaries(tmp_path)) == sorted(map(str, (dead, legacy, dead_dir)))
        assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in (
            running, other_host, recent_legacy, tmp_path / ".tmp-not-ours", tmp_path / "x"))
    finally:
        live.kill()
        live.wait()
