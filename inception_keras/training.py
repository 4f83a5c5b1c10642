"""Training and fine-tuning with ``keras.Model.fit``: the paper's / TF-slim's recipe, runs that
resume exactly after a crash, and several devices or machines through ``tf.distribute``.

    from inception_keras.training import TrainConfig, train, resume
    train(TrainConfig(model="inception_resnet_v2_slim", weights="imagenet", data="/data/flowers",
                      classes=5, epochs=10, output="runs/flowers"))
    resume("runs/flowers")                        # after a crash: continues at the last complete epoch

The command-line tool (``tools/train.py``, ``inception_keras/cli/train.py``) is a thin shell over
:func:`train` and :func:`resume`.

What a run writes into its output folder:

* ``config.json``: every option (:class:`TrainConfig`) plus what was derived from them (classes,
  steps per epoch, effective learning rate, data fingerprint, versions, the command);
* ``classes.txt``: class names in output order (``tools/predict.py --labels``);
* ``unreadable.json``: training images that could not be decoded and were left out;
* ``checkpoint.weights.h5``: the last complete epoch, written atomically: model weights, optimizer
  state (slots and iteration count, hence the learning-rate schedule position), dropout seed
  states, and the run state (epoch, best top-1) as HDF5 attributes;
* ``best.weights.h5``: the epoch with the best validation top-1, as the inference graph (no
  auxiliary head); it loads with ``create_model(name, classes=N, weights=...)``;
* ``history.csv`` (``keras.callbacks.CSVLogger``), ``logs/`` (TensorBoard);
* ``report.json`` / ``report.md``: the final evaluation of ``best.weights.h5`` on the validation
  data (:func:`inception_keras.evaluation.evaluate_model`).

Exact resumption: the data order and every augmentation draw are functions of (seed, epoch,
example index) through stateless random ops, the learning rate is a schedule in optimizer
steps, and the checkpoint holds the optimizer's iteration count and slots and the dropout
layers' seed states. A resumed run therefore computes what the uninterrupted run would have,
up to the run-to-run nondeterminism of the backend (none was seen on CPU; ``deterministic=True``
asks TensorFlow for deterministic kernels on GPUs).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import hashlib
import json
import os
import time
import warnings

import numpy as np

from .datasets import DataError, ImageSet, Preprocessing, decode_fallback, find_image_set
from .fileio import atomic_save, write_json, write_text

RUN_FILES = {
    "config": "config.json",
    "classes": "classes.txt",
    "unreadable": "unreadable.json",
    "checkpoint": "checkpoint.weights.h5",
    "checkpoint_info": "checkpoint.json",
    "best": "best.weights.h5",
    "history": "history.csv",
    "logs": "logs",
    "epochs": "epochs",
}
STATE_ATTR = "inception_keras_train_state"
OPTIMIZERS = ("rmsprop", "momentum", "adam")
STRATEGIES = ("none", "mirrored", "multiworker", "tpu")
AUGMENTATIONS = ("inception", "inception-fast", "none")
HEAD_PREFIXES = ("Logits__", "AuxLogits__")


class TrainingError(ValueError):
    """A run that cannot start or continue; the message says what to change."""


# =========================================================================== #
# Configuration
# =========================================================================== #
@dataclasses.dataclass
class TrainConfig:
    """Every option of a run; the defaults are the paper's / TF-slim's recipe.

    ``weights``: None (from scratch), ``"imagenet"`` (or another published name), a Keras
    weights file or a TF-slim checkpoint. ``classes``: None takes the number of classes of the
    data. ``batch_size`` is the global batch, split over the replicas. The learning rate is
    ``lr`` for a batch of ``lr_reference_batch``; with ``lr_scaling="linear"`` it is scaled by
    ``batch_size / lr_reference_batch``. ``weight_decay`` is TF-slim's ``l2_regularizer``
    factor (``wd * sum(w**2) / 2``) on every conv and dense kernel.
    """

    output: str = ""
    data: str = ""
    model: str = "inception_v4"
    weights: str | None = None
    classes: int | None = None
    input_size: int = 299
    aux_logits: bool = False
    dropout: float = 0.2
    # data
    labels: str | None = None
    val_data: str | None = None
    val_labels: str | None = None
    val_fraction: float = 0.1
    augment: str = "inception"
    crop_fraction: float = 0.875
    image_check: bool = True
    shuffle_buffer: int = 10000
    steps_per_epoch: int | None = None
    # recipe
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "rmsprop"
    lr: float = 0.045
    lr_scaling: str = "linear"
    lr_reference_batch: int = 32
    lr_decay: float = 0.94
    lr_decay_epochs: float = 2.0
    momentum: float = 0.9
    rmsprop_rho: float = 0.9
    epsilon: float | None = None  # None: 1.0 for RMSProp (the paper), Keras' default for Adam
    clip_norm: float | None = None
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    aux_weight: float = 0.4
    bn_momentum: float = 0.9997
    # fine-tuning
    freeze_backbone_epochs: int = 0
    bn_trainable: bool = True
    # devices
    strategy: str = "none"
    tpu: str | None = None
    sync_bn: str = "auto"
    mixed_precision: str | None = None
    jit_compile: str = "auto"
    run_eagerly: bool = False
    deterministic: bool = False
    seed: int = 0
    # outputs
    save_every_epoch: bool = False
    final_eval: bool = True
    eval_batch_size: int | None = None
    verbose: int = 1

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(f"the saved run configuration has options this version does not know: {unknown}")
        return cls(**data)

    def check(self) -> None:
        """Raise TrainingError for option values that cannot work, before anything is built."""
        from .registry import list_models  # noqa: PLC0415

        def need(cond, message):
            if not cond:
                raise TrainingError(message)

        need(bool(self.output), "no output folder: pass --output DIR (checkpoints, logs and the report go there)")
        need(bool(self.data), "no training data: pass --data DIR (class folders, a folder + label file, or TFRecords)")
        need(self.model in list_models(), f"unknown model {self.model!r}; choose one of {', '.join(list_models())}")
        need(self.classes is None or self.classes >= 2, f"--classes must be at least 2, got {self.classes}")
        need(self.input_size >= 75, f"--input-size must be at least 75, got {self.input_size}")
        need(not self.aux_logits or self.input_size >= 299,
             f"--aux-logits needs --input-size 299 or more (the auxiliary head's 5x5 'valid' conv), got {self.input_size}")
        need(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        need(0.0 <= self.val_fraction < 1.0, f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        need(self.augment in AUGMENTATIONS, f"--augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")
        need(0.0 < self.crop_fraction <= 1.0, f"--crop-fraction must be in (0, 1], got {self.crop_fraction}")
        need(self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}")
        need(self.batch_size >= 1, f"--batch-size must be positive, got {self.batch_size}")
        need(self.steps_per_epoch is None or self.steps_per_epoch >= 1,
             f"--steps-per-epoch must be positive, got {self.steps_per_epoch}")
        need(self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        need(self.lr > 0, f"--lr must be positive, got {self.lr}")
        need(self.lr_scaling in ("linear", "none"), f"--lr-scaling must be 'linear' or 'none', got {self.lr_scaling!r}")
        need(self.lr_reference_batch >= 1, f"--lr-reference-batch must be positive, got {self.lr_reference_batch}")
        need(0.0 < self.lr_decay <= 1.0, f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        need(self.lr_decay_epochs > 0, f"--lr-decay-epochs must be positive, got {self.lr_decay_epochs}")
        need(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        need(0.0 <= self.label_smoothing < 1.0, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        need(0.0 <= self.bn_momentum < 1.0, f"--bn-momentum must be in [0, 1), got {self.bn_momentum}")
        need(0 <= self.freeze_backbone_epochs <= self.epochs,
             f"--freeze-backbone-epochs must be between 0 and --epochs ({self.epochs}), got {self.freeze_backbone_epochs}")
        need(self.strategy in STRATEGIES, f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        need(self.sync_bn in ("auto", "on", "off"), f"--sync-bn must be auto, on or off, got {self.sync_bn!r}")
        need(self.mixed_precision in (None, "auto", "bfloat16", "float16"),
             f"--mixed-precision must be auto, bfloat16 or float16, got {self.mixed_precision!r}")
        need(self.jit_compile in ("auto", "on", "off"), f"--jit-compile must be auto, on or off, got {self.jit_compile!r}")
        need(self.shuffle_buffer >= 1, f"--shuffle-buffer must be positive, got {self.shuffle_buffer}")

    # ---- derived values ---------------------------------------------------
    def effective_lr(self) -> float:
        """The initial learning rate after scaling with the global batch."""
        if self.lr_scaling == "linear":
            return self.lr * self.batch_size / self.lr_reference_batch
        return self.lr

    def optimizer_epsilon(self) -> float:
        if self.epsilon is not None:
            return self.epsilon
        return 1.0 if self.optimizer == "rmsprop" else 1e-7


# =========================================================================== #
# Augmentation: TF-slim's inception_preprocessing.preprocess_for_train, stateless
# =========================================================================== #
def _resize_tf1(image, size, method: int):
    """``tf.image.resize_images`` of TF1 (what slim called): align_corners=False, no half-pixel centres.

    ``method`` is TF1's ResizeMethod order: 0 bilinear, 1 nearest, 2 bicubic, 3 area."""
    import tensorflow as tf  # noqa: PLC0415

    batch = image[None]
    ops = [
        lambda: tf.raw_ops.ResizeBilinear(images=batch, size=size, align_corners=False, half_pixel_centers=False),
        lambda: tf.cast(tf.raw_ops.ResizeNearestNeighbor(images=batch, size=size, align_corners=False,
                                                         half_pixel_centers=False), tf.float32),
        lambda: tf.raw_ops.ResizeBicubic(images=batch, size=size, align_corners=False, half_pixel_centers=False),
        lambda: tf.raw_ops.ResizeArea(images=batch, size=size, align_corners=False),
    ]
    if isinstance(method, int):
        return ops[method]()[0]
    return tf.switch_case(method, ops)[0]


