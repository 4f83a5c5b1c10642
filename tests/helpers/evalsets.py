"""Small labelled image sets written in the three layouts the evaluation tool reads.

Every set holds images of several kinds (RGB JPEG, RGBA PNG, grayscale JPEG, CMYK JPEG)
plus a truncated JPEG and a text file named ``.JPEG``, which must be reported as
unreadable. ``write_all_layouts`` writes the same examples as class folders, as a flat
folder with ``LOC_val_solution.csv``, and as TF-slim TFRecord shards (labels 1..1000).
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

KINDS = ("rgb_jpeg", "rgba_png", "gray_jpeg", "cmyk_jpeg")
EXT = {"rgb_jpeg": ".JPEG", "rgba_png": ".png", "gray_jpeg": ".JPEG", "cmyk_jpeg": ".JPEG"}


def encode(pixels: np.ndarray, kind: str) -> bytes:
    """uint8 HxWx3 -> file bytes of the given kind."""
    img = Image.fromarray(pixels)
    buf = io.BytesIO()
    if kind == "rgb_jpeg":
        img.save(buf, "JPEG", quality=95)
    elif kind == "rgba_png":
        alpha = np.full(pixels.shape[:2] + (1,), 200, np.uint8)
        Image.fromarray(np.concatenate([pixels, alpha], axis=2)).save(buf, "PNG")
    elif kind == "gray_jpeg":
        img.convert("L").save(buf, "JPEG", quality=95)
    elif kind == "cmyk_jpeg":
        img.convert("CMYK").save(buf, "JPEG", quality=95)
    else:
        raise ValueError(kind)
    return buf.getvalue()


def broken_files(rng) -> dict[str, bytes]:
    jpeg = encode(rng.integers(0, 256, (60, 60, 3), dtype=np.uint8), "rgb_jpeg")
    return {"truncated.JPEG": jpeg[: len(jpeg) // 3], "notes.JPEG": b"this is a text file, not an image\n"}


def write_folders(root, examples):
    """examples: list of (synset or class name, file name, bytes)."""
    for cls, name, data in examples:
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        with open(os.path.join(root, cls, name), "wb") as f:
            f.write(data)
    return str(root)


def write_flat(root, examples):
    os.makedirs(root, exist_ok=True)
    rows = ["ImageId,PredictionString"]
    for cls, name, data in examples:
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
        rows.append(f"{os.path.splitext(name)[0]},{cls} 10 10 50 50 {cls} 5 5 20 20")
    with open(os.path.join(root, "LOC_val_solution.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return str(root)


def write_tfrecords(root, examples, label_of, shards: int = 2):
    import tensorflow as tf

    os.makedirs(root, exist_ok=True)
    per = (len(examples) + shards - 1) // shards
    for s in range(shards):
        path = os.path.join(root, f"validation-{s:05d}-of-{shards:05d}")
        with tf.io.TFRecordWriter(path) as w:
            for cls, name, data in examples[s * per : (s + 1) * per]:
                feats = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label_of[cls] + 1])),
                    "image/class/synset": tf.train.Feature(bytes_list=tf.train.BytesList(value=[cls.encode()])),
                    "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
                    "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"JPEG"])),
                }
                w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    return str(root)


def write_all_layouts(root, examples, label_of):
    return {
        "folders": write_folders(os.path.join(root, "folders"), examples),
        "flat": write_flat(os.path.join(root, "flat"), examples),
        "tfrecord": write_tfrecords(os.path.join(root, "tfrecord"), examples, label_of),
    }
