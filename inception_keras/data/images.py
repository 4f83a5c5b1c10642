"""Decoding an encoded image the one way every tool does (tool side: imports TensorFlow).

predict, evaluate, export (calibration images and the SavedModel's encoded-image signature)
and train all decode with :func:`decode_image`: TensorFlow's decoder (JPEG, PNG, GIF, BMP,
WebP) with ``channels=3``, so grayscale becomes RGB, alpha is dropped (not composited), palette
images take their palette colours and 16-bit PNGs are scaled to 8 bits (the high byte). Only
what TensorFlow cannot read (TIFF, PPM, ...) goes to Pillow, :func:`decode_fallback`, which
gives the same result by the same rules (16-bit scaled to the high byte, never clipped).

Before decoding, the width and height are read from the file's header (:func:`header_shape`,
TensorFlow ops, so it runs inside ``tf.data`` and the exported graph) and an image of more than
``max_pixels`` pixels is refused: a 2 MB PNG of 20000x20000 would otherwise take gigabytes.
The default is Pillow's ``Image.MAX_IMAGE_PIXELS``; the tools' ``--max-pixels`` changes it (0:
no limit). A ``max_pixels`` of None means the current limit (:func:`pixel_limit`).
"""

from __future__ import annotations

import contextlib
import contextvars
import io

import numpy as np

DEFAULT_MAX_PIXELS = 89_478_485  # PIL.Image.MAX_IMAGE_PIXELS: 1024 * 1024 * 1024 // 4 // 3
_HEADER = 32
_LIMIT = contextvars.ContextVar("max_pixels", default=DEFAULT_MAX_PIXELS)


def current_limit(max_pixels: int | None = None) -> int:
    """``max_pixels`` as given (0: no limit), or, for None, the limit of :func:`pixel_limit`
    (Pillow's by default)."""
    return _LIMIT.get() if max_pixels is None else int(max_pixels)


@contextlib.contextmanager
def pixel_limit(max_pixels: int | None):
    """Within the block, functions given no ``max_pixels`` use this one (None: leave it as is).
    A tool sets ``--max-pixels`` once around code it does not call directly (an export's
    calibration images and the decoding traced into its SavedModel)."""
    token = _LIMIT.set(int(max_pixels)) if max_pixels is not None else None
    try:
        yield
    finally:
        if token is not None:
            _LIMIT.reset(token)


class ImageTooLarge(ValueError):
    """An image whose header says it has more pixels than the limit."""


def too_large_message(height: int, width: int, max_pixels: int) -> str:
    def mp(n):
        return f"{n / 1e6:.3g}" if n < 1e7 else f"{round(n / 1e6)}"

    return (f"{width}x{height} = {mp(width * height)} megapixels, over the limit of {mp(max_pixels)} "
            f"(--max-pixels)")