def distort_color(image, ordering, seeds, fast_mode: bool = False):
    """TF-slim's ``distort_color`` with stateless ops; ``image`` is float in [0, 1].

    fast_mode: brightness (32/255) then saturation (0.5-1.5). Otherwise one of slim's four
    orders of brightness, saturation, hue (0.2) and contrast (0.5-1.5), chosen by ``ordering``.
    The result is clipped to [0, 1], as slim does.
    """
    import tensorflow as tf  # noqa: PLC0415

    def brightness(x):
        return tf.image.stateless_random_brightness(x, 32.0 / 255.0, seeds[0])

    def saturation(x):
        return tf.image.stateless_random_saturation(x, 0.5, 1.5, seeds[1])

    def hue(x):
        return tf.image.stateless_random_hue(x, 0.2, seeds[2])

    def contrast(x):
        return tf.image.stateless_random_contrast(x, 0.5, 1.5, seeds[3])

    def chain(*fns):
        def run():
            x = image
            for fn in fns:
                x = fn(x)
            return x

        return run

    if fast_mode:
        image = chain(brightness, saturation)()
    else:
        image = tf.switch_case(ordering, [
            chain(brightness, saturation, hue, contrast),
            chain(saturation, brightness, contrast, hue),
            chain(contrast, hue, brightness, saturation),
            chain(hue, saturation, contrast, brightness),
        ])
    return tf.clip_by_value(image, 0.0, 1.0)


def crop_window(image_shape, seed):
    """(begin, size) of TF-slim's ``distorted_bounding_box_crop`` with the whole image as the box:
    min_object_covered 0.1, aspect ratio 0.75-1.33, 5-100 % of the area, 100 attempts (the whole
    image when every attempt fails). Stateless: a function of ``seed``."""
    import tensorflow as tf  # noqa: PLC0415

    bbox = tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, shape=[1, 1, 4])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_shape, bounding_boxes=bbox, seed=seed, min_object_covered=0.1, aspect_ratio_range=(0.75, 1.33),
        area_range=(0.05, 1.0), max_attempts=100, use_image_if_no_bounding_boxes=True)
    return begin, size


def preprocess_for_train(image, image_size: int, seed, *, mode: str = "inception", crop_fraction: float = 0.875):
    """One decoded image (uint8, or float in [0, 1]) -> float32 ``image_size`` squared in [-1, 1].

    ``mode="inception"``: TF-slim's ``inception_preprocessing.preprocess_for_train`` with
    ``fast_mode=False``: a random crop from ``sample_distorted_bounding_box`` (the whole image
    as the box, min_object_covered 0.1, aspect 3/4-4/3, area 5-100 %, 100 attempts), a resize
    by one of TF1's four methods chosen at random, a random horizontal flip, colour distortion
    in one of four random orders, scale to [-1, 1]. ``"inception-fast"``: slim's default
    ``fast_mode=True`` (bilinear resize; brightness and saturation only). ``"none"``: the
    evaluation preprocessing (central crop ``crop_fraction``, resize).

    ``seed`` is a shape-[2] integer tensor; every random draw is a stateless function of it,
    so the same (seed, image) always gives the same result, in any order and on any replica.
    """
    import tensorflow as tf  # noqa: PLC0415

    from .datasets import preprocess_for_eval  # noqa: PLC0415

    if mode == "none":
        return preprocess_for_eval(image, Preprocessing("slim", image_size, crop_fraction))
    if mode not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {mode!r}; choose one of {', '.join(AUGMENTATIONS)}")
    fast = mode == "inception-fast"
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 8)
    image = tf.image.convert_image_dtype(image, tf.float32)
    begin, size = crop_window(tf.shape(image), seeds[0])
    image = tf.slice(image, begin, size)
    # Resize to the model's input; aspect ratio not kept, as slim.
    out = [image_size, image_size]
    if fast:
        image = _resize_tf1(image, out, 0)
    else:
        method = tf.random.stateless_uniform([], seeds[1], 0, 4, dtype=tf.int32)
        image = _resize_tf1(image, out, method)
    image = tf.image.stateless_random_flip_left_right(image, seeds[2])
    ordering = tf.random.stateless_uniform([], seeds[3], 0, 4, dtype=tf.int32)
    image = distort_color(image, ordering, [seeds[4], seeds[5], seeds[6], seeds[7]], fast_mode=fast)
    image = (image - 0.5) * 2.0
    image.set_shape(out + [3])
    return image


