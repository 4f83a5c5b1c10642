"""Rows of the reliability suite: images and label files (predict, evaluate)."""

import numpy as np
from PIL import Image

from bad_inputs import case


def _image_and_junk(tmp):
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(tmp / "ok.png")
    (tmp / "junk.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return {}


SMALL = ("--model", "inception_resnet_v1", "--weights", "none", "--classes", "10", "--input-size", "75")

case(id="predict-unreadable-image-listed-others-go-on", make=_image_and_junk, tool="predict",
     argv=("{tmp}/ok.png", "{tmp}/junk.jpg", *SMALL), code=1, phrase="junk.jpg: not a readable image")
