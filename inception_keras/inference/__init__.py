"""Batch inference over many images: classes, probabilities and embeddings, written in chunks
that survive a crash, on every local GPU, on shards of the inputs, or with Ray.

* :mod:`.inputs`: files, folders, globs, list files and TFRecord shards -> sorted sources; ``--shard``.
* :mod:`.predictor`: the per-batch function (top-k classes and pooled features of a batch).
* :mod:`.pipeline`: the ``tf.data`` pipeline of the local engine.
* :mod:`.chunks`: chunks on disk, the manifest that resuming checks.
* :mod:`.columns`, :mod:`.writers`: the rows and their CSV / JSONL / Parquet / .npy files.
* :mod:`.run`: a run, from sources to the assembled outputs; :mod:`.merge`: shard outputs -> one.
* :mod:`.ray_engine`: Ray Data actors calling the per-batch function.

The command line is ``tools/predict.py`` (:mod:`inception_keras.cli.predict`). Nothing here
imports TensorFlow, Ray or pyarrow until it is used.
"""

from .inputs import InputError, Sources, parse_shard, resolve
from .merge import MergeError, merge
from .predictor import Predictor
from .run import Outputs, Result, run

__all__ = ["InputError", "MergeError", "Outputs", "Predictor", "Result", "Sources", "merge", "parse_shard",
           "resolve", "run"]