# =========================================================================== #
# Data: split, checks, pipelines
# =========================================================================== #
@dataclasses.dataclass
class RunData:
    """The training and validation sets of a run, aligned on one class vocabulary."""

    train: ImageSet
    val: ImageSet
    class_names: list[str]
    display_names: list[str]
    split: str  # how the validation set was obtained
    unreadable: list[dict] = dataclasses.field(default_factory=list)  # of --data, left out (indices into it)
    bad_indices: list[int] = dataclasses.field(default_factory=list)  # TFRecord examples to skip

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> str:
        """Hash of the example lists (files and labels, or shard names and sizes)."""
        h = hashlib.sha256()
        for part in (self.train, self.val):
            if part.layout == "tfrecord":
                for shard in part.shards:
                    h.update(f"{os.path.basename(shard)}\t{os.path.getsize(shard)}\n".encode())
            else:
                root = os.path.abspath(part.root)
                for f, label in zip(part.files, part.labels):
                    h.update(f"{os.path.relpath(os.path.abspath(f), root)}\t{int(label)}\n".encode())
            h.update(b"--\n")
        h.update("\n".join(self.class_names).encode())
        return h.hexdigest()[:16]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): ``fraction`` of every class (at least one image of classes with
    two or more, never all of one) goes to validation, drawn with ``seed``. Sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_val = round(fraction * len(idx))
        if fraction > 0 and len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _subset(image_set: ImageSet, indices) -> ImageSet:
    indices = np.asarray(indices, dtype=np.int64)
    return dataclasses.replace(image_set, files=[image_set.files[i] for i in indices],
                               labels=np.asarray(image_set.labels)[indices])


def _open_set(path: str, labels: str | None, split: str, role: str) -> ImageSet:
    """``find_image_set``, preferring ``split``-prefixed shards when a TFRecord folder has them."""
    try:
        image_set = find_image_set(path, labels)
    except DataError as e:
        raise DataError(f"{role} data: {e}") from None
    if image_set.layout == "tfrecord" and os.path.isdir(path):
        try:
            wanted = find_image_set(path, labels, split=split)
        except DataError:
            wanted = None
        if wanted is not None and wanted.layout == "tfrecord" and wanted.shards:
            image_set = wanted
    return image_set


def _align(image_set: ImageSet, class_names: list[str], display_names: list[str], role: str) -> ImageSet:
    """The set with its labels renumbered to ``class_names`` (by class name)."""
    if image_set.class_names == class_names:
        return dataclasses.replace(image_set, display_names=list(display_names))
    if image_set.layout == "tfrecord":
        raise DataError(f"the {role} TFRecords have ImageNet's 1000 classes but the training classes are "
                        f"{len(class_names)} others; give {role} data in a folder layout with the same class names")
    index = {name: i for i, name in enumerate(class_names)}
    present = sorted({image_set.class_names[int(c)] for c in np.unique(image_set.labels)})
    unknown = [name for name in present if name not in index]
    if unknown:
        raise DataError(f"the {role} data has classes the training data does not: {unknown[:5]}"
                        f"{' ...' if len(unknown) > 5 else ''}; {role} classes must be a subset of the "
                        f"training classes ({len(class_names)}: {class_names[:5]}{' ...' if len(class_names) > 5 else ''})")
    labels = np.asarray([index[image_set.class_names[int(c)]] for c in image_set.labels], np.int64)
    return dataclasses.replace(image_set, class_names=list(class_names), display_names=list(display_names),
                               labels=labels)


def load_run_data(config: TrainConfig, log=print, unreadable: list[dict] | None = None) -> RunData:
    """Find the training and validation sets, leave out unreadable training images, split and
    align them, check ``classes``.

    ``unreadable``: the images of ``--data`` already known to be unreadable (a resumed run);
    None checks them now when ``config.image_check`` (one decoding pass, before the split, so
    that a broken file is reported whether it would have landed in training or validation).
    """
    train_set = _open_set(config.data, config.labels, "train", "training")
    if train_set.layout != "tfrecord" and not len(train_set):
        raise DataError(f"no training images in {config.data!r}")
    if unreadable is None:
        unreadable = []
        if config.image_check:
            log(f"checking that the {len(train_set)} images of {config.data} decode ...")
            unreadable = find_unreadable(train_set)
    bad = sorted({u["index"] for u in unreadable})
    if unreadable:
        log(f"skipping {len(bad)} unreadable training image(s):")
        for u in unreadable[:20]:
            log(f"  {u['path']}: {u['error']}")
        if len(unreadable) > 20:
            log(f"  ... (all of them in {RUN_FILES['unreadable']})")
    if bad and train_set.layout != "tfrecord":
        keep = sorted(set(range(len(train_set.files))) - set(bad))
        if not keep:
            raise DataError(f"none of the {len(train_set.files)} training images in {config.data!r} can be read")
        train_set = _subset(train_set, keep)
    # Class vocabulary: the data's, or only the ImageNet synsets present when --classes says so.
    names, display = list(train_set.class_names), list(train_set.display_names)
    if train_set.layout != "tfrecord" and train_set.is_imagenet:
        present = np.unique(train_set.labels)
        if config.classes is not None and config.classes != len(names) and config.classes == len(present):
            names = [train_set.class_names[i] for i in present]
            display = [train_set.display_names[i] for i in present]
            log(f"training on the {len(present)} ImageNet classes present in the data (--classes {config.classes})")
    if config.classes is not None and config.classes != len(names):
        detail = train_set.label_source
        if train_set.layout != "tfrecord":
            detail += f"; {len(np.unique(train_set.labels))} of them have images"
        raise DataError(f"--classes {config.classes} does not match the training data, which has {len(names)} "
                        f"classes ({detail}): pass --classes {len(names)}, or point --data at the data you mean")

    if config.val_data:
        val_set = _open_set(config.val_data, config.val_labels, "validation", "validation")
        split = f"--val-data {config.val_data}"
    elif train_set.layout == "tfrecord":
        val_set = None
        if os.path.isdir(config.data):
            try:
                val_set = find_image_set(config.data, split="validation")
            except DataError:
                val_set = None
        if val_set is None or val_set.layout != "tfrecord" or not val_set.shards:
            raise DataError(f"{config.data!r} holds TFRecords without validation-* shards; --val-fraction works on "
                            f"image folders only: pass --val-data with the validation shards")
        split = "validation-* shards next to the training shards"
    else:
        if config.val_fraction <= 0:
            raise DataError("no validation data: pass --val-data DIR or a --val-fraction above 0 "
                            "(the best model and the final report are chosen and computed on it)")
        train_idx, val_idx = stratified_split(train_set.labels, config.val_fraction, config.seed)
        if not len(val_idx):
            raise DataError(f"--val-fraction {config.val_fraction} of {len(train_set)} images leaves no validation "
                            f"images: raise it or pass --val-data")
        val_set = _subset(train_set, val_idx)
        train_set = _subset(train_set, train_idx)
        split = (f"stratified {config.val_fraction:g} of every class of --data, seed {config.seed}: "
                 f"{len(train_set)} training / {len(val_set)} validation images")
    train_set = _align(train_set, names, display, "training")
    val_set = _align(val_set, names, display, "validation")
    return RunData(train_set, val_set, names, display, split, unreadable=unreadable,
                   bad_indices=bad if train_set.layout == "tfrecord" else [])


