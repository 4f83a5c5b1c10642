"""Rows of the reliability suite (issue 21): tools.

Outputs that would silently replace something (a file inception-keras did not write, one of
the inputs), and the temporaries a killed export leaves. Every row here is refused or fails
before any model is built or checkpoint read: cheap."""

import json
import os
import subprocess
import sys

from helpers.bad_inputs import case

SMALL = ("--model", "inception_resnet_v1", "--weights", "none", "--input-size", "75", "--classes", "10")


def _export(fmt, output="{tmp}/m", *more):
    return dict(tool="export", argv=(*SMALL, "--format", fmt, "--output", output, *more), code=2)


# --------------------------------------------------------------------------- #
# export: an existing file that is not an export of ours is kept
# --------------------------------------------------------------------------- #
def _files(**contents):
    """Files (name -> text) in the case's folder; a name ending in / is a folder."""
    def make(tmp):
        for name, text in contents.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith("/"):
                path.mkdir()
            else:
                path.write_text(text)
        return {}

    return make


OVERWRITE = "already exists and was not written by inception-keras; give another path, or pass --overwrite"

case(id="export-onnx-over-a-foreign-file", make=_files(**{"mine.onnx": "my notes, not an ONNX model"}),
     **_export("onnx", "{tmp}/mine"), phrase=f"mine.onnx {OVERWRITE}",
     exists=("mine.onnx",), absent=("mine.onnx.json", ".tmp-*"))
case(id="export-tflite-over-a-foreign-file", make=_files(**{"m.tflite": "TFL3 is not enough"}),
     **_export("tflite"), phrase=OVERWRITE, exists=("m.tflite",),
     absent=("m.tflite.json", "m.tflite.labels.txt"))
case(id="export-tflite-over-a-foreign-labels-file", make=_files(**{"m.tflite.labels.txt": "my classes\n"}),
     **_export("tflite"), phrase=f"m.tflite.labels.txt {OVERWRITE}",
     exists=("m.tflite.labels.txt",), absent=("m.tflite", "m.tflite.json"))
case(id="export-onnx-over-a-foreign-report", make=_files(**{"m.onnx.json": '{"mine": 1}'}),
     **_export("onnx"), phrase=f"m.onnx.json {OVERWRITE}",
     exists=("m.onnx.json",), absent=("m.onnx",))
case(id="export-saved-model-over-someone-elses-saved-model",
     make=_files(**{"sm/saved_model.pb": "a SavedModel of another tool", "sm/variables/": ""}),
     **_export("saved_model", "{tmp}/sm"), phrase=OVERWRITE, exists=("sm/saved_model.pb",), absent=("sm.json",))


def _weights_named_like_the_output(tmp):
    (tmp / "m.onnx").write_text("weights, say")
    return {}


case(id="export-output-is-an-input-even-with-overwrite", make=_weights_named_like_the_output,
     tool="export", argv=("--model", "inception_resnet_v1", "--weights", "{tmp}/m.onnx", "--input-size", "75",
                          "--format", "onnx", "--output", "{tmp}/m", "--overwrite"),
     phrase="m.onnx is also an input; write the result to another file", absent=("m.onnx.json",))


# --------------------------------------------------------------------------- #
# export: a killed export's temporaries go with the next run into the folder
# --------------------------------------------------------------------------- #
def _dead_writers_temporaries(tmp):
    """What a SavedModel export killed mid-way leaves next to its output: its temporary folder
    (the assets, the SavedModel being written) named with this host and a pid that is gone."""
    from inception_keras.utils.fileio import temporary_prefix

    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()

    def killed(target):  # the start of a temporary name of target, written by the dead pid
        prefix = os.path.basename(temporary_prefix(tmp / "out" / target, "export"))
        return tmp / "out" / prefix.replace(f"-{os.getpid()}-", f"-{done.pid}-")

    os.makedirs(f"{killed('sm')}k3j9x_2a/new/variables")
    with open(f"{killed('m.onnx')}k3j9x_2a.onnx", "wb") as f:
        f.write(b"half an ONNX model")
    return {}


