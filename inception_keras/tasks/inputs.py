"""Raw images of every kind a user holds -> the model's float32 inputs, on the host.

The numbers are the evaluation pipeline's: encoded bytes and files go through
:func:`inception_keras.data.preprocessing.decode_and_preprocess` (what ``evaluate`` and
``predict`` map over their files), decoded pixels through
:func:`~inception_keras.data.preprocessing.preprocess_for_eval`. Both are TensorFlow ops run
on the host, eagerly (one compiled function per preprocessing) or inside ``tf.data``, whatever
the Keras backend: the model then receives a float32 NHWC numpy batch. Nothing here imports
Keras, so a classifier backed by another runtime (ONNX, LiteRT) preprocesses the same way.

Accepted images (:func:`iter_images`):

* file paths (``str`` / ``os.PathLike``), read as bytes: any format the tools read (TensorFlow's
  JPEG, PNG, GIF, BMP, WebP; Pillow's others, such as TIFF);
* encoded bytes (``bytes``, ``bytearray``, ``memoryview``);
* uint8 arrays, RGB 0..255: one ``HxWx3`` image or an ``NxHxWx3`` batch, any size; grayscale
  ``HxW`` / ``HxWx1`` becomes RGB (as the decoders do) and an alpha channel is dropped;
* Pillow images (any mode, converted by the decoders' rules: 16-bit gray scaled to 8 bits);
* a list or tuple of any of these (one image each);
* a ``tf.data.Dataset`` of encoded bytes or uint8 images, batched or not, alone or first in
  ``(image, label[, weight])`` tuples (:func:`map_dataset`); formats TensorFlow cannot decode
  go to Pillow through ``tf.numpy_function``, on the host.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterator

import numpy as np

from ..data.preprocessing import Preprocessing, decode_and_preprocess, preprocess_for_eval
from ..data.images import current_limit, decode_fallback

# Formats TensorFlow's decoder reads (the others go to Pillow, as every tool does).
_TF_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
ACCEPTED = ("file paths, encoded bytes, uint8 arrays (HxWx3, HxW or NxHxWx3), Pillow images, a list of these, "
            "or a tf.data.Dataset of encoded bytes or uint8 images")


def _tf_decodes(data: bytes) -> bool:
    return data.startswith(_TF_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _is_pil(value) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "mode") and hasattr(value, "size")


def is_dataset(value) -> bool:
    """Whether ``value`` is a ``tf.data.Dataset`` (without importing TensorFlow for other values)."""
    return "tensorflow" in type(value).__module__ and hasattr(value, "element_spec")


def rgb_array(array, name: str) -> np.ndarray:
    """One image as uint8 ``HxWx3``: grayscale repeated, alpha dropped; ValueError naming it otherwise."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"{name}: an array of {array.dtype}; expected uint8 RGB values 0..255 (float images are "
                         f"ambiguous: for [0, 1] values pass (x * 255).round().astype('uint8'); for inputs already "
                         f"preprocessed to [-1, 1] call the model directly)")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{name}: an array of shape {array.shape}; expected one image HxWx3 (or HxW, HxWx1 "
                         f"grayscale, HxWx4 with alpha) or a batch NxHxWx3")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: an empty image of shape {array.shape}")
    if array.shape[-1] == 1:
        return np.repeat(array, 3, axis=-1)
    return array[..., :3] if array.shape[-1] == 4 else array


def pil_array(image, name: str) -> np.ndarray:
    """A Pillow image as uint8 ``HxWx3``, by the decoders' rules (:func:`inception_keras.data.images.decode_fallback`)."""
    if image.mode in ("RGB", "L"):
        return rgb_array(np.asarray(image), name)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="TIFF")  # lossless in every mode, read back by the one set of rules
    except (OSError, ValueError, KeyError):
        return rgb_array(np.asarray(image.convert("RGB")), name)
    try:
        return decode_fallback(buffer.getvalue(), 0)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def _read(path, name: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"{name}: cannot be read ({e.strerror or e})") from None


def count_images(images) -> int | None:
    """How many images :func:`iter_images` yields (None for a dataset of unknown length)."""
    if isinstance(images, (list, tuple)):
        return len(images)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return images.shape[0]
    return 1


