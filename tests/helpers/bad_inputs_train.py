"""Rows of the reliability suite (issue 21): train, and the data and reports of evaluate.

Resumed runs are made by hand (config.json, checkpoint.json, a checkpoint that holds only its
run state): what --resume checks first needs nothing else, and no model is built."""

import contextlib
import errno
import io
import json
import os
from unittest import mock

import numpy as np
from PIL import Image

from helpers.bad_inputs import case

SMALL = ("--model", "inception_resnet_v1", "--input-size", "75")
EVAL = ("--model", "inception_resnet_v1", "--weights", "none", "--input-size", "75", "--no-progress",
        "--pipeline-batches", "0")
NOT_UTF8 = b"bad\xe9.jpg"  # a Latin-1 file name: no UTF-8 decoding of it exists


def _png(path, value=90):
    Image.fromarray(np.full((75, 75, 3), value, np.uint8)).save(path)


def _class_folders(*classes, per_class=2):
    def make(tmp):
        for name in classes:
            (tmp / "data" / name).mkdir(parents=True)
            for i in range(per_class):
                _png(tmp / "data" / name / f"{i}.png", 40 + 60 * i)
        return {}

    return make


# ---- 1: one class ------------------------------------------------------------
case(id="train-one-class-refused", make=_class_folders("cats", per_class=3), tool="train",
     argv=("--data", "{tmp}/data", *SMALL, "--epochs", "1", "--output", "{tmp}/run"),
     phrase="/data' has one class, 'cats' (folder names (classes in sorted order), 3 images): a classifier needs "
            "at least 2 classes",
     absent=("run",))


# ---- 2, 3: --resume of a run whose files were damaged or edited ---------------
def _run_folder(edit_config=None, checkpoint_json=None, graph=True):
    """A run folder as the training tool leaves it after epoch 1 of 2, by hand: config.json,
    checkpoint.json and a checkpoint holding its run state (no weights: never reached)."""
    def make(tmp):
        import h5py

        from inception_keras.training import TrainConfig
        from inception_keras.training.config import STATE_ATTR

        run = tmp / "run"
        run.mkdir()
        config = TrainConfig(output=str(run), data=str(tmp / "data"), model="inception_resnet_v1", input_size=75,
                             epochs=2).to_json()
        record = {"model": "inception_resnet_v1", "classes": 3, "input_size": 75, "aux_logits": False}
        state = {"epoch": 1, "iterations": 3, "best_val_top1": 0.5, "best_epoch": 1,
                 **({"graph": record} if graph else {})}
        (edit_config or (lambda c: None))(config)
        (run / "config.json").write_text(json.dumps({"config": config, "derived": {"classes": 3}, "command": None}))
        (run / "checkpoint.json").write_text(checkpoint_json if checkpoint_json is not None else json.dumps(state))
        with h5py.File(run / "checkpoint.weights.h5", "w") as f:
            f.attrs[STATE_ATTR] = json.dumps(state)
        return {}

    return make


case(id="train-resume-checkpoint-json-not-json", make=_run_folder(checkpoint_json='{"epoch": 1,\n"iter'),
     tool="train", argv=("--resume", "{tmp}/run"),
     phrase="checkpoint.json is not valid JSON (line 2, column 1: Unterminated string starting at); it is a readable "
            "copy of the state in checkpoint.weights.h5: delete it and resume again")
case(id="train-resume-config-model-edited", make=_run_folder(edit_config=lambda c: c.update(model="inception_v4")),
     tool="train", argv=("--resume", "{tmp}/run"),
     phrase="it says model 'inception_v4' (the checkpoint's: 'inception_resnet_v1')",
     absent=("run/best", "run/history.csv"))
case(id="train-resume-config-input-size-edited", make=_run_folder(edit_config=lambda c: c.update(input_size=299)),
     tool="train", argv=("--resume", "{tmp}/run"),
     phrase="it says input_size 299 (the checkpoint's: 75)")


