"""Named pretrained presets (timm-style tags), their sources, and the converted cache.

* ``inception_v4.tf_in1k``: graph ``inception_v4``, TF-slim release;
* ``inception_resnet_v2_slim.tf_in1k``: graph ``inception_resnet_v2_slim``, TF-slim release;
* ``inception_resnet_v2_slim.tf_ens_adv_in1k``: the same graph, TF-slim's ensemble-adversarial release.

timm's names (``inception_resnet_v2.tf_in1k``, ...) are aliases, and ``weights="imagenet"``
/ ``"ens_adv_imagenet"`` resolve to these. Each preset's sources are tried in order until
one works:

1. the folder named by ``INCEPTION_KERAS_WEIGHTS_DIR``: the release tarball
   (``inception_v4_2016_09_09.tar.gz``) or timm's ``model.safetensors`` saved as
   ``<preset or timm name>.safetensors`` (``inception_resnet_v2.tf_in1k.safetensors``);
2. the Hugging Face Hub copy in timm's layout (``timm/inception_v4.tf_in1k``), through
   ``huggingface_hub`` (1000 classes, no auxiliary head, BatchNorm gamma folded);
3. the TF-slim tarball over HTTPS (``INCEPTION_KERAS_BASE_URL`` overrides the base).

The first success is converted once into a preset folder in the cache
(``$KERAS_HOME/models/inception_keras/presets/<name>/<slim|timm>``), checked against the
sha256 recorded when it was written on every load; a damaged one is reported and rebuilt
once. A tarball-built cache has 1001 classes and the auxiliary head, so it serves every
head; a Hub-built one serves 1000-class heads without the auxiliary head.

Example:
    >>> import inception_keras
    >>> model = inception_keras.create_model("inception_v4.tf_in1k")               # doctest: +SKIP
    >>> [row.name for row in inception_keras.list_pretrained()]
    ['inception_v4.tf_in1k', 'inception_resnet_v2_slim.tf_in1k', 'inception_resnet_v2_slim.tf_ens_adv_in1k']
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import warnings
from typing import NamedTuple

from ..models.registry import build_graph, check_graph
from ..utils.fileio import atomic_save
from ..errors import PresetError
from .convert.core import ConversionError
from .convert.slim import load_slim_weights, open_slim_checkpoint
from .convert.timm import load_timm_weights, open_timm_checkpoint, plan_batchnorm
from .files import load_folder_weights
from .format import read_preset, save_preset, verify_weights
from .hub import SourceUnavailable, WeightsUnavailable, download, file_lock, forget, hf_file, sha256_file
from .hub import cache_dir as hub_cache_dir

BASE_URL = "https://download.tensorflow.org/models/"
CACHE_SUBDIR = os.path.join("models", "inception_keras")
log = logging.getLogger("inception_keras")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One set of published weights for one graph of the zoo."""

    arch: str  # registry name of the graph
    weights: str  # the value of the constructors' ``weights=``
    archive: str  # release tarball name under BASE_URL
    description: str
    name: str = ""  # the preset's name, timm-style: <graph>.<tag>
    hf_repo: str = ""  # the Hugging Face copy in timm's layout
    aliases: tuple[str, ...] = ()
    top1: float | None = None  # published ImageNet validation accuracy (%)
    top5: float | None = None
    num_classes: int = 1001  # slim heads: index 0 is background
    label_offset: int = 1  # ImageNet class i is output i + label_offset
    input_size: int = 299
    crop_pct: float = 0.875  # slim's central crop for evaluation
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # x/255 -> (x - mean) / std = [-1, 1]
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    sha256: str | None = None  # of the tarball, where known (none is published: recorded on first use)

    @property
    def url(self) -> str:
        return os.environ.get("INCEPTION_KERAS_BASE_URL", BASE_URL).rstrip("/") + "/" + self.archive

    @property
    def timm_name(self) -> str:
        return self.hf_repo.split("/", 1)[-1]