def iter_images(images) -> Iterator[tuple[str, bytes | np.ndarray]]:
    """``(name, encoded bytes or uint8 HxWx3)`` for each image of ``images``; the name is what
    an error says (the path, or ``images[i]``). Files are read one at a time, as needed."""
    if isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview)) or _is_pil(images):
        images = [images]
    elif not isinstance(images, (list, tuple)):
        if not hasattr(images, "__array__"):
            raise ValueError(f"cannot read images from a {type(images).__name__}; expected {ACCEPTED}")
        array = np.asarray(images)
        if array.ndim == 4:
            images = list(array)
        elif array.ndim in (2, 3):
            images = [array]
        else:
            raise ValueError(f"images: an array of shape {array.shape}; expected one image HxWx3 (HxW grayscale) or "
                             f"a batch NxHxWx3")
    for i, item in enumerate(images):
        if isinstance(item, (str, os.PathLike)):
            name = os.fspath(item)
            yield name, _read(item, name)
        elif isinstance(item, (bytes, bytearray, memoryview)):
            yield f"images[{i}] (bytes)", bytes(item)
        elif _is_pil(item):
            yield f"images[{i}]", pil_array(item, f"images[{i}] (a Pillow image)")
        elif hasattr(item, "__array__"):
            array = np.asarray(item)
            if array.ndim == 4:
                raise ValueError(f"images[{i}]: a batch of shape {array.shape} inside a list; pass the batch itself, "
                                 f"or a list of HxWx3 images")
            yield f"images[{i}]", rgb_array(array, f"images[{i}]")
        else:
            raise ValueError(f"images[{i}]: a {type(item).__name__}; expected {ACCEPTED}")


