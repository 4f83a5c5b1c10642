"""Preprocessing, in one place: the input scaling of the published weights, and the evaluation
preprocessing of the tools (TensorFlow ops, for ``tf.data``) with its numpy reference.

:func:`preprocess_input` scales RGB 0..255 to [-1, 1], as the TF-slim checkpoints were trained.

:class:`Preprocessing` names a preset (``slim``: TF-slim's central crop and TF1 bilinear resize;
``resize-crop``: timm's) and its two numbers; :func:`preprocess_for_eval` applies it to one
decoded image, :func:`decode_and_preprocess` to encoded bytes (decoding only the crop's window
of a JPEG under ``slim``), :func:`crop_views` cuts the multi-crop protocols' views and
:func:`load_for_eval` reads one file as the pipelines see it; the pipelines of
:mod:`inception_keras.data.datasets` map them over image sets.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, UnidentifiedImageError

from .images import current_limit, decode_any, decode_image, decode_jpeg_crop, to_rgb8


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Evaluation preprocessing of one image: a preset name and its two numbers.

    ``slim``: TF-slim's ``preprocess_for_eval``: central crop keeping ``crop_fraction`` of
    each side, bilinear resize to ``image_size`` squared (aspect ratio not kept, TF1
    ``resize_bilinear`` sampling), scale to [-1, 1].
    ``resize-crop``: resize the shorter side to ``round(image_size / crop_fraction)``
    (bilinear, antialiased), centre crop ``image_size`` squared, (x - 0.5) / 0.5.
    """

    name: str = "slim"
    image_size: int = 299
    crop_fraction: float = 0.875

    def __post_init__(self):
        if self.name not in PREPROCESSING_PRESETS:
            raise ValueError(f"unknown preprocessing {self.name!r}; choose one of {', '.join(PREPROCESSING_PRESETS)}")
        if not isinstance(self.image_size, int) or self.image_size < 1:
            raise ValueError(f"image size must be a positive integer, got {self.image_size!r}")
        if not 0.0 < self.crop_fraction <= 1.0:
            raise ValueError(f"crop fraction must be in (0, 1], got {self.crop_fraction}")

    @property
    def resize_to(self) -> int:
        """resize-crop: the shorter side before cropping (342 for 299 at 0.875)."""
        return int(round(self.image_size / self.crop_fraction))

    def describe(self) -> str:
        if self.name == "slim":
            return (f"slim: central crop {self.crop_fraction:g} of each side, bilinear resize to "
                    f"{self.image_size}x{self.image_size}, scale to [-1, 1]")
        return (f"resize-crop: shorter side to {self.resize_to} (bilinear, antialiased), centre crop "
                f"{self.image_size}x{self.image_size}, mean 0.5 std 0.5")

    def to_json(self) -> dict:
        return {"preset": self.name, "image_size": self.image_size, "crop_fraction": self.crop_fraction,
                "description": self.describe()}


PREPROCESSING_PRESETS = ("slim", "resize-crop")


def preprocess_for_eval(image, prep: Preprocessing):
    """One decoded image (uint8 0..255, or float in [0, 1]) -> float32 ``size x size x 3`` in [-1, 1]."""
    import tensorflow as tf  # noqa: PLC0415

    image = tf.image.convert_image_dtype(image, tf.float32)  # uint8 -> [0, 1], as slim does
    if prep.name == "slim":
        if prep.crop_fraction < 1.0:
            image = tf.image.central_crop(image, central_fraction=prep.crop_fraction)
        image = _resize(image, [prep.image_size, prep.image_size], prep)
    else:
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = prep.resize_to / tf.reduce_min(shape)
        new = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), prep.image_size)
        image = _resize(image, new, prep)
        top = (new[0] - prep.image_size) // 2
        left = (new[1] - prep.image_size) // 2
        image = image[top : top + prep.image_size, left : left + prep.image_size]
    return _to_model_range(image, prep)


def _resize(image, size, prep: Preprocessing):
    """float [0, 1] HxWx3 -> ``size``, by the preprocessing's resize: TF-slim's
    ``tf.image.resize_bilinear(align_corners=False)`` (the TF1 sampling grid) for ``slim``,
    antialiased bilinear for ``resize-crop``."""
    import tensorflow as tf  # noqa: PLC0415

    if prep.name == "slim":
        return tf.raw_ops.ResizeBilinear(images=image[None], size=size, align_corners=False,
                                         half_pixel_centers=False)[0]
    return tf.image.resize(image, size, method="bilinear", antialias=True)


