"""Presets: the folder format, named pretrained presets and their sources, hf:// and kaggle://
URIs, and the download / cache checks. Nothing reaches the internet: a Hub stand-in runs on
127.0.0.1 (tests/helpers/hub_server.py) and Kaggle is a pre-filled kagglehub cache.

The weights are Inception-v4 in timm's exact layout (real key names and shapes, random
values with BatchNorm gammas), written once per module at 75x75 (the values do not depend
on the input size); every model is compared with a direct import of the same file through
``load_timm_weights``.
"""

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

# conftest.py, which pytest imports before any test module, has set the offline Hub environment
# (huggingface_hub reads it when it is imported).
import inception_keras
from inception_keras.weights import hub, presets
from inception_keras.weights.convert import load_timm_weights, open_timm_checkpoint
from inception_keras.weights.convert.transfer import h5_layers
from inception_keras.data.preprocessing import Preprocessing
from inception_keras.errors import CorruptPresetError, PresetError, PresetFileError
from inception_keras.weights.format import read_preset, verify_weights

from helpers.hub_server import HubServer, folder_files, use_hub
from helpers.timm_checkpoints import randomize, timm_state_dict

SMALL = (75, 75, 3)
V4 = "inception_v4"
TIMM_CONFIG = {
    "architecture": "inception_v4", "num_classes": 1000, "num_features": 1536,
    "pretrained_cfg": {"tag": "tf_in1k", "input_size": [3, 299, 299], "interpolation": "bicubic",
                       "crop_pct": 0.875, "mean": [0.5] * 3, "std": [0.5] * 3, "num_classes": 1000,
                       "classifier": "last_linear"},
}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _out(model, x):
    import keras

    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform(-1, 1, (2, *SMALL)).astype("float32")


@pytest.fixture(scope="module")
def timm_file(tmp_path_factory):
    """timm's inception_v4 model.safetensors: every key and shape, random values, gammas in [0.4, 2.5)."""
    ref = inception_keras.create_inception_v4(input_shape=SMALL, batchnorm_scale=True, name="timm_ref")
    randomize(ref, np.random.default_rng(7))
    path = tmp_path_factory.mktemp("timm") / "model.safetensors"
    save_file(timm_state_dict(ref, V4), str(path))
    return path


@pytest.fixture(scope="module")
def direct(timm_file):
    """The reference: the same file imported directly through load_timm_weights."""
    model = inception_keras.create_inception_v4(input_shape=SMALL, classifier_activation=None, name="direct")
    with open_timm_checkpoint(timm_file) as ckpt:
        load_timm_weights(model, ckpt, arch=V4)
    return model


@pytest.fixture(scope="module")
def expected(direct, x):
    return _out(direct, x)


@pytest.fixture(scope="module")
def preset_dir(tmp_path_factory, direct):
    path = tmp_path_factory.mktemp("presets") / "v4"
    inception_keras.save_preset(direct, path, labels="imagenet", preprocessing=Preprocessing("resize-crop", 75, 0.9),
                                sources=[{"uri": "test://timm", "sha256": "0" * 64}])
    return path


@pytest.fixture(scope="module")
def server(timm_file, preset_dir):
    hub_server = HubServer()
    timm_repo = {"config.json": json.dumps(TIMM_CONFIG).encode(), "model.safetensors": timm_file.read_bytes()}
    hub_server.repos.update({"timm/inception_v4.tf_in1k": timm_repo, "someone/v4-timm": dict(timm_repo),
                             "someone/v4-preset": folder_files(preset_dir)})
    yield hub_server
    hub_server.close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty Keras cache, no local weights folder, and a TF-slim mirror that does not exist."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("INCEPTION_KERAS_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("INCEPTION_KERAS_BASE_URL", (tmp_path / "no_mirror").as_uri())
    return tmp_path


