"""Published weights: where they come from, how they were trained to be fed, and
``load_pretrained`` which downloads, converts once, caches and loads them.

The TF-slim release tarballs are downloaded with ``keras.utils.get_file`` into the
Keras cache (``$KERAS_HOME/models/inception_keras``, ``~/.keras`` by default), converted
once to a Keras ``.weights.h5`` of the full graph (1001 classes, auxiliary head) that is
cached beside the tarball, and loaded from there afterwards.

Environment:
    INCEPTION_KERAS_WEIGHTS_DIR  a folder holding release tarballs already downloaded
                                 (machines without internet); looked at first.
    INCEPTION_KERAS_BASE_URL     a mirror of http://download.tensorflow.org/models/.
"""

from __future__ import annotations

import dataclasses
import os

from .fileio import atomic_save

BASE_URL = "http://download.tensorflow.org/models/"
CACHE_SUBDIR = os.path.join("models", "inception_keras")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One set of published weights for one graph of the zoo."""

    arch: str  # registry name of the graph
    weights: str  # the value of the constructors' ``weights=``
    archive: str  # release tarball name under BASE_URL
    description: str
    num_classes: int = 1001  # slim heads: index 0 is background
    label_offset: int = 1  # ImageNet class i is output i + label_offset
    input_size: int = 299
    crop_pct: float = 0.875  # slim's central crop for evaluation
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # x/255 -> (x - mean) / std = [-1, 1]
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    sha256: str | None = None  # of the tarball, where known

    @property
    def url(self) -> str:
        return os.environ.get("INCEPTION_KERAS_BASE_URL", BASE_URL).rstrip("/") + "/" + self.archive

    @property
    def cache_name(self) -> str:
        return f"{self.arch}_{self.weights}_full.weights.h5"


PRESETS = {
    (p.arch, p.weights): p
    for p in (
        Preset("inception_v4", "imagenet", "inception_v4_2016_09_09.tar.gz",
               "TF-slim release, ImageNet 2012 (80.2 top-1 / 95.2 top-5)"),
        Preset("inception_resnet_v2_slim", "imagenet", "inception_resnet_v2_2016_08_30.tar.gz",
               "TF-slim release, ImageNet 2012 (80.4 top-1 / 95.3 top-5)"),
        Preset("inception_resnet_v2_slim", "ens_adv_imagenet", "ens_adv_inception_resnet_v2_2017_08_18.tar.gz",
               "Ensemble adversarial training (Tramer et al. 2017), ImageNet 2012"),
    )
}
WEIGHT_NAMES = sorted({p.weights for p in PRESETS.values()})


def get_preset(arch: str, weights: str) -> Preset:
    """The preset for ``weights`` on ``arch``, or a ValueError that says where weights exist."""
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


def cache_dir() -> str:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, CACHE_SUBDIR)


def fetch_archive(preset: Preset) -> str:
    """A local path of the preset's release tarball: the local folder, the cache, or a download."""
    local_dir = os.environ.get("INCEPTION_KERAS_WEIGHTS_DIR")
    if local_dir:
        candidate = os.path.join(local_dir, preset.archive)
        if os.path.isfile(candidate):
            return candidate
    import keras  # noqa: PLC0415

    target_dir = cache_dir()
    os.makedirs(target_dir, exist_ok=True)
    try:
        return keras.utils.get_file(
            fname=preset.archive, origin=preset.url, file_hash=preset.sha256, hash_algorithm="sha256",
            cache_dir=os.path.dirname(os.path.dirname(target_dir)), cache_subdir=CACHE_SUBDIR,
        )
    except Exception as e:  # noqa: BLE001 - urllib, HTTP and hash errors all mean the same to the user
        raise RuntimeError(
            f"could not download the {preset.arch} {preset.weights!r} weights from {preset.url}: {e}\n"
            f"Without internet: download {preset.archive} on another machine and put it in "
            f"{target_dir} (or in a folder named by INCEPTION_KERAS_WEIGHTS_DIR), or pass its path as weights=..."
        ) from e


def load_pretrained(model, arch: str, weights: str) -> None:
    """Load published weights into ``model`` (any head configuration of ``arch``)."""
    from .convert import transfer  # noqa: PLC0415

    preset = get_preset(arch, weights)
    _check_head(model, preset)
    full_path = os.path.join(cache_dir(), preset.cache_name)
    full = full_model(arch)
    if os.path.isfile(full_path):
        full.load_weights(full_path)
    else:
        from .convert.slim import load_slim_weights, open_slim_checkpoint  # noqa: PLC0415

        archive = fetch_archive(preset)
        with open_slim_checkpoint(archive) as ckpt:
            load_slim_weights(full, ckpt, arch=arch, drop_background=False)
        save_weights_atomic(full, full_path)
    transfer.copy_by_name(full, model, label_offset=preset.label_offset)


def full_model(arch: str):
    """The graph with everything a checkpoint holds: 1001 classes and the auxiliary head."""
    from .registry import create_model  # noqa: PLC0415

    return create_model(arch, aux_logits=True, classes=1001, name=f"{arch}_full")


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