def _to_model_range(image, prep: Preprocessing):
    """float [0, 1] (up to resampling overshoot) -> [-1, 1], with the static input shape."""
    import tensorflow as tf  # noqa: PLC0415

    image = tf.clip_by_value(image, 0.0, 1.0)
    image = (image - 0.5) * 2.0
    image.set_shape(image.shape[:-3] + [prep.image_size, prep.image_size, 3])
    return image


def _central_crop_box(height, width, fraction: float):
    """tf.image.central_crop's box on int32 tensors: (top, left, height, width)."""
    import tensorflow as tf  # noqa: PLC0415

    def start(n):
        n = tf.cast(n, tf.float64)
        return tf.cast((n - n * fraction) / 2, tf.int32)

    top, left = start(height), start(width)
    return top, left, height - 2 * top, width - 2 * left


def decode_and_preprocess(encoded, prep: Preprocessing, max_pixels: int | None = None):
    """Encoded image bytes (a scalar string tensor) -> the model's input, float32 ``size x size
    x 3`` in [-1, 1]: :func:`inception_keras.data.images.decode_image` then :func:`preprocess_for_eval`.
    The one function every ``tf.data`` pipeline (evaluate, predict) maps over its files.

    A JPEG under the ``slim`` preprocessing with a central crop decodes only the crop's window
    (:func:`inception_keras.data.images.decode_jpeg_crop`): the same pixels, decoded faster."""
    import tensorflow as tf  # noqa: PLC0415

    if prep.name != "slim" or prep.crop_fraction >= 1.0:
        return preprocess_for_eval(decode_image(encoded, max_pixels), prep)
    max_pixels = current_limit(max_pixels)

    # Other formats: a function call, one node where the JPEG branch is taken (inlined, its
    # many header-parsing ops would each be stepped through, dead, for every JPEG).
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)], autograph=False,
                 experimental_attributes={"_noinline": True})
    def other_formats(data):
        return preprocess_for_eval(decode_image(data, max_pixels), prep)

    def window():
        crop = decode_jpeg_crop(encoded, lambda h, w: _central_crop_box(h, w, prep.crop_fraction), max_pixels)
        image = _resize(tf.image.convert_image_dtype(crop, tf.float32), [prep.image_size, prep.image_size], prep)
        return _to_model_range(image, prep)

    return tf.cond(tf.io.is_jpeg(encoded), window, lambda: other_formats(encoded))


def crop_views(image, protocol: str, prep: Preprocessing):
    """One decoded image (uint8, or float in [0, 1]) -> the model inputs of a crop protocol
    (:mod:`inception_keras.data.crops`), float32 ``n x size x size x 3`` in [-1, 1], in the order of
    :func:`inception_keras.data.crops.crop_boxes`.

    ``1`` and ``flip`` are :func:`preprocess_for_eval` (and its mirror). The others resize the
    image to each of the protocol's scales by the preprocessing's resize, cut the boxes, bring
    each to ``size x size`` (same resize) and mirror the mirrored ones. The boxes come from the
    pure geometry function for the image's size (``tf.numpy_function``)."""
    import tensorflow as tf  # noqa: PLC0415

    from . import crops  # noqa: PLC0415

    protocol = crops.check_protocol(protocol)
    if protocol in ("1", "flip"):
        view = preprocess_for_eval(image, prep)
        return tf.stack([view, view[:, ::-1]]) if protocol == "flip" else view[None]
    layout = crops.structure(protocol, prep)
    size = prep.image_size

    def table(height, width):
        boxes = crops.crop_boxes(protocol, int(height), int(width), prep)
        for i, (box, (_, _, h, w)) in enumerate(zip(boxes, layout)):  # the layout the graph was built for
            assert (box.height, box.width) == (h, w), (protocol, height, width, box)
            assert not box.mirrored or (boxes[i - 1].top, boxes[i - 1].left) == (box.top, box.left), box
        return np.asarray([[b.top, b.left, *crops.scaled_size(int(height), int(width), b.scale)] for b in boxes],
                          np.int32)

    image = tf.image.convert_image_dtype(image, tf.float32)
    shape = tf.shape(image)
    boxes = tf.numpy_function(table, [shape[0], shape[1]], tf.int32, stateful=False)
    boxes.set_shape([len(layout), 4])
    resized, views = {}, []
    for i, (scale, mirrored, height, width) in enumerate(layout):
        if mirrored and i and layout[i - 1] == (scale, False, height, width):
            views.append(views[-1][:, ::-1])  # each box is followed by its mirror (crops._with_mirrors)
            continue
        if scale not in resized:
            resized[scale] = _resize(image, boxes[i, 2:4], prep) if scale else image
        crop = tf.slice(resized[scale], tf.stack([boxes[i, 0], boxes[i, 1], 0]), [height, width, 3])
        if (height, width) != (size, size):
            crop = _resize(crop, [size, size], prep)
        views.append(crop[:, ::-1] if mirrored else crop)
    return _to_model_range(tf.stack(views), prep)