# --------------------------------------------------------------------------- #
# Named presets, aliases, the offline error
# --------------------------------------------------------------------------- #
def test_list_pretrained_and_aliases(caplog):
    rows = {row.name: row for row in inception_keras.list_pretrained()}
    assert list(rows) == ["inception_v4.tf_in1k", "inception_resnet_v2_slim.tf_in1k",
                          "inception_resnet_v2_slim.tf_ens_adv_in1k"]
    assert (rows["inception_v4.tf_in1k"].top1, rows["inception_v4.tf_in1k"].top5) == (80.2, 95.2)
    assert (rows["inception_resnet_v2_slim.tf_in1k"].top1, rows["inception_resnet_v2_slim.tf_in1k"].top5) == (80.4, 95.3)
    assert rows["inception_resnet_v2_slim.tf_ens_adv_in1k"].top1 is None  # no published figure found
    assert rows["inception_resnet_v2_slim.tf_in1k"].graph == "inception_resnet_v2_slim"
    assert all(row.classes == 1000 for row in rows.values())
    assert rows["inception_v4.tf_in1k"].sources[1:] == (
        "hf://timm/inception_v4.tf_in1k", presets.BASE_URL + "inception_v4_2016_09_09.tar.gz")
    with caplog.at_level(logging.INFO, logger="inception_keras"):
        info = inception_keras.preset_info("inception_resnet_v2.tf_ens_adv_in1k")
    assert [r.getMessage() for r in caplog.records] == [
        "inception_resnet_v2.tf_ens_adv_in1k is timm's name; it resolves to inception_resnet_v2_slim.tf_ens_adv_in1k "
        "(TF-slim's graph, same weights)"]
    assert info.model == "inception_resnet_v2_slim" and info.metadata["preset"].endswith("tf_ens_adv_in1k")
    assert presets.get_preset("inception_resnet_v2_slim", "imagenet") is presets.NAMED["inception_resnet_v2_slim.tf_in1k"]
    info = inception_keras.preset_info("inception_v4.tf_in1k")
    assert info.class_names[:2] == ["tench, Tinca tinca", "goldfish, Carassius auratus"] and info.labels[0]["synset"] == "n01440764"
    assert (info.preprocessing["name"], info.input_size, info.preprocessing["crop_fraction"]) == ("slim", 299, 0.875)
    graph = inception_keras.preset_info("inception_v4")  # a graph: described, with the preset pretrained=True loads
    assert graph.labels is None and graph.metadata["default_preset"] == "inception_v4.tf_in1k"


def test_named_preset_offline_names_every_source(home, monkeypatch):
    use_hub(monkeypatch, None, home / "hf", offline=True)
    preset = presets.NAMED["inception_v4.tf_in1k"]
    with pytest.raises(RuntimeError) as info:
        presets.pretrained_folder(preset)
    message = str(info.value)
    assert "sources tried, in order:" in message
    assert "local folder (INCEPTION_KERAS_WEIGHTS_DIR not set): INCEPTION_KERAS_WEIGHTS_DIR is not set" in message
    assert "Hugging Face hf://timm/inception_v4.tf_in1k: hf://timm/inception_v4.tf_in1k/config.json" not in message
    assert "not in the Hugging Face cache and the Hub cannot be reached" in message
    assert f"TF-slim tarball {(home / 'no_mirror').as_uri()}/inception_v4_2016_09_09.tar.gz: cannot download" in message
    assert "download inception_v4_2016_09_09.tar.gz on another machine and put it in" in message
    assert "inception_v4.tf_in1k.safetensors" in message
    with pytest.raises(RuntimeError, match="timm/inception_v4.tf_in1k: skipped .no auxiliary head"):
        presets.pretrained_folder(preset, aux=True)
    assert not os.path.exists(home / "keras" / "models" / "inception_keras" / "presets" / "inception_v4.tf_in1k" / "timm")