case(id="export-removes-a-killed-exports-temporaries", make=_dead_writers_temporaries,
     tool="export", argv=("--model", "inception_resnet_v1", "--weights", "{tmp}/missing.weights.h5",
                          "--input-size", "75", "--format", "saved_model", "--output", "{tmp}/out/sm"),
     phrase="missing.weights.h5", absent=("out/.tmp-*", "out/sm"))


# --------------------------------------------------------------------------- #
# converters: the weights, report and .keras replace only an earlier conversion's
# --------------------------------------------------------------------------- #
V4 = ("--model", "inception_v4")


def _convert(tool, *more, checkpoint="{tmp}/none.ckpt"):
    return dict(tool=tool, argv=("--checkpoint", checkpoint, *V4, "--output", "{tmp}/out.weights.h5", *more), code=2)


case(id="convert-over-foreign-weights", make=_files(**{"out.weights.h5": "trained for a week"}),
     **_convert("convert"), phrase=f"out.weights.h5 {OVERWRITE}",
     exists=("out.weights.h5",), absent=("out.weights.h5.json",))
case(id="convert_timm-over-a-foreign-report", make=_files(**{"out.weights.h5.json": "[]"}),
     **_convert("convert_timm", checkpoint="{tmp}/none.safetensors"),
     phrase=f"out.weights.h5.json {OVERWRITE}", absent=("out.weights.h5",))
case(id="convert_timm-save-model-over-a-foreign-keras", make=_files(**{"out.keras": "my model"}),
     **_convert("convert_timm", "--save-model", checkpoint="{tmp}/none.safetensors"),
     phrase=f"out.keras {OVERWRITE}", absent=("out.weights.h5*",))


def _earlier_conversion_then_edited(tmp):
    """An earlier conversion's weights, report and .keras, and then the weights changed by hand."""
    from inception_keras.cli.conversion import sha256

    (tmp / "out.weights.h5").write_bytes(b"converted")
    (tmp / "out.keras").write_bytes(b"converted model")
    report = {"checkpoint": "old.ckpt", "output": str(tmp / "out.weights.h5"), "sha256": sha256(tmp / "out.weights.h5"),
              "saved_model": str(tmp / "out.keras"), "saved_model_sha256": sha256(tmp / "out.keras")}
    (tmp / "out.weights.h5.json").write_text(json.dumps(report))
    (tmp / "out.weights.h5").write_bytes(b"fine-tuned by hand since")
    return {}


case(id="convert-over-weights-changed-since-their-conversion", make=_earlier_conversion_then_edited,
     **_convert("convert", "--save-model"), phrase=f"out.weights.h5 {OVERWRITE}")
case(id="convert-checkpoint-is-the-output-even-with-overwrite", make=_files(**{"out.weights.h5": "slim"}),
     **_convert("convert", "--overwrite", checkpoint="{tmp}/out.weights.h5"),
     phrase="out.weights.h5 is also an input; write the result to another file", absent=("out.weights.h5.json",))