_PRESETS = (
    Preset("inception_v4", "imagenet", "inception_v4_2016_09_09.tar.gz",
           "TF-slim release, ImageNet 2012", name="inception_v4.tf_in1k", hf_repo="timm/inception_v4.tf_in1k",
           top1=80.2, top5=95.2),
    Preset("inception_resnet_v2_slim", "imagenet", "inception_resnet_v2_2016_08_30.tar.gz",
           "TF-slim release, ImageNet 2012", name="inception_resnet_v2_slim.tf_in1k",
           hf_repo="timm/inception_resnet_v2.tf_in1k", aliases=("inception_resnet_v2.tf_in1k",), top1=80.4, top5=95.3),
    # No published top-1/top-5 for the ens-adv release was found (timm's model index lists
    # 1.0 / 17.32, an obvious error); left unknown rather than guessed.
    Preset("inception_resnet_v2_slim", "ens_adv_imagenet", "ens_adv_inception_resnet_v2_2017_08_18.tar.gz",
           "Ensemble adversarial training (Tramer et al. 2017), ImageNet 2012",
           name="inception_resnet_v2_slim.tf_ens_adv_in1k", hf_repo="timm/inception_resnet_v2.tf_ens_adv_in1k",
           aliases=("inception_resnet_v2.tf_ens_adv_in1k", "ens_adv_inception_resnet_v2")),
)
PRESETS = {(p.arch, p.weights): p for p in _PRESETS}
NAMED = {p.name: p for p in _PRESETS}
ALIASES = {alias: p.name for p in _PRESETS for alias in p.aliases}
WEIGHT_NAMES = sorted({p.weights for p in _PRESETS})


class PretrainedRow(NamedTuple):
    """One row of :func:`list_pretrained`."""

    name: str
    graph: str
    classes: int
    sources: tuple[str, ...]
    top1: float | None
    top5: float | None
    aliases: tuple[str, ...]


def list_pretrained() -> list[PretrainedRow]:
    """The named pretrained presets: name, graph, classes, sources, published top-1/top-5 (%).

    ``top1``/``top5`` are None where no published figure is known (the ens-adv release).
    """
    return [PretrainedRow(p.name, p.arch, p.num_classes - p.label_offset, source_uris(p), p.top1, p.top5, p.aliases)
            for p in _PRESETS]


def default_preset(name: str) -> str | None:
    """The published weights ``create_model(name, pretrained=True)`` loads, or None for a graph
    without any (``inception_resnet_v1``, the paper's ``inception_resnet_v2``).

    Example:
        >>> default_preset("inception_v4"), default_preset("inception_resnet_v1")
        ('inception_v4.tf_in1k', None)
    """
    check_graph(name)  # an unknown name is an UnknownModelError
    return next((row.name for row in list_pretrained() if row.graph == name), None)


def source_uris(preset: Preset) -> tuple[str, ...]:
    """Where ``preset``'s weights are looked for, in order."""
    return (f"$INCEPTION_KERAS_WEIGHTS_DIR/{preset.archive}", f"hf://{preset.hf_repo}", preset.url)


def resolve_name(name: str) -> Preset | None:
    """The named preset for a preset name or alias (one log line for an alias), else None."""
    if name in NAMED:
        return NAMED[name]
    if name in ALIASES:
        target = ALIASES[name]
        log.warning("%s is timm's name; it resolves to %s (TF-slim's graph, same weights)", name, target)
        return NAMED[target]
    return None


def get_preset(arch: str, weights: str) -> Preset:
    """The preset for ``weights`` on ``arch``, or a ValueError that says where weights exist."""
    named = resolve_name(weights)
    if named is not None:
        if named.arch != arch:
            raise ValueError(f"{weights!r} is a {named.arch} preset, not {arch}: create_model({named.name!r}) builds it")
        return named
    try:
        return PRESETS[(arch, weights)]
    except KeyError:
        pass
    have = [a for (a, w) in PRESETS if w == weights]
    hint = {
        "inception_resnet_v2": "the paper's Inception-ResNet-v2 was never released with weights; "
        "TF-slim's graph was: create_inception_resnet_v2(variant='slim', weights=...)",
        "inception_resnet_v1": "use create_inception_resnet_v2(variant='slim', weights=...) or "
        "create_inception_v4(weights=...) for a pretrained network",
    }.get(arch, "")
    raise ValueError(
        f"there are no published weights {weights!r} for {arch}; they exist for {', '.join(have)}"
        + (f". {hint}" if hint else "")
    )


