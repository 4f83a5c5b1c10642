"""Labelled image sets and their ``tf.data`` input pipelines (tool side: imports TensorFlow).

Three layouts of the ImageNet validation set, and any other labelled image folder:

* ``folders``: one sub-folder per class (``n01440764/ILSVRC2012_val_00000293.JPEG``).
  Folders named after ImageNet synsets get their ImageNet label (the sorted-synset index),
  so a subset of the classes still lines up with a 1000-way head; other folder names are
  classes in sorted order (a fine-tuned model's data).
* ``flat``: a folder of images and a label file, ``filename synset`` or ``filename index``
  lines (index: 0-based, sorted-synset order), or ImageNet's ``LOC_val_solution.csv``
  (``ImageId,PredictionString``).
* ``tfrecord``: TF-slim / TPU shards (``validation-00000-of-00128``) with ``image/encoded``
  and ``image/class/label`` (1..1000, 0 being the background class).

Every layout is read as encoded bytes and decoded inside the pipeline, in parallel
(:mod:`inception_keras.data.images`: one decoding for every tool, and a pixel limit read from the
header). A file that TensorFlow cannot decode, or refuses as too large, does not stop the
pipeline (``ignore_errors``): the caller sees which indices are missing and hands them to
:func:`inception_keras.data.images.decode_any` for the reason (Pillow reads a few formats
TensorFlow does not), and what cannot be read is reported as unreadable.

The preprocessing the pipelines map over the images is :mod:`inception_keras.data.preprocessing`
(import its names from there).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import glob
import os
import re
from importlib import resources

import numpy as np

from ..utils.fileio import display_path
from .images import decode_image
from .labels import imagenet_classes
from .preprocessing import Preprocessing, crop_views, decode_and_preprocess

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
DEVKIT_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
LABEL_FILE_NAMES = ("LOC_val_solution.csv", DEVKIT_GROUND_TRUTH, "labels.txt", "val.txt", "labels.csv")
_TFRECORD = re.compile(r"(-\d{5}-of-\d{5}$)|(\.tfrecords?(-\d+)?$)|(\.tfrec$)")


def is_tfrecord_name(name: str) -> bool:
    """Whether a file name is a TFRecord shard's (``*-00000-of-00008``, ``.tfrecord``, ``.tfrec``)."""
    return bool(_TFRECORD.search(name))


_SYNSET = re.compile(r"^n\d{8}$")


class DataError(ValueError):
    """A data path or label file that cannot be used; the message says what to give instead."""