# --------------------------------------------------------------------------- #
# Exported models in predict and evaluate (issue 23): refused before anything is written
# --------------------------------------------------------------------------- #
def _exported(*kinds, truncate=None, data=True):
    """Copies of tiny exports (tests/helpers/tiny_exports.py) in the case's folder, ``truncate``
    (a kind) cut to a third, and a small class-folder data set under data/."""
    def make(tmp):
        from helpers import tiny_exports

        values = {}
        for kind in kinds:
            path = tiny_exports.copy_export(kind, tmp)
            values[kind] = path
            if kind == truncate:
                target = os.path.join(path, "saved_model.pb") if os.path.isdir(path) else path
                with open(target, "r+b") as f:
                    f.truncate(os.path.getsize(target) // 3)
        if data:
            values["data"] = tiny_exports.class_folders(tmp / "data", per_class=1)
        return values

    return make


def _foreign(shape):
    def make(tmp):
        from helpers import tiny_exports

        return {"foreign": tiny_exports.foreign_onnx(str(tmp / "foreign.onnx"), shape),
                "data": tiny_exports.class_folders(tmp / "data", per_class=1)}

    return make


def _two_signatures(tmp):
    from helpers import tiny_exports

    return {"two": tiny_exports.several_signatures_tflite(str(tmp / "two.tflite")),
            "data": tiny_exports.class_folders(tmp / "data", per_class=1)}


def _ev(model, *more):
    return dict(tool="evaluate", argv=("--model", model, "--data", "{data}", "--no-progress", "--pipeline-batches",
                                       "0", "--output", "{tmp}/out", *more), code=2, absent=("out",))


def _pr(model, *more):
    return dict(tool="predict", argv=("{data}/ant/0.jpg", "--model", model, "--output", "{tmp}/p.csv", *more),
                code=2, absent=("p.csv*",))


TRUNCATED = "the file is corrupt or truncated"
case(id="evaluate-truncated-onnx", make=_exported("onnx", truncate="onnx"), **_ev("{onnx}"), phrase=TRUNCATED)
case(id="predict-truncated-tflite", make=_exported("tflite", truncate="tflite"), **_pr("{tflite}"), phrase=TRUNCATED)
case(id="evaluate-truncated-saved-model", make=_exported("saved_model", truncate="saved_model"),
     **_ev("{tmp}/tiny"), phrase="damaged or truncated")
case(id="evaluate-onnx-of-another-network-nchw", make=_foreign((None, 3, 75, 75)), **_ev("{foreign}"),
     phrase="another network's input shape")
case(id="predict-onnx-without-metadata-asks-for-classes", make=_foreign((None, 75, 75, 3)), **_pr("{foreign}"),
     phrase="has no metadata from inception-keras export (class names, preprocessing); give --classes N or --labels")
case(id="predict-onnx-input-size-of-another-network", make=_foreign((None, 75, 75, 3)),
     **_pr("{foreign}", "--classes", "3", "--input-size", "99"), phrase="takes 75x75 images, but 99 is given")
case(id="evaluate-tflite-with-several-signatures", make=_two_signatures, **_ev("{two}"),
     phrase="has 2 signatures (other, serving_default)")
case(id="evaluate-onnx-provider-not-installed", make=_exported("onnx"), **_ev("{onnx}", "--provider", "tensorrt"),
     phrase="the ONNX Runtime provider 'tensorrt' (TensorrtExecutionProvider) is not installed here")
case(id="evaluate-reference-with-other-class-count", make=_exported("onnx", "three_onnx"),
     **_ev("{onnx}", "--reference", "{three_onnx}"), phrase="has 3 classes but --model")


# --------------------------------------------------------------------------- #
# deploy_report: refused before any model is opened, and nothing is written
# --------------------------------------------------------------------------- #
def _dr(*more, out="{tmp}/report"):
    return dict(tool="deploy_report", argv=("--model", "{onnx}", "--data", "{data}", "--out", out, "--no-progress",
                                            "--runs", "1", "--warmup", "0", *more), code=2)


REPORT_FILES = ("report/deploy_report.*", "report")
def _exported_and_notes(tmp):
    (tmp / "notes.txt").write_text("mine")
    return _exported("onnx")(tmp)


case(id="deploy_report-out-is-a-file", make=_exported_and_notes, **_dr(out="{tmp}/notes.txt"),
     phrase="notes.txt is a file; give a folder for deploy_report.md", exists=("notes.txt",))
case(id="deploy_report-data-folder-missing", make=_exported("onnx"), **_dr("--data", "{tmp}/nope"),
     phrase="data path not found", absent=REPORT_FILES)
case(id="deploy_report-truncated-onnx", make=_exported("onnx", truncate="onnx"), **_dr(), phrase=TRUNCATED,
     absent=REPORT_FILES)
case(id="deploy_report-reference-with-other-class-count", make=_exported("onnx", "three_onnx"),
     **_dr("--reference", "{three_onnx}"), phrase="has 3 classes but", absent=REPORT_FILES)
