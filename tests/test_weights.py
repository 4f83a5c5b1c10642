"""Numerical parity with keras.applications, saving and loading, and the JAX backend."""

import hashlib
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import inception_keras

from helpers.common import randomize_batchnorm

SIZE = (75, 75, 3)


def _x(n=2, shape=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype("float32")


def _np(y):
    if isinstance(y, (list, tuple)):
        return [keras.ops.convert_to_numpy(t) for t in y]
    return keras.ops.convert_to_numpy(y)


@pytest.mark.slow
def test_parity_with_keras_applications(rng):
    """variant='slim' computes exactly what keras.applications.InceptionResNetV2 computes."""
    reference = keras.applications.InceptionResNetV2(weights=None, input_shape=SIZE, classifier_activation=None)
    randomize_batchnorm(reference, rng)
    ours = inception_keras.create_inception_resnet_v2(variant="slim", input_shape=SIZE, classifier_activation=None)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in reference.weights]
    ours.set_weights(reference.get_weights())
    x = _x()
    expected, got = _np(reference(x, training=False)), _np(ours(x, training=False))
    assert np.std(expected) > 1e-3  # random moving statistics make the logits non-trivial
    assert np.max(np.abs(expected - got)) <= 1e-5


@pytest.fixture(scope="module")
def trained_like():
    """A small IR-v1 with 10 classes and non-trivial BatchNorm statistics (every residual kind in it)."""
    model = inception_keras.create_inception_resnet_v1(input_shape=SIZE, classes=10)
    randomize_batchnorm(model, np.random.default_rng(3))
    return model


@pytest.mark.slow
def test_keras_file_round_trip_without_custom_objects(trained_like, tmp_path):
    path = tmp_path / "model.keras"
    trained_like.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: standard layers only
    x = _x()
    np.testing.assert_array_equal(_np(loaded(x, training=False)), _np(trained_like(x, training=False)))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in trained_like.layers]


@pytest.mark.slow
def test_weights_file_round_trip_through_the_constructor(trained_like, tmp_path):
    path = tmp_path / "irv1.weights.h5"
    trained_like.save_weights(path)
    loaded = inception_keras.create_inception_resnet_v1(input_shape=SIZE, classes=10, weights=str(path))
    x = _x()
    np.testing.assert_array_equal(_np(loaded(x, training=False)), _np(trained_like(x, training=False)))


@pytest.mark.slow
def test_legacy_h5_weights_load(trained_like, tmp_path):
    path = tmp_path / "irv1.h5"
    trained_like.save(path)  # the Keras 2 era whole-model HDF5 format
    loaded = inception_keras.create_inception_resnet_v1(input_shape=SIZE, classes=10, weights=path)
    x = _x()
    np.testing.assert_array_equal(_np(loaded(x, training=False)), _np(trained_like(x, training=False)))


@pytest.mark.slow
def test_weights_with_mismatching_classes_or_head(trained_like, tmp_path):
    path = tmp_path / "irv1.weights.h5"
    trained_like.save_weights(path)
    with pytest.raises(ValueError, match=r"10 classes but the model was built with classes=1000; pass classes=10"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, weights=path)
    with pytest.raises(ValueError, match="built without one; build it with include_top=True"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, include_top=False, weights=path)
    with pytest.raises(ValueError, match="different architecture"):
        inception_keras.create_inception_resnet_v2(input_shape=SIZE, classes=10, weights=path)


@pytest.mark.slow
def test_weights_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, weights=tmp_path / "missing.weights.h5")
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, weights=junk)
    other = tmp_path / "weights.npz"  # neither a Keras file nor a checkpoint
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="not a Keras weights file"):
        inception_keras.create_inception_resnet_v1(input_shape=SIZE, weights=other)
    with pytest.raises(ValueError, match="not a readable TensorFlow checkpoint"):
        inception_keras.create_inception_v4(input_shape=SIZE, weights=other)


JAX_SCRIPT = r"""
import json, sys
import numpy as np
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
import inception_keras
weights, x_path, y_path = sys.argv[1:4]
model = inception_keras.create_inception_resnet_v2(variant="slim", input_shape=(75, 75, 3), classes=10,
                                                   classifier_activation=None, weights=weights)
x = np.load(x_path)
y = np.asarray(model(x, training=False))
print(json.dumps({"shape": list(y.shape), "max_abs_diff": float(np.max(np.abs(y - np.load(y_path))))}))
"""