def find_unreadable(image_set: ImageSet) -> list[dict]:
    """Examples TensorFlow cannot decode (one parallel pass over the set), each with the reason
    (Pillow's error, or a note that only Pillow can read it)."""
    import tensorflow as tf  # noqa: PLC0415

    from .datasets import decode_image  # noqa: PLC0415

    total = len(image_set)
    seen = np.zeros(total, bool)
    ds = image_set.encoded().map(lambda enc, label, i: (tf.shape(decode_image(enc))[0], i),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).ignore_errors()
    for _, idx in ds.batch(1024):
        seen[idx.numpy()] = True
    bad = []
    for i, where, encoded, _ in image_set.examples(np.flatnonzero(~seen)):
        try:
            decode_fallback(encoded)
            reason = "TensorFlow cannot decode this file (Pillow can: re-save it as JPEG or PNG to train on it)"
        except ValueError as e:
            reason = str(e)
        bad.append({"index": int(i), "path": where, "error": reason})
    return bad


def _one_hot(num_classes, aux):
    import tensorflow as tf  # noqa: PLC0415

    def targets(label):
        y = tf.one_hot(label, num_classes, dtype=tf.float32)
        return {"Predictions": y, "AuxPredictions": y} if aux else y

    return targets


def _distribute_options(ds):
    import tensorflow as tf  # noqa: PLC0415

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def train_dataset(run_data: RunData, config: TrainConfig, steps_per_epoch: int, first_epoch: int, end_epoch: int):
    """Batches for epochs ``first_epoch`` .. ``end_epoch - 1``, exactly ``steps_per_epoch`` each.

    Each epoch is a permutation of the training examples drawn from (seed, epoch) (TFRecords:
    a seeded shuffle buffer), augmented with per-example seeds (seed, epoch, index), batched
    with ``drop_remainder``; when undecodable files leave an epoch short, it is topped up from
    a second permutation. The same epoch is therefore the same batches whether the run started
    at epoch 0 or resumed at it.
    """
    import tensorflow as tf  # noqa: PLC0415

    from .datasets import decode_image  # noqa: PLC0415

    image_set = run_data.train
    batch = config.batch_size
    seed = int(config.seed)
    targets = _one_hot(run_data.num_classes, config.aux_logits)
    size, mode, crop = config.input_size, config.augment, config.crop_fraction
    if image_set.layout == "tfrecord":
        bad = tf.constant(sorted(run_data.bad_indices) or [-1], tf.int64)
        buffer = config.shuffle_buffer
        n = None

        def examples(epoch, rep):
            ds = image_set.encoded().filter(lambda enc, label, i: tf.reduce_all(tf.not_equal(i, bad)))
            return ds.shuffle(buffer, seed=seed * 1_000_003 + epoch * 1009 + rep, reshuffle_each_iteration=False)
    else:
        files = tf.constant(image_set.files)
        labels = tf.constant(np.asarray(image_set.labels, np.int64))
        n = len(image_set.files)

        def examples(epoch, rep):
            order = tf.argsort(tf.random.stateless_uniform([n], tf.stack([tf.constant(seed, tf.int64), epoch * 1009 + rep])))
            ds = tf.data.Dataset.from_tensor_slices(tf.cast(order, tf.int64))
            return ds.map(lambda i: (tf.io.read_file(files[i]), labels[i], i))

    passes = 2 if n is None else 2 + (batch + n - 1) // max(n, 1)

    def load(epoch, encoded, label, index):
        ex_seed = tf.random.experimental.stateless_fold_in(tf.stack([tf.constant(seed, tf.int64), epoch]), index)
        return preprocess_for_train(decode_image(encoded), size, ex_seed, mode=mode, crop_fraction=crop), targets(label)

    def epoch_batches(epoch):
        ds = tf.data.Dataset.range(passes).flat_map(lambda rep: examples(epoch, rep))
        ds = ds.map(lambda enc, label, i: load(epoch, enc, label, i), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
        return ds.ignore_errors().batch(batch, drop_remainder=True).take(steps_per_epoch)

    ds = tf.data.Dataset.range(first_epoch, end_epoch).flat_map(epoch_batches)
    return _distribute_options(ds.prefetch(tf.data.AUTOTUNE))


def eval_dataset(image_set: ImageSet, config: TrainConfig, num_classes: int):
    """Validation batches with the evaluation preprocessing; undecodable files are left out."""
    import tensorflow as tf  # noqa: PLC0415

    from .datasets import decode_image, preprocess_for_eval  # noqa: PLC0415

    prep = Preprocessing("slim", config.input_size, config.crop_fraction)
    targets = _one_hot(num_classes, config.aux_logits)
    ds = image_set.encoded().map(lambda enc, label, i: (preprocess_for_eval(decode_image(enc), prep), targets(label)),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors().batch(config.eval_batch_size or config.batch_size)
    return _distribute_options(ds.prefetch(tf.data.AUTOTUNE))


# =========================================================================== #
# Model
# =========================================================================== #
@dataclasses.dataclass
class Transfer:
    """What fine-tuning took from the source weights."""

    source: str
    source_classes: int | None
    copied: list[str]
    new: list[str]  # layers left freshly initialised (the new head)
    label_offset: int = 0

    def describe(self) -> str:
        head = f"new head: {', '.join(self.new)}" if self.new else "head kept"
        classes = f"{self.source_classes} classes" if self.source_classes else "no classifier"
        return f"weights {self.source} ({classes}): {len(self.copied)} layers copied, {head}"


def is_head_layer(name: str) -> bool:
    return name.startswith(HEAD_PREFIXES)


def _file_heads(path: str) -> tuple[int | None, bool]:
    """(classes, has auxiliary head) of a Keras weights file, from its 2D (dense) kernels."""
    import h5py  # noqa: PLC0415

    shapes = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: shapes.append(tuple(obj.shape))
                         if isinstance(obj, h5py.Dataset) and obj.ndim == 2 and not name.startswith("optimizer") else None)
    except OSError as e:
        raise TrainingError(f"weights file {path!r} is not a readable HDF5 file: {e}") from e
    if not shapes:
        return None, False
    return int(shapes[0][1]), len(shapes) > 1


def source_model(name: str, weights: str, input_size: int):
    """The model ``weights`` belong to, built with its own head and loaded."""
    from . import presets  # noqa: PLC0415
    from .registry import create_model  # noqa: PLC0415

    if weights in presets.WEIGHT_NAMES:
        preset = presets.get_preset(name, weights)
        return create_model(name, weights=weights, classes=preset.num_classes, aux_logits=True,
                            name=f"{name}_{weights}"), preset.label_offset
    path = os.fspath(weights)
    if path.endswith((".weights.h5", ".h5", ".keras")):
        if not os.path.isfile(path):
            raise TrainingError(f"weights file not found: {path!r}")
        classes, aux = _file_heads(path)
        size = max(input_size, 299) if aux else input_size
        if classes is None:
            return create_model(name, weights=path, include_top=False, input_shape=(size, size, 3),
                                name=f"{name}_source"), 0
        return create_model(name, weights=path, classes=classes, aux_logits=aux, input_shape=(size, size, 3),
                            name=f"{name}_source"), 0
    return create_model(name, weights=path, classes=1001, aux_logits=True, name=f"{name}_source"), 1


def transfer_weights(source, target, *, label_offset: int = 0, source_name: str = "") -> Transfer:
    """Copy every layer of ``target`` from the same-named layer of ``source``.

    Backbone layers must all be there with the same shapes. Classifier layers whose class
    count differs stay freshly initialised (a new head), except a source with ``label_offset``
    more classes (TF-slim's background class), whose extra first columns are dropped. Auxiliary
    head layers missing from the source are new.
    """
    from .convert.core import ConversionError  # noqa: PLC0415

    copied, new = [], []
    src_layers = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        if not layer.weights:
            continue
        src = src_layers.get(layer.name)
        if src is None:
            if is_head_layer(layer.name):
                new.append(layer.name)
                continue
            raise ConversionError(f"the weights {source_name or source.name!r} have no layer {layer.name!r}: "
                                  f"they belong to another architecture than {target.name!r}")
        have = src.get_weights()
        want = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in have] == want:
            layer.set_weights(have)
            copied.append(layer.name)
        elif is_head_layer(layer.name) and isinstance(layer, _dense_class()):
            if label_offset and have[0].shape[-1] - label_offset == want[0][-1]:
                layer.set_weights([v[..., label_offset:] for v in have])
                copied.append(layer.name)
            else:
                new.append(layer.name)
        else:
            raise ConversionError(f"{layer.name}: shapes {want} in {target.name!r} but {[v.shape for v in have]} "
                                  f"in the weights {source_name or source.name!r}; were they saved at another "
                                  f"--input-size or from another model?")
    return Transfer(source_name or source.name, _classes_of(source), copied, new, label_offset)