# --------------------------------------------------------------------------- #
# The folder format
# --------------------------------------------------------------------------- #
def test_save_load_round_trip(preset_dir, direct, expected, x, tmp_path):
    assert sorted(os.listdir(preset_dir)) == ["config.json", "labels.json", "metadata.json", "model.weights.h5",
                                              "preprocessing.json"]
    info = inception_keras.preset_info(preset_dir)
    assert info.model == V4 and info.arguments["classes"] == 1000 and info.arguments["classifier_activation"] is None
    assert info.arguments["input_shape"] == [75, 75, 3] and info.arguments["batchnorm_scale"] is False
    assert info.class_names[0] == "tench, Tinca tinca" and not info.background
    assert info.preprocessing == {"name": "resize-crop", "input_size": 75, "crop_fraction": 0.9,
                                  "interpolation": "bilinear, antialiased",
                                  "scaling": info.preprocessing["scaling"]}
    assert info.to_preprocessing() == Preprocessing("resize-crop", 75, 0.9)
    meta = info.metadata
    assert meta["package_version"] == inception_keras.__version__ and meta["format_version"] == 1
    assert meta["sources"] == [{"uri": "test://timm", "sha256": "0" * 64}]
    assert meta["weights"]["sha256"] == hashlib.sha256((preset_dir / "model.weights.h5").read_bytes()).hexdigest()
    loaded = inception_keras.load_preset(preset_dir)
    np.testing.assert_array_equal(_out(loaded, x), expected)
    with pytest.raises(PresetError, match="already exists; pass overwrite=True"):
        inception_keras.save_preset(direct, preset_dir)