@pytest.mark.slow
def test_inception_resnet_v2_under_jax(tmp_path):
    """Build and run Inception-ResNet-v2 with KERAS_BACKEND=jax on weights saved from TensorFlow."""
    model = inception_keras.create_inception_resnet_v2(variant="slim", input_shape=SIZE, classes=10,
                                                       classifier_activation=None)
    randomize_batchnorm(model, np.random.default_rng(5))
    x = _x()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", _np(model(x, training=False)))
    model.save_weights(tmp_path / "w.weights.h5")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, str(tmp_path / "w.weights.h5"), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shape"] == [2, 10]
    assert result["max_abs_diff"] < 1e-4


# --------------------------------------------------------------------------- #
# Weights from elsewhere (issue 21): no network, file:// URLs, killed writers
# --------------------------------------------------------------------------- #
CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port: connections are refused at once


@pytest.fixture
def no_network(tmp_path, monkeypatch):
    """The Hub's endpoint and the TF-slim mirror on a closed port, HF_HUB_OFFLINE unset, empty caches."""
    from huggingface_hub import constants

    from inception_keras.weights import hub

    monkeypatch.setattr(constants, "ENDPOINT", CLOSED)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", CLOSED + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("INCEPTION_KERAS_BASE_URL", CLOSED + "/models")
    monkeypatch.delenv("INCEPTION_KERAS_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(hub, "_PROBES", {})
    monkeypatch.setattr(hub, "_SAID", [0.0])
    return tmp_path


def test_no_network_fails_fast_with_one_line(no_network, caplog, capfd):
    import logging
    import time

    from inception_keras.weights import hub, presets

    start = time.monotonic()
    with caplog.at_level(logging.INFO), pytest.raises(hub.WeightsUnavailable) as info:
        presets.pretrained_folder(presets.NAMED["inception_v4.tf_in1k"])
    elapsed = time.monotonic() - start
    assert elapsed < hub.PROBE_TIMEOUT + 2, f"{elapsed:.1f} s to the offline error"  # huggingface_hub's retries: ~25 s
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [f"no network: cannot connect to 127.0.0.1:9 (Connection refused); using local copies only "
                     f"(HF_HUB_OFFLINE=1 skips this check)"], lines
    assert "Retrying" not in capfd.readouterr().err
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "not in the Hugging Face cache and the Hub cannot be reached (no network: cannot connect to 127.0.0.1:9" \
        in message
    assert f"cannot download {CLOSED}/models/inception_v4_2016_09_09.tar.gz: no network" in message
    assert message.endswith("or pass its path as weights=...")
    tool = info.value.message(tool=True)
    assert tool.startswith(message[:-len(" as weights=...")])  # the same message, the tools' hint
    assert tool.endswith("or pass its path: --model inception_v4 --weights PATH. Set HF_HUB_OFFLINE=1 to skip "
                         "the network at once (no connection attempt)")


def test_hf_hub_offline_tries_no_network(no_network, monkeypatch):
    import socket
    import time

    from huggingface_hub import constants

    from inception_keras.weights import hub, presets

    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was tried: {args}")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("INCEPTION_KERAS_BASE_URL", "https://download.example.org/models")
    start = time.monotonic()
    with pytest.raises(hub.WeightsUnavailable) as info:
        presets.pretrained_folder(presets.NAMED["inception_v4.tf_in1k"])
    assert time.monotonic() - start < 1.0
    assert hub._PROBES == {}
    message = info.value.message(tool=True)
    assert "the Hub cannot be reached (HF_HUB_OFFLINE is set)" in message
    assert "inception_v4_2016_09_09.tar.gz: HF_HUB_OFFLINE is set (no network request is made)" in message
    assert message.endswith("--model inception_v4 --weights PATH (HF_HUB_OFFLINE=1 is set: no network was tried)")


def test_network_probe_is_bounded_and_remembered(no_network, monkeypatch):
    import socket
    import time

    from inception_keras.weights import hub

    calls = []

    def black_hole(address, timeout=None):
        calls.append(address)
        time.sleep(3)  # a firewall that drops packets; the name lookup alone can take this long
        raise OSError("timed out")

    monkeypatch.setattr(hub, "PROBE_TIMEOUT", 0.3)
    monkeypatch.setattr(socket, "create_connection", black_hole)
    start = time.monotonic()
    problem = hub.network_problem("https://huggingface.co")
    assert problem == "cannot connect to huggingface.co:443 (no answer within 0.3 s)"
    assert hub.network_problem("https://huggingface.co/other") is not None  # remembered: no second attempt
    assert time.monotonic() - start < 1.5 and calls == [("huggingface.co", 443)]
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")  # through a proxy: the proxy is what is reached
    monkeypatch.setenv("NO_PROXY", "")
    assert hub._probe_target("https://huggingface.co/x") == ("proxy.example", 3128)


def test_no_network_still_serves_the_hub_cache(no_network, monkeypatch):
    from huggingface_hub import constants
    from helpers.hub_server import HubServer

    from inception_keras.weights import hub

    server = HubServer()
    try:
        server.repos["someone/files"] = {"config.json": b'{"a": 1}'}
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            server.url + "/{repo_id}/resolve/{revision}/{filename}")
        online = hub.hf_file("someone/files", "config.json")
    finally:
        server.close()
    monkeypatch.setattr(constants, "ENDPOINT", CLOSED)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", CLOSED + "/{repo_id}/resolve/{revision}/{filename}")
    assert hub.hf_file("someone/files", "config.json") == online  # from the Hub cache, the network not asked