def load_for_eval(path, prep: Preprocessing, max_pixels: int | None = None) -> np.ndarray:
    """One image file as the evaluation pipeline sees it: decoded as every tool decodes
    (:func:`inception_keras.data.images.decode_any`), then :func:`preprocess_for_eval`. Raises
    ValueError naming the file (and, over ``max_pixels``, its size)."""
    try:
        with open(path, "rb") as f:
            encoded = f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        image = decode_any(encoded, max_pixels)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return np.asarray(preprocess_for_eval(image, prep), dtype=np.float32)


# =========================================================================== #
# Input scaling, and TF-slim's evaluation preprocessing in numpy (the reference)
# =========================================================================== #
def preprocess_input(x):
    """RGB values in 0..255 (uint8 or float) -> float32 in [-1, 1], as the checkpoints expect.

    Works on numpy arrays and backend tensors of any shape (the channel axis is last).
    """
    import keras  # noqa: PLC0415 - a backend only for tensors: tools read presets without loading one
    if isinstance(x, np.ndarray) or np.isscalar(x) or isinstance(x, (list, tuple)):
        return np.asarray(x, dtype="float32") / 127.5 - 1.0
    return keras.ops.cast(x, "float32") / 127.5 - 1.0


def central_crop_box(height: int, width: int, fraction: float) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of TF-slim's ``tf.image.central_crop``."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
    top = int((height - height * fraction) / 2)
    left = int((width - width * fraction) / 2)
    return top, left, height - 2 * top, width - 2 * left


def load_image(path, size: int = 299, crop_fraction: float = 0.875) -> np.ndarray:
    """Read an image file as TF-slim's evaluation preprocessing sees it: RGB, central crop
    keeping ``crop_fraction`` of each side, bilinear resize to ``size`` x ``size`` (aspect
    ratio not kept), scaled to [-1, 1]. Grayscale, CMYK and alpha images become RGB.

    Raises ValueError naming the file when it is not a readable image.
    """
    try:
        with Image.open(path) as img:
            img.load()
            rgb = to_rgb8(img).astype("float32")  # 16-bit scaled as TensorFlow does, never clipped
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    top, left, h, w = central_crop_box(rgb.shape[0], rgb.shape[1], crop_fraction)
    crop = rgb[top : top + h, left : left + w]
    return preprocess_input(resize_bilinear_tf1(crop, size, size))


def resize_bilinear_tf1(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize on TF1's sampling grid (``resize_bilinear(align_corners=False)``, no
    half-pixel centres): output pixel i samples input position ``i * in / out``. This is the
    resize TF-slim's evaluation preprocessing uses; ``image`` is HxWxC."""
    image = np.asarray(image, dtype="float32")

    def grid(n_in, n_out):
        pos = np.arange(n_out, dtype="float64") * (n_in / n_out)
        lo = np.minimum(np.floor(pos).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype("float32")

    y0, y1, wy = grid(image.shape[0], height)
    x0, x1, wx = grid(image.shape[1], width)
    wx = wx[None, :, None]
    top = image[y0][:, x0] + (image[y0][:, x1] - image[y0][:, x0]) * wx
    bottom = image[y1][:, x0] + (image[y1][:, x1] - image[y1][:, x0]) * wx
    return top + (bottom - top) * wy[:, None, None]
