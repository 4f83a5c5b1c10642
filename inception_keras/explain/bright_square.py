"""A classifier whose answer is known: class 1 when a bright square sits in the top-left
corner of a noisy image, class 0 otherwise. Trained in a few seconds; the tests check that
Grad-CAM finds the square, and the README's example picture is drawn from it.

    python tools/gradcam_bright_square.py                # writes docs/images/gradcam_bright_square.png
    python tools/gradcam_bright_square.py --output x.png --method gradcam++
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

CLASS_NAMES = ("no square", "bright square")
SIZE = 32  # input side
SQUARE = 8  # the square's side
CORNER = SIZE // 2  # the square lies inside the top-left CORNER x CORNER quadrant
LAYER = "features"  # the last (8x8) feature map


def make_images(n: int, seed: int = 0, labels=None):
    """``n`` noisy images in [-1, 1] (SIZE x SIZE x 3), half (or as ``labels`` says) with a
    bright square in the top-left corner. Returns ``(images, labels, boxes)``; a box is
    ``(top, left, bottom, right)`` of the square, or None."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 0.0, (n, SIZE, SIZE, 3)).astype("float32")  # dim noise
    labels = rng.integers(0, 2, n) if labels is None else np.asarray(labels)
    boxes = []
    for i in range(n):
        if labels[i] == 1:
            top, left = rng.integers(0, CORNER - SQUARE + 1, 2)
            images[i, top:top + SQUARE, left:left + SQUARE] = rng.uniform(0.8, 1.0)
            boxes.append((int(top), int(left), int(top) + SQUARE, int(left) + SQUARE))
        else:
            boxes.append(None)
    return images, labels.astype("int32"), boxes


def build_model():
    """Three convolutions down to an 8x8 map (``features``), global average pooling, a 2-way softmax."""
    inputs = keras.Input((SIZE, SIZE, 3), name="input")
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv1")(inputs)  # 16x16
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name=LAYER)(x)  # 8x8
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(2, name="logits")(x)
    outputs = layers.Activation("softmax", name="Predictions")(x)
    return keras.Model(inputs, outputs, name="bright_square")


def train(seed: int = 0, n: int = 512, epochs: int = 6):
    """:func:`build_model` trained on :func:`make_images` (a few seconds on a CPU)."""
    keras.utils.set_random_seed(seed)
    model = build_model()
    x, y, _ = make_images(n, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model
