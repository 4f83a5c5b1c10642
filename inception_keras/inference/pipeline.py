"""The ``tf.data`` input pipeline of the local engine: read, decode and preprocess in
parallel, batch, prefetch.

Only the rows still to do are read: image files by path (as the bytes the file system has, so
a name that is not UTF-8 is read like any other), TFRecord shards streamed in order (records of
finished chunks are skipped before decoding). An image TensorFlow cannot decode is dropped
(``ignore_errors``): its row is missing from the batches, and the caller retries it
(:meth:`.Predictor.predict_encoded`).

Every batch holds exactly ``batch_size`` images: the last one is padded with blank images
whose row is -1. The model computes each image of a batch independently of the others, but
the kernels it runs (oneDNN's on a CPU, cuDNN's on a GPU) are chosen by the batch's shape, and
another shape may round the last bits differently. With one shape, an image's numbers are the
same whichever images share its batch: a resumed run, a shard and an unsharded run write the
same bytes.
"""

from __future__ import annotations

import os

import numpy as np

from ..data.preprocessing import decode_and_preprocess


def encoded(sources, rows):
    """``tf.data`` of ``(encoded bytes, row, filename)`` for ``rows`` (sorted) of ``sources``."""
    import tensorflow as tf  # noqa: PLC0415

    rows = np.asarray(rows, np.int64)
    n_files = len(sources.files)
    file_rows = rows[rows < n_files]
    paths = np.asarray([os.fsencode(sources.files[r]) for r in file_rows], dtype=object) if len(file_rows) \
        else np.zeros(0, object)
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), file_rows))
    ds = ds.map(lambda p, r: (tf.io.read_file(p), r, tf.constant("")), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    record_rows = rows[rows >= n_files]
    if len(record_rows):
        wanted = np.zeros(len(sources) - n_files, bool)
        wanted[record_rows - n_files] = True
        wanted = tf.constant(wanted)
        features = {"image/encoded": tf.io.FixedLenFeature([], tf.string),
                    "image/filename": tf.io.FixedLenFeature([], tf.string, default_value="")}

        def parse(i, record):
            ex = tf.io.parse_single_example(record, features)
            return ex["image/encoded"], i + n_files, ex["image/filename"]

        shards = [os.fsencode(p) for p in sources.tfrecords]
        records = tf.data.TFRecordDataset(tf.constant(shards, tf.string)).enumerate()  # shard order kept
        records = records.filter(lambda i, _: tf.gather(wanted, i))
        ds = ds.concatenate(records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
    return ds


def batches(sources, rows, prep, batch_size: int, *, max_pixels=None):
    """Batches of ``(images, rows, filenames)`` of ``rows``, each of exactly ``batch_size``
    (padding: row -1, a blank image); undecodable images left out."""
    import tensorflow as tf  # noqa: PLC0415

    def load(data, row, filename):
        return decode_and_preprocess(data, prep, max_pixels), row, filename

    def pad(images, rows, filenames):
        k = batch_size - tf.shape(rows)[0]
        images = tf.concat([images, tf.zeros(tf.concat([[k], tf.shape(images)[1:]], 0), images.dtype)], 0)
        rows = tf.concat([rows, tf.fill([k], tf.constant(-1, rows.dtype))], 0)
        filenames = tf.concat([filenames, tf.fill([k], "")], 0)
        return (tf.ensure_shape(images, [batch_size, *images.shape[1:]]), tf.ensure_shape(rows, [batch_size]),
                tf.ensure_shape(filenames, [batch_size]))

    ds = encoded(sources, rows).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors()
    return ds.batch(batch_size).map(pad).prefetch(tf.data.AUTOTUNE)
