"""Rows of the reliability suite: checkpoints, weights and outputs (converters, export, train)."""

import io
import os
import tarfile
from unittest import mock

import numpy as np

from helpers.bad_inputs import case

case(id="train-resume-no-such-folder", tool="train", argv=("--resume", "{tmp}/nowhere"),
     phrase="--resume", absent=("nowhere",))
case(id="train-new-run-without-output", tool="train", argv=("--data", "{tmp}"),
     phrase="pass --output DIR for a new run")

V4 = ("--model", "inception_v4")


def _tool(name, checkpoint, output="{tmp}/out.weights.h5", *more):
    return dict(tool=name, argv=("--checkpoint", checkpoint, *V4, "--output", output, *more), code=2)


case(id="convert-output-not-weights-h5", **_tool("convert", "{tmp}/none.ckpt", "{tmp}/out.h5"),
     phrase="--output must end with .weights.h5", absent=("out*",))


# --------------------------------------------------------------------------- #
# Outputs that cannot be written: refused before the checkpoint is read
# --------------------------------------------------------------------------- #
def _folder_named_like_the_output(tmp):
    (tmp / "out.weights.h5").mkdir()
    return {}


def _read_only_folder(tmp):
    if os.geteuid() == 0:  # root writes into a mode-555 folder: use a file system that refuses it
        return {"ro": "/sys"}
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o555)
    return {"ro": tmp / "ro"}


case(id="convert-output-is-a-folder", make=_folder_named_like_the_output,
     **_tool("convert", "{tmp}/none.ckpt"), phrase="out.weights.h5 is a folder; give a file path")
case(id="convert_timm-output-folder-read-only", make=_read_only_folder,
     **_tool("convert_timm", "{tmp}/none.safetensors", "{ro}/out.weights.h5"), phrase="is not writable")
case(id="convert_timm-save-model-not-keras", **_tool("convert_timm", "{tmp}/none.safetensors",
                                                     "{tmp}/out.weights.h5", "--save-model", "{tmp}/m.h5"),
     phrase="--save-model must end with .keras", absent=("*.h5",))


# --------------------------------------------------------------------------- #
# Damaged or hostile checkpoints
# --------------------------------------------------------------------------- #
def _truncated_checkpoint(tmp):
    from helpers.slim_checkpoints import write_checkpoint

    prefix = write_checkpoint(str(tmp / "small.ckpt"), {"a": np.ones((100, 100), "float32")})
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 3)
    return {"prefix": prefix}


def _read_all(values):
    from inception_keras.weights.convert import open_slim_checkpoint

    with open_slim_checkpoint(values["prefix"]) as ckpt:
        return [ckpt.get(name) for name in ckpt.shapes]


case(id="slim-truncated-data-file", make=_truncated_checkpoint, call=_read_all,
     phrase="small.ckpt.data-00000-of-00001) is truncated or corrupt")


def _tar(members):
    def make(tmp):
        with tarfile.open(tmp / "release.tar.gz", "w:gz") as tar:
            for info in members():
                tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
        return {}

    return make


def _member(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


for row_id, member, reason in [
    # (an absolute member path is made relative by the filter: extracted inside, then not a checkpoint)
    ("link-outside", lambda: [_member("link", tarfile.SYMTYPE, "../../etc/passwd")],
     "it is a link that points outside the extraction folder"),
    ("outside", lambda: [_member("../evil.ckpt")], "it would be written outside the extraction folder"),
    ("special-file", lambda: [_member("fifo", tarfile.FIFOTYPE)], "it is a device, pipe or other special file"),
    ("absolute-link", lambda: [_member("link", tarfile.SYMTYPE, "/etc/passwd")], "it is a link to an absolute path"),
]:
    case(id=f"convert-tar-{row_id}", make=_tar(member), **_tool("convert", "{tmp}/release.tar.gz"),
         phrase=f"refused because {reason}", absent=("out*",))


def _no_tar_filter(values):
    from inception_keras.weights.convert.slim import extract_archive

    with mock.patch.dict(tarfile.__dict__):
        del tarfile.data_filter
        extract_archive(str(values["tmp"] / "release.tar.gz"), str(values["tmp"]))


case(id="tar-python-without-extraction-filter", make=_tar(lambda: [_member("a.ckpt")]), call=_no_tar_filter,
     phrase="has no tarfile extraction filter", absent=("a.ckpt",))


class _Print:  # weights_only refuses the global: nothing is called
    def __reduce__(self):
        return (print, ("unpickled",))


class _Getcwd:
    def __reduce__(self):
        return (os.getcwd, ())


def _pickle(obj):
    def make(tmp):
        import torch

        torch.save({"x": torch.zeros(2), "payload": obj}, str(tmp / "evil.pth"))
        return {}

    return make


case(id="convert_timm-pickle-forbidden-global", make=_pickle(_Print()), **_tool("convert_timm", "{tmp}/evil.pth"),
     phrase="tried to load a forbidden object, print", absent=("out*",))
case(id="convert_timm-pickle-blocked-module", make=_pickle(_Getcwd()), **_tool("convert_timm", "{tmp}/evil.pth"),
     phrase="forbidden object, posix.getcwd (its module posix is blocked", absent=("out*",))


# --------------------------------------------------------------------------- #
# A weights file of another build: the differences, capped
# --------------------------------------------------------------------------- #
SMALL = dict(include_top=False, input_shape=(75, 75, 3))


def _weights_with_gamma(tmp):
    import inception_keras

    inception_keras.create_model("inception_resnet_v1", batchnorm_scale=True, **SMALL).save_weights(
        str(tmp / "gamma.weights.h5"))
    return {}


def _load_without_gamma(values):
    import inception_keras

    inception_keras.create_model("inception_resnet_v1", weights=str(values["tmp"] / "gamma.weights.h5"), **SMALL)


case(id="weights-of-another-build-capped", make=_weights_with_gamma, call=_load_without_gamma,
     phrase="more differences")
