"""Rows of the reliability suite (issue 21): predict.

Parts folders that cannot be trusted, a second run on one output, file names that are not
UTF-8, temporaries a killed run left, outputs that would replace something, and a full disk.
Each row builds at most one small random model (Inception-ResNet-v1 at 75x75); the rows
refused before the model is built cost nothing."""

import contextlib
import errno
import io
import json
import os
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from helpers.bad_inputs import case

SMALL = ("--model", "inception_resnet_v1", "--weights", "none", "--classes", "10", "--input-size", "75",
         "--top", "2", "--no-progress")
OUT = ("--output", "{tmp}/out.csv")

# Rows that run predict end to end on an Inception graph (5-8 s each): the full suite's, not the fast tier's.
SLOW = (pytest.mark.slow,)


def _image(path, value=128):
    Image.fromarray(np.full((80, 80, 3), value, np.uint8)).save(path)


def _with(*more):
    """``make``: ``ok.png``, then each of ``more`` (functions of the case's folder) for what they return."""
    def make(tmp):
        _image(tmp / "ok.png")
        values = {}
        for extra in more:
            values.update(extra(tmp) or {})
        return values

    return make


# ---- 2. a parts folder whose chunks cannot be trusted; one run per output ------
def _chunk_without_manifest(tmp):
    """A chunk of rows 0 (as a run of another model leaves it) and no manifest.json: a hand copy, a
    run of an older version, or two runs racing."""
    parts = tmp / "out.csv.parts"
    parts.mkdir()
    np.savez(parts / "chunk-000000.npz", row=np.zeros(1, np.int64), error=np.asarray(["from another model"]),
             filename=np.asarray([""]), ids=np.zeros((1, 2), np.int64), probs=np.ones((1, 2), np.float32))


case(id="predict-parts-without-manifest-start-over", marks=SLOW, make=_with(_chunk_without_manifest), tool="predict",
     argv=("{tmp}/ok.png", *SMALL, *OUT), code=0,
     phrase="out.csv.parts holds 1 chunk but no manifest.json, so what made them is unknown: deleted them, "
            "starting over", exists=("out.csv", "out.csv.meta.json"), absent=("out.csv.parts", "out.csv.lock"))


def _another_run_holds_the_lock(tmp):
    """What a run writing out.csv holds: ``flock`` on out.csv.lock (an open file of this process:
    flock locks belong to open files, so the tool's own open + lock is refused)."""
    import fcntl

    holder = open(tmp / "out.csv.lock", "w")
    fcntl.flock(holder, fcntl.LOCK_EX)
    holder.write(f"inception-keras lock otherhost {os.getpid()}\n")
    holder.flush()
    return {"holder": holder}  # closed (the lock released) when the case's values go


case(id="predict-output-locked-by-another-run", make=_with(_another_run_holds_the_lock), tool="predict",
     argv=("{tmp}/ok.png", *SMALL, *OUT), code=2,
     phrase="another run is writing to", absent=("out.csv", "out.csv.parts", "out.csv.meta.json"))


# ---- 3. a file name that is not UTF-8 -------------------------------------------
def _latin1_name(tmp):  # (its row's path: test_predict_batch.py)
    (tmp / "photos").mkdir()
    _image(tmp / "photos" / "ok.png")
    _image(os.path.join(os.fsencode(tmp / "photos"), b"caf\xe9.png"), 60)  # (Latin-1, as old cameras name them)


case(id="predict-file-name-not-utf8-into-a-file", marks=SLOW, make=_with(_latin1_name), tool="predict",
     argv=("{tmp}/photos", *SMALL, *OUT), code=0, phrase="2 images, 0 unreadable",
     exists=("out.csv",), absent=("out.csv.parts", ".tmp-*"))


# ---- 4. temporaries a killed run left --------------------------------------------
def _stale_temporary(tmp):
    """What a run killed while assembling leaves: a temporary named by a pid that is gone."""
    from inception_keras.utils.fileio import _host

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp / f".tmp-inception-keras-predict-out.csv-{_host()}-{gone.pid}-k3j9x_2a.csv").write_bytes(b"x" * 4096)


case(id="predict-removes-temporaries-of-a-killed-run", marks=SLOW, make=_with(_stale_temporary), tool="predict",
     argv=("{tmp}/ok.png", *SMALL, *OUT), code=0, phrase="wrote", exists=("out.csv",), absent=(".tmp-*",))


# ---- 5. outputs that would replace something ----------------------------------------
def _file(name, text="mine, not a prediction\n"):
    return lambda tmp: (tmp / name).write_text(text) and None


OVERWRITE = "already exists and was not written by inception-keras; give another path, or pass --overwrite"