def is_pretrained_name(value) -> bool:
    return isinstance(value, str) and (value in NAMED or value in ALIASES or value in WEIGHT_NAMES)


def cache_dir() -> str:
    return hub_cache_dir()


# =========================================================================== #
# The converted cache and the sources
# =========================================================================== #
def pretrained_folder(preset: Preset, *, background: bool = False, aux: bool = False) -> str:
    """A verified preset folder of ``preset``'s weights: from the cache, or converted from a source.

    ``background`` / ``aux``: the caller needs the 1001st (background) class or the
    auxiliary head, which only the TF-slim tarball has. Raises RuntimeError naming every
    source tried (and why each failed) and the folder to drop a file into.
    """
    kinds = ("slim",) if background or aux else ("slim", "timm")
    for kind in kinds:  # a cache from any source that serves this head
        folder = _cache_folder(preset, kind)
        if os.path.isdir(folder):
            try:
                info = read_preset(folder)
                verify_weights(info)
            except PresetError as e:
                warnings.warn(f"cached preset {folder} is damaged ({e}); rebuilding it once from its source",
                              stacklevel=3)
                _remove(folder)
                continue
            changed = changed_local_source(info.metadata)
            if changed is None:
                return folder
            log.warning("%s changed since %s was converted from it; converting it again", changed, folder)
            _remove(folder)
    failures = []
    for kind, label, locate in _sources(preset):
        if kind not in kinds:
            failures.append(f"{label}: skipped (no {'background class' if background else 'auxiliary head'} in "
                            f"timm's copy; only the TF-slim tarball has them)")
            continue
        try:
            return _convert_locked(preset, kind, label, locate)
        except _Unavailable as e:
            failures.append(f"{label}: {e}")
    raise WeightsUnavailable(preset, failures, os.environ.get("INCEPTION_KERAS_WEIGHTS_DIR") or None)


class _Unavailable(RuntimeError):
    pass


def _sources(preset: Preset):
    """(cache kind, description, locate() -> (local file, source records)) per source, in order."""
    local = os.environ.get("INCEPTION_KERAS_WEIGHTS_DIR")

    def local_file():
        if not local:
            raise _Unavailable("INCEPTION_KERAS_WEIGHTS_DIR is not set")
        for name in (preset.archive, f"{preset.name}.safetensors", f"{preset.timm_name}.safetensors",
                     *(f"{a}.safetensors" for a in preset.aliases)):
            path = os.path.join(local, name)
            if os.path.isfile(path):
                return path, [{"uri": os.path.abspath(path)}]
        raise _Unavailable(f"neither {preset.archive} nor {preset.timm_name}.safetensors in {local}")

    def hub():
        try:
            return hf_file(preset.hf_repo, "model.safetensors"), [{"uri": f"hf://{preset.hf_repo}/model.safetensors"}]
        except (SourceUnavailable, FileNotFoundError, ImportError) as e:
            raise _Unavailable(str(e)) from None

    def tarball():
        try:
            return download(preset.url, sha256=preset.sha256), [{"uri": preset.url}]
        except SourceUnavailable as e:
            raise _Unavailable(str(e)) from None

    local_kind = "slim"  # the tarball serves every head; a local safetensors alone is timm's copy
    if local and not os.path.isfile(os.path.join(local, preset.archive)):
        names = (preset.name, preset.timm_name, *preset.aliases)
        if any(os.path.isfile(os.path.join(local, f"{n}.safetensors")) for n in names):
            local_kind = "timm"
    return [(local_kind, f"local folder {local or '(INCEPTION_KERAS_WEIGHTS_DIR not set)'}", local_file),
            ("timm", f"Hugging Face hf://{preset.hf_repo}", hub),
            ("slim", f"TF-slim tarball {preset.url}", tarball)]