# --------------------------------------------------------------------------- #
# Image sets
# --------------------------------------------------------------------------- #
@dataclasses.dataclass
class ImageSet:
    """A labelled set of images in one of the three layouts.

    ``class_names`` are the label vocabulary (synsets for ImageNet, folder names otherwise),
    ``display_names`` their readable names; labels index both. For the file layouts,
    ``files``/``labels`` list every example; for TFRecords, ``shards`` (labels come from
    the records, shifted down by ``label_offset``).
    """

    layout: str
    root: str
    class_names: list[str]
    display_names: list[str]
    files: list[str] = dataclasses.field(default_factory=list)
    labels: np.ndarray | None = None
    shards: list[str] = dataclasses.field(default_factory=list)
    label_offset: int = 0
    label_source: str = ""
    unlabelled: list[str] = dataclasses.field(default_factory=list)  # flat: images the label file omits
    label_lines: list[str] = dataclasses.field(default_factory=list)  # flat index labels: "file:line" each
    exclude: frozenset = frozenset()  # TFRecords: file names (no extension) left out as the records are read
    exclusion: dict | None = None  # what --exclude left out: {"file", "listed", "excluded"} (see exclude_images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_imagenet(self) -> bool:
        return self.class_names == [s for s, _ in imagenet_classes()]

    def __len__(self) -> int:
        return self.count()

    def count(self, limit: int | None = None) -> int:
        """Number of examples, or of the first ``limit`` (TFRecords are read only that far)."""
        if self.layout != "tfrecord":
            return len(self.files) if limit is None else min(limit, len(self.files))
        if limit is None and getattr(self, "_num_records", None) is not None:
            return self._num_records
        import tensorflow as tf  # noqa: PLC0415

        ds = tf.data.TFRecordDataset(self.shards)
        if self.exclude:
            return self._count_excluding(ds, limit)
        if limit is not None:
            ds = ds.take(limit)
        n = int(ds.reduce(np.int64(0), lambda n, _: n + 1).numpy())
        if limit is None:
            self._num_records = n
        return n

    def _count_excluding(self, records, limit):
        """Records kept (the first ``limit``), noting in ``exclusion`` how many were left out
        on the way (over all the records when ``limit`` is None)."""
        import tensorflow as tf  # noqa: PLC0415

        flags = records.map(lambda r: tf.cast(self._excluded(_record_filename(r)), tf.int64),
                            num_parallel_calls=tf.data.AUTOTUNE)
        flags = flags.scan(np.int64(0), lambda kept, ex: (kept + 1 - ex, (kept, ex)))
        if limit is not None:
            flags = flags.take_while(lambda kept_before, ex: kept_before < limit)
        kept, excluded = (int(v) for v in flags.reduce(
            (np.int64(0), np.int64(0)), lambda acc, x: (acc[0] + 1 - x[1], acc[1] + x[1])))
        if self.exclusion is not None:
            self.exclusion.update(excluded=excluded, records_read=kept + excluded, whole_set=limit is None)
        if limit is None:
            self._num_records = kept
        return kept

    def _excluded(self, filename):
        """bool tensor: the record's file name (without folders and extension) is excluded."""
        import tensorflow as tf  # noqa: PLC0415

        table = getattr(self, "_exclude_table", None)
        if table is None:
            with tf.init_scope():  # created eagerly, so every pipeline's functions can capture it
                keys = tf.constant(sorted(self.exclude), tf.string)
                table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                    keys, tf.ones_like(keys, tf.int64)), default_value=0)
            self._exclude_table = table
        return tf.equal(table.lookup(_name_stem_tf(filename)), 1)

    def describe(self) -> str:
        where = f"{len(self.shards)} shards" if self.layout == "tfrecord" else f"{len(self.files)} files"
        extra = f", {self.label_source}" if self.label_source else ""
        if self.exclusion and self.exclusion.get("excluded") is not None:
            extra += f"; {self.exclusion['excluded']} excluded by {os.path.basename(self.exclusion['file'])}"
        if self.unlabelled:
            extra += f"; {len(self.unlabelled)} images in the folder are not in the label file, not evaluated"
        return f"{self.layout} ({where}, {self.num_classes} classes{extra})"

    # ---- pipeline ---------------------------------------------------------
    def encoded(self, limit: int | None = None):
        """``tf.data`` of (encoded bytes, label, index) in a fixed order (the first ``limit``)."""
        import tensorflow as tf  # noqa: PLC0415

        if self.layout == "tfrecord":
            ds = tf.data.TFRecordDataset(self.shards, num_parallel_reads=None)  # shard order kept
            features = {
                "image/encoded": tf.io.FixedLenFeature([], tf.string),
                "image/class/label": tf.io.FixedLenFeature([], tf.int64),
            }
            offset = self.label_offset
            if self.exclude:
                ds = ds.filter(lambda record: tf.logical_not(self._excluded(_record_filename(record))))

            def parse(record):
                ex = tf.io.parse_single_example(record, features)
                return ex["image/encoded"], ex["image/class/label"] - offset

            ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            # (bytes: a file name that is not UTF-8 is read all the same; names() shows it printable)
            ds = tf.data.Dataset.from_tensor_slices((file_bytes(self.files), self.labels.astype("int64")))
            ds = ds.map(lambda path, label: (tf.io.read_file(path), label), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.enumerate().map(lambda i, x: (x[0], x[1], i))
        if limit is not None:
            ds = ds.take(limit)
        return ds

    def dataset(self, prep: Preprocessing, batch_size: int, limit: int | None = None, *, label_shift: int = 0,
                drop_remainder: bool = False, max_pixels: int | None = None):
        """Batches of (images, labels, indices), preprocessed; undecodable examples are left
        out (their indices are missing from the batches), as are images over ``max_pixels``
        and a last partial batch with ``drop_remainder``."""
        import tensorflow as tf  # noqa: PLC0415

        def load(encoded, label, index):
            return decode_and_preprocess(encoded, prep, max_pixels), label + label_shift, index

        ds = self.encoded(limit).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.ignore_errors()
        return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)

    def crop_dataset(self, prep: Preprocessing, protocol: str, batch_size: int, limit: int | None = None, *,
                     label_shift: int = 0, drop_remainder: bool = False, max_pixels: int | None = None):
        """Batches of (crops, labels, indices) of a multi-crop protocol (:func:`crop_views`):
        each image's crops in order, one row per crop (its image's label and index), at most
        ``batch_size`` crops a batch, so an image's crops may span two batches. Undecodable
        examples are left out, as in :meth:`dataset`; so, with ``drop_remainder``, are the
        crops of a last partial batch."""
        import tensorflow as tf  # noqa: PLC0415

        from .crops import forward_passes  # noqa: PLC0415

        n = forward_passes(protocol, prep)

        def load(encoded, label, index):
            views = crop_views(decode_image(encoded, max_pixels), protocol, prep)
            return views, tf.fill([n], label + label_shift), tf.fill([n], index)

        # An image's crops are n x size x size x 3 floats (144 x 299 x 299: 154 MB): a few
        # images in flight at a time, the model sees batches of crops.
        parallel = min(os.cpu_count() or 1, max(4, -(-2 * batch_size // n)))
        ds = self.encoded(limit).map(load, num_parallel_calls=parallel, deterministic=True)
        ds = ds.ignore_errors().unbatch()
        return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(2)

    def names(self, limit: int | None = None) -> list[str]:
        """Each example's path (file layouts) or ``image/filename`` (TFRecords; ``record N``
        where a record has none), in evaluation order (the first ``limit``)."""
        if self.layout != "tfrecord":
            return [display_path(f) for f in (self.files[:limit] if limit is not None else self.files)]
        import tensorflow as tf  # noqa: PLC0415

        ds = tf.data.TFRecordDataset(self.shards)
        if self.exclude:
            ds = ds.filter(lambda record: tf.logical_not(self._excluded(_record_filename(record))))
        ds = ds.map(_record_filename, num_parallel_calls=tf.data.AUTOTUNE)
        if limit is not None:
            ds = ds.take(limit)
        names = [n.decode("utf-8", "replace") for n in ds.batch(4096).as_numpy_iterator() for n in n]
        return [n or f"record {i}" for i, n in enumerate(names)]

    def examples(self, indices):
        """(index, path or ``shard#record (filename)``, encoded bytes, label) of the given
        examples, in index order; TFRecord shards are read once, up to the last one."""
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return
        if self.layout != "tfrecord":
            for i in wanted:
                try:
                    with open(self.files[i], "rb") as f:
                        encoded = f.read()
                except OSError as e:
                    encoded = f"unreadable file: {e.strerror or e}".encode()
                yield i, display_path(self.files[i]), encoded, int(self.labels[i])
            return
        import tensorflow as tf  # noqa: PLC0415

        pending, count = list(reversed(wanted)), 0
        for shard in self.shards:
            for j, record in enumerate(tf.data.TFRecordDataset(shard)):
                feats = None
                if self.exclude:
                    feats = tf.train.Example.FromString(record.numpy()).features.feature
                    name = _filename_text(feats)
                    if name_stem(name) in self.exclude:
                        continue
                if count == pending[-1]:
                    feats = feats or tf.train.Example.FromString(record.numpy()).features.feature
                    name = _filename_text(feats)
                    where = f"{shard}#{j}" + (f" ({name})" if name else "")
                    label = int(feats["image/class/label"].int64_list.value[0]) - self.label_offset
                    yield pending.pop(), where, feats["image/encoded"].bytes_list.value[0], label
                    if not pending:
                        return
                count += 1
        raise IndexError(f"examples {sorted(pending)} are past the end of the shards")


def _filename_text(feats) -> str:
    """A TFRecord's ``image/filename`` as text (bytes that are not UTF-8 shown as ``\\xe9``)."""
    if "image/filename" not in feats:
        return ""
    return feats["image/filename"].bytes_list.value[0].decode("utf-8", "backslashreplace")


def file_bytes(files) -> np.ndarray:
    """File paths as the bytes the file system has (for ``tf.data``, which takes only UTF-8 strings):
    a name that is not UTF-8, kept by Python as surrogates, is read like any other."""
    return np.asarray([os.fsencode(f) for f in files], dtype=object)


def _record_filename(record):
    """A TFRecord's ``image/filename`` (empty when it has none)."""
    import tensorflow as tf  # noqa: PLC0415

    spec = {"image/filename": tf.io.FixedLenFeature([], tf.string, default_value="")}
    return tf.io.parse_single_example(record, spec)["image/filename"]


def _name_stem_tf(name):
    """:func:`name_stem` on a string tensor."""
    import tensorflow as tf  # noqa: PLC0415

    base = tf.strings.regex_replace(name, r"^.*[/\\]", "")
    return tf.strings.regex_replace(base, r"([^.])\.[^.]*$", r"\1")


def name_stem(name: str) -> str:
    """A file name or path without its folders and extension: how --exclude and the devkit's
    image numbers name an image (``val/n01440764/ILSVRC2012_val_00000293.JPEG`` ->
    ``ILSVRC2012_val_00000293``)."""
    base = re.split(r"[/\\]", name)[-1]
    return os.path.splitext(base)[0] if "." in base[1:] else base


def ilsvrc2012_val_name(number: int) -> str:
    """The file name (without extension) of validation image ``number`` (1-based)."""
    return f"ILSVRC2012_val_{number:08d}"


def read_exclude_file(path) -> list[str]:
    """The images an --exclude file names, as :func:`name_stem` names: one per line, a 1-based
    validation image number (the devkit's ``ILSVRC2015_clsloc_validation_blacklist.txt``) or a
    file name or path; blank lines and ``#`` comments are skipped."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise DataError(f"exclude file not found: {path!r}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"exclude file {path!r} cannot be read ({e})") from None
    names = []
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.isdigit():
            if int(line) < 1:
                raise DataError(f"{path}:{n}: image numbers are 1-based (ILSVRC2012_val_00000001 is 1), got {line}")
            names.append(ilsvrc2012_val_name(int(line)))
        else:
            names.append(name_stem(line))
    if not names:
        raise DataError(f"exclude file {path!r} lists no images (one image number or file name per line)")
    return names


def exclude_images(image_set: ImageSet, exclude_file) -> ImageSet:
    """The set without the images ``exclude_file`` names (:func:`read_exclude_file`), matched by
    file name without extension (TFRecords: ``image/filename``). ``exclusion`` on the result
    says how many were left out (TFRecords: once they have been counted, see
    :meth:`ImageSet.count`). DataError when the file names none of the set's images."""
    names = frozenset(read_exclude_file(exclude_file))
    exclusion = {"file": os.fspath(exclude_file), "listed": len(names), "excluded": None}
    if image_set.layout == "tfrecord":
        return dataclasses.replace(image_set, exclude=names, exclusion=exclusion)
    keep = [i for i, f in enumerate(image_set.files) if name_stem(f) not in names]
    excluded = len(image_set.files) - len(keep)
    if not excluded:
        raise DataError(no_exclusion_message(exclusion, image_set.root, len(image_set.files)))
    exclusion["excluded"] = excluded
    return dataclasses.replace(
        image_set, files=[image_set.files[i] for i in keep], labels=image_set.labels[keep],
        label_lines=[image_set.label_lines[i] for i in keep] if image_set.label_lines else [],
        exclusion=exclusion)


def no_exclusion_message(exclusion: dict, root: str, images: int) -> str:
    return (f"--exclude {exclusion['file']} names none of the {images} images in {root} ({exclusion['listed']} "
            f"names; they are matched to file names without extension, numbers n to ILSVRC2012_val_%08d): "
            f"check that it belongs to this data")


def _imagenet_index() -> dict[str, int]:
    return {s: i for i, (s, _) in enumerate(imagenet_classes())}


def _vocabulary(names: set[str]) -> tuple[list[str], list[str], str]:
    """Class vocabulary for a set of label names: ImageNet's when they are all synsets."""
    imagenet = _imagenet_index()
    if names and all(n in imagenet for n in names):
        classes = imagenet_classes()
        return [s for s, _ in classes], [n for _, n in classes], "ImageNet synsets"
    ordered = sorted(names)
    return ordered, ordered, "classes in sorted order"


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _find_tfrecords(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    if any(ch in path for ch in "*?["):
        return sorted(p for p in glob.glob(path) if os.path.isfile(p))
    if os.path.isdir(path):
        return sorted(os.path.join(path, f) for f in os.listdir(path)
                      if is_tfrecord_name(f) and os.path.isfile(os.path.join(path, f)))
    return []


def find_image_set(path: str, labels_file: str | None = None, *, split: str | None = None,
                   tfrecord_label_offset: int = 1) -> ImageSet:
    """Work out the layout of ``path`` and list its examples.

    ``labels_file`` forces the flat layout (otherwise a ``LOC_val_solution.csv`` or
    ``labels.txt`` inside the folder is used when the folder holds images directly).
    ``split`` picks TFRecord shards by prefix (``validation``, ``train``) when a folder
    holds both.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and not any(ch in path for ch in "*?["):
        raise DataError(f"data path not found: {path!r}")

    shards = _find_tfrecords(path)
    if split:
        shards = [s for s in shards if os.path.basename(s).startswith(split)]
    if shards and labels_file is None:
        if not split and os.path.isdir(path):
            prefixes = {os.path.basename(s).split("-")[0] for s in shards}
            if len(prefixes) > 1 and "validation" in prefixes:
                shards = [s for s in shards if os.path.basename(s).startswith("validation")]
        classes = imagenet_classes()
        return ImageSet("tfrecord", path, [s for s, _ in classes], [n for _, n in classes], shards=shards,
                        label_offset=tfrecord_label_offset,
                        label_source=f"image/class/label minus {tfrecord_label_offset}")
    if not os.path.isdir(path):
        raise DataError(f"{path!r} is neither a folder of images nor TFRecord shards")

    entries = sorted(os.listdir(path))
    images_here = [e for e in entries if _is_image(e) and os.path.isfile(os.path.join(path, e))]
    if labels_file is None and images_here:
        for candidate in LABEL_FILE_NAMES:
            if os.path.isfile(os.path.join(path, candidate)):
                labels_file = os.path.join(path, candidate)
                break
    if labels_file is not None:
        return _flat(path, labels_file, images_here)

    subdirs = [e for e in entries if os.path.isdir(os.path.join(path, e)) and not e.startswith(".")]
    per_class = {}
    for d in subdirs:
        files = []
        for dirpath, dirnames, filenames in os.walk(os.path.join(path, d)):
            dirnames.sort()
            files.extend(os.path.join(dirpath, f) for f in sorted(filenames) if _is_image(f))
        if files:
            per_class[display_path(d)] = files  # (a folder name that is not UTF-8: printable)
    if not per_class:
        hint = (" It holds images but no label file: pass --labels FILE (filename label lines or "
                "LOC_val_solution.csv)." if images_here else "")
        raise DataError(f"no labelled images in {path!r}: expected one sub-folder of images per class, "
                        f"a folder of images with a label file, or TFRecord shards.{hint}")
    vocab, display, source = _vocabulary(set(per_class))
    index = {name: i for i, name in enumerate(vocab)}
    files, labels = [], []
    for name in sorted(per_class):
        files += per_class[name]
        labels += [index[name]] * len(per_class[name])
    return ImageSet("folders", path, vocab, display, files=files, labels=np.asarray(labels, "int64"),
                    label_source=f"folder names ({source})")


LABEL_FILE_FORMAT = ("one image per line: the file name, then the label as the last field, after a tab, "
                     "spaces or a comma (so a file name may contain spaces); the label is an ImageNet synset "
                     "(n01440764), a 0-based ImageNet class index (0..999, sorted-synset order) or a class "
                     "name, the same kind on every line; or ImageNet's LOC_val_solution.csv")
_LABEL_LINE = re.compile(r"^(?P<name>.*\S)[\s,]+(?P<label>[^\s,]+)$")
_IMAGENET_CLASSES = 1000


def _read_label_file(labels_file: str) -> tuple[dict[str, tuple[str, int]], str]:
    """filename (as written, maybe without extension) -> (label string, line number); and the
    file's kind: ``devkit`` (ILSVRC2012_validation_ground_truth.txt), ``LOC`` or ``lines``."""
    if not os.path.isfile(labels_file):
        raise DataError(f"label file not found: {labels_file!r}")
    rows = {}
    try:
        with open(labels_file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"label file {labels_file!r} cannot be read ({e})") from None
    lines = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if os.path.basename(labels_file) == DEVKIT_GROUND_TRUTH or _looks_like_devkit(lines):
        return _read_devkit_ground_truth(labels_file, lines), "devkit"
    if lines and lines[0][1].replace(" ", "").lower().startswith("imageid,predictionstring"):
        for n, line in lines[1:]:
            row = next(csv.reader([line]))
            if len(row) < 2 or not row[1].split():
                raise DataError(f"{labels_file}:{n}: bad LOC_val_solution row {row!r} (expected ImageId,"
                                f"PredictionString with a synset first: ILSVRC2012_val_00000001,n01751748 111 0 499 332)")
            synset = row[1].split()[0]
            if not _SYNSET.match(synset):
                raise DataError(f"{labels_file}:{n}: {synset!r} is not an ImageNet synset (n01440764): the "
                                f"PredictionString of a LOC_val_solution row starts with the synset of its first box")
            rows[row[0]] = (synset, n)  # the first box's synset
        return rows, "LOC"
    for n, line in lines:
        match = _LABEL_LINE.match(line)
        if not match:
            raise DataError(f"{labels_file}:{n}: expected 'filename label', got {line!r} ({LABEL_FILE_FORMAT})")
        name = match["name"].rstrip(" \t,")
        if name in rows:
            raise DataError(f"{labels_file}:{n}: {name!r} is listed twice (first on line {rows[name][1]})")
        rows[name] = (match["label"], n)
    return rows, "lines"


@functools.lru_cache(maxsize=1)
def ilsvrc2012_ids() -> dict[int, str]:
    """The devkit's ILSVRC2012_ID (1..1000, the order of its ``meta.mat``, not sorted) ->
    synset, shipped in ``data/ilsvrc2012_ids.tsv``."""
    text = resources.files("inception_keras").joinpath("data/ilsvrc2012_ids.tsv").read_text("utf-8")
    table = {int(i): synset for i, synset in (line.split("\t") for line in text.splitlines() if line.strip())}
    assert sorted(table) == list(range(1, _IMAGENET_CLASSES + 1)), "ilsvrc2012_ids.tsv must list IDs 1..1000"
    return table


def _looks_like_devkit(lines: list[tuple[int, str]]) -> bool:
    """One number alone on most lines: the devkit's ground truth (its bad lines are then reported
    by their number, rather than the first line being blamed for not being 'filename label')."""
    return bool(lines) and 2 * sum(ln.isdigit() for _, ln in lines) > len(lines)


def _read_devkit_ground_truth(labels_file: str, lines: list[tuple[int, str]]) -> dict[str, tuple[str, int]]:
    """The devkit's ``ILSVRC2012_validation_ground_truth.txt``: line n holds the ILSVRC2012_ID
    (1..1000) of ``ILSVRC2012_val_%08d.JPEG`` % n. Blank lines do not count."""
    ids = ilsvrc2012_ids()
    rows = {}
    for number, (n, line) in enumerate(lines, 1):
        if not line.isdigit() or int(line) not in ids:
            raise DataError(f"{labels_file}:{n}: expected an ILSVRC2012_ID (1..{_IMAGENET_CLASSES}) as in the devkit's "
                            f"{DEVKIT_GROUND_TRUTH} (one per line, line n for ILSVRC2012_val_%08d.JPEG % n), got {line!r}")
        rows[ilsvrc2012_val_name(number)] = (ids[int(line)], n)
    return rows


def _label_kinds(labels_file: str, raw: list[tuple[str, int]]) -> str:
    """"index" when every label is a number, "name" when none is; mixing them is an error."""
    numbers = [(v, n) for v, n in raw if v.lstrip("-").isdigit()]
    if not numbers:
        return "name"
    if len(numbers) == len(raw):
        return "index"
    names = [(v, n) for v, n in raw if not v.lstrip("-").isdigit()]
    raise DataError(f"{labels_file} mixes class indices and class names ({len(numbers)} numbers, e.g. line "
                    f"{numbers[0][1]}: {numbers[0][0]}; {len(names)} names, e.g. line {names[0][1]}: "
                    f"{names[0][0]}): write one kind on every line")


def _flat(path: str, labels_file: str, images_here: list[str]) -> ImageSet:
    rows, kind = _read_label_file(labels_file)
    if not rows:
        raise DataError(f"label file {labels_file!r} lists no images")
    by_stem = {}
    for name in images_here:
        by_stem.setdefault(os.path.splitext(name)[0], name)
    files, raw, used = [], [], set()
    missing = []
    for key in sorted(rows):
        name = key if key in images_here else by_stem.get(os.path.splitext(key)[0] if "." in key else key)
        if name is None:
            missing.append(key)
            continue
        used.add(name)
        files.append(os.path.join(path, name))
        raw.append(rows[key])
    if missing:
        raise DataError(f"{len(missing)} images named in {labels_file} are not in {path}, e.g. {missing[:3]}")
    unlabelled = [display_path(name) for name in images_here if name not in used]
    where = [f"{labels_file}:{n}" for _, n in raw]
    if _label_kinds(labels_file, raw) == "index":
        labels = np.asarray([int(v) for v, _ in raw], "int64")
        for value, line in ((int(v), n) for v, n in raw):
            if not 0 <= value < _IMAGENET_CLASSES:
                raise DataError(f"{labels_file}:{line}: class index {value} is out of range: index labels are "
                                f"0-based ImageNet classes, 0..{_IMAGENET_CLASSES - 1} in sorted-synset order "
                                f"(a model's own classes: write their names, or use one folder per class)")
        classes = imagenet_classes()
        vocab, display, source = [s for s, _ in classes], [n for _, n in classes], "0-based ImageNet indices"
    else:
        vocab, display, source = _vocabulary({v for v, _ in raw})
        index = {name: i for i, name in enumerate(vocab)}
        labels = np.asarray([index[v] for v, _ in raw], "int64")
        where = []
        if kind == "devkit":
            source = "devkit ILSVRC2012_IDs, mapped to ImageNet synsets"
    return ImageSet("flat", path, vocab, display, files=files, labels=labels,
                    label_source=f"{os.path.basename(labels_file)} ({source})", unlabelled=unlabelled,
                    label_lines=where)


def fit_index_labels(image_set: ImageSet, model_classes: int) -> ImageSet:
    """A flat set with index labels, evaluated by a model whose outputs are not ImageNet's
    (1000, or 1001 with a background class): the indices are the model's own classes, and each
    must lie in its range (DataError naming the label file's line otherwise)."""
    if not image_set.label_lines or model_classes in (_IMAGENET_CLASSES, _IMAGENET_CLASSES + 1):
        return image_set
    for value, where in zip(image_set.labels, image_set.label_lines):
        if value >= model_classes:
            raise DataError(f"{where}: class index {int(value)} is out of range for the model's {model_classes} "
                            f"classes (0..{model_classes - 1})")
    names = [str(i) for i in range(model_classes)]
    return dataclasses.replace(image_set, class_names=names, display_names=names,
                               label_source=image_set.label_source.replace("ImageNet indices", "indices"))


# --------------------------------------------------------------------------- #
# Unlabelled image folders
# --------------------------------------------------------------------------- #
def align_classes(image_set: ImageSet, class_names: list[str], display_names: list[str], role: str,
                  against: str = "training") -> ImageSet:
    """The set with its labels renumbered to ``class_names`` (by class name): the training
    classes of a run, or the classes of a fine-tuned model (``against="the model's"``)."""
    if image_set.class_names == class_names:
        return dataclasses.replace(image_set, display_names=list(display_names))
    if image_set.layout == "tfrecord":
        raise DataError(f"the {role} TFRecords have ImageNet's 1000 classes but the {against} classes are "
                        f"{len(class_names)} others; give {role} data in a folder layout with the same class names")
    index = {name: i for i, name in enumerate(class_names)}
    present = sorted({image_set.class_names[int(c)] for c in np.unique(image_set.labels)})
    unknown = [name for name in present if name not in index]
    if unknown:
        raise DataError(f"the {role} data has classes the {against} classes do not include: {unknown[:5]}"
                        f"{' ...' if len(unknown) > 5 else ''}; {role} classes must be a subset of the "
                        f"{against} classes ({len(class_names)}: {class_names[:5]}{' ...' if len(class_names) > 5 else ''})")
    labels = np.asarray([index[image_set.class_names[int(c)]] for c in image_set.labels], np.int64)
    return dataclasses.replace(image_set, class_names=list(class_names), display_names=list(display_names),
                               labels=labels)


def list_image_files(folder, limit: int | None = None) -> list[str]:
    """The image files under ``folder`` (sub-folders included), sorted by path; the first
    ``limit`` of them. For unlabelled folders, e.g. calibration images for quantization."""
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise DataError(f"image folder not found: {folder!r}; give a folder of images (JPEG, PNG, ...)")
    if not os.path.isdir(folder):
        raise DataError(f"{folder!r} is not a folder; give a folder of images (JPEG, PNG, ...)")
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(os.path.join(dirpath, f) for f in sorted(filenames) if _is_image(f))
    if not files:
        raise DataError(f"no images in {folder!r} (looked for {', '.join(IMAGE_EXTENSIONS)} files, "
                        "sub-folders included)")
    files.sort()
    return files if limit is None else files[:limit]
