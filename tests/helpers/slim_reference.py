"""TF-slim's ``inception_preprocessing.preprocess_for_eval``, op for op, as the reference
our preprocessing is checked against (it is not used by the package)."""

import numpy as np


def slim_preprocess_for_eval(encoded: bytes, height: int = 299, width: int = 299, central_fraction: float = 0.875):
    import tensorflow as tf

    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.convert_image_dtype(image, dtype=tf.float32)
    if central_fraction:
        image = tf.image.central_crop(image, central_fraction=central_fraction)
    image = tf.expand_dims(image, 0)
    image = tf.compat.v1.image.resize_bilinear(image, [height, width], align_corners=False)
    image = tf.squeeze(image, [0])
    image = tf.subtract(image, 0.5)
    image = tf.multiply(image, 2.0)
    return np.asarray(image)
