"""Local weight files into a built model: Keras weights, a ``.keras`` archive, PyTorch weights in
timm's layout, a TF-slim checkpoint, or a preset folder's ``model.weights.h5``.

Each checks what it can name before Keras fails on it: the classifier's shape (classes,
``include_top``), the layers that differ, the graph a checkpoint belongs to.
"""

from __future__ import annotations

import contextlib
import os
import zipfile

import h5py

from ..utils import fileio
from ..errors import PresetError
from .convert.core import ConversionError
from .convert.slim import SLIM_ARCHS, load_slim_weights, open_slim_checkpoint
from .convert.timm import TIMM_ARCHS, is_pytorch_weights, load_timm_weights, open_timm_checkpoint
from .convert.transfer import copy_by_name, h5_layer_shapes, h5_layers, layer_differences
from .format import PresetInfo, read_preset, training_run_hint, verify_weights
from .schema import WEIGHTS_FILE

WEIGHT_SUFFIXES = (".weights.h5", ".h5", ".keras")


def load_weights_file(model, weights, arch: str) -> None:
    """Load a local weights file into ``model`` (graph ``arch``): Keras (``.weights.h5``, a legacy
    ``.h5``, a ``.keras`` archive), PyTorch weights in timm's layout, or a TF-slim checkpoint."""

    path = os.fspath(weights)
    if is_pytorch_weights(path):
        _load_pytorch_weights(model, path, arch)
        return
    if not path.endswith(WEIGHT_SUFFIXES):
        _load_slim_checkpoint(model, path, arch)
        return
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path!r}")
    with weights_h5(path) as h5:
        check_classifier_shape(model, h5, shown=path)
        advice = ("The file must be saved from the same architecture built with the same include_top, "
                  "classes, aux_logits, features_only and batchnorm_scale arguments.")
        differences = _layer_differences(model, h5)
        if differences:
            raise ValueError(f"could not load weights from {path!r} into {model.name!r}: the layers differ:\n  "
                             + "\n  ".join(differences) + f"\n{advice}")
        _keras_load_weights(model, h5, path, advice)


def _keras_load_weights(model, h5: str, path: str, advice: str) -> None:
    try:
        model.load_weights(h5)
    except Exception as e:  # Keras raises ValueError/KeyError/... with little context, or a whole layer list
        said = str(e) if len(str(e)) <= _KERAS_MESSAGE else str(e)[:_KERAS_MESSAGE] + " [...]"
        raise ValueError(f"could not load weights from {path!r} into {model.name!r}: {said}\n{advice}") from None


_KERAS_MESSAGE = 1000  # characters of a Keras loading error kept (it can list every layer: 100 KB)


def _layer_differences(model, path: str) -> list[str]:
    """The differences between the model's layers and a file saved from a model of this zoo
    (by layer name; see :func:`~inception_keras.weights.convert.transfer.layer_differences`). Empty
    for a file without this zoo's layer names (Keras then loads it by position)."""
    try:
        in_file = h5_layer_shapes(path)
    except (OSError, ValueError, KeyError):
        return []  # Keras says what is wrong with the file
    if not any("__" in name for name in in_file):  # not our slim-scope names (layers.SEP)
        return []
    return layer_differences(model, in_file)


def _load_slim_checkpoint(model, path: str, arch: str) -> None:
    if arch not in SLIM_ARCHS:
        raise ValueError(
            f"{path!r} is not a Keras weights file ({', '.join(WEIGHT_SUFFIXES)}), and TF-slim checkpoints "
            f"exist only for {', '.join(SLIM_ARCHS)}, not {arch}{training_run_hint(path)}"
        )
    with open_slim_checkpoint(path) as ckpt:
        load_slim_weights(model, ckpt, arch=arch)


def _load_pytorch_weights(model, path: str, arch: str) -> None:
    if arch not in TIMM_ARCHS:
        hint = " (use create_inception_resnet_v2(variant='slim'))" if arch == "inception_resnet_v2" else ""
        raise ValueError(
            f"{path!r} is a PyTorch weights file; timm's layouts exist for inception_v4 and "
            f"inception_resnet_v2_slim, not {arch}{hint}"
        )
    with open_timm_checkpoint(path) as ckpt:
        load_timm_weights(model, ckpt, arch=arch)