def test_failed_save_leaves_nothing(direct, tmp_path, monkeypatch):
    def half_written(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x89HDF partial")
        raise OSError("disk full")

    monkeypatch.setattr(direct, "save_weights", half_written)
    with pytest.raises(OSError, match="disk full"):
        inception_keras.save_preset(direct, tmp_path / "out" / "preset")
    assert os.listdir(tmp_path / "out") == []
    with pytest.raises(PresetError, match="3 labels for a classifier with 1000 outputs"):
        inception_keras.save_preset(direct, tmp_path / "out" / "preset", labels=["a", "b", "c"])
    assert os.listdir(tmp_path / "out") == []


def test_corrupt_preset_and_weights_only_checks(preset_dir, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(preset_dir, damaged)
    with open(damaged / "model.weights.h5", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(CorruptPresetError, match=f"{damaged / 'model.weights.h5'} does not match the sha256"):
        inception_keras.load_preset(damaged)
    os.remove(damaged / "metadata.json")
    with pytest.raises(PresetError, match="not a complete preset: missing metadata.json"):
        inception_keras.preset_info(damaged)
    with pytest.raises(PresetError, match="holds inception_v4 weights, not inception_resnet_v1"):
        inception_keras.create_inception_resnet_v1(input_shape=SMALL, weights=str(preset_dir))
    with pytest.raises(PresetError, match="1000-class classifier but 'inception_v4' was built with classes=10"):
        inception_keras.create_inception_v4(input_shape=SMALL, classes=10, weights=str(preset_dir))


def _copy_preset(src, dst):
    """A copy of a preset folder whose weights file is a hard link (only the JSON files change)."""
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)
    shutil.copytree(src, dst, copy_function=link)
    return dst


def _rewrite(path, data):
    os.remove(path)  # never write through a hard link
    path.write_text(json.dumps(data))


def test_label_ids_give_the_output_order(preset_dir, tmp_path):
    """labels.json's ids say which output each name is, whatever the order of its rows (issue 21)."""
    folder = _copy_preset(preset_dir, tmp_path / "p")
    labels = json.loads((folder / "labels.json").read_text())
    first = [row["name"] for row in labels["classes"][:3]]
    for row, i in zip(labels["classes"], (2, 1, 0)):
        row["id"] = i
    _rewrite(folder / "labels.json", labels)
    info = inception_keras.preset_info(folder)
    assert info.class_names[:3] == first[::-1] and [c["id"] for c in info.labels[:3]] == [0, 1, 2]
    labels["classes"][0]["id"] = 1
    _rewrite(folder / "labels.json", labels)
    with pytest.raises(PresetFileError, match=r"labels.json: 'classes\[1\].id' is 1, already the id of classes\[0\]"):
        inception_keras.preset_info(folder)


def test_preset_files_are_checked_against_the_weights(preset_dir, tmp_path):
    """config.json must describe the weights file: classes, auxiliary head, input channels;
    and a format version from the future asks for an upgrade."""
    folder = _copy_preset(preset_dir, tmp_path / "p")
    config = json.loads((folder / "config.json").read_text())
    for key, value, message in [
        ("classes", 10, "'arguments.classes' is 10, but the classifier in model.weights.h5 has 1000 outputs"),
        ("aux_logits", True, "'arguments.aux_logits' is true, but model.weights.h5 has no auxiliary head"),
        ("input_shape", [75, 75, 1], "'arguments.input_shape' is [75, 75, 1] (1 channels), but the first convolution"),
        ("input_shape", [75, 75], "'arguments.input_shape' is [75, 75]; expected 3 entries"),
        ("pooling", "mean", "'arguments.pooling' is 'mean'; expected one of 'avg', 'max'"),
    ]:
        _rewrite(folder / "config.json", {**config, "arguments": {**config["arguments"], key: value}})
        with pytest.raises(PresetFileError, match=re.escape(message)):
            inception_keras.preset_info(folder)
    _rewrite(folder / "config.json", {**config, "format_version": 99})
    with pytest.raises(PresetFileError, match="'format_version' is 99; this inception-keras reads preset format "
                                              "versions up to 1: upgrade inception-keras"):
        inception_keras.preset_info(folder)
    _rewrite(folder / "config.json", {**config, "arguments": {**config["arguments"], "include_top": False}})
    assert inception_keras.preset_info(folder).classes is None  # a headless config of a file with a head


# --------------------------------------------------------------------------- #
# Hugging Face (local server, then the pre-filled Hub cache offline) and Kaggle
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_hf_timm_layout_and_preset_format(server, expected, x, home, monkeypatch):
    use_hub(monkeypatch, server, home / "hf")
    model = inception_keras.create_model("hf://someone/v4-timm", input_shape=SMALL, classifier_activation=None)
    np.testing.assert_array_equal(_out(model, x), expected)  # == load_timm_weights of the same file
    info = inception_keras.preset_info("hf://someone/v4-timm")
    assert (info.model, info.classes, info.preprocessing["name"], info.preprocessing["interpolation"]) == (
        V4, 1000, "resize-crop", "bicubic")
    assert info.class_names[0] == "tench, Tinca tinca"
    info = inception_keras.preset_info("hf://someone/v4-preset@main")  # fetches every file of our format
    assert info.model == V4 and info.preprocessing["crop_fraction"] == 0.9
    with pytest.raises(hub.SourceUnavailable, match="hf://nobody/nothing"):
        inception_keras.preset_info("hf://nobody/nothing")
    server.etags["model.safetensors"] = "f" * 64  # an LFS ETag (sha256) the content does not match
    server.repos["someone/v4-bad"] = dict(server.repos["someone/v4-timm"])
    try:
        with pytest.raises(hub.SourceUnavailable, match="does not match the known sha256"):
            inception_keras.preset_info("hf://someone/v4-bad")
    finally:
        del server.etags["model.safetensors"]

    use_hub(monkeypatch, None, home / "hf", offline=True)  # the Hub cache filled above, no network
    model = inception_keras.create_model("hf://someone/v4-preset")
    np.testing.assert_array_equal(_out(model, x), expected)


@pytest.mark.slow
def test_kaggle_cache(preset_dir, timm_file, expected, x, tmp_path, monkeypatch):
    cache = tmp_path / "kagglehub"
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(cache))
    for handle, files in [("me/inception/keras/v4-preset/1", folder_files(preset_dir)),
                          ("me/inception/pyTorch/v4-timm/2", {"config.json": json.dumps(TIMM_CONFIG).encode(),
                                                              "model.safetensors": timm_file.read_bytes()})]:
        folder = cache / "models" / handle
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        (folder.parent / f"{folder.name}.complete").touch()  # kagglehub's completion marker
    model = inception_keras.create_model("kaggle://me/inception/keras/v4-preset/1")
    np.testing.assert_array_equal(_out(model, x), expected)
    model = inception_keras.create_model("kaggle://me/inception/pyTorch/v4-timm/2", input_shape=SMALL,
                                         classifier_activation=None)
    np.testing.assert_array_equal(_out(model, x), expected)
    with pytest.raises(PresetError, match="kaggle://owner/model/framework/variation"):
        inception_keras.preset_info("kaggle://me/inception")


# --------------------------------------------------------------------------- #
# A named preset from the Hub copy: converted once, verified, rebuilt once when damaged
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_named_preset_from_hub_copy(filled_cache, server, timm_file, expected, x, monkeypatch):
    """The preset the three processes converted computes what a direct import computes; damaged, it is
    reported and rebuilt once from its source."""
    home = filled_cache[0]
    assert all(rc == 0 for rc, _, _ in filled_cache[1])
    convert = presets._convert

    def forbidden(*args):
        raise AssertionError("converted again instead of loading the cache")

    monkeypatch.setattr(presets, "_convert", forbidden)
    monkeypatch.setenv("KERAS_HOME", str(home / "keras"))
    monkeypatch.delenv("INCEPTION_KERAS_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("INCEPTION_KERAS_BASE_URL", (home / "no_mirror").as_uri())
    use_hub(monkeypatch, server, home / "hf")
    model = inception_keras.create_model("inception_v4.tf_in1k", input_shape=SMALL, classifier_activation=None)
    np.testing.assert_array_equal(_out(model, x), expected)
    monkeypatch.setattr(presets, "_convert", convert)
    cached = home / "keras" / "models" / "inception_keras" / "presets" / "inception_v4.tf_in1k" / "timm"
    meta = read_preset(cached).metadata
    assert meta["sources"] == [{"uri": "hf://timm/inception_v4.tf_in1k/model.safetensors",
                                "sha256": hashlib.sha256(timm_file.read_bytes()).hexdigest()}]
    assert meta["conversion"]["batchnorm"] == "folded" and meta["conversion"]["tensors_mapped"] == 598

    weights = cached / "model.weights.h5"
    good = h5_layers(str(weights))
    with open(weights, "r+b") as f:  # a damaged cache: cut short
        f.truncate(os.path.getsize(weights) // 2)
    with pytest.warns(UserWarning, match=f"cached preset {cached} is damaged .*{weights} does not match"):
        assert presets.pretrained_folder(presets.NAMED["inception_v4.tf_in1k"]) == str(cached)
    verify_weights(read_preset(cached))  # rebuilt once, from the Hub copy, to the same values
    rebuilt = h5_layers(str(weights))
    assert rebuilt.keys() == good.keys()
    for layer, variables in good.items():
        for name, value in variables.items():
            np.testing.assert_array_equal(rebuilt[layer][name], value)


# --------------------------------------------------------------------------- #
# Downloads: partial, hash mismatch, trust on first use
# --------------------------------------------------------------------------- #
def test_download_checks(server, home, tmp_path):
    server.files["w.bin"] = b"weights" * 1000
    url = server.url + "/files/w.bin"
    path = hub.download(url)
    assert open(path, "rb").read() == b"weights" * 1000
    downloads = os.path.dirname(path)

    server.files["cut.bin"] = b"x" * 5000
    server.lie_length.add("/files/cut.bin")
    with pytest.raises(hub.SourceUnavailable, match=r"incomplete download of .*cut.bin|cannot download .*cut.bin"):
        hub.download(server.url + "/files/cut.bin")
    for root, _, files in os.walk(home / "keras" / "models" / "inception_keras" / "downloads"):
        assert not [f for f in files if f.startswith(".part") or f == "cut.bin"], (root, files)

    with pytest.raises(hub.SourceUnavailable, match="does not match the known sha256"):
        hub.download(server.url + "/files/w.bin?v=2", sha256="0" * 64)

    with open(path, "ab") as f:  # the cached copy is damaged, and the server now serves other bytes
        f.write(b"junk")
    server.files["w.bin"] = b"changed" * 1000
    with pytest.warns(UserWarning, match=f"cached download {path} is damaged"), \
            pytest.raises(hub.SourceUnavailable, match="does not match the sha256 recorded when it was first downloaded"):
        hub.download(url)
    assert not os.path.exists(path) and os.path.isdir(downloads)

    local = tmp_path / "local.bin"
    local.write_bytes(b"local bytes")
    assert open(hub.download(local.as_uri()), "rb").read() == b"local bytes"


def test_upload_preset(preset_dir, tmp_path, monkeypatch):
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, **kwargs):
            calls.append(("create_repo", kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            return "commit"

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert inception_keras.upload_preset(preset_dir, "hf://me/my-v4@dev", token="t") == "commit"
    assert calls[1] == ("create_repo", {"repo_id": "me/my-v4", "exist_ok": True, "private": None})
    assert calls[2][1]["repo_id"] == "me/my-v4" and calls[2][1]["folder_path"] == str(preset_dir)
    assert calls[2][1]["revision"] == "dev"
    incomplete = tmp_path / "incomplete"
    shutil.copytree(preset_dir, incomplete)
    os.remove(incomplete / "model.weights.h5")
    with pytest.raises(PresetError, match="missing model.weights.h5"):
        inception_keras.upload_preset(incomplete, "hf://me/my-v4")
    with pytest.raises(PresetError, match="expected hf://owner/repo"):
        inception_keras.upload_preset(preset_dir, "kaggle://me/m/keras/v")
    assert len(calls) == 3


# --------------------------------------------------------------------------- #
# Three processes, one empty cache
# --------------------------------------------------------------------------- #
SCRIPT = r"""
import logging
logging.basicConfig(level=logging.INFO, format="%(message)s")
from inception_keras.weights import presets
from inception_keras.weights.format import read_preset
print(read_preset(presets.pretrained_folder(presets.NAMED["inception_v4.tf_in1k"])).metadata["weights"]["sha256"])
"""


@pytest.fixture(scope="module")
def filled_cache(server, tmp_path_factory):
    """An empty cache filled by three processes at once from the Hub copy of inception_v4.tf_in1k."""
    home = tmp_path_factory.mktemp("three")
    seen = len(server.requests)
    env = dict(os.environ, HF_ENDPOINT=server.url, HF_HUB_OFFLINE="0", HF_HOME=str(home / "hf"),
               KERAS_HOME=str(home / "keras"), INCEPTION_KERAS_BASE_URL=(home / "no_mirror").as_uri())
    env.pop("INCEPTION_KERAS_WEIGHTS_DIR", None)
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    return home, [(p.returncode, out, err) for p, (out, err) in zip(procs, results)], server.requests[seen:]


@pytest.mark.slow
def test_three_processes_fill_one_cache(filled_cache):
    """One download, one conversion, and every process gets the same verified preset."""
    home, results, requests = filled_cache
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    root = home / "keras" / "models" / "inception_keras" / "presets" / "inception_v4.tf_in1k"
    digest = read_preset(root / "timm").metadata["weights"]["sha256"]
    assert [out.strip().splitlines()[-1] for _, out, _ in results] == [digest] * 3
    assert sum(err.count("converted inception_v4.tf_in1k") for _, _, err in results) == 1
    assert len([p for method, p in requests if method == "GET" and p.endswith("/model.safetensors")]) == 1
    assert sorted(p for p in os.listdir(root) if not p.endswith(".lock")) == ["timm"]
    verify_weights(read_preset(root / "timm"))


def test_named_preset_cache_follows_its_local_source(preset_dir, home, monkeypatch, caplog):
    """A named preset converted from a file of INCEPTION_KERAS_WEIGHTS_DIR is converted again
    once that file changes (size or time); while it is unchanged, or gone, the cache serves."""
    local = home / "local"
    local.mkdir()
    source = local / "inception_v4.tf_in1k.safetensors"
    source.write_bytes(b"first copy")
    monkeypatch.setenv("INCEPTION_KERAS_WEIGHTS_DIR", str(local))
    preset = presets.NAMED["inception_v4.tf_in1k"]
    converted = []

    def fake_convert(preset, kind, path, sources, folder):  # the cache as a conversion leaves it
        converted.append(path)
        _copy_preset(preset_dir, folder)
        meta = json.loads((Path(folder) / "metadata.json").read_text())
        _rewrite(Path(folder) / "metadata.json", {**meta, "sources": sources})

    monkeypatch.setattr(presets, "_convert", fake_convert)
    folder = presets.pretrained_folder(preset)
    assert converted == [str(source)]
    assert presets.pretrained_folder(preset) == folder and len(converted) == 1  # unchanged: served
    source.write_bytes(b"a new copy, longer")
    with caplog.at_level("WARNING", logger="inception_keras"):
        assert presets.pretrained_folder(preset) == folder
    assert len(converted) == 2 and "changed since" in caplog.text
    os.remove(source)
    monkeypatch.setenv("INCEPTION_KERAS_WEIGHTS_DIR", str(home / "elsewhere"))
    assert presets.pretrained_folder(preset) == folder and len(converted) == 2  # gone: the cache serves
