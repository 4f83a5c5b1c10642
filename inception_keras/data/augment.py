"""TF-slim's training augmentation (``inception_preprocessing.preprocess_for_train``) with
stateless random ops: the same (seed, image) always gives the same result."""

from __future__ import annotations

from .preprocessing import Preprocessing, preprocess_for_eval
from ..training.config import AUGMENTATIONS


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