def _dense_class():
    import keras  # noqa: PLC0415

    return keras.layers.Dense


def _classes_of(model):
    try:
        return int(model.get_layer("Logits__Logits").units)
    except ValueError:
        return None


def build_model(config: TrainConfig, num_classes: int, *, load_weights: bool = True):
    """The model to train, with ``config.weights`` transferred (``load_weights``) and the
    recipe's BatchNorm momentum and L2 weight decay set. Returns (model, Transfer or None)."""
    import keras  # noqa: PLC0415

    from .registry import create_model  # noqa: PLC0415

    size = config.input_size
    model = create_model(config.model, classes=num_classes, input_shape=(size, size, 3),
                         aux_logits=config.aux_logits, dropout_rate=config.dropout)
    transfer = None
    if config.weights and load_weights:
        source, offset = source_model(config.model, config.weights, size)
        transfer = transfer_weights(source, model, label_offset=offset, source_name=str(config.weights))
        del source
    apply_recipe(model, config)
    if keras.mixed_precision.dtype_policy().name != "float32":
        for name in ("Predictions", "AuxPredictions"):  # probabilities and the loss in float32
            try:
                model.get_layer(name).dtype_policy = "float32"
            except ValueError:
                pass
    return model, transfer


def apply_recipe(model, config: TrainConfig) -> None:
    """BatchNorm momentum on every BatchNormalization layer; L2 decay on conv and dense kernels.

    TF-slim's ``l2_regularizer(wd)`` adds ``wd * sum(w**2) / 2``; Keras' ``L2(l)`` adds
    ``l * sum(w**2)``, hence ``L2(wd / 2)``. The model-building code is left as it is
    (Keras' default momentum), so inference users are not affected.
    """
    import keras  # noqa: PLC0415

    reg = keras.regularizers.L2(config.weight_decay / 2.0) if config.weight_decay > 0 else None
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = config.bn_momentum
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            layer.kernel.regularizer = reg


def set_trainable(model, phase: str, bn_trainable: bool) -> int:
    """``phase="head"``: only the classifier (and auxiliary head) layers train; ``"all"``:
    every layer, with the backbone's BatchNorm layers frozen when ``bn_trainable`` is False
    (Keras then also runs them in inference mode). Returns the number of trainable weights."""
    import keras  # noqa: PLC0415

    for layer in model.layers:
        if not layer.weights:
            continue
        head = is_head_layer(layer.name)
        trainable = head or phase == "all"
        if not head and not bn_trainable and isinstance(layer, keras.layers.BatchNormalization):
            trainable = False
        layer.trainable = trainable
    return len(model.trainable_weights)


def inference_view(model):
    """The model without its auxiliary output (same layers, no optimizer): what
    ``best.weights.h5`` holds and what the final evaluation scores."""
    import keras  # noqa: PLC0415

    outputs = model.outputs
    return keras.Model(model.inputs, outputs[0] if len(outputs) > 1 else outputs, name=model.name)


# =========================================================================== #
# Optimizer, loss, metrics
# =========================================================================== #
def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """``effective_lr * lr_decay ** floor(step / decay_steps)``, decay_steps = lr_decay_epochs
    epochs; a function of the optimizer's step count, so a resumed run continues on it exactly."""
    import keras  # noqa: PLC0415

    lr = config.effective_lr()
    if config.lr_decay >= 1.0:
        return lr
    decay_steps = max(1, round(config.lr_decay_epochs * steps_per_epoch))
    return keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=decay_steps, decay_rate=config.lr_decay,
                                                       staircase=True)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """The optimizer of ``config`` with :func:`learning_rate_schedule`."""
    import keras  # noqa: PLC0415

    common = {"learning_rate": learning_rate_schedule(config, steps_per_epoch)}
    if config.clip_norm:
        common["global_clipnorm"] = config.clip_norm
    eps = config.optimizer_epsilon()
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rho=config.rmsprop_rho, momentum=config.momentum, epsilon=eps, **common)
    if config.optimizer == "momentum":
        return keras.optimizers.SGD(momentum=config.momentum, **common)
    return keras.optimizers.Adam(epsilon=eps, **common)


def monitor_key(config: TrainConfig) -> str:
    """The log key of validation top-1 (Keras prefixes metrics with the output name when the
    model has several outputs)."""
    return "val_Predictions_top1" if config.aux_logits else "val_top1"