def changed_local_source(metadata: dict) -> str | None:
    """The local file a cached preset was converted from, when it has changed since (another
    size or modification time than recorded); None when none has. A file that is gone leaves
    the cache as it is: it still holds that file's weights, checked by their sha256."""
    for record in metadata.get("sources") or []:
        uri = record.get("uri") if isinstance(record, dict) else None
        if not (isinstance(uri, str) and os.path.isabs(uri) and "size" in record):
            continue
        try:
            stat = os.stat(uri)
        except OSError:
            continue
        if (stat.st_size, stat.st_mtime_ns) != (record.get("size"), record.get("mtime_ns")):
            return uri
    return None


def _cache_folder(preset: Preset, kind: str) -> str:
    return os.path.join(cache_dir(), "presets", preset.name, kind)


def _remove(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _convert_locked(preset: Preset, kind: str, label: str, locate) -> str:
    """Convert the source into the cache under a file lock; another process's result is reused."""
    folder = _cache_folder(preset, kind)
    with file_lock(folder):
        if os.path.isdir(folder):  # written by another process meanwhile
            try:
                verify_weights(read_preset(folder))
                return folder
            except PresetError:
                _remove(folder)
        path, sources = locate()
        for record in sources:
            record["sha256"] = sha256_file(path)
            if os.path.isabs(record["uri"]):  # a local file is the truth: note what it was
                stat = os.stat(path)
                record.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        try:
            _convert(preset, kind, path, sources, folder)
        except ConversionError as e:
            if path.startswith(cache_dir()):
                forget(sources[0]["uri"], path)  # a bad download is fetched again next time
            raise _Unavailable(f"{path} could not be converted: {e}") from None
        log.info("converted %s from %s into %s", preset.name, label, folder)
    return folder


def _convert(preset: Preset, kind: str, path: str, sources: list, folder: str) -> None:
    if kind == "slim":
        model = build_graph(preset.arch, aux_logits=True, classes=preset.num_classes, name=f"{preset.arch}_full")
        with open_slim_checkpoint(path) as ckpt:
            report = load_slim_weights(model, ckpt, arch=preset.arch, drop_background=False)
    else:
        with open_timm_checkpoint(path) as ckpt:
            scale = not plan_batchnorm(ckpt, preset.arch).foldable
            # Any input size: the weights do not depend on it (and a 299 graph takes longer to build).
            model = build_graph(preset.arch, classes=preset.num_classes - preset.label_offset, batchnorm_scale=scale,
                                 input_shape=(None, None, 3))
            report = load_timm_weights(model, ckpt, arch=preset.arch)
    save_preset(model, folder, labels="imagenet", preprocessing={"name": "slim", "input_size": preset.input_size,
                                                                 "crop_fraction": preset.crop_pct},
                sources=sources, conversion=report, overwrite=True)


# =========================================================================== #
# Loading into a model
# =========================================================================== #
def load_pretrained(model, arch: str, weights: str) -> None:
    """Load published weights (a preset name, alias, or ``"imagenet"``...) into ``model``, any head."""
    preset = get_preset(arch, weights)
    _check_head(model, preset)
    names = {layer.name for layer in model.layers}
    background = "Logits__Logits" in names and model.get_layer("Logits__Logits").units == preset.num_classes
    aux = any(n.startswith("AuxLogits__") for n in names)
    folder = pretrained_folder(preset, background=background, aux=aux)  # verified
    load_folder_weights(model, folder, verified=True)


def _check_head(model, preset: Preset) -> None:
    names = {layer.name for layer in model.layers}
    if "Logits__Logits" in names:
        classes = model.get_layer("Logits__Logits").units
        if classes not in (preset.num_classes, preset.num_classes - preset.label_offset):
            raise ValueError(
                f"weights={preset.weights!r} with include_top=True needs classes="
                f"{preset.num_classes - preset.label_offset} (or {preset.num_classes} to keep TF-slim's "
                f"background class at index 0), got classes={classes}; for other classes build with "
                f"include_top=False and add a head, or fine-tune (tools/train.py)"
            )


def save_weights_atomic(model, path: str) -> None:
    """``model.save_weights(path)``, appearing only when complete."""
    atomic_save(lambda tmp: model.save_weights(tmp, overwrite=True), path, ".weights.h5")
