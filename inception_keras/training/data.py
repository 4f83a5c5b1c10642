"""The data of a run: finding the training and validation sets, leaving out unreadable
images, the stratified split, aligning class vocabularies, and the ``tf.data`` pipelines."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

from ..data.datasets import DataError, ImageSet, file_bytes, find_image_set
from ..data.preprocessing import Preprocessing, preprocess_for_eval
from ..data.datasets import align_classes as _align
from ..data.images import decode_image, unreadable_reason
from ..data.augment import preprocess_for_train
from .config import RUN_FILES, TrainConfig


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
                    line = f"{os.path.relpath(os.path.abspath(f), root)}\t{int(label)}\n"
                    h.update(line.encode("utf-8", "surrogateescape"))  # (names that are not UTF-8 too)
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
    lines = [image_set.label_lines[i] for i in indices] if image_set.label_lines else []
    return dataclasses.replace(image_set, files=[image_set.files[i] for i in indices],
                               labels=np.asarray(image_set.labels)[indices], label_lines=lines)


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
    if train_set.unlabelled:
        log(f"{len(train_set.unlabelled)} images in {config.data} are not in the label file and are left out, "
            f"e.g. {', '.join(train_set.unlabelled[:3])}")
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
    if train_set.layout != "tfrecord" and len(np.unique(train_set.labels)) < 2:
        raise DataError(_one_class_message(config.data, train_set))
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


def _one_class_message(data: str, image_set: ImageSet) -> str:
    present = [image_set.class_names[int(c)] for c in np.unique(image_set.labels)]
    found = f"one class, {present[0]!r}" if present else "no class"
    where = {"folders": "one sub-folder of images per class", "flat": "a label file with two or more labels"}
    return (f"the training data in {data!r} has {found} ({image_set.label_source}, {len(image_set)} images): a "
            f"classifier needs at least 2 classes to learn anything (with one, every prediction is right); give "
            f"{where.get(image_set.layout, 'two or more classes')} in --data")


def find_unreadable(image_set: ImageSet) -> list[dict]:
    """Examples TensorFlow cannot decode (one parallel pass over the set), each with the reason
    (Pillow's error, or a note that only Pillow can read it)."""
    import tensorflow as tf  # noqa: PLC0415

    total = len(image_set)
    seen = np.zeros(total, bool)
    ds = image_set.encoded().map(lambda enc, label, i: (tf.shape(decode_image(enc))[0], i),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).ignore_errors()
    for _, idx in ds.batch(1024):
        seen[idx.numpy()] = True
    bad = []
    for i, where, encoded, _ in image_set.examples(np.flatnonzero(~seen)):
        reason = unreadable_reason(encoded) or \
            "TensorFlow cannot decode this file (Pillow can: re-save it as JPEG or PNG to train on it)"
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
        files = tf.constant(file_bytes(image_set.files))  # (bytes: names that are not UTF-8 too)
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

    prep = Preprocessing("slim", config.input_size, config.crop_fraction)
    targets = _one_hot(num_classes, config.aux_logits)
    ds = image_set.encoded().map(lambda enc, label, i: (preprocess_for_eval(decode_image(enc), prep), targets(label)),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors().batch(config.eval_batch_size or config.batch_size)
    return _distribute_options(ds.prefetch(tf.data.AUTOTUNE))
