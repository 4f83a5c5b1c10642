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

case(id="predict-unknown-model", make=_image_and_junk, tool="predict", argv=("{tmp}/ok.png", "--model", "inception_v5"),
     phrase="unknown model 'inception_v5'")
case(id="predict-json-path-must-be-json", make=_image_and_junk, tool="predict",
     argv=("--json", "{tmp}/ok.png", "{tmp}/junk.jpg"), phrase="expected a path ending in .json")
case(id="evaluate-preset-and-contradicting-classes", make=_image_and_junk, tool="evaluate",
     argv=("--model", "inception_v4.tf_in1k", "--classes", "5", "--data", "{tmp}"),
     phrase="--classes 5 (the preset has 1000)")