def compile_model(model, config: TrainConfig, optimizer, num_classes: int) -> None:
    """Cross-entropy with label smoothing (the auxiliary head weighted ``aux_weight``), top-1/top-5."""
    import keras  # noqa: PLC0415

    def metrics():
        return [keras.metrics.CategoricalAccuracy(name="top1"),
                keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top5")]

    def loss():
        return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)

    jit = {"auto": "auto", "on": True, "off": False}[config.jit_compile]
    if config.aux_logits:
        model.compile(optimizer=optimizer, loss={"Predictions": loss(), "AuxPredictions": loss()},
                      loss_weights={"Predictions": 1.0, "AuxPredictions": config.aux_weight},
                      metrics={"Predictions": metrics()}, run_eagerly=config.run_eagerly, jit_compile=jit)
    else:
        model.compile(optimizer=optimizer, loss=loss(), metrics=metrics(), run_eagerly=config.run_eagerly,
                      jit_compile=jit)


# =========================================================================== #
# Checkpoints
# =========================================================================== #
def _seed_states(model) -> dict[str, list[int]]:
    """The dropout layers' seed-generator states (not part of Keras' weights files)."""
    out = {}
    for layer in model.layers:
        for i, v in enumerate(x for x in layer.variables if "seed_generator" in x.path):
            out[f"{layer.name}/{i}"] = [int(s) for s in np.asarray(v.numpy()).ravel()]
    return out


def _restore_seed_states(model, states: dict) -> None:
    for layer in model.layers:
        for i, v in enumerate(x for x in layer.variables if "seed_generator" in x.path):
            key = f"{layer.name}/{i}"
            if key in states:
                v.assign(np.asarray(states[key], dtype=v.dtype))


def save_checkpoint(model, path: str, state: dict) -> str:
    """Model weights + optimizer state (Keras' ``save_weights`` of a compiled model holds both)
    + ``state`` as a JSON attribute, in one file that appears only when complete."""
    import h5py  # noqa: PLC0415

    def save(tmp):
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs[STATE_ATTR] = json.dumps(state)

    return atomic_save(save, path, ".weights.h5")


def read_checkpoint_state(path: str) -> dict:
    """The run state stored in a checkpoint (epoch, iterations, best top-1, seed states...)."""
    import h5py  # noqa: PLC0415

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get(STATE_ATTR)
    except OSError as e:
        raise TrainingError(f"checkpoint {path!r} cannot be read ({e}); delete it to restart the run from scratch") from e
    if raw is None:
        raise TrainingError(f"{path!r} is not a checkpoint written by the training tool (no run state in it)")
    return json.loads(raw)


def load_checkpoint(model, path: str) -> dict:
    """Restore model, optimizer and seed states; check the optimizer really got its state back."""
    state = read_checkpoint_state(path)
    model.load_weights(path)
    _restore_seed_states(model, state.get("seed_states", {}))
    got = int(model.optimizer.iterations.numpy())
    if got != state["iterations"]:
        raise TrainingError(f"the optimizer state in {path!r} did not load (iteration {got}, expected "
                            f"{state['iterations']}): was the run started with another --optimizer or Keras version?")
    return state


def _callback_base():
    import keras  # noqa: PLC0415

    return keras.callbacks.Callback


class _EpochLogs(_callback_base()):
    """Adds to each epoch's logs: the learning rate (of the epoch's last step), the optimizer's
    iteration count, and training images/s (the epoch's steps up to its validation; the first
    epoch of a process includes tracing)."""

    def __init__(self, schedule, images_per_epoch: int):
        super().__init__()
        self.schedule, self.images = schedule, images_per_epoch
        self.start = self.train_seconds = None

    def on_train_begin(self, logs=None):
        self.batches = 0  # steps run by this fit() call

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.train_seconds = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self.start is not None and self.train_seconds is None:
            self.train_seconds = time.perf_counter() - self.start

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        done = int(self.model.optimizer.iterations.numpy())
        lr = self.schedule(max(done - 1, 0)) if callable(self.schedule) else self.schedule
        logs["lr"] = float(np.asarray(lr))
        logs["iterations"] = done
        seconds = self.train_seconds if self.train_seconds is not None else time.perf_counter() - self.start
        logs["images_per_second"] = round(self.images / seconds, 3) if seconds > 0 else 0.0


class RunCheckpoint(_callback_base()):
    """After every epoch: ``best.weights.h5`` when validation top-1 improved, then the
    checkpoint (model + optimizer + run state), each written atomically; optionally a copy of
    the epoch's weights. A kill at any point leaves the previous complete epoch resumable."""

    def __init__(self, output: str, config: TrainConfig, view, state: dict, write: bool = True):
        super().__init__()
        self.output, self.config, self.view, self.state, self.write = output, config, view, state, write

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        done = epoch + 1
        top1 = logs.get(monitor_key(self.config))
        if top1 is not None and (self.state.get("best_val_top1") is None or top1 > self.state["best_val_top1"]):
            if self.write:
                atomic_save(lambda tmp: self.view.save_weights(tmp), os.path.join(self.output, RUN_FILES["best"]),
                            ".weights.h5")
            self.state["best_val_top1"] = float(top1)
            self.state["best_epoch"] = done
        if self.write and self.config.save_every_epoch:
            atomic_save(lambda tmp: self.view.save_weights(tmp),
                        os.path.join(self.output, RUN_FILES["epochs"], f"epoch-{done:03d}.weights.h5"), ".weights.h5")
        self.state.update({
            "epoch": done,
            "iterations": int(self.model.optimizer.iterations.numpy()),
            "seed_states": _seed_states(self.model),
            "logs": {k: float(v) for k, v in logs.items() if np.ndim(v) == 0},
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        })
        if self.write:
            save_checkpoint(self.model, os.path.join(self.output, RUN_FILES["checkpoint"]), self.state)
            info = {k: v for k, v in self.state.items() if k != "seed_states"}
            write_json(os.path.join(self.output, RUN_FILES["checkpoint_info"]), info)


def _truncate_history(path: str, first_epoch: int) -> None:
    """Drop CSV rows of epochs that will be run again (written before a kill, after the checkpoint)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "epoch" not in rows[0]:
        return
    col = rows[0].index("epoch")
    keep = [rows[0]] + [r for r in rows[1:] if r and int(float(r[col])) < first_epoch]
    if len(keep) == len(rows):
        return

    def save(tmp):
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(keep)

    atomic_save(save, path, ".csv")


# =========================================================================== #
# Distribution
# =========================================================================== #
def make_strategy(config: TrainConfig):
    """The ``tf.distribute`` strategy of ``config.strategy``; created before anything else."""
    import tensorflow as tf  # noqa: PLC0415

    if config.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.strategy == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise TrainingError(
                "--strategy multiworker needs TF_CONFIG on every machine, e.g. "
                "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                "\"task\": {\"type\": \"worker\", \"index\": 0}}' (index 1 on the second machine)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if config.strategy == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError, RuntimeError) as e:
            raise TrainingError(f"--strategy tpu: no TPU found ({e}); on a TPU VM leave --tpu out, elsewhere pass "
                                f"--tpu NAME_OR_GRPC_ADDRESS") from e
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def _multiworker_build_workaround(model, strategy, element_spec) -> None:
    """Keras 3's ``fit``/``evaluate`` reduce the first distributed batch over the replicas only to
    learn its shapes, and MultiWorkerMirroredStrategy cannot reduce a nested batch ("Attempt to
    convert a value (PerReplica...) to a Tensor", keras-team/keras#20585). Build from the
    dataset's shapes instead (the same ``_symbolic_build`` Keras would call)."""
    import tensorflow as tf  # noqa: PLC0415

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    if not hasattr(model, "_maybe_symbolic_build") or not hasattr(model, "_symbolic_build"):
        return  # a Keras version without the problem

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=element_spec)

    model._maybe_symbolic_build = build
    # ... and they average the per-replica logs (scalars) with reduce("MEAN", axis=0), which a
    # scalar does not have: average over the replicas (axis=None) instead.
    from keras.src.backend.tensorflow import trainer as tf_trainer  # noqa: PLC0415

    original = getattr(tf_trainer.reduce_per_replica, "__wrapped__", tf_trainer.reduce_per_replica)

    def reduce_per_replica(values, strategy_, reduction):
        if isinstance(strategy_, tf.distribute.MultiWorkerMirroredStrategy) and reduction in ("auto", "mean"):
            return tf.nest.map_structure(
                lambda v: strategy_.reduce("MEAN", v, axis=None)
                if isinstance(v, tf.distribute.DistributedValues) else v, values)
        return original(values, strategy_, reduction)

    reduce_per_replica.__wrapped__ = original
    tf_trainer.reduce_per_replica = reduce_per_replica