case(id="predict-output-not-written-by-predict-is-kept", make=_with(_file("out.csv")), tool="predict",
     argv=("{tmp}/ok.png", *SMALL, *OUT), code=2, phrase=OVERWRITE,
     absent=("out.csv.meta.json", "out.csv.parts", "out.csv.lock"))
case(id="predict-overwrite-replaces-it", marks=SLOW, make=_with(_file("out.csv")), tool="predict",
     argv=("{tmp}/ok.png", *SMALL, *OUT, "--overwrite"), code=0, phrase="wrote", exists=("out.csv.meta.json",))
case(id="predict-embeddings-not-written-by-predict-is-kept", make=_with(_file("emb.npy")), tool="predict",
     argv=("{tmp}/ok.png", *SMALL, *OUT, "--embeddings", "{tmp}/emb.npy"), code=2,
     phrase="emb.npy " + OVERWRITE, absent=("out.csv",))


def _ours(tmp):
    """An output a run wrote: its description next to it names it."""
    (tmp / "out.csv").write_text("path\n")
    (tmp / "out.csv.meta.json").write_text(json.dumps({"columns": [["path", "str"]], "rows": 0,
                                                       "predictions": "out.csv", "embeddings": None}))


case(id="predict-rerun-replaces-its-own-output", marks=SLOW, make=_with(_ours), tool="predict",
     argv=("{tmp}/ok.png", *SMALL, *OUT), code=0, phrase="wrote", exists=("out.csv",))
case(id="predict-input-is-the-output", make=_with(_file("x.csv")), tool="predict",
     argv=("{tmp}/x.csv", *SMALL, "--output", "{tmp}/x.csv", "--overwrite"), code=2,
     phrase="x.csv is also an input; write the result to another file", absent=("x.csv.meta.json",))


def _two_shards(tmp):
    for i in range(2):
        (tmp / f"p-{i}.csv").write_text("path,error\n")
        (tmp / f"p-{i}.csv.meta.json").write_text(json.dumps({"columns": [["path", "str"], ["error", "str"]],
                                                              "rows": 0, "unreadable": 0, "shard": f"{i}/2",
                                                              "predictions": f"p-{i}.csv", "embeddings": None}))


case(id="predict-merge-onto-one-of-its-shards", make=_two_shards, tool="predict",
     argv=("--merge", "{tmp}/p-0.csv", "{tmp}/p-1.csv", "--output", "{tmp}/p-0.csv", "--overwrite"), code=2,
     phrase="p-0.csv is also an input; write the result to another file")
case(id="predict-merge-onto-a-file-not-written-by-predict", make=lambda tmp: _two_shards(tmp) or
     _file("merged.csv")(tmp), tool="predict",
     argv=("--merge", "{tmp}/p-*.csv", "--output", "{tmp}/merged.csv"), code=2, phrase=OVERWRITE,
     absent=("merged.csv.meta.json",))


# ---- 6. a full disk: the message names the file ---------------------------------------
class ToolSaid(Exception):
    """The tool exited 2: its last line."""


def _predict_with(target, argv):
    """A call running ``predict`` with ``target`` failing as a full disk does; raises ToolSaid
    with its last line when it exits 2 (an AssertionError otherwise, or after a traceback)."""
    def call(values):
        from inception_keras.cli import predict

        said = io.StringIO()
        full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with mock.patch(target, side_effect=full), contextlib.redirect_stdout(said), \
                contextlib.redirect_stderr(said):
            code = predict.main([a.format(**{k: str(v) for k, v in values.items()}) for a in argv])
        text = said.getvalue()
        assert code == 2 and "Traceback" not in text, (code, text[-2000:])
        raise ToolSaid(text.strip().splitlines()[-1])

    return call


case(id="predict-disk-full-while-assembling-names-the-file", marks=SLOW, make=_with(), raises=ToolSaid,
     call=_predict_with("inception_keras.inference.writers.CsvWriter.write", ("{tmp}/ok.png", *SMALL, *OUT)),
     phrase="out.csv: No space left on device; free space on that disk, or write somewhere else",
     exists=("out.csv.parts/chunk-000000.npz",), absent=("out.csv", ".tmp-*", "out.csv.lock"))
case(id="predict-disk-full-writing-a-chunk-names-the-file", marks=SLOW, make=_with(), raises=ToolSaid,
     call=_predict_with("inception_keras.inference.chunks.np.savez", ("{tmp}/ok.png", *SMALL, *OUT)),
     phrase="out.csv.parts/chunk-000000.npz: No space left on device; free space on that disk",
     absent=("out.csv", "out.csv.parts/chunk-*", "out.csv.parts/.tmp-*"))