@functools.lru_cache(maxsize=16)
def _compiled(prep: Preprocessing, max_pixels: int):
    """The two preprocessing functions, traced once per preprocessing and pixel limit."""
    import tensorflow as tf  # noqa: PLC0415

    encoded = tf.function(lambda data: decode_and_preprocess(data, prep, max_pixels),
                          input_signature=[tf.TensorSpec([], tf.string)])
    pixels = tf.function(lambda image: preprocess_for_eval(image, prep),
                         input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    return encoded, pixels


def preprocess_one(name: str, value, prep: Preprocessing, max_pixels: int | None = None) -> np.ndarray:
    """One image of :func:`iter_images` -> float32 ``size x size x 3``; ValueError naming it
    (``"<name>: not a readable image (...)"``) when it cannot be decoded."""
    import tensorflow as tf  # noqa: PLC0415

    limit = current_limit(max_pixels)
    encoded, pixels = _compiled(prep, limit)
    if isinstance(value, bytes) and not _tf_decodes(value):
        try:
            value = decode_fallback(value, limit)  # TIFF, PPM, ...: Pillow, by the same rules
        except ValueError as e:
            raise ValueError(f"{name}: not a readable image ({e})") from None
    if isinstance(value, bytes):
        try:
            return encoded(tf.constant(value)).numpy()
        except tf.errors.OpError:
            try:  # what TensorFlow cannot decode, Pillow may (images.decode_any's order)
                value = decode_fallback(value, limit)
            except ValueError as e:
                raise ValueError(f"{name}: not a readable image ({e})") from None
    return pixels(tf.constant(value)).numpy()


def batches(images, prep: Preprocessing, batch_size: int, max_pixels: int | None = None) -> Iterator[np.ndarray]:
    """float32 ``n x size x size x 3`` batches (``n <= batch_size``) of ``images`` (not a dataset)."""
    batch = []
    for name, value in iter_images(images):
        batch.append(preprocess_one(name, value, prep, max_pixels))
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


# --------------------------------------------------------------------------- #
# Inside tf.data (TensorFlow ops, traced)
# --------------------------------------------------------------------------- #
def _rgb(image):
    import tensorflow as tf  # noqa: PLC0415

    channels = image.shape[-1]
    if channels == 3:
        return image
    if channels == 1:
        return tf.tile(image, [1, 1, 3])
    if channels == 4:
        return image[..., :3]
    return tf.cond(tf.equal(tf.shape(image)[-1], 1), lambda: tf.tile(image, [1, 1, 3]), lambda: image[..., :3])


def _decode_and_preprocess(data, prep: Preprocessing, limit: int):
    """One encoded image (a string tensor): TensorFlow's formats as ``evaluate`` decodes them,
    the others (TIFF, PPM, ...) by Pillow on the host (``tf.numpy_function``), as
    :func:`inception_keras.data.images.decode_any` does."""
    import tensorflow as tf  # noqa: PLC0415

    def starts(magic: bytes, at: int = 0):
        return tf.equal(tf.strings.substr(data, at, len(magic)), magic)

    readable = tf.reduce_any(tf.stack([starts(m) for m in _TF_MAGIC]
                                      + [tf.logical_and(starts(b"RIFF"), starts(b"WEBP", 8))]))

    def pillow():
        pixels = tf.numpy_function(lambda b: decode_fallback(bytes(b), limit), [data], tf.uint8, stateful=False)
        pixels.set_shape([None, None, 3])
        return preprocess_for_eval(pixels, prep)

    return tf.cond(readable, lambda: decode_and_preprocess(data, prep, limit), pillow)


def is_batched(spec) -> bool:
    """Whether a dataset's image component (its ``tf.TensorSpec``) holds batches: strings of rank
    1 or uint8 of rank 4 (rank 0 strings and rank 2-3 uint8 are single images)."""
    import tensorflow as tf  # noqa: PLC0415

    rank = spec.shape.rank
    if spec.dtype == tf.string and rank in (0, 1):
        return rank == 1
    if spec.dtype == tf.uint8 and rank in (2, 3, 4):
        return rank == 4
    raise ValueError(f"a dataset of {spec.dtype.name} tensors of shape {spec.shape}: expected encoded images "
                     f"(tf.string, one per element or a batch) or uint8 RGB images (HxWx3, HxW, or batches NxHxWx3)"
                     + ("; cast float images 0..255 with tf.cast(x, tf.uint8)" if spec.dtype.is_floating else ""))


def preprocess_tensor(images, prep: Preprocessing, max_pixels: int | None = None):
    """TensorFlow ops: one image (encoded string, uint8 HxW[x1|3|4]) or a batch (strings, uint8
    NxHxWx3) -> float32 ``[n x] size x size x 3``; what :func:`map_dataset` maps."""
    import tensorflow as tf  # noqa: PLC0415

    images = tf.convert_to_tensor(images)
    limit = current_limit(max_pixels)

    def one(image):
        if image.dtype == tf.string:
            return _decode_and_preprocess(image, prep, limit)
        if image.shape.rank == 2:
            image = image[..., None]
        return preprocess_for_eval(_rgb(image), prep)

    if not is_batched(tf.TensorSpec.from_tensor(images)):
        return one(images)
    spec = tf.TensorSpec([prep.image_size, prep.image_size, 3], tf.float32)
    return tf.map_fn(one, images, fn_output_signature=spec)


def map_dataset(dataset, prep: Preprocessing, batch_size: int | None = 32, max_pixels: int | None = None):
    """``dataset`` with its images (the element, or the first of a tuple) preprocessed, in
    batches: an unbatched dataset is batched by ``batch_size``; a batched one keeps its batches.
    Labels and weights pass through unchanged."""
    import tensorflow as tf  # noqa: PLC0415

    spec = dataset.element_spec
    structured = isinstance(spec, tuple)
    batched = is_batched(spec[0] if structured else spec)
    if structured:
        def apply(images, *rest):
            return (preprocess_tensor(images, prep, max_pixels), *rest)
    else:
        def apply(images):
            return preprocess_tensor(images, prep, max_pixels)
    mapped = dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if not batched:
        mapped = mapped.batch(batch_size or 32)
    return mapped.prefetch(tf.data.AUTOTUNE)


__all__ = [
    "ACCEPTED",
    "batches",
    "count_images",
    "is_batched",
    "is_dataset",
    "iter_images",
    "map_dataset",
    "pil_array",
    "preprocess_one",
    "preprocess_tensor",
    "rgb_array",
]