def _is_chief(strategy) -> bool:
    return bool(getattr(strategy.extended, "should_checkpoint", True))


# =========================================================================== #
# The run
# =========================================================================== #
def _derived(config, run_data, steps, strategy, policy, transfer_note) -> dict:
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from . import __version__  # noqa: PLC0415

    return {
        "classes": run_data.num_classes,
        "class_names": run_data.class_names,
        "train_examples": len(run_data.train) if run_data.train.layout != "tfrecord" else None,
        "val_examples": len(run_data.val) if run_data.val.layout != "tfrecord" else None,
        "unreadable_training_images": len(run_data.unreadable),
        "validation": run_data.split,
        "data_fingerprint": run_data.fingerprint(),
        "steps_per_epoch": steps,
        "global_batch": config.batch_size,
        "replicas": strategy.num_replicas_in_sync,
        "per_replica_batch": config.batch_size / strategy.num_replicas_in_sync,
        "effective_lr": config.effective_lr(),
        "lr_decay_steps": max(1, round(config.lr_decay_epochs * steps)),
        "dtype_policy": policy,
        "weights": transfer_note,
        "versions": {"inception_keras": __version__, "keras": keras.__version__, "tensorflow": tf.__version__},
    }


def _run_exists(output: str) -> bool:
    return os.path.isfile(os.path.join(output, RUN_FILES["config"]))


def resume(output: str, *, epochs: int | None = None, log=print, command: str | None = None) -> dict:
    """Continue the run in ``output`` from its last complete epoch, with its saved configuration
    (``epochs`` may extend it)."""
    path = os.path.join(output, RUN_FILES["config"])
    if not os.path.isdir(output):
        raise TrainingError(f"--resume {output!r}: no such folder; start a run with --output {output}")
    if not os.path.isfile(path):
        raise TrainingError(f"--resume {output!r}: the folder holds no training run (no {RUN_FILES['config']}); "
                            f"start one with --output {output} and the options of the run")
    with open(path) as f:
        saved = json.load(f)
    config = TrainConfig.from_json(saved["config"])
    config.output = output
    if epochs is not None:
        if epochs < config.epochs:
            raise TrainingError(f"--epochs {epochs} is fewer than the run's {config.epochs}; it can only be extended")
        config.epochs = epochs
    return train(config, resume=True, log=log, command=command, saved=saved)


def train(config: TrainConfig, *, resume: bool = False, log=print, command: str | None = None,
          saved: dict | None = None) -> dict:
    """Run (or, with ``resume``, continue) training as ``config`` says; return a summary dict
    (``history``, ``initial_epoch``, ``iterations``, ``best_val_top1``, ``report`` ...)."""
    import keras  # noqa: PLC0415

    if keras.backend.backend() != "tensorflow":
        raise TrainingError(f"training uses tf.data and tf.distribute: set KERAS_BACKEND=tensorflow "
                            f"(it is {keras.backend.backend()!r})")
    config.check()
    output = config.output
    if resume and saved is None:
        with open(os.path.join(output, RUN_FILES["config"])) as f:
            saved = json.load(f)
    import tensorflow as tf  # noqa: PLC0415

    strategy = make_strategy(config)  # first: multi-worker collectives need it before other ops
    chief = _is_chief(strategy)  # the one that writes (the other workers may start after it did)
    if chief and not resume and _run_exists(output):
        raise TrainingError(f"{output!r} already holds a run: continue it with --resume {output}, "
                            f"or pass another --output")
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    # ---- data ------------------------------------------------------------
    unreadable_path = os.path.join(output, RUN_FILES["unreadable"])
    known = None
    if resume and os.path.isfile(unreadable_path):
        with open(unreadable_path) as f:
            known = json.load(f)["skipped"]
    run_data = load_run_data(config, log=log, unreadable=known)
    steps = config.steps_per_epoch
    if not steps:  # (TFRecords are counted by reading them once; --steps-per-epoch saves that)
        n_train = len(run_data.train) - len(run_data.bad_indices)
        steps = max(1, n_train // config.batch_size)
        if n_train < config.batch_size:
            log(f"note: {n_train} training images is fewer than one batch of {config.batch_size}; "
                f"each epoch is one batch, images repeating")

    # ---- precision, model, optimizer --------------------------------------
    from .profile import mixed_precision_policy  # noqa: PLC0415

    policy = mixed_precision_policy(config.mixed_precision)
    previous_policy = keras.mixed_precision.dtype_policy().name
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        return _fit(config, resume, saved, strategy, chief, run_data, steps, policy, log, command)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)