@contextlib.contextmanager
def weights_h5(path: str):
    """The HDF5 weights of ``path``: the file itself, or for a ``.keras`` archive its
    ``model.weights.h5`` extracted to a temporary folder (Keras' load_weights reads it inside
    the zip, seeking back and forth: minutes for a full-size model)."""
    if not path.endswith(".keras"):
        yield path
        return
    member = "model.weights.h5"
    try:
        with zipfile.ZipFile(path) as archive:
            if member not in archive.namelist():
                raise ValueError(f"{path!r} is not a Keras model archive: it has no {member}")
            with fileio.scratch_dir("keras") as folder:
                archive.extract(member, folder)
                yield os.path.join(folder, member)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path!r} is not a readable .keras archive ({e}); save it with model.save()") from None


def check_classifier_shape(model, path: str, shown: str | None = None) -> None:
    """Name the usual mismatch (classes, include_top) before Keras fails on it.

    The dense kernels are the only 2D weights of these models, in every Keras weights
    format, so comparing the 2D shapes of the file with the model's is enough. ``shown`` is
    the name given in messages (default ``path``).
    """
    real, path = path, shown or path
    try:
        with h5py.File(real, "r") as f:
            in_file = []
            f.visititems(lambda _, obj: in_file.append(tuple(obj.shape))
                         if isinstance(obj, h5py.Dataset) and obj.ndim == 2 else None)
    except OSError as e:
        raise ValueError(f"weights file {path!r} is not a readable HDF5 file: {e}") from e
    in_model = [tuple(w.shape) for w in model.weights if len(w.shape) == 2]
    if sorted(in_file) == sorted(in_model):
        return
    file_classes = sorted({s[1] for s in in_file})
    if not in_model:
        raise ValueError(
            f"weights file {path!r} has a classifier ({', '.join(map(str, file_classes))} outputs) but the model "
            f"was built without one; build it with include_top=True and classes={file_classes[0]}"
        )
    if not in_file:
        raise ValueError(
            f"weights file {path!r} has no classifier but the model has one; "
            f"build it with include_top=False, or use a file saved from a model with include_top=True"
        )
    model_classes = sorted({s[1] for s in in_model})
    if file_classes != model_classes:
        raise ValueError(
            f"weights file {path!r} has a classifier with {file_classes[0]} classes but the model was built "
            f"with classes={model_classes[0]}; pass classes={file_classes[0]} or use a file saved with "
            f"{model_classes[0]} classes"
        )
    if sorted({s[0] for s in in_file}) != sorted({s[0] for s in in_model}):
        raise ValueError(
            f"weights file {path!r} has a classifier on {in_file[0][0]} features but {model.name!r} has "
            f"{in_model[0][0]}: the file was saved from a different architecture"
        )
    raise ValueError(
        f"weights file {path!r} has classifier kernels of shapes {sorted(in_file)} but the model has "
        f"{sorted(in_model)}; build the model with the same aux_logits as the saved one"
    )


def load_folder_weights(model, folder: str, info: PresetInfo | None = None, *, verified: bool = False) -> None:
    """Load a preset folder's weights into ``model`` by layer name, after checking their sha256.

    The model may differ from the preset in input size, pooling, BatchNorm scale (gamma 1),
    or by having no top, no auxiliary head, or the preset's classes minus its background
    class. Anything else is a PresetError that names both heads.
    """
    info = info or read_preset(folder)
    _check_heads(model, info)
    weights = os.path.join(info.path, WEIGHTS_FILE) if verified else verify_weights(info)
    try:
        copy_by_name(h5_layers(weights), model, label_offset=1 if info.background else 0,
                     source_name=f"preset {info.uri or folder}")
    except ConversionError as e:
        raise PresetError(f"cannot load {weights} into {model.name!r}: {e}") from None


def _check_heads(model, info: PresetInfo) -> None:
    names = {layer.name for layer in model.layers}
    args = info.arguments
    if "Logits__Logits" in names:
        classes = model.get_layer("Logits__Logits").units
        if not args.get("include_top", True):
            raise PresetError(f"preset {info.uri} has no classifier (include_top=False) but {model.name!r} has one: "
                              f"build it with include_top=False")
        allowed = {args["classes"]} | ({args["classes"] - 1} if info.background else set())
        if classes not in allowed:
            raise PresetError(
                f"preset {info.uri} has a {args['classes']}-class classifier but {model.name!r} was built with "
                f"classes={classes}: pass classes={min(allowed)}, or include_top=False and add a head")
    if any(n.startswith("AuxLogits__") for n in names) and not args.get("aux_logits"):
        raise PresetError(f"preset {info.uri} has no auxiliary head: build the model with aux_logits=False")


def load_timm_folder(model, folder: str, arch: str) -> None:
    """Load a folder in timm's layout (``config.json`` + ``model.safetensors``) into ``model``."""
    with open_timm_checkpoint(os.path.join(folder, "model.safetensors")) as ckpt:
        load_timm_weights(model, ckpt, arch=arch)
