"""Rows of the reliability suite (issue 21): presets."""

from helpers.bad_inputs import case  # noqa: F401


# --- preset files (issue 21) ---
# One small valid preset (inception_resnet_v1, 3 classes, dynamic input shape, 75 in
# preprocessing.json) is written once per process; each row copies it (the weights file as a hard
# link: rows change only JSON files, rewritten, never edited in place) and corrupts one file.
import atexit  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from inception_keras.errors import PresetFileError  # noqa: E402

_BASE = []
NAMES = ["daisy", "rose", "tulip"]


def _base_preset() -> str:
    if not _BASE:
        import inception_keras

        model = inception_keras.create_model("inception_resnet_v1", classes=len(NAMES), input_shape=(None, None, 3))
        root = tempfile.mkdtemp(prefix="inception_keras_bad_presets_")
        atexit.register(shutil.rmtree, root, True)
        folder = os.path.join(root, "preset")
        inception_keras.save_preset(model, folder, labels=NAMES, preprocessing={"name": "slim", "input_size": 75})
        _BASE.append(folder)
    return _BASE[0]


def _copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def _preset(file, change):
    """make(tmp): the base preset in {tmp}/p with ``change(data)`` applied to ``file`` (its JSON,
    changed in place or returned), or ``change`` written as the file's text when it is a str;
    and an 80x80 image {tmp}/img.png."""
    def make(tmp):
        folder = tmp / "p"
        shutil.copytree(_base_preset(), folder, copy_function=_copy)
        path = folder / file
        if isinstance(change, str):
            text = change
        else:
            data = json.loads(path.read_text())
            data = change(data) or data
            text = json.dumps(data)
        path.unlink()  # never write through the hard link
        path.write_text(text)
        Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(tmp / "img.png")
        return {"preset": folder}
    return make


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


def _drop(key):
    return lambda data: data.pop(key) and None


def _ids(*ids):
    def change(data):
        for row, i in zip(data["classes"], ids):
            row["id"] = i
    return change


def _load_quickly(limit_s=3.0):
    """call: load the preset as the tools do; it must be refused before anything is built (a
    build of even this small graph takes seconds, and a 2,000,000-class head gigabytes)."""
    def call(values):
        from inception_keras.weights.factory import load_model

        start = time.monotonic()
        try:
            load_model(str(values["preset"]))
        finally:
            elapsed = time.monotonic() - start
            assert elapsed < limit_s, f"took {elapsed:.1f} s: the preset was not refused before the build"
    return call


PREDICT = ("{tmp}/img.png", "--model", "{tmp}/p")

# 1. Values bounded against the weights file before any memory is allocated.
case(id="preset-classes-not-the-weights-head-fails-fast",
     make=_preset("config.json", _set("arguments", "classes", 2_000_000)), call=_load_quickly(), raises=PresetFileError,
     phrase="config.json: 'arguments.classes' is 2000000, but the classifier in model.weights.h5 has 3 outputs")
case(id="preset-classes-1e9-predict", make=_preset("config.json", _set("arguments", "classes", 10**9)),
     tool="predict", argv=PREDICT, phrase="'arguments.classes' is 1000000000, but the classifier")
case(id="preset-input-size-30000-dynamic-shape", make=_preset("preprocessing.json", _set("input_size", 30000)),
     tool="predict", argv=PREDICT, phrase="preprocessing.json: 'input_size' is 30000; expected an input size from 75")
case(id="preset-input-shape-30000", make=_preset("config.json", _set("arguments", "input_shape", [30000, 30000, 3])),
     tool="predict", argv=PREDICT, phrase="config.json: 'arguments.input_shape' is [30000, 30000, 3]")
case(id="preset-labels-fewer-than-classes", make=_preset("labels.json", lambda d: d["classes"].pop() and None),
     tool="predict", argv=PREDICT, phrase="labels.json: 'classes' has 2 labels, but the classifier has 3 outputs")
# 2. Malformed JSON values: the file, the key and the expected type.
case(id="preset-arguments-unknown-key", make=_preset("config.json", _set("arguments", "colour", "red")),
     tool="predict", argv=PREDICT, phrase="config.json: 'arguments.colour' is not a known key; expected only")
case(id="preset-arguments-a-list", make=_preset("config.json", _set("arguments", [75, 75, 3])),
     tool="predict", argv=PREDICT, phrase="config.json: 'arguments' must be an object, got a list")
case(id="preset-metadata-weights-a-string", make=_preset("metadata.json", _set("weights", "model.weights.h5")),
     tool="predict", argv=PREDICT, phrase="metadata.json: 'weights' must be an object, got a string")
case(id="preset-label-name-not-a-string", make=_preset("labels.json", _set("classes", 1, "name", 7)),
     tool="predict", argv=PREDICT, phrase="labels.json: 'classes[1].name' must be a string, got an integer (7)")
case(id="preset-labels-plain-strings", make=_preset("labels.json", _set("classes", NAMES)),
     tool="predict", argv=PREDICT, phrase="labels.json: 'classes[0]' must be an object {\"id\": integer")