def header_shape(encoded):
    """int64 ``[height, width]`` from a JPEG, PNG, GIF, BMP or WebP header (TensorFlow ops);
    ``[-1, -1]`` for other formats. A JPEG whose header cannot be parsed fails as decoding would."""
    import tensorflow as tf  # noqa: PLC0415

    head = tf.strings.join([tf.strings.substr(encoded, 0, _HEADER), tf.constant(b"\0" * _HEADER)])
    b = tf.cast(tf.io.decode_raw(tf.strings.substr(head, 0, _HEADER), tf.uint8), tf.int64)

    def le(at, n):
        return sum(b[at + i] * (256 ** i) for i in range(n))

    def be(at, n):
        return sum(b[at + i] * (256 ** (n - 1 - i)) for i in range(n))

    def starts(magic: bytes, at: int = 0):
        return tf.reduce_all(tf.equal(b[at : at + len(magic)], tf.constant(list(magic), tf.int64)))

    def signed32(v):
        return tf.abs(tf.where(v >= 2 ** 31, v - 2 ** 32, v))

    png = tf.stack([be(20, 4), be(16, 4)])
    gif = tf.stack([le(8, 2), le(6, 2)])
    bmp_core = tf.equal(le(14, 4), 12)  # BITMAPCOREHEADER: 16-bit sizes
    bmp = tf.where(bmp_core, tf.stack([le(20, 2), le(18, 2)]), tf.stack([signed32(le(22, 4)), signed32(le(18, 4))]))
    vp8l = le(21, 4)
    webp = tf.case([
        (starts(b"VP8X", 12), lambda: tf.stack([le(27, 3) + 1, le(24, 3) + 1])),
        (starts(b"VP8L", 12), lambda: tf.stack([(vp8l // 16384) % 16384 + 1, vp8l % 16384 + 1])),
    ], default=lambda: tf.stack([le(28, 2) % 16384, le(26, 2) % 16384]))
    unknown = tf.constant([-1, -1], tf.int64)
    return tf.case([
        (starts(b"\xff\xd8\xff"), lambda: tf.cast(tf.image.extract_jpeg_shape(encoded)[:2], tf.int64)),
        (starts(b"\x89PNG\r\n\x1a\n"), lambda: png),
        (starts(b"GIF8"), lambda: gif),
        (starts(b"BM"), lambda: bmp),
        (tf.logical_and(starts(b"RIFF"), starts(b"WEBP", 8)), lambda: webp),
    ], default=lambda: unknown)


def decode_image(encoded, max_pixels: int | None = None):
    """Encoded JPEG/PNG/GIF/BMP/WebP bytes -> uint8 HxWx3 (grayscale, CMYK and alpha become RGB,
    16-bit is scaled to 8); fails (InvalidArgumentError) on an image over ``max_pixels`` pixels,
    read from the header before anything is decoded. Works eagerly, in ``tf.data`` and in graphs."""
    import tensorflow as tf  # noqa: PLC0415

    max_pixels = current_limit(max_pixels)
    deps = []
    if max_pixels:
        shape = header_shape(encoded)
        pixels = shape[0] * shape[1]
        deps.append(tf.debugging.Assert(
            pixels <= tf.constant(int(max_pixels), tf.int64),
            [f"image over the pixel limit of {int(max_pixels)} (--max-pixels); height, width:", shape]))
    with tf.control_dependencies([d for d in deps if d is not None]):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


JPEG_BLOCK = 16  # the largest JPEG iMCU (4:2:0 chroma subsampling): 16x16 pixels


def jpeg_window(height, width, top, left, crop_height, crop_width, block: int = JPEG_BLOCK):
    """(top, left, height, width) of the window :func:`decode_jpeg_crop` decodes for a crop: the
    crop widened to the ``block`` grid plus one block of margin on each side, within the image.
    Works on Python ints and TensorFlow int32 tensors alike."""
    def floor(v):
        return (v // block) * block

    def ceil(v):
        return -((-v) // block) * block

    top0 = _max(floor(top) - block, 0)
    left0 = _max(floor(left) - block, 0)
    bottom = _min(ceil(top + crop_height) + block, height)
    right = _min(ceil(left + crop_width) + block, width)
    return top0, left0, bottom - top0, right - left0


def _max(a, b):
    import tensorflow as tf  # noqa: PLC0415

    return max(a, b) if isinstance(a, int) and isinstance(b, int) else tf.maximum(a, b)


def _min(a, b):
    import tensorflow as tf  # noqa: PLC0415

    return min(a, b) if isinstance(a, int) and isinstance(b, int) else tf.minimum(a, b)


def decode_jpeg_crop(encoded, crop_box, max_pixels: int | None = None):
    """A JPEG's pixels inside a crop box, decoding only (about) that window: uint8
    ``crop_height x crop_width x 3``, pixel for pixel what :func:`decode_image` then slicing
    gives.

    ``crop_box`` maps the image's int32 (height, width) to int32 (top, left, crop height, crop
    width). libjpeg's fancy upsampling makes the edge pixels of a cropped decode differ from a
    full decode, so the window decoded is :func:`jpeg_window` (block grid, one block of margin)
    and the rest is cropped in memory. The size is read from the header
    (``tf.io.extract_jpeg_shape``) and an image over ``max_pixels`` fails before decoding, as
    :func:`decode_image` does."""
    import tensorflow as tf  # noqa: PLC0415

    max_pixels = current_limit(max_pixels)
    shape = tf.io.extract_jpeg_shape(encoded, output_type=tf.int32)
    height, width = shape[0], shape[1]
    deps = []
    if max_pixels:
        pixels = tf.cast(height, tf.int64) * tf.cast(width, tf.int64)
        deps.append(tf.debugging.Assert(
            pixels <= tf.constant(int(max_pixels), tf.int64),
            [f"image over the pixel limit of {int(max_pixels)} (--max-pixels); height, width:", shape[:2]]))
    top, left, crop_height, crop_width = crop_box(height, width)
    wtop, wleft, wheight, wwidth = jpeg_window(height, width, top, left, crop_height, crop_width)
    with tf.control_dependencies(deps):
        window = tf.io.decode_and_crop_jpeg(encoded, tf.stack([wtop, wleft, wheight, wwidth]), channels=3)
    image = window[top - wtop : top - wtop + crop_height, left - wleft : left - wleft + crop_width]
    image.set_shape([None, None, 3])
    return image


def check_size(encoded: bytes, max_pixels: int | None = None) -> None:
    """ImageTooLarge (a ValueError) when the header of ``encoded`` says it is over the limit."""
    max_pixels = current_limit(max_pixels)
    if not max_pixels:
        return
    import tensorflow as tf  # noqa: PLC0415

    try:
        height, width = (int(v) for v in header_shape(tf.constant(encoded)).numpy())
    except tf.errors.OpError:
        return  # not a parsable header: the decoders say what is wrong
    if height * width > max_pixels:
        raise ImageTooLarge(too_large_message(height, width, max_pixels))


def to_rgb8(img) -> np.ndarray:
    """A Pillow image as TensorFlow's decoder gives it: uint8 RGB, alpha dropped, 16-bit and
    32-bit integer gray scaled to the high byte of 16 bits (never clipped to white)."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.clip(np.asarray(img, dtype=np.int64), 0, 65535)
        gray = (values >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if img.mode == "F":
        gray = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0) * 255.0 + 0.5
        return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=-1)
    if img.mode in ("LA", "La", "1"):
        img = img.convert("L")
    elif img.mode in ("RGBA", "RGBa", "RGBX", "PA"):
        img = img.convert("RGBA") if img.mode == "PA" else img
        return np.ascontiguousarray(np.asarray(img, dtype=np.uint8)[..., :3])
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def decode_fallback(encoded: bytes, max_pixels: int | None = None) -> np.ndarray:
    """Pillow's reading of bytes TensorFlow could not decode: uint8 RGB as TensorFlow would give
    it, or ValueError (ImageTooLarge over ``max_pixels``, read from the header before decoding)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    max_pixels = current_limit(max_pixels)
    try:
        with Image.open(io.BytesIO(encoded)) as img:
            width, height = img.size
            if max_pixels and width * height > max_pixels:
                raise ImageTooLarge(too_large_message(height, width, max_pixels))
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the limit is ours, checked above
            try:
                img.load()
            finally:
                Image.MAX_IMAGE_PIXELS = saved
            return to_rgb8(img)
    except ImageTooLarge:
        raise
    except UnidentifiedImageError:
        raise ValueError("not a readable image (unknown format or not an image)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"not a readable image ({type(e).__name__}: {e})") from None


def decode_any(encoded: bytes, max_pixels: int | None = None):
    """One file's bytes decoded as every tool decodes them: TensorFlow, else Pillow; uint8 RGB
    (a tensor or an array), or ValueError with the reason (ImageTooLarge over the limit)."""
    import tensorflow as tf  # noqa: PLC0415

    check_size(encoded, max_pixels)
    try:
        return decode_image(tf.constant(encoded), max_pixels=0)  # the header was checked above
    except (tf.errors.OpError, ValueError):
        return decode_fallback(encoded, max_pixels)


def unreadable_reason(encoded: bytes, max_pixels: int | None = None) -> str | None:
    """Why TensorFlow does not decode ``encoded`` under the limit: the size, Pillow's error, or
    None when only Pillow reads it (the caller decides whether that is enough)."""
    try:
        check_size(encoded, max_pixels)
        decode_fallback(encoded, max_pixels)
    except ValueError as e:
        return str(e)
    return None