# ---- 5: a file name that is not UTF-8 -----------------------------------------
def _not_utf8_name(tmp):
    _class_folders("cats", "dogs", per_class=1)(tmp)
    with open(os.fsencode(tmp / "data" / "dogs") + b"/" + NOT_UTF8, "wb") as f:
        f.write(b"\xff\xd8\xff a broken JPEG")
    return {}


case(id="evaluate-not-utf8-file-name-listed-others-go-on", make=_not_utf8_name, tool="evaluate",
     argv=("--data", "{tmp}/data", *EVAL, "--output", "{tmp}/out"), code=0,
     phrase="dogs/bad\\xe9.jpg: not a readable image", exists=("out/predictions.csv", "out/report.md"))


# ---- 6: the line of a bad ground-truth token ----------------------------------
def _flat_with(label_name, text):
    def make(tmp):
        (tmp / "data").mkdir()
        for n in (1, 2, 3):
            _png(tmp / "data" / f"ILSVRC2012_val_{n:08d}.png")
        (tmp / label_name).write_text(text)
        return {}

    return make


case(id="evaluate-devkit-ground-truth-bad-token-on-its-line", make=_flat_with("gt.txt", "490\n361\n17a\n"),
     tool="evaluate", argv=("--data", "{tmp}/data", "--labels", "{tmp}/gt.txt", *EVAL, "--output", "{tmp}/out"),
     phrase="gt.txt:3: expected an ILSVRC2012_ID (1..1000)", absent=("out",))
case(id="evaluate-loc-solution-bad-synset-on-its-line",
     make=_flat_with("LOC_val_solution.csv", "ImageId,PredictionString\nILSVRC2012_val_00000001,n01751748 1 2 3 4\n"
                     "ILSVRC2012_val_00000002,n01751748 1 2 3 4\nILSVRC2012_val_00000003,x0175 1 2 3 4\n"),
     tool="evaluate", argv=("--data", "{tmp}/data", "--labels", "{tmp}/LOC_val_solution.csv", *EVAL,
                            "--output", "{tmp}/out"),
     phrase="LOC_val_solution.csv:4: 'x0175' is not an ImageNet synset", absent=("out",))


# ---- 7: a full disk names the file --------------------------------------------
class ToolFailed(Exception):
    """What a tool run under a mock printed, when it exited 2 as it should."""


def _under_disk_full(tool, target, argv):
    """Run ``tool`` with ``target`` raising ENOSPC; it must exit 2 with one line naming the path."""
    def call(values):
        from importlib import import_module

        module = import_module(f"inception_keras.cli.{tool}")
        err = io.StringIO()
        full = OSError(errno.ENOSPC, "No space left on device")
        with mock.patch(target, side_effect=full), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            code = module.main([a.format(**{k: str(v) for k, v in values.items()}) for a in argv])
        errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and "Traceback" not in err.getvalue(), (code, err.getvalue()[-3000:])
        raise ToolFailed(errors[0])

    return call


case(id="evaluate-disk-full-names-the-report", make=_class_folders("cats", "dogs", per_class=1),
     call=_under_disk_full("evaluate", "inception_keras.evaluation.write_json",
                           ("--data", "{tmp}/data", *EVAL, "--output", "{tmp}/out")), raises=ToolFailed,
     phrase="out/report.json: No space left on device; free space on that disk", absent=("out/report.*",))
case(id="train-disk-full-names-the-run-file", make=_class_folders("cats", "dogs", per_class=2),
     call=_under_disk_full("train", "inception_keras.training.run.write_json",
                           ("--data", "{tmp}/data", *SMALL, "--epochs", "1", "--batch-size", "2", "--val-fraction",
                            "0.5", "--no-image-check", "--output", "{tmp}/run")), raises=ToolFailed,
     phrase="run/config.json: No space left on device; free space on that disk", absent=("run/config.json",))