# 3. Messages that name the file and what is wrong with it.
case(id="preset-format-version-not-a-number", make=_preset("config.json", _set("format_version", "abc")),
     tool="predict", argv=PREDICT, phrase="config.json: 'format_version' must be an integer, got a string (\"abc\")")
case(id="preset-config-not-json", make=_preset("config.json", "{\"format\": \"inception-keras-preset\", "),
     tool="predict", argv=PREDICT, phrase="config.json is not readable JSON")
case(id="preset-config-without-model", make=_preset("config.json", _drop("model")),
     tool="predict", argv=PREDICT, phrase="config.json: 'model' is missing; expected a string")
case(id="preset-input-size-0-dynamic-shape", make=_preset("preprocessing.json", _set("input_size", 0)),
     tool="predict", argv=PREDICT, phrase="preprocessing.json: 'input_size' is 0; expected an input size from 75")
# 4. labels.json ids: output order (tests/test_presets.py checks ids 2, 1, 0), no repeats, in range.
case(id="preset-label-id-repeated", make=_preset("labels.json", _ids(0, 1, 0)),
     tool="predict", argv=PREDICT, phrase="labels.json: 'classes[2].id' is 0, already the id of classes[0] ('daisy')")
case(id="preset-label-id-out-of-range", make=_preset("labels.json", _ids(0, 1, 3)),
     tool="predict", argv=PREDICT, phrase="labels.json: 'classes[2].id' is 3, outside the classifier's outputs")


# --- hub, file:// and cache (issue 21) ---
# The network rows run a tool inside their call (the row type has no environment of its own): the
# Hub's endpoint and the TF-slim mirror on a closed local port, caches under the row's folder. The
# call checks the exit code, the time and the log lines, then raises ToolSaid with what the tool said.
import contextlib  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402, F811
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402, F811
from PIL import Image  # noqa: E402, F811

CLOSED = "http://127.0.0.1:9"  # nothing listens there: a refused connection, what no network looks like


class ToolSaid(Exception):
    """What a tool run by a row's call printed: stderr, stdout, then the inception_keras and huggingface_hub
    log lines."""


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(f"{record.name}: {record.getMessage()}")


def _image(tmp):
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(tmp / "a.png")
    return {}


@contextlib.contextmanager
def _no_network(tmp, hf_hub_offline: bool, mirror: str = CLOSED + "/models"):
    from huggingface_hub import constants

    from inception_keras.weights import hub

    env = {"KERAS_HOME": str(tmp / "keras"), "INCEPTION_KERAS_BASE_URL": mirror}
    template = CLOSED + "/{repo_id}/resolve/{revision}/{filename}"
    with mock.patch.dict(os.environ, env), \
            mock.patch.object(constants, "ENDPOINT", CLOSED), \
            mock.patch.object(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template), \
            mock.patch.object(constants, "HF_HUB_CACHE", str(tmp / "hf")), \
            mock.patch.object(constants, "HF_HUB_OFFLINE", hf_hub_offline), \
            mock.patch.object(hub, "_PROBES", {}), mock.patch.object(hub, "_SAID", [0.0]):
        os.environ.pop("INCEPTION_KERAS_WEIGHTS_DIR", None)  # put back by patch.dict
        yield


PREDICT_V4 = ("{tmp}/a.png", "--model", "inception_v4", "--weights", "inception_v4.tf_in1k", "--input-size", "75")


def _offline_tool(hf_hub_offline: bool, max_seconds: float, tool: str = "predict", argv=PREDICT_V4):
    """``tool`` (predict) with the published weights and no network: exit 2 within ``max_seconds``, one line
    about the network (none with HF_HUB_OFFLINE, which must not even try a connection), no huggingface_hub
    retries."""

    def call(values):
        import keras  # noqa: F401 - imported before the clock starts
        import time

        main = importlib.import_module(f"inception_keras.cli.{tool}").main
        tried = []
        real_connect = socket.create_connection

        def connect(address, *args, **kwargs):
            tried.append(address)
            return real_connect(address, *args, **kwargs)

        lines, out, err = _Lines(), io.StringIO(), io.StringIO()
        loggers = [logging.getLogger(name) for name in ("inception_keras", "huggingface_hub")]
        for logger in loggers:
            logger.addHandler(lines)
        try:
            mirror = "https://download.example.org/models" if hf_hub_offline else CLOSED + "/models"
            with _no_network(values["tmp"], hf_hub_offline, mirror), \
                    mock.patch.object(socket, "create_connection", connect), \
                    contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                start = time.monotonic()
                code = main([a.format(tmp=values["tmp"]) for a in argv])
                elapsed = time.monotonic() - start
        finally:
            for logger in loggers:
                logger.removeHandler(lines)
        said = err.getvalue() + out.getvalue()
        network = [line for line in lines.lines if "network" in line or "Retrying" in line or "thrown" in line]
        assert code == 2 and "Traceback" not in said, (code, said[-3000:])
        assert elapsed < max_seconds, f"{elapsed:.1f} s to the error (huggingface_hub's five retries take ~25 s)"
        if hf_hub_offline:
            assert not tried and not network, (tried, network)
        else:
            assert network == ["inception_keras: no network: cannot connect to 127.0.0.1:9 (Connection refused); "
                               "using local copies only (HF_HUB_OFFLINE=1 skips this check)"], network
        raise ToolSaid(said + "\n".join(lines.lines))

    return call