def _fit(config, resume, saved, strategy, chief, run_data, steps, policy, log, command):
    import keras  # noqa: PLC0415

    output = config.output
    ckpt_path = os.path.join(output, RUN_FILES["checkpoint"])
    has_ckpt = resume and os.path.isfile(ckpt_path)
    with strategy.scope():
        model, transfer = build_model(config, run_data.num_classes, load_weights=not has_ckpt)
        replicas = strategy.num_replicas_in_sync
        if replicas > 1 and config.sync_bn in ("auto", "on") or config.sync_bn == "on":
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True
        compile_model(model, config, make_optimizer(config, steps), run_data.num_classes)
        model.optimizer.build(model.trainable_variables)  # every variable, whatever is frozen later
    transfer_note = transfer.describe() if transfer else (
        f"from {RUN_FILES['checkpoint']}" if has_ckpt else ("random initialisation" if not config.weights else None))
    if transfer:
        log(transfer.describe())
    derived = _derived(config, run_data, steps, strategy, policy, transfer_note)

    # ---- the run's files: new, or checked against the saved run -----------
    if resume:
        before = saved["derived"]
        for key in ("classes", "class_names", "data_fingerprint", "steps_per_epoch"):
            if before.get(key) != derived[key]:
                raise TrainingError(
                    f"cannot resume {output!r}: {key} was {_short(before.get(key))} when the run started and is "
                    f"{_short(derived[key])} now (the data changed?); restore the data or start a new run")
        derived["weights"] = before.get("weights")
    if chief:
        os.makedirs(output, exist_ok=True)
        for stale in os.listdir(output):
            if stale.startswith(".tmp-"):
                os.remove(os.path.join(output, stale))  # from a kill during a write
        if not resume:
            write_json(os.path.join(output, RUN_FILES["config"]),
                       {"config": config.to_json(), "derived": derived, "command": command})
            write_text(os.path.join(output, RUN_FILES["classes"]), "\n".join(run_data.display_names) + "\n")
            write_json(os.path.join(output, RUN_FILES["unreadable"]), {"skipped": run_data.unreadable})
        elif config.epochs != saved["config"]["epochs"]:
            saved["config"]["epochs"] = config.epochs
            write_json(os.path.join(output, RUN_FILES["config"]), saved)

    state = {"epoch": 0, "iterations": 0, "best_val_top1": None, "best_epoch": None}
    if has_ckpt:
        state = load_checkpoint(model, ckpt_path)
        log(f"resuming {output} at epoch {state['epoch'] + 1}/{config.epochs} from {RUN_FILES['checkpoint']} "
            f"(optimizer iteration {state['iterations']}, best val top-1 {state['best_val_top1']})")
    elif resume:
        log(f"resuming {output}: no complete epoch yet, starting at epoch 1/{config.epochs}")
    initial_epoch = state["epoch"]
    start_iterations = int(model.optimizer.iterations.numpy())
    log(f"{config.model}: {model.count_params():,} parameters, {run_data.num_classes} classes, "
        f"input {config.input_size}x{config.input_size}; {strategy.num_replicas_in_sync} replica(s), global batch "
        f"{config.batch_size}, {steps} steps per epoch, learning rate {config.effective_lr():g}; "
        f"validation: {run_data.split}")

    view = inference_view(model)
    history = {}
    if initial_epoch < config.epochs:
        epoch_logs = _EpochLogs(learning_rate_schedule(config, steps), steps * config.batch_size)
        history_path = os.path.join(output, RUN_FILES["history"])
        if chief and resume:
            _truncate_history(history_path, initial_epoch)

        def callbacks(append):
            out = [epoch_logs]  # first: the loggers after it see its values
            if chief:
                out += [keras.callbacks.CSVLogger(history_path, append=append),
                        keras.callbacks.TensorBoard(os.path.join(output, RUN_FILES["logs"]), write_graph=False)]
            return out + [RunCheckpoint(output, config, view, state, write=chief)]  # last: after the CSV row

        val_ds = eval_dataset(run_data.val, config, run_data.num_classes)
        phases = []
        if initial_epoch < config.freeze_backbone_epochs:
            phases.append(("head", initial_epoch, config.freeze_backbone_epochs))
        if config.freeze_backbone_epochs < config.epochs:
            phases.append(("all", max(initial_epoch, config.freeze_backbone_epochs), config.epochs))
        for n, (phase, first, end) in enumerate(phases):
            with strategy.scope():
                n_trainable = set_trainable(model, phase, config.bn_trainable)
                compile_model(model, config, model.optimizer, run_data.num_classes)
            if phase == "head" or not config.bn_trainable or config.freeze_backbone_epochs:
                log(f"epochs {first + 1}-{end}: training {'the head only' if phase == 'head' else 'every layer'}"
                    f"{'' if config.bn_trainable or phase == 'head' else ', BatchNorm frozen'} "
                    f"({n_trainable} trainable weights)")
            ds = train_dataset(run_data, config, steps, first, end)
            _multiworker_build_workaround(model, strategy, ds.element_spec)
            with warnings.catch_warnings():
                # Keras warns at the end of every pass over a dataset of unknown length (the validation
                # data: undecodable files are dropped); the training data is checked below instead.
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                h = model.fit(ds, epochs=end, initial_epoch=first, steps_per_epoch=steps, validation_data=val_ds,
                              callbacks=callbacks(append=resume or n > 0), verbose=config.verbose, shuffle=False)
            # (counted in batches: with float16 loss scaling, skipped steps do not advance the optimizer)
            if not model.stop_training and epoch_logs.batches != (end - first) * steps:
                raise TrainingError(f"the training data ran out after {epoch_logs.batches} of {(end - first) * steps} "
                                    f"steps; is --steps-per-epoch larger than the data?")
            for k, v in h.history.items():
                history.setdefault(k, []).extend(float(x) for x in v)
    else:
        log(f"{output} has already run its {config.epochs} epochs; pass --epochs N to train further")

    result = {
        "output": output,
        "initial_epoch": initial_epoch,
        "start_iterations": start_iterations,
        "iterations": int(model.optimizer.iterations.numpy()),
        "epochs": config.epochs,
        "steps_per_epoch": steps,
        "history": history,
        "best_val_top1": state.get("best_val_top1"),
        "best_epoch": state.get("best_epoch"),
        "unreadable": run_data.unreadable,
        "transfer": dataclasses.asdict(transfer) if transfer else None,
        "report": None,
    }
    if config.final_eval:
        result["report"] = final_evaluation(model, view, config, run_data, state, strategy, chief, log, command)
    return result


def final_evaluation(model, view, config, run_data, state, strategy, chief, log, command):
    """Score ``best.weights.h5`` on the validation data with the evaluation tool's code and
    write report.json / report.md into the output folder."""
    from .evaluation import evaluate_model, format_text, write_report  # noqa: PLC0415

    best = os.path.join(config.output, RUN_FILES["best"])
    which = f"{RUN_FILES['best']} (epoch {state.get('best_epoch')})"
    if os.path.isfile(best):
        view.load_weights(best)
    else:
        which = f"the weights after epoch {state.get('epoch')} (no {RUN_FILES['best']}: no validation top-1 yet)"
    log(f"evaluating {which} on the validation data ...")
    prep = Preprocessing("slim", config.input_size, config.crop_fraction)
    report = evaluate_model(view, run_data.val, prep, batch_size=config.eval_batch_size or config.batch_size,
                            progress=config.verbose == 1, command=command, pipeline_batches=0, strategy=strategy,
                            extra={"model": config.model, "weights": which, "training_run": config.output,
                                   "strategy": config.strategy, "replicas": strategy.num_replicas_in_sync})
    if chief:
        json_path, md_path = write_report(report, config.output)
        log(format_text(report))
        log(f"wrote {json_path} and {md_path}")
    return report


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = [
    "RUN_FILES",
    "RunCheckpoint",
    "TrainConfig",
    "TrainingError",
    "apply_recipe",
    "build_model",
    "compile_model",
    "distort_color",
    "eval_dataset",
    "find_unreadable",
    "inference_view",
    "load_checkpoint",
    "load_run_data",
    "make_optimizer",
    "make_strategy",
    "preprocess_for_train",
    "read_checkpoint_state",
    "resume",
    "save_checkpoint",
    "set_trainable",
    "source_model",
    "stratified_split",
    "train",
    "train_dataset",
    "transfer_weights",
]
