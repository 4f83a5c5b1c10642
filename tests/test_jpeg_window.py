"""Decoding only a JPEG's crop window gives, pixel for pixel, what decoding it whole and cropping
gives (libjpeg's fancy upsampling changes the edges of a plainly cropped decode: the window is
widened to the block grid and cut in memory)."""

import io

import numpy as np
import pytest
from PIL import Image

from inception_keras.data import images
from inception_keras.data.preprocessing import Preprocessing, decode_and_preprocess, preprocess_for_eval

KINDS = {  # Pillow's JPEG options: chroma subsampling 4:2:0 / 4:2:2 / 4:4:4, progressive, gray, CMYK
    "420": {"subsampling": 2}, "422": {"subsampling": 1}, "444": {"subsampling": 0},
    "progressive": {"progressive": True}, "progressive_422": {"progressive": True, "subsampling": 1},
    "gray": {}, "cmyk": {},
}
SIZES = [(17, 23), (33, 47), (64, 80), (75, 131), (120, 97), (161, 150)]  # height, width: odd and block-sized


def _jpeg(rng, height, width, kind):
    small = rng.integers(0, 256, (max(2, height // 6), max(2, width // 6), 3), dtype=np.uint8)
    pixels = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC)).astype(int)
    img = Image.fromarray(np.clip(pixels + rng.integers(-30, 31, pixels.shape), 0, 255).astype(np.uint8))
    img = img.convert("L") if kind == "gray" else img.convert("CMYK") if kind == "cmyk" else img
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, **KINDS[kind])
    return out.getvalue()


def _boxes(rng, height, width, count):
    """Random crop boxes (most not on the 8/16 block grid), plus the whole image and a corner pixel."""
    boxes = [(0, 0, height, width), (height - 1, width - 1, 1, 1)]
    for _ in range(count):
        top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
        boxes.append((top, left, int(rng.integers(1, height - top + 1)), int(rng.integers(1, width - left + 1))))
    return boxes


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_window_decode_is_pixel_identical(kind):
    import tensorflow as tf

    rng = np.random.default_rng(sorted(KINDS).index(kind))
    crop = tf.function(lambda data, box: images.decode_jpeg_crop(data, lambda h, w: tuple(box[i] for i in range(4))))
    checked = 0
    for height, width in SIZES:
        data = _jpeg(rng, height, width, kind)
        full = images.decode_image(tf.constant(data)).numpy()
        for top, left, h, w in _boxes(rng, height, width, 8):
            got = crop(tf.constant(data), tf.constant([top, left, h, w], tf.int32)).numpy()
            np.testing.assert_array_equal(got, full[top : top + h, left : left + w],
                                          err_msg=f"{kind} {height}x{width} box {(top, left, h, w)}")
            checked += 1
    assert checked == len(SIZES) * 10


def test_window_is_on_the_block_grid_with_a_margin():
    assert images.jpeg_window(375, 500, 23, 31, 329, 438) == (0, 0, 368, 496)
    assert images.jpeg_window(1000, 1000, 100, 230, 50, 60) == (80, 208, 96, 112)  # 80..176, 208..320
    assert images.jpeg_window(40, 40, 0, 0, 40, 40) == (0, 0, 40, 40)


def test_slim_preprocessing_of_a_jpeg_decodes_the_window_with_the_same_result():
    """decode_and_preprocess (window decode for JPEGs) equals preprocess_for_eval of the full
    decode exactly, and keeps the pixel limit, read from the header."""
    import tensorflow as tf

    rng = np.random.default_rng(11)
    for size, fraction in ((75, 0.875), (64, 0.5), (33, 0.9)):
        prep = Preprocessing("slim", size, fraction)
        fast = tf.function(lambda data, prep=prep: decode_and_preprocess(data, prep))
        for kind in ("420", "gray", "cmyk"):
            for height, width in SIZES[1:]:
                data = tf.constant(_jpeg(rng, height, width, kind))
                np.testing.assert_array_equal(fast(data).numpy(),
                                              preprocess_for_eval(images.decode_image(data), prep).numpy())
    big = tf.constant(_jpeg(rng, 120, 97, "420"))
    with images.pixel_limit(1000):
        with pytest.raises(tf.errors.InvalidArgumentError, match="pixel limit of 1000"):
            decode_and_preprocess(big, Preprocessing("slim", 32))