# 1. No network: one probe (3 s at most), one line, the full message; the tools' hint is --weights PATH.
case(id="hub-no-network-fails-fast-in-one-line", make=_image, call=_offline_tool(False, max_seconds=15),
     raises=ToolSaid, phrase="or pass its path: --model inception_v4 --weights PATH. Set HF_HUB_OFFLINE=1 to skip")


def _two_classes(tmp):
    for name in ("daisy", "rose"):
        (tmp / "data" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((80, 80, 3), 60 * i, np.uint8)).save(tmp / "data" / name / f"{i}.png")
    return {}


case(id="hub-offline-train-says-weights-path", make=_two_classes,
     call=_offline_tool(True, max_seconds=30, tool="train",
                        argv=("--model", "inception_v4", "--weights", "imagenet", "--data", "{tmp}/data",
                              "--output", "{tmp}/run", "--input-size", "75", "--epochs", "1")),
     raises=ToolSaid, phrase="or pass its path: --model inception_v4 --weights PATH", absent=("run",))
case(id="hub-hf-hub-offline-tries-no-connection", make=_image, call=_offline_tool(True, max_seconds=15),
     raises=ToolSaid, phrase="hf://timm/inception_v4.tf_in1k/model.safetensors: not in the Hugging Face cache and "
                             "the Hub cannot be reached (HF_HUB_OFFLINE is set)")


# 2. A file:// URL is the file as it is now: replaced by junk after a first use, the junk is what is read
#    (a cached copy used to be served: the old answer, exit 0). Nothing is copied into the cache.
def _file_url_replaced(values):
    from safetensors.numpy import save_file

    from inception_keras.weights import hub
    from inception_keras.weights.convert.timm import open_timm_checkpoint

    folder = values["tmp"] / "replaced-by-me"
    folder.mkdir()
    path = folder / "w.safetensors"
    save_file({"x": np.zeros(3, "float32")}, str(path))
    with mock.patch.dict(os.environ, {"KERAS_HOME": str(values["tmp"] / "keras")}):
        with open_timm_checkpoint(hub.local_path(path.as_uri())) as first:
            assert list(first.shapes) == ["x"]
        (folder / "new").write_bytes(b"not safetensors any more")
        os.replace(folder / "new", path)
        with open_timm_checkpoint(hub.local_path(path.as_uri())):
            pass


case(id="file-url-replaced-is-read-again", call=_file_url_replaced, raises=ValueError,
     phrase="replaced-by-me/w.safetensors is not a readable safetensors file", absent=("keras/**/w.safetensors",))


# 3. A killed writer's temporaries (a preset conversion's .tmp-...-write-timm-... folder, a download's
#    .tmp-...-download-... and an earlier version's .part-*) go when the next run takes that cache entry.
def _leftovers(tmp):
    import hashlib

    from inception_keras.utils.fileio import _host

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # its pid is a writer that is gone
    cache = tmp / "keras" / "models" / "inception_keras"
    preset = cache / "presets" / "inception_v4.tf_in1k"
    killed = preset / f".tmp-inception-keras-write-timm-{_host()}-{proc.pid}-k3j9x_2a" / "new"
    killed.mkdir(parents=True)
    (killed / "model.weights.h5").write_bytes(b"x" * 10000)
    url = CLOSED + "/models/inception_v4_2016_09_09.tar.gz"
    entry = cache / "downloads" / hashlib.sha1(url.encode()).hexdigest()[:16]
    entry.mkdir(parents=True)
    (entry / ".part-abc123_x").write_bytes(b"x" * 10000)
    (entry / f".tmp-inception-keras-download-inception_v4_2016_09_09.tar.gz-{_host()}-{proc.pid}-abc123").write_bytes(
        b"x")
    (tmp / "local").mkdir()
    (tmp / "local" / "inception_v4.tf_in1k.safetensors").write_bytes(b"junk")  # a conversion that takes the lock
    return {}


def _fetch_again(values):
    from inception_keras.weights import presets

    tmp = values["tmp"]
    with _no_network(tmp, hf_hub_offline=True), \
            mock.patch.dict(os.environ, {"INCEPTION_KERAS_WEIGHTS_DIR": str(tmp / "local")}):
        presets.pretrained_folder(presets.NAMED["inception_v4.tf_in1k"])


case(id="cache-killed-writers-leftovers-removed", make=_leftovers, call=_fetch_again, raises=RuntimeError,
     phrase="could not get the inception_v4.tf_in1k weights",
     exists=("keras/models/inception_keras/downloads/*/inception_v4_2016_09_09.tar.gz.lock",),
     absent=("keras/**/.tmp-*", "keras/**/.part-*"))
