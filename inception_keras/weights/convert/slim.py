"""TF-slim checkpoints -> our Keras models, by a naming rule.

Our layer names are slim's scopes with ``/`` written ``__``, and TF and Keras store
conv kernels (HWIO) and dense kernels ([in, out]) alike, so the mapping is

    Keras ``{layer}/{var}``  ->  slim ``{Scope}/{layer with __ -> /}/{VAR_SUFFIXES[var]}``

(``Mixed_6a__Branch_1__Conv2d_0b_3x3__BatchNorm/moving_mean`` ->
``InceptionV4/Mixed_6a/Branch_1/Conv2d_0b_3x3/BatchNorm/moving_mean``). The only
transform is dropping the background class (index 0) of slim's 1001-way heads.

Example:
    >>> from inception_keras import create_inception_v4
    >>> from inception_keras.weights.convert import load_slim_weights, open_slim_checkpoint
    >>> model = create_inception_v4()
    >>> with open_slim_checkpoint("inception_v4_2016_09_09.tar.gz") as ckpt:   # doctest: +SKIP
    ...     report = load_slim_weights(model, ckpt, arch="inception_v4")
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import tarfile

import numpy as np

from ...utils import fileio
from ...models.layers import SEP
from ...models.specs import SPECS
from .core import ConversionError, TensorSource, as_source, assign_strict

# Keras variable name -> slim variable name below the layer's scope. The released
# graphs use BatchNorm(scale=False): gamma only exists with batchnorm_scale=True.
VAR_SUFFIXES = {
    "kernel": "weights",
    "bias": "biases",
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "moving_mean",
    "moving_variance": "moving_variance",
}
# The graphs with published TF-slim checkpoints (registry name -> slim top scope).
SLIM_ARCHS = {name: SPECS[name].scope for name in ("inception_v4", "inception_resnet_v2_slim")}
EMA_SUFFIX = "/ExponentialMovingAverage"
_OPTIMIZER_SLOT = re.compile(r"/(RMSProp|RMSProp_1|Momentum|Adam|Adam_1|Adagrad|Ftrl|Ftrl_1|AdamW|AdamW_1)$")
_OPTIMIZER_GLOBALS = {"beta1_power", "beta2_power", "learning_rate"}


def slim_name(scope: str, keras_path: str) -> str:
    """``Mixed_5b__Branch_0__Conv2d_0a_1x1/kernel`` -> ``{scope}/Mixed_5b/Branch_0/Conv2d_0a_1x1/weights``."""
    layer, var = keras_path.split("/")
    try:
        suffix = VAR_SUFFIXES[var]
    except KeyError:
        raise ConversionError(f"Keras variable {keras_path!r} has no TF-slim counterpart") from None
    return f"{scope}/{layer.replace(SEP, '/')}/{suffix}"


def keras_path(scope: str, slim: str) -> str:
    """The inverse of :func:`slim_name`."""
    if not slim.startswith(scope + "/"):
        raise ConversionError(f"{slim!r} is not under the scope {scope!r}")
    body = slim[len(scope) + 1 :]
    for var, suffix in VAR_SUFFIXES.items():
        if body.endswith("/" + suffix):
            return body[: -len(suffix) - 1].replace("/", SEP) + "/" + var
    raise ConversionError(f"{slim!r} is not a variable kind the models have")


def slim_variable_names(model, arch: str) -> dict[str, str]:
    """Keras variable path -> slim variable name, for every variable of ``model``."""
    scope = _scope(arch)
    return {v.path: slim_name(scope, v.path) for v in model.weights}


def _scope(arch: str) -> str:
    try:
        return SLIM_ARCHS[arch]
    except KeyError:
        raise ConversionError(
            f"no TF-slim checkpoint layout for {arch!r}; TF-slim released {', '.join(SLIM_ARCHS)}"
        ) from None


def _leftover_classifier(model, scope: str, ema: bool):
    """Why a checkpoint tensor the model does not use may be ignored (None: it may not)."""
    layer_names = {layer.name for layer in model.layers}
    has_aux = any(n.startswith("AuxLogits" + SEP) for n in layer_names)
    has_top = "Logits__Logits" in layer_names

    def classify(name: str) -> str | None:
        if name == "global_step":
            return "global_step (training step counter)"
        if name in _OPTIMIZER_GLOBALS or _OPTIMIZER_SLOT.search(name):
            return "optimizer slot"
        base = name.replace(EMA_SUFFIX, "")
        if base != name and not ema:
            return "ExponentialMovingAverage shadow (pass --ema / ema=True to use them)"
        if base.startswith(f"{scope}/AuxLogits/") and not has_aux:
            return "auxiliary head (not in the model; --aux / aux_logits=True ports it)"
        if base.startswith(f"{scope}/Logits/") and not has_top:
            return "classifier (the model was built with include_top=False)"
        return None

    return classify


def _guesser(shapes, scope: str):
    def guess(missing: list[str]) -> str | None:
        scopes = {n.split("/")[0] for n in shapes if "/" in n}
        for arch, other in SLIM_ARCHS.items():
            if other != scope and other in scopes and scope not in scopes:
                return f"this checkpoint looks like {arch} (its variables are under {other}/), not {scope}/"
        if scope not in scopes:
            return (f"no variable of this checkpoint is under {scope}/ (top scopes: "
                    f"{', '.join(sorted(scopes)[:5]) or 'none'}); it is not a TF-slim {scope} checkpoint")
        if all("/AuxLogits/" in n for n in missing):
            return "the checkpoint has no auxiliary head; convert without --aux (aux_logits=False)"
        if all(n.endswith("/BatchNorm/gamma") for n in missing):
            return "the checkpoint's BatchNorm has no gamma (TF-slim's scale=False); build the model with batchnorm_scale=False"
        return None

    return guess


def load_slim_weights(model, source, *, arch: str, drop_background: bool = True, ema: bool = False):
    """Assign a TF-slim checkpoint's tensors to ``model`` by name; strict both ways.

    Args:
        model: a model of the zoo built for ``arch`` (any input size, with or without
            the top and the auxiliary head).
        source: ``open_slim_checkpoint(...)``'s result, or any ``{name: array}`` dict.
        arch: ``"inception_v4"`` or ``"inception_resnet_v2_slim"``.
        drop_background: slim's heads have 1001 classes, index 0 being background; with
            a 1000-class model drop it. A 1001-class model keeps it either way.
        ema: read ``<name>/ExponentialMovingAverage`` shadows where the checkpoint has them.

    Returns:
        The :class:`ConversionReport`.

    Raises:
        ConversionError: a variable has no tensor, a shape differs, or the checkpoint has
            a model tensor the model lacks.
    """
    source = as_source(source)
    scope = _scope(arch)
    names = slim_variable_names(model, arch)
    shapes = source.shapes
    if ema and not any(EMA_SUFFIX in n for n in shapes):
        raise ConversionError("ema=True but the checkpoint has no ExponentialMovingAverage shadows")

    def ema_name(name):  # the shadow where there is one; the raw value then counts as used
        return name + EMA_SUFFIX if name + EMA_SUFFIX in shapes else name

    return assign_strict(
        model, source, names, classify_leftover=_leftover_classifier(model, scope, ema), drop_background=drop_background,
        guess=_guesser(shapes, scope), use_name=ema_name if ema else None,
    )


# =========================================================================== #
# Reading checkpoints
# =========================================================================== #
class CheckpointSource(TensorSource):
    """A TensorFlow checkpoint (V1 single file or V2 index + data) read with tf.train.load_checkpoint."""

    def __init__(self, prefix: str, reader):
        self.prefix = prefix
        self.description = f"checkpoint {prefix}"
        self._reader = reader
        self._shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}

    @property
    def shapes(self):
        return self._shapes

    def get(self, name):
        import tensorflow as tf  # noqa: PLC0415

        try:
            return np.asarray(self._reader.get_tensor(name))
        except (tf.errors.OpError, IndexError, ValueError, OSError) as e:
            # A truncated .data file: IndexError "Read less bytes than requested"
            detail = (getattr(e, "message", None) or str(e) or type(e).__name__).splitlines()[0]
            files = ", ".join(sorted(glob.glob(glob.escape(self.prefix) + ".data-*"))) or self.prefix
            raise ConversionError(
                f"cannot read {name!r} from the checkpoint {self.prefix}: its data file ({files}) is truncated or "
                f"corrupt ({detail}); download or copy it again"
            ) from None


def _find_prefix(path: str) -> str:
    """A checkpoint prefix from a prefix, a .index/.data file, or a directory holding one."""
    if os.path.isdir(path):
        import tensorflow as tf  # noqa: PLC0415

        latest = tf.train.latest_checkpoint(path)
        if latest and (os.path.exists(latest + ".index") or os.path.isfile(latest)):
            return latest
        candidates = sorted({p[: -len(".index")] for p in glob.glob(os.path.join(path, "**", "*.index"), recursive=True)})
        candidates += sorted(glob.glob(os.path.join(path, "**", "*.ckpt"), recursive=True))
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            # (lazy: weights.format imports convert.transfer, and this package's __init__ imports this module)
            from ..format import training_run_hint  # noqa: PLC0415

            raise ConversionError(f"no TensorFlow checkpoint (*.ckpt or *.index) found in {path}"
                                  f"{training_run_hint(path)}")
        raise ConversionError(f"{path} holds several checkpoints; name one of: {', '.join(candidates)}")
    m = re.match(r"^(.*)\.(index|data-\d{5}-of-\d{5})$", path)
    if m:
        return m.group(1)
    if os.path.isfile(path) or os.path.isfile(path + ".index"):
        return path
    raise ConversionError(f"no checkpoint at {path} (looked for {path} and {path}.index)")


# tarfile's extraction filters refuse members that would write outside the folder or make
# devices; Python has them from 3.12, 3.11.4, 3.10.12, 3.9.17 and 3.8.17.
_REFUSALS = {
    "AbsolutePathError": "its path is absolute",
    "OutsideDestinationError": "it would be written outside the extraction folder",
    "SpecialFileError": "it is a device, pipe or other special file",
    "AbsoluteLinkError": "it is a link to an absolute path",
    "LinkOutsideDestinationError": "it is a link that points outside the extraction folder",
}


def extract_archive(path: str, folder: str) -> None:
    """Extract the tar archive ``path`` into ``folder`` with tarfile's "data" filter (no absolute
    paths, no escapes from ``folder``, no devices); fails closed where Python lacks the filter."""
    if not hasattr(tarfile, "data_filter"):
        raise ConversionError(
            f"cannot extract {path} safely: this Python ({sys.version.split()[0]}) has no tarfile extraction "
            f"filter (Python 3.10.12, 3.11.4 or 3.12 and later have it); upgrade Python, or extract the archive "
            f"yourself and pass the checkpoint prefix"
        )
    try:
        with tarfile.open(path) as tar:
            tar.extractall(folder, filter="data")
    except tarfile.FilterError as e:
        member = getattr(e, "tarinfo", None)
        reason = _REFUSALS.get(type(e).__name__, str(e))
        named = f"a member named {member.name!r}" if member is not None else "a member"
        raise ConversionError(f"refused to extract {path}: it holds {named}, refused because {reason} "
                              f"({type(e).__name__}); this is not a TF-slim release archive") from None
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ConversionError(f"cannot extract {path}: {e} (is the download complete?)") from None


def _is_archive(path: str) -> bool:
    return path.endswith((".tar.gz", ".tgz", ".tar"))


@contextlib.contextmanager
def open_slim_checkpoint(path):
    """Open a checkpoint prefix (V1 or V2), a directory, or a release ``.tar.gz``.

    Archives are extracted to a temporary directory that is removed on exit.
    """
    import tensorflow as tf  # noqa: PLC0415 - the converter is the only TF user in the package

    path = os.fspath(path)
    with contextlib.ExitStack() as stack:
        if _is_archive(path):
            if not os.path.isfile(path):
                raise ConversionError(f"no archive at {path}")
            tmp = stack.enter_context(fileio.scratch_dir("extract"))
            extract_archive(path, tmp)
            prefix = _find_prefix(tmp)
        else:
            prefix = _find_prefix(path)
        try:
            reader = tf.train.load_checkpoint(prefix)
        except (tf.errors.OpError, ValueError) as e:
            first = getattr(e, "message", str(e)).splitlines()[0]
            raise ConversionError(
                f"{prefix} is not a readable TensorFlow checkpoint (truncated, or another file format): {first}"
            ) from None
        yield CheckpointSource(prefix, reader)
