"""The ``tf.data`` input pipeline of the local engine: read, decode and preprocess in
parallel, batch, prefetch.

Only the rows still to do are read: image files by path, TFRecord shards streamed in order
(records of finished chunks are skipped before decoding). Elements are ``(image, row,
filename)``. An image TensorFlow cannot decode is dropped (``ignore_errors``): its row is
missing from the batches, and the caller retries it (:meth:`.Predictor.predict_encoded`).
"""

from __future__ import annotations

import numpy as np

from inception_keras.datasets import decode_and_preprocess


def encoded(sources, rows):
    """``tf.data`` of ``(encoded bytes, row, filename)`` for ``rows`` (sorted) of ``sources``."""
    import tensorflow as tf  # noqa: PLC0415

    rows = np.asarray(rows, np.int64)
    n_files = len(sources.files)
    file_rows = rows[rows < n_files]
    paths = np.asarray(sources.files, dtype=object)[file_rows].astype(str) if len(file_rows) else np.zeros(0, str)
    ds = tf.data.Dataset.from_tensor_slices((paths, file_rows))
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

        records = tf.data.TFRecordDataset(sources.tfrecords).enumerate()  # shard order kept
        records = records.filter(lambda i, _: tf.gather(wanted, i))
        ds = ds.concatenate(records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
    return ds


def batches(sources, rows, prep, batch_size: int, *, max_pixels=None, drop_remainder: bool = False):
    """Batches of ``(images, rows, filenames)`` of ``rows``; undecodable images left out."""
    import tensorflow as tf  # noqa: PLC0415

    def load(data, row, filename):
        return decode_and_preprocess(data, prep, max_pixels), row, filename

    ds = encoded(sources, rows).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