@pytest.mark.slow
def test_file_url_is_read_as_it_is_now(trained_like, tmp_path, monkeypatch):
    """A file:// URL is the file itself: replaced, it gives the new weights (it used to give its first cached copy)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    path = tmp_path / "w.weights.h5"
    trained_like.save_weights(path)
    x = _x()
    loaded = inception_keras.create_inception_resnet_v1(input_shape=SIZE, classes=10, weights=path.as_uri())
    np.testing.assert_array_equal(_np(loaded(x, training=False)), _np(trained_like(x, training=False)))

    logits = trained_like.get_layer("Logits__Logits")
    before = logits.bias.numpy()
    try:
        logits.bias.assign(before + np.arange(10, dtype="float32"))
        trained_like.save_weights(tmp_path / "new.weights.h5")
        os.replace(tmp_path / "new.weights.h5", path)
        again = inception_keras.create_inception_resnet_v1(input_shape=SIZE, classes=10, weights=path.as_uri())
        np.testing.assert_array_equal(again.get_layer("Logits__Logits").bias.numpy(), logits.bias.numpy())
    finally:
        logits.bias.assign(before)
    assert not os.path.exists(tmp_path / "keras" / "models" / "inception_keras" / "downloads")  # never copied
    from inception_keras.weights import hub

    with pytest.raises(hub.SourceUnavailable, match="cannot download file://.*: there is no file .*gone.weights.h5"):
        hub.download((tmp_path / "gone.weights.h5").as_uri())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_killed_writers_leftovers_are_removed_by_the_next_writer(tmp_path, monkeypatch):
    from helpers.hub_server import HubServer

    from inception_keras.weights import hub
    from inception_keras.utils.fileio import _host, temporary_prefix

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    server = HubServer()
    try:
        server.files["w.bin"] = b"weights" * 100
        url = server.url + "/files/w.bin"
        entry = os.path.join(hub.cache_dir(), "downloads", hashlib.sha1(url.encode()).hexdigest()[:16])
        os.makedirs(entry)
        dead = _dead_pid()
        with open(os.path.join(entry, ".part-k3j9x_2a"), "wb") as f:  # an earlier version's killed copy
            f.write(b"x" * 1000)
        killed = os.path.join(entry, f".tmp-inception-keras-download-w.bin-{_host()}-{dead}-abc123")
        with open(killed, "wb") as f:
            f.write(b"x" * 1000)
        running = temporary_prefix(os.path.join(entry, "w.bin"), "download") + "live"  # this process: in use
        with open(running, "wb") as f:
            f.write(b"x")
        path = hub.download(url)
    finally:
        server.close()
    assert sorted(os.listdir(entry)) == sorted([os.path.basename(running), "w.bin", "w.bin.lock"])
    assert open(path, "rb").read() == b"weights" * 100
